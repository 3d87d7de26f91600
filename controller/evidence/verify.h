// `firedrill report verify`: checks a report file (JSON, or the HTML page with its
// embedded document) and names exactly what is wrong. It recomputes every event hash
// and link, checks the seal's Ed25519 signature (and that the expected key made it),
// checks every finding record, derives the report again from the events and compares
// it with the report in the file, and for a page renders it again and compares that.
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
};
std::string_view to_string(Problem p);

struct Issue {
  Problem problem;
  std::string message;
};

struct Verification {
  bool ok() const { return issues.empty(); }
  bool has(Problem p) const;
  std::vector<Issue> issues;
  std::vector<std::string> checked;  // what was checked and found good
  std::vector<std::string> skipped;  // what was not checked, and why
  std::string signer;                // fingerprint of the key that sealed it
  int64_t events = 0;
  std::string head;
};

// `expected` pins the signer; without it the embedded key is used and the result says so.
Verification verify_report_text(std::string_view text, const PublicKey* expected, std::string_view what = "report");
Verification verify_document(const Json& document, const PublicKey* expected, std::string_view html = {});

}  // namespace firedrill::evidence
