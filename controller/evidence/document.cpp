#include "controller/evidence/document.h"

#include "controller/evidence/chain.h"

namespace firedrill::evidence {

Result<Json> collect_evidence(controller::EvidenceRecords& store, std::string_view run_id) {
  FD_ASSIGN(stored, store.evidence_events(run_id), "report of run {}", run_id);
  if (stored.empty()) return make_error("report: run '{}' has no evidence", run_id);
  Json events = Json::array();
  for (auto& e : stored) {
    FD_ASSIGN(j, parse_json(e.body, fmt::format("run {} event {}", run_id, e.seq)), "report");
    j["hash"] = e.hash;
    events.push_back(std::move(j));
  }
  // Every append or batch ends with a signed head; the last event always has one.
  const controller::StoredEvent& head = stored.back();
  if (head.head_signature.empty()) {
    return make_error("report of run {}: its last event {} carries no signature (the store was edited)", run_id,
                      head.seq);
  }
  FD_ASSIGN(pem, store.public_key(head.key_fingerprint), "report of run {}", run_id);
  if (!pem) return make_error("report of run {}: the store lacks public key {}", run_id, head.key_fingerprint);
  Json seal{{"statement", make_seal(run_id, head.seq, head.hash, head.key_fingerprint)},
            {"signature", head.head_signature},
            {"public_key", *pem}};
  // A run continued at another controller after a takeover is signed in parts, each
  // by the controller that led it then: every part but the last ends at the last head
  // its controller signed, and that seal comes along.
  Json parts = Json::array();
  const controller::StoredEvent* last_signed = nullptr;
  for (const auto& e : stored) {
    if (e.head_signature.empty()) continue;
    if (last_signed && last_signed->key_fingerprint != e.key_fingerprint) {
      FD_ASSIGN(part_pem, store.public_key(last_signed->key_fingerprint), "report of run {}", run_id);
      if (!part_pem) return make_error("report of run {}: the store lacks public key {}", run_id, last_signed->key_fingerprint);
      parts.push_back(Json{{"statement", make_seal(run_id, last_signed->seq, last_signed->hash, last_signed->key_fingerprint)},
                           {"signature", last_signed->head_signature},
                           {"public_key", *part_pem}});
    }
    last_signed = &e;
  }

  Json findings = Json::array();
  FD_ASSIGN(ids, store.findings_of_run(run_id), "report of run {}", run_id);
  for (auto& fid : ids) {
    FD_ASSIGN(revs, store.finding_revisions(fid), "report of run {}", run_id);
    for (auto& r : revs) {
      FD_ASSIGN(record, parse_json(r.body, fmt::format("finding {} rev {}", fid, r.rev)), "report");
      FD_ASSIGN(fpem, store.public_key(r.key_fingerprint), "report of run {}", run_id);
      if (!fpem) return make_error("report of run {}: the store lacks public key {}", run_id, r.key_fingerprint);
      findings.push_back(
          Json{{"record", std::move(record)}, {"hash", r.hash}, {"signature", r.signature}, {"public_key", *fpem}});
    }
  }
  Json out{{"run", run_id}, {"events", std::move(events)}, {"seal", std::move(seal)}, {"findings", std::move(findings)}};
  if (!parts.empty()) out["part_seals"] = std::move(parts);
  return out;
}

Result<void> seal_document(Json& document, const SigningKey& key) {
  Json statement = make_report_seal(document, key.fingerprint());
  FD_ASSIGN(bytes, canonical(statement), "report seal");
  FD_ASSIGN(signature, key.sign(bytes), "report seal");
  document["seal"] = Json{{"statement", std::move(statement)},
                          {"signature", base64_encode(signature)},
                          {"public_key", key.public_key().pem()}};
  return ok();
}

Result<Json> document_from_evidence(const Json& evidence, const SigningKey& key, std::string_view generated_at,
                                    std::string_view generator) {
  FD_ASSIGN(model, build_model(evidence), "report");
  Json doc{{"format", kReportFormat},
           {"generator", generator},
           {"generated_at", generated_at},
           {"report", to_json(model)},
           {"evidence", evidence}};
  FD_TRY(seal_document(doc, key), "report of run {}", evidence.value("run", ""));
  return doc;
}

Result<Json> build_document(controller::EvidenceRecords& store, std::string_view run_id, const SigningKey& key,
                            WallTime generated_at, std::string_view generator) {
  FD_ASSIGN(evidence, collect_evidence(store, run_id), "report");
  return document_from_evidence(evidence, key, format_time(generated_at), generator);
}

std::string render_json(const Json& document) {
  return document.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}

}  // namespace firedrill::evidence
