// `firedrill report verify`: checks a report file (JSON, or the HTML page with its
// embedded document) and names exactly what is wrong. It recomputes every event hash
// and link, checks the seal's Ed25519 signature (and that a pinned key made it),
// checks every finding record, checks the report seal (the findings shown, the
// generation time and the generator), derives the report again from the events and
// compares it with the report in the file, and for a page renders it again and
// compares that. A report is verified only against a pinned key: a valid signature by
// a key the report carries proves nothing about who made it.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "controller/evidence/canonical.h"
#include "controller/evidence/signing_key.h"

namespace firedrill::evidence {

enum class Problem {
  kTruncated,        // the file stops early, or events after the signed head are gone
  kMalformed,        // not a report document
  kChangedEvent,     // an event's content no longer matches its hash
  kRemovedEvent,     // a gap in the sequence, or a chain that starts late
  kReorderedEvents,  // events out of order
  kBrokenLink,       // an event does not link to the one before it
  kHeadMismatch,     // the chain's head is not the signed head
  kBadSignature,     // the seal's signature does not verify
  kWrongKey,         // a valid signature, by a key other than the expected one
  kVerdictChanged,   // the report's verdict differs from the signed log's
  kReportChanged,    // other report content differs from what the events give
  kPageChanged,      // the HTML differs from what its evidence renders to
  kFindingChanged,   // a finding record was edited, unlinked or badly signed
  kFindingRemoved,   // a finding the report was sealed with is not in the file
  kFindingAdded,     // a finding in the file is not one the report was sealed with
  kSealedMetadata,   // generation time or generator differs from the report seal
};
std::string_view to_string(Problem p);

struct Issue {
  Problem problem;
  std::string message;
};

// The keys a report must be signed by: one key, a key ring, or none (then the
// signatures are checked against the keys the report carries, and the result is not
// "verified", only "valid but not pinned").
class Pinned {
 public:
  Pinned(std::nullptr_t) {}
  Pinned(const PublicKey* key) : key_(key) {}
  Pinned(const KeyRing* ring) : ring_(ring) {}
  bool any() const { return key_ || (ring_ && !ring_->empty()); }
  bool trusts(std::string_view fingerprint) const;
  std::string names() const;

 private:
  const PublicKey* key_ = nullptr;
  const KeyRing* ring_ = nullptr;
};

struct Verification {
  // No problem found. Only with `pinned` is the report verified.
  bool ok() const { return issues.empty(); }
  bool verified() const { return ok() && pinned; }
  bool pinned = false;  // every signature was by a pinned key
  bool has(Problem p) const;
  std::vector<Issue> issues;
  std::vector<std::string> checked;  // what was checked and found good
  std::vector<std::string> skipped;  // what was not checked, and why
  std::string signer;                // fingerprint of the key that sealed it
  int64_t events = 0;
  std::string head;
};

// `pinned` names the trusted signers; without one the embedded keys are used and the
// result says so (verified() is false).
Verification verify_report_text(std::string_view text, Pinned pinned, std::string_view what = "report");
Verification verify_document(const Json& document, Pinned pinned, std::string_view html = {});

}  // namespace firedrill::evidence
