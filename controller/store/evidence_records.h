// The evidence part of the controller's store (controller/evidence writes and reads
// it): per run, an append-only hash chain of events numbered from 1; finding revisions;
// the public keys that signed them. Nothing here updates or deletes (the SQLite
// implementation refuses it with triggers as well). Store (store.h) holds these beside
// the rest of the controller's state, in the same database and transactions.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace firedrill::controller {

struct StoredEvent {
  std::string run_id;
  int64_t seq = 0;  // 1, 2, 3, ... within the run, numbered by the controller
  std::string kind;
  std::string recorded_at;     // RFC 3339, as in the body
  int64_t recorded_us = 0;     // the same instant, UTC microseconds (what the store orders by)
  std::string body;            // canonical JSON of the event: the bytes that are hashed
  std::string prev_hash;       // hash of event seq-1, or 64 zeros
  std::string hash;            // SHA-256 of body
  std::string head_signature;  // base64 Ed25519 signature of the seal with this event as head;
                               // "" inside a batch (only a batch's last event is signed)
  std::string key_fingerprint;
};

struct StoredFinding {
  std::string finding_id;  // F-0001, numbered by the controller
  int64_t rev = 0;         // 1 when opened, +1 for each change
  std::string run_id;      // the run it was found in
  std::string retest_run;  // the run that retested it ("" while open)
  std::string body;        // canonical JSON of the record
  std::string hash;        // SHA-256 of body
  std::string signature;   // base64 Ed25519 signature of body
  std::string key_fingerprint;
};

class EvidenceRecords {
 public:
  virtual ~EvidenceRecords() = default;

  // Runs `body` as one transaction: what it writes through this store (on this thread)
  // lands together or not at all, and what it reads is not changed by anyone else
  // meanwhile (other callers wait). Transactions nest: an inner one that fails undoes
  // only itself. `body` must not wait for another thread that uses the store.
  virtual Result<void> transaction(const std::function<Result<void>()>& body) = 0;

  // Appends events of one run, all or none; fails when they do not number on from the
  // run's last seq + 1.
  virtual Result<void> append_evidence(const std::vector<StoredEvent>& events) = 0;
  virtual Result<std::vector<StoredEvent>> evidence_events(std::string_view run_id) = 0;
  virtual Result<std::optional<StoredEvent>> last_evidence_event(std::string_view run_id) = 0;
  // Every run with evidence, oldest first.
  virtual Result<std::vector<std::string>> evidence_runs() = 0;

  // Fails when finding.rev is not that finding's last rev + 1.
  virtual Result<void> append_finding(const StoredFinding& finding) = 0;
  // Every revision of one finding, in order.
  virtual Result<std::vector<StoredFinding>> finding_revisions(std::string_view finding_id) = 0;
  // Ids of findings opened in `run_id` or retested by it.
  virtual Result<std::vector<std::string>> findings_of_run(std::string_view run_id) = 0;
  virtual Result<std::vector<std::string>> all_findings() = 0;

  virtual Result<void> put_public_key(std::string_view fingerprint, std::string_view pem) = 0;
  virtual Result<std::optional<std::string>> public_key(std::string_view fingerprint) = 0;
  // Every public key stored (fingerprint, PEM), by fingerprint: the keys of every
  // controller that signed anything in this store.
  virtual Result<std::vector<std::pair<std::string, std::string>>> public_keys() = 0;
};

}  // namespace firedrill::controller
