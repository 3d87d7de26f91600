// "host:port" and "[v6-address]:port", as the daemons' address flags take them.
#pragma once

#include <string>
#include <utility>

#include "common/result.h"

namespace firedrill {

// The host (without brackets) and the port text; the error names `what` and the text.
Result<std::pair<std::string, std::string>> split_host_port(const std::string& address, std::string_view what);

}  // namespace firedrill
