#include "controller/experiment/text_match.h"

#include <re2/re2.h>

namespace firedrill::experiment {

Result<TextMatch> TextMatch::compile(std::string_view pattern) {
  RE2::Options opt;
  opt.set_log_errors(false);
  opt.set_max_mem(8 << 20);
  TextMatch out;
  out.re_ = std::make_unique<re2::RE2>(re2::StringPiece(pattern.data(), pattern.size()), opt);
  if (!out.re_->ok()) return make_error("bad regular expression '{}': {}", pattern, out.re_->error());
  if (out.re_->ProgramSize() > kMaxPatternProgram) {
    return make_error("regular expression '{}' is too large ({} instructions, at most {})", pattern,
                      out.re_->ProgramSize(), kMaxPatternProgram);
  }
  return out;
}

TextMatch::TextMatch(TextMatch&&) noexcept = default;
TextMatch& TextMatch::operator=(TextMatch&&) noexcept = default;
TextMatch::~TextMatch() = default;

bool TextMatch::search(std::string_view text) const {
  text = text.substr(0, kMaxMatchInput);
  return RE2::PartialMatch(re2::StringPiece(text.data(), text.size()), *re_);
}

const std::string& TextMatch::pattern() const { return re_->pattern(); }

}  // namespace firedrill::experiment
