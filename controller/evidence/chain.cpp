#include "controller/evidence/chain.h"

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
