#include "controller/experiment/loader.h"

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include <cstring>

#include <fmt/format.h>
#include <openssl/evp.h>
#include <yaml-cpp/yaml.h>

#include "controller/experiment/validate.h"
#include "common/yaml/yaml_proto.h"

namespace firedrill::experiment {

std::string sha256_hex(std::string_view bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &len, EVP_sha256(), nullptr);
  std::string out;
  out.reserve(len * 2);
  for (unsigned i = 0; i < len; ++i) out += fmt::format("{:02x}", digest[i]);
  return out;
}

LoadedExperiment parse_experiment(std::string_view text, const std::string& file, const Overrides& overrides) {
  LoadedExperiment out;
  out.file = file;
  out.text = std::string(text);
  out.sha256 = sha256_hex(text);
  YAML::Node root;
  out.diagnostics = parse_yaml_document(out.text, file, "experiment", &root);
  if (!out.diagnostics.empty()) return out;
  std::vector<AppliedOverride> applied;
  out.diagnostics = apply_overrides(root, overrides, &applied);
  if (!out.diagnostics.empty()) return out;
  out.overrides = overrides.describe();
  out.diagnostics = yaml_to_message(root, &out.experiment, file, &out.source);
  if (root.IsMap()) {
    // A value the schema already rejected is not judged again: "bad duration" needs
    // no "must be longer than zero" after it.
    std::set<std::string> rejected;
    for (const auto& d : out.diagnostics) rejected.insert(d.field);
    auto already = [&](const std::string& field) {
      for (std::string p = field; !p.empty(); p = parent_path(p)) {
        if (rejected.count(p)) return true;
      }
      return false;
    };
    for (auto& d : check_experiment(out.experiment, out.source, file)) {
      if (!already(d.field)) out.diagnostics.push_back(std::move(d));
    }
  }
  attribute_to_overrides(out.diagnostics, applied);
  sort_by_position(out.diagnostics);
  return out;
}

LoadedExperiment load_experiment_file(const std::string& path, const Overrides& overrides) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    LoadedExperiment out;
    out.file = path;
    out.diagnostics.push_back(Diagnostic{path, {}, "", fmt::format("cannot read: {}", std::strerror(errno))});
    return out;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return parse_experiment(ss.str(), path, overrides);
}

}  // namespace firedrill::experiment
