#include "controller/evidence/chain.h"

#include <map>

namespace firedrill::evidence {

Json make_envelope(std::string_view run, int64_t seq, std::string_view kind, std::string_view at, const Json& data,
                   std::string_view prev) {
  return Json{{"v", kEnvelopeVersion}, {"run", run},   {"seq", seq}, {"kind", kind},
              {"at", at},              {"data", data}, {"prev", prev}};
}

Result<std::string> envelope_hash(const Json& envelope) {
  if (!envelope.is_object()) return make_error("event is not a JSON object");
  Json body = envelope;
  body.erase("hash");
  FD_ASSIGN(bytes, canonical(body), "event");
  return sha256_hex(bytes);
}

Json make_seal(std::string_view run, int64_t events, std::string_view head, std::string_view key_fingerprint) {
  return Json{{"type", kSealType}, {"v", kEnvelopeVersion}, {"run", run},
              {"events", events},  {"head", head},          {"key", key_fingerprint}};
}

Json findings_manifest(const Json& findings) {
  std::map<std::string, Json> by_id;
  if (findings.is_array()) {
    for (const auto& f : findings) {
      if (!f.is_object() || !f.contains("record") || !f["record"].is_object()) continue;
      const Json& rec = f["record"];
      std::string id = rec.contains("id") && rec["id"].is_string() ? rec["id"].get<std::string>() : "";
      Json& entry = by_id[id];
      int64_t revs = entry.is_object() ? entry.value("revs", int64_t{0}) : 0;
      entry = Json{{"id", id}, {"revs", revs + 1}, {"head", f.contains("hash") ? f["hash"] : Json("")}};
    }
  }
  Json out = Json::array();
  for (auto& [id, entry] : by_id) out.push_back(std::move(entry));
  return out;
}

Json make_report_seal(const Json& document, std::string_view key_fingerprint) {
  const Json& ev = document.at("evidence");
  const Json& st = ev.at("seal").at("statement");
  return Json{{"type", kReportSealType},
              {"v", kEnvelopeVersion},
              {"run", ev.value("run", "")},
              {"events", st.value("events", int64_t{0})},
              {"head", st.value("head", "")},
              {"findings", findings_manifest(ev.contains("findings") ? ev["findings"] : Json::array())},
              {"generated_at", document.value("generated_at", "")},
              {"generator", document.value("generator", "")},
              {"key", key_fingerprint}};
}

Result<void> check_run_id(std::string_view run_id) {
  if (run_id.empty()) return make_error("run id is empty");
  if (run_id.size() > 128) return make_error("run id '{}…' is longer than 128 characters", run_id.substr(0, 20));
  for (size_t i = 0; i < run_id.size(); ++i) {
    char c = run_id[i];
    bool good = std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == ':' || c == '-';
    if (!good) return make_error("run id '{}': character {} ('{}') is not a letter, digit or . _ : -", run_id, i + 1, c);
  }
  return ok();
}

}  // namespace firedrill::evidence
