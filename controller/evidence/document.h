// A report document: what `firedrill report RUN` writes, as JSON, and embedded in the
// HTML page. It carries the report (derived) and the evidence it was derived from:
//
//   {"format": "firedrill-evidence-report/1",
//    "generator": "firedrill 0.1.0", "generated_at": TIME,      (in the report seal)
//    "report": {...},                                           (report_model.h)
//    "evidence": {
//      "run": RUN,
//      "events": [ {envelope..., "hash": H}, ... ],             (chain.h)
//      "seal": {"statement": {...}, "signature": B64, "public_key": PEM},
//      "findings": [ {"record": {...}, "hash": H, "signature": B64, "public_key": PEM} ]},
//    "seal": {"statement": {...}, "signature": B64, "public_key": PEM}}  (report seal, chain.h)
//
// `report verify` checks the evidence and derives the report again (verify.h).
#pragma once

#include <string>

#include "controller/evidence/canonical.h"
#include "controller/evidence/report_model.h"
#include "controller/evidence/signing_key.h"
#include "controller/store/evidence_records.h"

namespace firedrill::evidence {

inline constexpr const char* kReportFormat = "firedrill-evidence-report/1";

// The "evidence" member for a run, read from the store as it is now.
Result<Json> collect_evidence(controller::EvidenceRecords& store, std::string_view run_id);

// The whole document, sealed by `key` with the findings it shows, `generated_at` and
// `generator`.
Result<Json> build_document(controller::EvidenceRecords& store, std::string_view run_id, const SigningKey& key,
                            WallTime generated_at, std::string_view generator);
// Document from evidence already collected, sealed by `key`.
Result<Json> document_from_evidence(const Json& evidence, const SigningKey& key, std::string_view generated_at,
                                    std::string_view generator);
// (Re)signs the document's report seal over what it now holds.
Result<void> seal_document(Json& document, const SigningKey& key);

// The JSON file: indented, one trailing newline.
std::string render_json(const Json& document);

}  // namespace firedrill::evidence
