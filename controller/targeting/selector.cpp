#include "controller/targeting/selector.h"

#include <algorithm>

namespace firedrill::controller {
namespace {

bool key_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-' || c == '/';
}

bool value_char(char c) { return key_char(c) || c == ':'; }

// A recursive-descent parser over the text with one character of look-ahead. Every
// failure records the position and what would have been accepted there.
class Parser {
 public:
  explicit Parser(std::string_view text) : s_(text) {}

  bool parse(std::vector<Requirement>* out) {
    skip_ws();
    if (at_end()) return true;
    while (true) {
      Requirement r;
      if (!requirement(&r)) return false;
      out->push_back(std::move(r));
      skip_ws();
      if (at_end()) return true;
      if (s_[i_] != ',') return fail("',' between requirements or end of selector");
      ++i_;
      skip_ws();
      if (at_end()) return fail("a requirement after ','");
    }
  }

  SelectorSyntaxError error;

 private:
  bool at_end() const { return i_ >= s_.size(); }
  void skip_ws() {
    while (!at_end() && (s_[i_] == ' ' || s_[i_] == '\t')) ++i_;
  }
  bool fail(std::string expected) {
    error.position = i_ + 1;
    error.expected = std::move(expected);
    return false;
  }
  std::string found() const {
    if (at_end()) return "end of input";
    return std::string("'") + s_[i_] + "'";
  }

  bool key(std::string* out) {
    size_t start = i_;
    while (!at_end() && key_char(s_[i_])) ++i_;
    if (start == i_) return fail("a tag key (letters, digits, '.', '_', '-', '/')");
    if (!std::isalnum(static_cast<unsigned char>(s_[start]))) {
      i_ = start;
      return fail("a tag key that starts with a letter or digit");
    }
    *out = std::string(s_.substr(start, i_ - start));
    return true;
  }

  bool value(std::string* out, bool may_be_empty) {
    size_t start = i_;
    while (!at_end() && value_char(s_[i_])) ++i_;
    if (start == i_ && !may_be_empty) return fail("a value (letters, digits, '.', '_', '-', '/', ':')");
    *out = std::string(s_.substr(start, i_ - start));
    return true;
  }

  bool word_at(std::string_view w) const {
    if (s_.substr(i_, w.size()) != w) return false;
    size_t after = i_ + w.size();
    return after >= s_.size() || !key_char(s_[after]);
  }

  bool requirement(Requirement* r) {
    if (s_[i_] == '!') {
      ++i_;
      skip_ws();
      r->op = Requirement::Op::kNotExists;
      return key(&r->key);
    }
    if (!key(&r->key)) return false;
    size_t after_key = i_;
    skip_ws();
    if (at_end() || s_[i_] == ',') {
      r->op = Requirement::Op::kExists;
      return true;
    }
    if (s_[i_] == '=' || s_[i_] == '!') {
      if (s_[i_] == '!') {
        ++i_;
        if (at_end() || s_[i_] != '=') return fail("'=' after '!' (the operator is '!=')");
        r->op = Requirement::Op::kNotEquals;
      } else {
        r->op = Requirement::Op::kEquals;
      }
      ++i_;
      if (!at_end() && s_[i_] == '=' && r->op == Requirement::Op::kEquals) ++i_;
      skip_ws();
      std::string v;
      if (!value(&v, true)) return false;
      if (!at_end() && !value_char(s_[i_]) && s_[i_] != ',' && s_[i_] != ' ' && s_[i_] != '\t') {
        return fail("a value character, ',' or end of selector, but found " + found());
      }
      r->values.push_back(std::move(v));
      return true;
    }
    if (i_ == after_key) return fail("an operator ('=', '==', '!=', ' in ', ' notin ') after key '" + r->key + "'");
    bool notin = word_at("notin");
    if (!notin && !word_at("in")) {
      return fail("an operator ('=', '==', '!=', 'in', 'notin') or ',' after key '" + r->key + "', but found " + found());
    }
    r->op = notin ? Requirement::Op::kNotIn : Requirement::Op::kIn;
    i_ += notin ? 5 : 2;
    skip_ws();
    if (at_end() || s_[i_] != '(') return fail("'(' to open the set of values, but found " + found());
    ++i_;
    while (true) {
      skip_ws();
      std::string v;
      if (!value(&v, false)) return false;
      r->values.push_back(std::move(v));
      skip_ws();
      if (at_end()) return fail("',' or ')' but found end of input");
      if (s_[i_] == ')') {
        ++i_;
        break;
      }
      if (s_[i_] != ',') return fail("',' or ')' but found " + found());
      ++i_;
    }
    std::sort(r->values.begin(), r->values.end());
    r->values.erase(std::unique(r->values.begin(), r->values.end()), r->values.end());
    return true;
  }

  std::string_view s_;
  size_t i_ = 0;
};

}  // namespace

bool Requirement::matches(const Tags& tags) const {
  auto it = tags.find(key);
  bool has = it != tags.end();
  switch (op) {
    case Op::kExists: return has;
    case Op::kNotExists: return !has;
    case Op::kEquals: return has && it->second == values[0];
    case Op::kNotEquals: return !has || it->second != values[0];
    case Op::kIn: return has && std::find(values.begin(), values.end(), it->second) != values.end();
    case Op::kNotIn: return !has || std::find(values.begin(), values.end(), it->second) == values.end();
  }
  return false;
}

std::string Requirement::to_string() const {
  auto set = [this] {
    std::string s;
    for (auto& v : values) s += (s.empty() ? "" : ",") + v;
    return s;
  };
  switch (op) {
    case Op::kExists: return key;
    case Op::kNotExists: return "!" + key;
    case Op::kEquals: return key + "=" + values[0];
    case Op::kNotEquals: return key + "!=" + values[0];
    case Op::kIn: return key + " in (" + set() + ")";
    case Op::kNotIn: return key + " notin (" + set() + ")";
  }
  return key;
}

Result<Selector> Selector::parse(std::string_view text) { return parse(text, nullptr); }

Result<Selector> Selector::parse(std::string_view text, SelectorSyntaxError* syntax) {
  if (text.size() > 4096) return make_error("selector is {} characters long (at most 4096)", text.size());
  Parser p(text);
  Selector s;
  if (!p.parse(&s.requirements_)) {
    if (syntax) *syntax = p.error;
    return make_error("selector \"{}\": at position {}: expected {}", text, p.error.position, p.error.expected);
  }
  return s;
}

bool Selector::matches(const Tags& tags) const {
  return std::all_of(requirements_.begin(), requirements_.end(), [&](auto& r) { return r.matches(tags); });
}

std::string Selector::to_string() const {
  std::string out;
  for (auto& r : requirements_) out += (out.empty() ? "" : ",") + r.to_string();
  return out;
}

}  // namespace firedrill::controller
