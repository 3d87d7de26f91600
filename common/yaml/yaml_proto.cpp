#include "common/yaml/yaml_proto.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <set>
#include <sstream>
#include <tuple>

#include <fmt/format.h>
#include <yaml-cpp/eventhandler.h>

#include "common/time.h"

namespace firedrill {

namespace pb = google::protobuf;
using FD = pb::FieldDescriptor;

std::string Diagnostic::to_string() const {
  std::string where = file;
  if (pos.line > 0) where += fmt::format(":{}:{}", pos.line, pos.column);
  if (field.empty()) return fmt::format("{}: {}", where, message);
  return fmt::format("{}: {}: {}", where, field, message);
}

void SourceMap::set(const std::string& path, SourcePos key, SourcePos value) {
  entries_[path] = Entry{key, value};
}

SourcePos SourceMap::value_pos(const std::string& path) const {
  for (std::string p = path;; p = parent_path(p)) {
    auto it = entries_.find(p);
    if (it != entries_.end()) return it->second.value;
    if (p.empty()) return {};
  }
}

SourcePos SourceMap::key_pos(const std::string& path) const {
  auto it = entries_.find(path);
  if (it != entries_.end() && it->second.key.line > 0) return it->second.key;
  return value_pos(path);
}

std::string parent_path(const std::string& path) {
  if (path.empty()) return "";
  if (path.back() == ']') {
    auto open = path.rfind('[');
    return open == std::string::npos ? "" : path.substr(0, open);
  }
  auto dot = path.rfind('.');
  return dot == std::string::npos ? "" : path.substr(0, dot);
}

namespace {

SourcePos pos_of(const YAML::Mark& m) {
  if (m.line < 0) return {};
  return SourcePos{m.line + 1, m.column + 1};
}

std::string join_path(const std::string& base, const std::string& name) {
  return base.empty() ? name : base + "." + name;
}

const char* node_kind(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Null: return "nothing";
    case YAML::NodeType::Scalar: return n.Tag() == "!" ? "a quoted string" : "a scalar";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Map: return "a mapping";
    default: return "an undefined value";
  }
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

bool is_plain_scalar(const YAML::Node& n) { return n.IsScalar() && n.Tag() != "!"; }

class Converter {
 public:
  Converter(const std::string& file, SourceMap* source) : file_(file), source_(source) {}

  std::vector<Diagnostic> take() { return std::move(diags_); }

  void message(const YAML::Node& node, pb::Message* msg, const std::string& path) {
    const pb::Descriptor* desc = msg->GetDescriptor();
    if (desc->full_name() == "google.protobuf.Duration") {
      duration(node, msg, path);
      return;
    }
    if (node.IsNull()) return;  // the empty message
    if (!node.IsMap()) {
      error(pos_of(node.Mark()), path,
            fmt::format("expected a mapping ({}), found {}", desc->name(), node_kind(node)));
      return;
    }
    std::set<std::string> seen;
    std::map<const pb::OneofDescriptor*, std::string> oneof_chosen;
    for (auto it = node.begin(); it != node.end(); ++it) {
      // Copies: `it->first` lives in a proxy that dies with the expression, so a
      // reference to it dangles (found by experiment_loader_fuzz under ASan).
      const YAML::Node key = it->first;
      const YAML::Node value = it->second;
      SourcePos key_pos = pos_of(key.Mark());
      if (!key.IsScalar()) {
        error(key_pos, path, fmt::format("a key must be a field name, found {}", node_kind(key)));
        continue;
      }
      const std::string& name = key.Scalar();
      std::string field_path = join_path(path, name);
      const FD* field = desc->FindFieldByName(name);
      if (field == nullptr) {
        error(key_pos, field_path, unknown_field_message(desc, name));
        continue;
      }
      if (!seen.insert(name).second) {
        error(key_pos, field_path, "duplicate key");
        continue;
      }
      if (const pb::OneofDescriptor* oneof = field->real_containing_oneof()) {
        auto [chosen, inserted] = oneof_chosen.emplace(oneof, name);
        if (!inserted) {
          error(key_pos, field_path,
                fmt::format("'{}' and '{}' are alternatives ({}): choose one", chosen->second, name,
                            oneof->name()));
          continue;
        }
      }
      // A null value has no position of its own (yaml-cpp points past it): use the key.
      SourcePos value_pos = value.IsNull() ? key_pos : pos_of(value.Mark());
      if (source_) source_->set(field_path, key_pos, value_pos);
      this->field(value, msg, field, field_path, value_pos);
    }
  }

