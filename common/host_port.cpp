#include "common/host_port.h"

namespace firedrill {

Result<std::pair<std::string, std::string>> split_host_port(const std::string& addr, std::string_view what) {
  if (!addr.empty() && addr[0] == '[') {
    auto close = addr.find(']');
    if (close == std::string::npos || close + 2 >= addr.size() || addr[close + 1] != ':') {
      return make_error("{} '{}': expected [v6-address]:port", what, addr);
    }
    return std::pair{addr.substr(1, close - 1), addr.substr(close + 2)};
  }
  auto colon = addr.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == addr.size()) {
    return make_error("{} '{}': expected host:port", what, addr);
  }
  return std::pair{addr.substr(0, colon), addr.substr(colon + 1)};
}

}  // namespace firedrill
