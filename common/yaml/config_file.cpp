#include "common/yaml/config_file.h"

#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <vector>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "common/cli.h"
#include "common/redact.h"
#include "common/time.h"
#include "common/yaml/yaml_proto.h"
#include "firedrill/v1/config.pb.h"

namespace firedrill {

namespace po = boost::program_options;
namespace pb = google::protobuf;
using FD = pb::FieldDescriptor;

namespace {

bool is_duration(const FD* field) {
  return field->cpp_type() == FD::CPPTYPE_MESSAGE && field->message_type()->full_name() == "google.protobuf.Duration";
}

bool is_section(const FD* field) {
  return field->cpp_type() == FD::CPPTYPE_MESSAGE && !field->is_map() && !is_duration(field);
}

std::string join(const std::string& base, const std::string& name) { return base.empty() ? name : base + "." + name; }

// One value of a scalar field as the flag would be written.
std::string flag_text(const pb::Message& msg, const FD* field, int index) {
  const pb::Reflection* r = msg.GetReflection();
  const bool rep = field->is_repeated();
  switch (field->cpp_type()) {
    case FD::CPPTYPE_STRING: return rep ? r->GetRepeatedString(msg, field, index) : r->GetString(msg, field);
    case FD::CPPTYPE_BOOL: return (rep ? r->GetRepeatedBool(msg, field, index) : r->GetBool(msg, field)) ? "true" : "false";
    case FD::CPPTYPE_INT32: return std::to_string(rep ? r->GetRepeatedInt32(msg, field, index) : r->GetInt32(msg, field));
    case FD::CPPTYPE_INT64: return std::to_string(rep ? r->GetRepeatedInt64(msg, field, index) : r->GetInt64(msg, field));
    case FD::CPPTYPE_UINT32: return std::to_string(rep ? r->GetRepeatedUInt32(msg, field, index) : r->GetUInt32(msg, field));
    case FD::CPPTYPE_UINT64: return std::to_string(rep ? r->GetRepeatedUInt64(msg, field, index) : r->GetUInt64(msg, field));
    case FD::CPPTYPE_DOUBLE: return fmt::format("{}", rep ? r->GetRepeatedDouble(msg, field, index) : r->GetDouble(msg, field));
    case FD::CPPTYPE_FLOAT: return fmt::format("{}", rep ? r->GetRepeatedFloat(msg, field, index) : r->GetFloat(msg, field));
    case FD::CPPTYPE_ENUM: return enum_short_name(rep ? r->GetRepeatedEnum(msg, field, index) : r->GetEnum(msg, field));
    case FD::CPPTYPE_MESSAGE: {
      const pb::Message& sub = rep ? r->GetRepeatedMessage(msg, field, index) : r->GetMessage(msg, field);
      if (is_duration(field)) {
        const pb::Descriptor* d = sub.GetDescriptor();
        const pb::Reflection* sr = sub.GetReflection();
        auto ns = std::chrono::seconds(sr->GetInt64(sub, d->FindFieldByName("seconds"))) +
                  std::chrono::nanoseconds(sr->GetInt32(sub, d->FindFieldByName("nanos")));
        return format_duration(ns);
      }
      if (field->is_map()) {  // a map entry: KEY=VALUE
        const pb::Descriptor* d = sub.GetDescriptor();
        return flag_text(sub, d->map_key(), 0) + "=" + flag_text(sub, d->map_value(), 0);
      }
      return "";
    }
  }
  return "";
}

struct FileOption {
  std::string flag;
  std::vector<std::string> values;  // one per occurrence; empty for a switch that is on
  bool is_switch = false;
};

// The flags the file sets, from the fields it wrote (the source map knows which, also
// for a value equal to its default).
void collect(const pb::Message& msg, const std::string& path, const SourceMap& source, std::vector<FileOption>* out) {
  const pb::Descriptor* desc = msg.GetDescriptor();
  const pb::Reflection* r = msg.GetReflection();
  for (int i = 0; i < desc->field_count(); ++i) {
    const FD* field = desc->field(i);
    std::string field_path = join(path, field->name());
    if (!source.contains(field_path)) continue;
    if (is_section(field) && !field->is_repeated()) {
      collect(r->GetMessage(msg, field), field_path, source, out);
      continue;
    }
    FileOption opt{flag_of(field, field_path), {}};
    if (field->is_repeated()) {
      for (int k = 0; k < r->FieldSize(msg, field); ++k) opt.values.push_back(flag_text(msg, field, k));
    } else if (field->cpp_type() == FD::CPPTYPE_BOOL) {
      opt.is_switch = true;
      opt.values.push_back(flag_text(msg, field, 0));
    } else {
      opt.values.push_back(flag_text(msg, field, 0));
    }
    out->push_back(std::move(opt));
  }
}

Result<std::string> read_text(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return sys_error(errno, "--config {}: cannot read", file);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The value a flag holds in vm, as the strings the file would give it.
std::vector<std::string> held_strings(const boost::any& v) {
  if (auto* s = boost::any_cast<std::string>(&v)) return {*s};
  if (auto* l = boost::any_cast<std::vector<std::string>>(&v)) return *l;
  if (auto* b = boost::any_cast<bool>(&v)) return {*b ? "true" : "false"};
  if (auto* n = boost::any_cast<int>(&v)) return {std::to_string(*n)};
  if (auto* n = boost::any_cast<unsigned>(&v)) return {std::to_string(*n)};
  if (auto* n = boost::any_cast<long>(&v)) return {std::to_string(*n)};
  if (auto* n = boost::any_cast<unsigned long>(&v)) return {std::to_string(*n)};
  if (auto* d = boost::any_cast<double>(&v)) return {fmt::format("{}", *d)};
  return {};
}

YAML::Node scalar_node(const FD* field, const std::string& text) {
  if (field->cpp_type() == FD::CPPTYPE_BOOL) return YAML::Node(text == "true");
  return YAML::Node(text);
}

void emit_section(const pb::Descriptor* desc, const std::string& path, const po::variables_map& vm, YAML::Node& out) {
  for (int i = 0; i < desc->field_count(); ++i) {
    const FD* field = desc->field(i);
    std::string field_path = join(path, field->name());
    if (is_section(field) && !field->is_repeated()) {
      YAML::Node sub(YAML::NodeType::Map);
      emit_section(field->message_type(), field_path, vm, sub);
      if (sub.size() > 0) out[field->name()] = sub;
      continue;
    }
    auto it = vm.find(flag_of(field, field_path));
    if (it == vm.end() || it->second.empty()) continue;
    std::vector<std::string> values = held_strings(it->second.value());
    // A printed configuration carries no password (a store URL's): it is shown "***".
    if (field->type() == FD::TYPE_STRING) {
      for (auto& v : values) v = redact_secrets(v);
    }
    if (is_duration(field)) {  // as the file would give it back: "60s" is "1m"
      for (auto& v : values) {
        if (auto d = parse_duration(v)) v = format_duration(*d);
      }
    }
    if (field->is_map()) {
      YAML::Node m(YAML::NodeType::Map);
      for (auto& kv : values) {
        auto eq = kv.find('=');
        if (eq != std::string::npos) m[kv.substr(0, eq)] = kv.substr(eq + 1);
      }
      out[field->name()] = m;
    } else if (field->is_repeated()) {
      YAML::Node list(YAML::NodeType::Sequence);
      for (auto& v : values) list.push_back(scalar_node(field, v));
      out[field->name()] = list;
    } else if (!values.empty()) {
      out[field->name()] = scalar_node(field, values.front());
    }
  }
}

}  // namespace

void add_config_options(po::options_description& desc) {
  desc.add_options()
    ("config", po::value<std::string>(), "read settings from this YAML file; a flag given here wins over it")
    ("print-config", po::bool_switch(), "print the effective configuration (file, then flags) as YAML and exit (passwords shown as ***)");
}

std::string flag_of(const FD* field, const std::string& path) {
  const std::string& explicit_flag = field->options().GetExtension(v1::flag);
  if (!explicit_flag.empty()) return explicit_flag;
  std::string flag = path;
  for (char& c : flag) {
    if (c == '.' || c == '_') c = '-';
  }
  return flag;
}

Result<void> merge_config_file(const std::string& file, const ConfigSchema& schema, const po::options_description& desc,
                               po::variables_map& vm) {
  auto text = read_text(file);
  if (!text) return text.error();
  YAML::Node root;
  std::vector<Diagnostic> diags = parse_yaml_document(*text, file, schema.what, &root);
  std::unique_ptr<pb::Message> msg(pb::MessageFactory::generated_factory()->GetPrototype(schema.message)->New());
  SourceMap source;
  if (diags.empty()) diags = yaml_to_message(root, msg.get(), file, &source);
  if (!diags.empty()) {
    sort_by_position(diags);
    std::string all;
    for (auto& d : diags) all += (all.empty() ? "" : "\n") + d.to_string();
    return make_error("{}", all);
  }
  std::vector<FileOption> options;
  collect(*msg, "", source, &options);
  po::parsed_options parsed(&desc);
  for (auto& opt : options) {
    const po::option_description* d = desc.find_nothrow(opt.flag, false);
    if (d == nullptr) return make_error("{}: the schema names --{}, which this program does not have", file, opt.flag);
    auto given = vm.find(opt.flag);
    if (given != vm.end() && !given->second.defaulted() && !given->second.empty()) continue;  // the flag wins
    const bool takes_no_value = d->semantic()->max_tokens() == 0;
    for (auto& value : opt.values) {
      if (takes_no_value && value == "false") continue;  // a switch left off
      po::option o;
      o.string_key = opt.flag;
      if (!takes_no_value) o.value.push_back(value);
      parsed.options.push_back(std::move(o));
    }
  }
  try {
    po::store(parsed, vm);
    po::notify(vm);
  } catch (const po::error& e) {
    return make_error("{}: {}", file, e.what());
  }
  return ok();
}

std::string effective_config_yaml(const ConfigSchema& schema, const po::variables_map& vm) {
  YAML::Node root(YAML::NodeType::Map);
  emit_section(schema.message, "", vm, root);
  YAML::Emitter out;
  out << root;
  return fmt::format("# the effective {} (--config file beneath the flags)\n{}\n", schema.what, out.c_str());
}

Result<bool> parse_options_with_config(int argc, char** argv, const po::options_description& desc,
                                       po::variables_map& vm, const ConfigSchema& schema) {
  auto help = parse_options(argc, argv, desc, vm);
  if (!help) return help.error();
  if (*help) {
    std::cout << desc << "\n";
    return true;
  }
  if (vm.count("config")) {
    if (auto r = merge_config_file(vm["config"].as<std::string>(), schema, desc, vm); !r) return r.error();
  }
  if (vm.count("print-config") && vm["print-config"].as<bool>()) {
    std::cout << effective_config_yaml(schema, vm);
    return true;
  }
  return false;
}

std::optional<int> parse_verb_options_with_config(int argc, char** argv, const po::options_description& desc,
                                                  po::variables_map& vm, std::string_view prog,
                                                  const ConfigSchema& schema) {
  auto answered = parse_options_with_config(argc, argv, desc, vm, schema);
  if (!answered) return usage_error(prog, answered.error().describe());
  if (*answered) return 0;
  return std::nullopt;
}

}  // namespace firedrill