 private:
  void error(SourcePos pos, const std::string& path, std::string message) {
    diags_.push_back(Diagnostic{file_, pos, path, std::move(message)});
  }

  static std::string unknown_field_message(const pb::Descriptor* desc, const std::string& name) {
    std::string best;
    size_t best_d = std::numeric_limits<size_t>::max();
    std::vector<std::string> names;
    for (int i = 0; i < desc->field_count(); ++i) {
      std::string candidate = desc->field(i)->name();
      names.push_back(candidate);
      size_t d = edit_distance(name, candidate);
      if (d < best_d) {
        best_d = d;
        best = candidate;
      }
    }
    std::string msg = fmt::format("unknown field '{}' in {}", name, desc->name());
    if (!best.empty() && best_d <= std::max<size_t>(2, name.size() / 3)) {
      msg += fmt::format(" (did you mean '{}'?)", best);
    } else {
      msg += fmt::format(" (known: {})", fmt::join(names, ", "));
    }
    return msg;
  }

  void field(const YAML::Node& node, pb::Message* msg, const FD* field, const std::string& path,
             SourcePos pos) {
    if (field->is_map()) {
      map_field(node, msg, field, path, pos);
      return;
    }
    if (field->is_repeated()) {
      if (node.IsNull()) return;
      if (node.IsSequence()) {
        size_t i = 0;
        for (auto it = node.begin(); it != node.end(); ++it, ++i) {
          std::string item_path = fmt::format("{}[{}]", path, i);
          SourcePos item_pos = pos_of(it->Mark());
          if (source_) source_->set(item_path, item_pos, item_pos);
          singular(*it, msg, field, item_path, item_pos, /*add=*/true);
        }
        return;
      }
      if (node.IsMap() && field->cpp_type() == FD::CPPTYPE_MESSAGE &&
          field->message_type()->full_name() != "google.protobuf.Duration") {
        std::string item_path = path + "[0]";
        if (source_) source_->set(item_path, pos, pos);
        singular(node, msg, field, item_path, pos, /*add=*/true);
        return;
      }
      error(pos, path, fmt::format("expected a list, found {}", node_kind(node)));
      return;
    }
    singular(node, msg, field, path, pos, /*add=*/false);
  }

  void map_field(const YAML::Node& node, pb::Message* msg, const FD* field, const std::string& path,
                 SourcePos pos) {
    if (node.IsNull()) return;
    if (!node.IsMap()) {
      error(pos, path, fmt::format("expected a mapping of names to values, found {}", node_kind(node)));
      return;
    }
    const pb::Reflection* refl = msg->GetReflection();
    const FD* key_field = field->message_type()->map_key();
    const FD* value_field = field->message_type()->map_value();
    std::set<std::string> seen;
    for (auto it = node.begin(); it != node.end(); ++it) {
      SourcePos key_pos = pos_of(it->first.Mark());
      if (!it->first.IsScalar()) {
        error(key_pos, path, fmt::format("a key must be a scalar, found {}", node_kind(it->first)));
        continue;
      }
      std::string key = it->first.Scalar();
      std::string entry_path = join_path(path, key);
      if (!seen.insert(key).second) {
        error(key_pos, entry_path, "duplicate key");
        continue;
      }
      SourcePos value_pos = it->second.IsNull() ? key_pos : pos_of(it->second.Mark());
      if (source_) source_->set(entry_path, key_pos, value_pos);
      pb::Message* entry = refl->AddMessage(msg, field);
      singular(it->first, entry, key_field, entry_path, key_pos, false);
      singular(it->second, entry, value_field, entry_path, value_pos, false);
    }
  }

