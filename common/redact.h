// Secrets kept out of what firedrill prints: a password in a URL's userinfo
// (postgres://user:secret@host -> postgres://user:***@host) or given as a keyword
// (password=secret -> password=***). Used by the store's errors and logs and by
// --print-config, so a printed configuration or a log line never carries one.
#pragma once

#include <string>
#include <string_view>

namespace firedrill {

std::string redact_secrets(std::string_view text);

}  // namespace firedrill
