// The evidence log of one run: the runner's one door into evidence. Every append
// (or batch of appends) extends the hash chain and signs the new head, in one store
// transaction, so the log on disk is signed at every point (a controller that dies
// mid-run leaves a verifiable prefix). Safe to call from several threads (probe threads, the runner).
//
//   FD_ASSIGN(log, EvidenceLog::create(store, key, run_id, created), "run {}", run_id);
//   log->append(Approval{...});
//   log->append(FaultApplied{...});       // one per host and step
//   log->append(ProbeSamples{...});       // batches as they come, or ProbeSummary
//   log->append(SloResult{...});          // one per SLO
//   log->append(Verdict{"pass", "..."});  // last; the log refuses more after it
//
// Order rules: run_created is the first event and only the first; nothing follows
// the verdict.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "controller/evidence/events.h"
#include "controller/evidence/signing_key.h"
#include "controller/store/evidence_records.h"

namespace firedrill::evidence {

struct AppendedEvent {
  int64_t seq = 0;
  std::string hash;
};

struct PendingEvent {
  EventKind kind;
  Json data;
  template <typename T>
  static PendingEvent of(const T& payload) {
    return PendingEvent{EventKindOf<T>::kKind, Json(payload)};
  }
};

// A run's stored log read back and checked: every event's hash and link, and the
// last event's signed head against the public key the store holds for it. A log that
// fails is refused with the event named.
Result<std::vector<controller::StoredEvent>> read_verified_log(controller::EvidenceRecords& store, std::string_view run_id);

class EvidenceLog {
 public:
  // A failed store append is tried again this many times, after 50, 100, 200 ms.
  static constexpr int kAppendRetries = 3;
  static constexpr std::chrono::milliseconds kAppendBackoff{50};

  using Clock = std::function<WallTime()>;

  // Starts the log of a new run with its run_created event. Fails if the run exists.
  static Result<std::unique_ptr<EvidenceLog>> create(controller::EvidenceRecords& store, const SigningKey& key,
                                                     std::string run_id, const RunCreated& created,
                                                     Clock clock = {});
  // Continues an existing run (after a controller restart); the stored chain is
  // checked first, and a broken one is refused.
  static Result<std::unique_ptr<EvidenceLog>> resume(controller::EvidenceRecords& store, const SigningKey& key,
                                                     std::string run_id, Clock clock = {});

  template <typename T>
  Result<AppendedEvent> append(const T& payload) {
    return append_json(EventKindOf<T>::kKind, Json(payload));
  }
  Result<AppendedEvent> append_json(EventKind kind, const Json& data);
  // Several events in one store transaction with one signature, over the last head:
  // for fan-outs (a fault applied on every host of a site) and sample batches. Each
  // event is still chained; the signed head covers all of them. Returns the last.
  Result<AppendedEvent> append_all(const std::vector<PendingEvent>& events);

  const std::string& run_id() const { return run_id_; }
  std::string head() const;
  int64_t count() const;
  bool closed() const;

 private:
  EvidenceLog(controller::EvidenceRecords& store, const SigningKey& key, std::string run_id, Clock clock);
  Result<AppendedEvent> append_locked(const std::vector<PendingEvent>& events);

  controller::EvidenceRecords& store_;
  const SigningKey& key_;
  std::string run_id_;
  Clock clock_;
  mutable std::mutex mu_;
  int64_t count_ = 0;
  std::string head_ = kZeroHash;
  bool closed_ = false;
};

}  // namespace firedrill::evidence