  // Reports and returns false unless `node` is a plain (unquoted) scalar for a number
  // or boolean: a quoted "5" is a string, and the schema wants a number.
  bool want_plain_scalar(const YAML::Node& node, const std::string& path, SourcePos pos,
                         const char* what) {
    if (is_plain_scalar(node)) return true;
    error(pos, path, fmt::format("expected {}, found {}", what, node_kind(node)));
    return false;
  }

  template <typename Int>
  bool parse_int(const YAML::Node& node, const std::string& path, SourcePos pos, Int* out) {
    const char* what = std::is_signed_v<Int> ? "an integer" : "a non-negative integer";
    if (!want_plain_scalar(node, path, pos, what)) return false;
    const std::string& s = node.Scalar();
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
    if (ec == std::errc::result_out_of_range) {
      error(pos, path, fmt::format("{} is out of range ({} to {})", s, std::numeric_limits<Int>::min(),
                                   std::numeric_limits<Int>::max()));
      return false;
    }
    if (ec != std::errc() || end != s.data() + s.size()) {
      error(pos, path, fmt::format("expected {}, found '{}'", what, s));
      return false;
    }
    return true;
  }

  bool parse_double(const YAML::Node& node, const std::string& path, SourcePos pos, double* out) {
    if (!want_plain_scalar(node, path, pos, "a number")) return false;
    const std::string& s = node.Scalar();
    char* end = nullptr;
    errno = 0;
    double v = std::strtod(s.c_str(), &end);
    if (s.empty() || end != s.c_str() + s.size() || errno == ERANGE || !std::isfinite(v) ||
        std::isspace(static_cast<unsigned char>(s[0]))) {
      error(pos, path, fmt::format("expected a number, found '{}'", s));
      return false;
    }
    *out = v;
    return true;
  }

  void singular(const YAML::Node& node, pb::Message* msg, const FD* field, const std::string& path,
                SourcePos pos, bool add) {
    const pb::Reflection* refl = msg->GetReflection();
    if (field->cpp_type() == FD::CPPTYPE_MESSAGE) {
      pb::Message* sub = add ? refl->AddMessage(msg, field) : refl->MutableMessage(msg, field);
      message(node, sub, path);
      return;
    }
    if (node.IsNull()) {
      error(pos, path, "no value given");
      return;
    }
    if (!node.IsScalar()) {
      error(pos, path, fmt::format("expected {}, found {}", scalar_kind(field), node_kind(node)));
      return;
    }
    switch (field->cpp_type()) {
      case FD::CPPTYPE_STRING:
        add ? refl->AddString(msg, field, node.Scalar()) : refl->SetString(msg, field, node.Scalar());
        return;
      case FD::CPPTYPE_BOOL: {
        if (!want_plain_scalar(node, path, pos, "true or false")) return;
        const std::string& s = node.Scalar();
        bool v;
        if (s == "true" || s == "True" || s == "TRUE") v = true;
        else if (s == "false" || s == "False" || s == "FALSE") v = false;
        else {
          error(pos, path, fmt::format("expected true or false, found '{}'", s));
          return;
        }
        add ? refl->AddBool(msg, field, v) : refl->SetBool(msg, field, v);
        return;
      }
      case FD::CPPTYPE_INT32: {
        int32_t v;
        if (parse_int(node, path, pos, &v)) add ? refl->AddInt32(msg, field, v) : refl->SetInt32(msg, field, v);
        return;
      }
      case FD::CPPTYPE_INT64: {
        int64_t v;
        if (parse_int(node, path, pos, &v)) add ? refl->AddInt64(msg, field, v) : refl->SetInt64(msg, field, v);
        return;
      }
      case FD::CPPTYPE_UINT32: {
        uint32_t v;
        if (parse_int(node, path, pos, &v)) add ? refl->AddUInt32(msg, field, v) : refl->SetUInt32(msg, field, v);
        return;
      }
      case FD::CPPTYPE_UINT64: {
        uint64_t v;
        if (parse_int(node, path, pos, &v)) add ? refl->AddUInt64(msg, field, v) : refl->SetUInt64(msg, field, v);
        return;
      }
      case FD::CPPTYPE_DOUBLE: {
        double v;
        if (parse_double(node, path, pos, &v)) add ? refl->AddDouble(msg, field, v) : refl->SetDouble(msg, field, v);
        return;
      }
      case FD::CPPTYPE_FLOAT: {
        double v;
        if (parse_double(node, path, pos, &v)) {
          add ? refl->AddFloat(msg, field, static_cast<float>(v)) : refl->SetFloat(msg, field, static_cast<float>(v));
        }
        return;
      }
      case FD::CPPTYPE_ENUM: {
        const pb::EnumValueDescriptor* v = find_enum(field->enum_type(), node.Scalar());
        if (v == nullptr) {
          error(pos, path, fmt::format("'{}' is not one of: {}", node.Scalar(), enum_choices(field->enum_type())));
          return;
        }
        add ? refl->AddEnum(msg, field, v) : refl->SetEnum(msg, field, v);
        return;
      }
      case FD::CPPTYPE_MESSAGE:
        return;  // handled above
    }
  }

