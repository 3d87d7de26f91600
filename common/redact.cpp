#include "common/redact.h"

#include <regex>

namespace firedrill {

std::string redact_secrets(std::string_view text) {
  static const std::regex userinfo(R"(^([A-Za-z][A-Za-z0-9+.-]*://[^:/@]*:)[^@]*@)");
  static const std::regex keyword(R"(password=[^ &]*)");
  std::string out = std::regex_replace(std::string(text), userinfo, "$1***@");
  return std::regex_replace(out, keyword, "password=***");
}

}  // namespace firedrill
