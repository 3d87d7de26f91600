// The hash chain and the seal, byte for byte. Everything a verifier recomputes is
// defined here, once, for the writer (EvidenceLog, FindingBook) and the checker
// (verify.cpp) alike.
//
// An event is the JSON object
//   {"v":1,"run":RUN,"seq":N,"kind":KIND,"at":TIME,"data":{...},"prev":PREV}
// and its hash is SHA-256 over its canonical bytes (canonical.h), hex. PREV is the
// hash of event N-1, 64 zeros for event 1. The run's head is the hash of its last
// event. The seal is
//   {"type":"firedrill-evidence-seal","v":1,"run":RUN,"events":N,"head":HEAD,"key":FPR}
// and its signature is Ed25519 over the seal's canonical bytes, by the key FPR names.
// A finding revision is its own record, signed the same way (findings.h).
// A rendered report carries a report seal besides, signed when it is rendered:
//   {"type":"firedrill-report-seal","v":1,"run":RUN,"events":N,"head":HEAD,
//    "findings":[{"id":ID,"revs":R,"head":HASH},...],   (sorted by id; HASH of rev R)
//    "generated_at":TIME,"generator":WHO,"key":FPR}
// so that removing, adding or editing a finding, or the generation time, is caught.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "controller/evidence/canonical.h"

namespace firedrill::evidence {

inline constexpr int kEnvelopeVersion = 1;
inline constexpr const char* kSealType = "firedrill-evidence-seal";
inline constexpr const char* kFindingType = "firedrill-finding";
inline constexpr const char* kReportSealType = "firedrill-report-seal";

Json make_envelope(std::string_view run, int64_t seq, std::string_view kind, std::string_view at,
                   const Json& data, std::string_view prev);
// SHA-256 of the canonical bytes of an envelope (a "hash" member, when present, is
// left out: reports carry each event with its hash beside it).
Result<std::string> envelope_hash(const Json& envelope);
Json make_seal(std::string_view run, int64_t events, std::string_view head, std::string_view key_fingerprint);

// The findings manifest of an evidence member's "findings" list: per finding id, the
// number of revisions shown and the hash of the last one.
Json findings_manifest(const Json& findings);
// The report seal's statement for a document (see above); `key_fingerprint` signs it.
Json make_report_seal(const Json& document, std::string_view key_fingerprint);

// Run ids name files and URLs: letters, digits and . _ : - only, at most 128.
Result<void> check_run_id(std::string_view run_id);

}  // namespace firedrill::evidence