  static const char* scalar_kind(const FD* field) {
    switch (field->cpp_type()) {
      case FD::CPPTYPE_STRING: return "a string";
      case FD::CPPTYPE_BOOL: return "true or false";
      case FD::CPPTYPE_ENUM: return "a name";
      default: return "a number";
    }
  }

  static const pb::EnumValueDescriptor* find_enum(const pb::EnumDescriptor* e, const std::string& text) {
    for (int i = 0; i < e->value_count(); ++i) {
      const auto* v = e->value(i);
      if (v->number() == 0) continue;  // "unspecified" is the absence of a value
      if (v->name() == text) return v;
      std::string short_name = enum_short_name(v);
      if (short_name.size() == text.size() &&
          std::equal(text.begin(), text.end(), short_name.begin(),
                     [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == b; })) {
        return v;
      }
    }
    return nullptr;
  }

  static std::string enum_choices(const pb::EnumDescriptor* e) {
    std::vector<std::string> names;
    for (int i = 0; i < e->value_count(); ++i) {
      if (e->value(i)->number() != 0) names.push_back(enum_short_name(e->value(i)));
    }
    return fmt::format("{}", fmt::join(names, ", "));
  }

  void duration(const YAML::Node& node, pb::Message* msg, const std::string& path) {
    SourcePos pos = pos_of(node.Mark());
    if (!node.IsScalar()) {
      error(pos, path, fmt::format("expected a duration such as \"500ms\", \"10s\" or \"5m\", found {}",
                                   node_kind(node)));
      return;
    }
    auto d = parse_duration(node.Scalar());
    if (!d) {
      error(pos, path, "bad " + d.error().message);
      return;
    }
    const pb::Reflection* refl = msg->GetReflection();
    const pb::Descriptor* desc = msg->GetDescriptor();
    refl->SetInt64(msg, desc->FindFieldByName("seconds"), d->count() / 1'000'000'000);
    refl->SetInt32(msg, desc->FindFieldByName("nanos"), static_cast<int32_t>(d->count() % 1'000'000'000));
  }

  std::string file_;
  SourceMap* source_;
  std::vector<Diagnostic> diags_;
};

}  // namespace

std::string enum_short_name(const pb::EnumValueDescriptor* value) {
  const pb::EnumDescriptor* e = value->type();
  // The prefix every value shares, cut back to its last '_'.
  std::string prefix = e->value(0)->name();
  for (int i = 1; i < e->value_count(); ++i) {
    const std::string& n = e->value(i)->name();
    size_t k = 0;
    while (k < prefix.size() && k < n.size() && prefix[k] == n[k]) ++k;
    prefix.resize(k);
  }
  auto cut = prefix.rfind('_');
  prefix = cut == std::string::npos ? "" : prefix.substr(0, cut + 1);
  std::string s = value->name().substr(prefix.size());
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

namespace {

// Where each document of a stream starts, and whether its root is a null that took no
// input. Only the start events matter; the tree is built by YAML::Load.
class DocumentStarts final : public YAML::EventHandler {
 public:
  struct Doc {
    YAML::Mark start;
    YAML::Mark root;  // where its root node starts
    bool null_root = false;
  };
  std::vector<Doc> docs;

  void OnDocumentStart(const YAML::Mark& mark) override {
    docs.push_back({mark, mark, false});
    depth_ = 0;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& m, YAML::anchor_t) override {
    if (node(m)) docs.back().null_root = true;
  }
  void OnAlias(const YAML::Mark& m, YAML::anchor_t) override { node(m); }
  void OnScalar(const YAML::Mark& m, const std::string&, YAML::anchor_t, const std::string&) override { node(m); }
  void OnSequenceStart(const YAML::Mark& m, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
    node(m);
    ++depth_;
  }
  void OnSequenceEnd() override { --depth_; }
  void OnMapStart(const YAML::Mark& m, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
    node(m);
    ++depth_;
  }
  void OnMapEnd() override { --depth_; }

 private:
  // A node event: true for the document's root.
  bool node(const YAML::Mark& m) {
    if (depth_ != 0 || docs.empty()) return false;
    docs.back().root = m;
    return true;
  }
  int depth_ = 0;
};

}  // namespace

std::vector<Diagnostic> parse_yaml_document(const std::string& text, const std::string& file,
                                            std::string_view what, YAML::Node* root) {
  try {
    // Never YAML::LoadAll: yaml-cpp 0.7 leaves a token no document can start with (a
    // ',' outside a flow collection: the file ",C") unconsumed and returns one empty
    // document after another forever. Two documents are all a check needs.
    std::istringstream in(text);
    YAML::Parser parser(in);
    DocumentStarts starts;
    for (int i = 0; i < 2 && parser.HandleNextDocument(starts); ++i) {
    }
    if (starts.docs.size() > 1) {
      const auto& second = starts.docs[1];
      bool at_text = second.start.pos >= 0 && static_cast<size_t>(second.start.pos) < text.size();
      if (at_text && (starts.docs[0].null_root || text[second.start.pos] == ',')) {
        return {Diagnostic{file, pos_of(second.start), "",
                           fmt::format("YAML syntax error: a document cannot start with '{}'", text[second.start.pos])}};
      }
      return {Diagnostic{file, pos_of(second.root), "",
                         fmt::format("a file holds one {}; found a second YAML document", what)}};
    }
    *root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return {Diagnostic{file, pos_of(e.mark), "", "YAML syntax error: " + e.msg}};
  }
  if (!root->IsDefined() || root->IsNull()) {
    return {Diagnostic{file, {}, "", fmt::format("the file is empty (expected the {} as a mapping)", what)}};
  }
  return {};
}

void sort_by_position(std::vector<Diagnostic>& diagnostics) {
  std::stable_sort(diagnostics.begin(), diagnostics.end(), [](const Diagnostic& a, const Diagnostic& b) {
    return std::tie(a.pos.line, a.pos.column) < std::tie(b.pos.line, b.pos.column);
  });
}

std::vector<Diagnostic> yaml_to_message(const YAML::Node& node, pb::Message* out, const std::string& file,
                                        SourceMap* source, const std::string& path) {
  Converter c(file, source);
  if (source) source->set(path, pos_of(node.Mark()), pos_of(node.Mark()));
  c.message(node, out, path);
  return c.take();
}

}  // namespace firedrill
