// The regular expressions of probes (http.body_match, command.output_match): RE2, a
// linear-time engine, so no pattern from an experiment file can make a probe backtrack
// for ever, and only the first kMaxMatchInput bytes of what a service answered are
// searched. `validate` compiles them with the same engine, so what validates runs.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/result.h"

namespace re2 {
class RE2;
}

namespace firedrill::experiment {

inline constexpr size_t kMaxMatchInput = 1 << 20;     // bytes of output searched
inline constexpr int64_t kMaxPatternProgram = 1 << 16; // RE2 program size (memory) bound

class TextMatch {
 public:
  // An error names what RE2 refused, in its words.
  static Result<TextMatch> compile(std::string_view pattern);
  TextMatch(TextMatch&&) noexcept;
  TextMatch& operator=(TextMatch&&) noexcept;
  ~TextMatch();

  // True when the pattern matches somewhere in the first kMaxMatchInput bytes.
  bool search(std::string_view text) const;
  const std::string& pattern() const;

 private:
  TextMatch() = default;
  std::unique_ptr<re2::RE2> re_;
};

}  // namespace firedrill::experiment
