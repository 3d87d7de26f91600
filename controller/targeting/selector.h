// Label selectors over agent tags, in the form operators already know from
// Kubernetes: comma-separated requirements that must all hold.
//
//   dc=pangyo            dc==pangyo          the tag has this value
//   role!=db                                 the tag is absent or has another value
//   rack in (p1,p2)      rack notin (p3)     the value is (not) in the set; notin
//                                            also matches hosts without the tag
//   canary               !canary             the tag is present / absent
//
// An empty selector matches every host. Malformed text is an error that gives the
// position (1-based character) and what was expected there.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/result.h"

namespace firedrill::controller {

using Tags = std::map<std::string, std::string>;

struct Requirement {
  enum class Op { kEquals, kNotEquals, kIn, kNotIn, kExists, kNotExists };
  std::string key;
  Op op = Op::kExists;
  std::vector<std::string> values;  // one for (not) equals, the set for (not) in

  bool matches(const Tags& tags) const;
  std::string to_string() const;
};

// Where and why a selector failed to parse; also carried in Error::message.
struct SelectorSyntaxError {
  size_t position = 0;  // 1-based character position
  std::string expected;
};

class Selector {
 public:
  Selector() = default;  // matches everything

  // Parses selector text. The error reads:
  //   selector "rack in (p1": at position 12: expected ',' or ')' but found end of input
  static Result<Selector> parse(std::string_view text);
  // The position and expectation of the last parse failure (for tests and carets).
  static Result<Selector> parse(std::string_view text, SelectorSyntaxError* syntax);

  bool matches(const Tags& tags) const;
  bool empty() const { return requirements_.empty(); }
  const std::vector<Requirement>& requirements() const { return requirements_; }
  // Canonical text: requirements in the given order, single spacing.
  std::string to_string() const;

 private:
  std::vector<Requirement> requirements_;
};

}  // namespace firedrill::controller
