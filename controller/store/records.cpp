#include "controller/store/records.h"

#include <nlohmann/json.hpp>

namespace firedrill::controller::records {

std::string tags_json(const std::map<std::string, std::string>& tags) { return nlohmann::json(tags).dump(); }

std::map<std::string, std::string> parse_tags(std::string_view json) {
  std::map<std::string, std::string> out;
  auto tags = nlohmann::json::parse(json, nullptr, false);
  if (!tags.is_object()) return out;
  for (auto& [k, v] : tags.items()) {
    if (v.is_string()) out[k] = v.get<std::string>();
  }
  return out;
}

std::string run_bytes(const v1::RunRecord& run) {
  if (run.samples_size() == 0) return run.SerializeAsString();
  v1::RunRecord copy = run;
  copy.clear_samples();
  return copy.SerializeAsString();
}

Result<v1::RunRecord> parse_run(const std::string& id, const std::string& bytes, bool summary) {
  v1::RunRecord r;
  if (!r.ParseFromString(bytes)) return make_error("the record of run {} does not parse", id);
  if (summary) {
    r.clear_events();
    r.clear_experiment_yaml();
  }
  return r;
}

}  // namespace firedrill::controller::records
