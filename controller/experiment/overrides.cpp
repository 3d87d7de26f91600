#include "controller/experiment/overrides.h"

#include <cctype>

#include <fmt/format.h>

namespace firedrill::experiment {

namespace {

bool is_index(const std::string& s) {
  if (s.empty() || s.size() > 6) return false;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    auto dot = path.find('.', start);
    out.push_back(path.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) return out;
    start = dot + 1;
  }
}

// "steps.0.duration" as diagnostics name it: "steps[0].duration".
std::string field_of(const std::vector<std::string>& segments) {
  std::string out;
  for (const auto& s : segments) {
    if (is_index(s)) out += "[" + s + "]";
    else out += (out.empty() ? "" : ".") + s;
  }
  return out;
}

bool under(const std::string& field, const std::string& prefix) {
  if (field.size() < prefix.size() || field.compare(0, prefix.size(), prefix) != 0) return false;
  return field.size() == prefix.size() || field[prefix.size()] == '.' || field[prefix.size()] == '[';
}

// Sets root's field at `segments` to `value`, creating the mappings on the way.
std::string set_field(YAML::Node& root, const std::vector<std::string>& segments, const YAML::Node& value) {
  YAML::Node cur;
  cur.reset(root);
  std::vector<std::string> walked;
  for (size_t i = 0; i < segments.size(); ++i) {
    const std::string& seg = segments[i];
    bool last = i + 1 == segments.size();
    std::string here = walked.empty() ? "the document" : field_of(walked);
    if (is_index(seg)) {
      if (!cur.IsSequence()) return fmt::format("{} is not a list, so '{}' indexes nothing", here, seg);
      size_t idx = std::stoul(seg);
      if (idx >= cur.size()) {
        return fmt::format("{} has {} element(s) (indexes 0 to {}); there is no {}", here, cur.size(),
                           cur.size() == 0 ? 0 : cur.size() - 1, idx);
      }
      if (last) {
        cur[idx] = value;
      } else {
        YAML::Node next = cur[idx];
        cur.reset(next);
      }
    } else {
      if (!cur.IsDefined() || cur.IsNull()) cur = YAML::Node(YAML::NodeType::Map);
      if (!cur.IsMap()) return fmt::format("{} is not a mapping, so it has no field '{}'", here, seg);
      if (last) {
        cur[seg] = value;
      } else {
        YAML::Node next = cur[seg];
        cur.reset(next);
      }
    }
    walked.push_back(seg);
  }
  return "";
}

}  // namespace

std::vector<std::string> Overrides::describe() const {
  std::vector<std::string> out;
  for (const auto& s : set) out.push_back("--set " + s);
  if (!selector.empty()) out.push_back("-l " + selector);
  return out;
}

std::vector<Diagnostic> apply_overrides(YAML::Node& root, const Overrides& overrides,
                                        std::vector<AppliedOverride>* applied) {
  std::vector<Diagnostic> out;
  if (overrides.empty()) return out;
  if (!root.IsMap()) {
    out.push_back(Diagnostic{overrides.describe().front(), {}, "", "the file is not a mapping, so nothing can be overridden"});
    return out;
  }
  for (const auto& spec : overrides.set) {
    const std::string given = "--set " + spec;
    auto eq = spec.find('=');
    if (eq == std::string::npos) {
      out.push_back(Diagnostic{given, {}, "", "expected PATH=VALUE (e.g. steps.0.duration=30s)"});
      continue;
    }
    std::string path = spec.substr(0, eq), text = spec.substr(eq + 1);
    auto segments = split_path(path);
    bool bad_path = false;
    for (const auto& s : segments) bad_path = bad_path || s.empty();
    if (bad_path) {
      out.push_back(Diagnostic{given, {}, "",
                               fmt::format("'{}' is not a field path: keys and list indexes separated by '.' "
                                           "(e.g. steps.0.targets.selector)", path)});
      continue;
    }
    const std::string field = field_of(segments);
    YAML::Node value;
    try {
      value = YAML::Load(text);
    } catch (const YAML::Exception& e) {
      out.push_back(Diagnostic{given, {}, field, fmt::format("the value is not YAML: {}", e.msg)});
      continue;
    }
    if (auto why = set_field(root, segments, value); !why.empty()) {
      out.push_back(Diagnostic{given, {}, field, why});
      continue;
    }
    applied->push_back({field, given});
  }
  if (!overrides.selector.empty()) {
    const std::string given = "-l " + overrides.selector;
    auto retarget = [&](YAML::Node targets, const std::string& field) {
      for (const char* k : {"from_command", "from_command_timeout", "hosts"}) targets.remove(k);
      targets["selector"] = overrides.selector;
      applied->push_back({field + ".selector", given});
    };
    YAML::Node steps = root["steps"];
    if (steps.IsSequence()) {
      for (size_t i = 0; i < steps.size(); ++i) {
        YAML::Node t = steps[i]["targets"];
        if (t.IsMap()) retarget(t, fmt::format("steps[{}].targets", i));
      }
    }
    YAML::Node t = root["targets"];
    if (!t.IsMap()) {
      if (t.IsDefined() && !t.IsNull()) {
        out.push_back(Diagnostic{given, {}, "targets", "targets is not a mapping"});
        return out;
      }
      root["targets"] = YAML::Node(YAML::NodeType::Map);
      t.reset(root["targets"]);
    }
    retarget(t, "targets");
  }
  return out;
}

void attribute_to_overrides(std::vector<Diagnostic>& diagnostics, const std::vector<AppliedOverride>& applied) {
  for (auto& d : diagnostics) {
    const AppliedOverride* best = nullptr;
    for (const auto& a : applied) {
      if (under(d.field, a.field) && (!best || a.field.size() >= best->field.size())) best = &a;
    }
    if (!best) continue;
    d.file = best->given;
    d.pos = {};
  }
}

}  // namespace firedrill::experiment
