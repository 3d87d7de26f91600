#include "agent/core/config.h"

#include <algorithm>
#include <charconv>

namespace firedrill::agent {
namespace {

Result<uint32_t> parse_port(std::string_view s, std::string_view whole) {
  uint32_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v > 65535) {
    return make_error("allow entry '{}': '{}' is not a port (0-65535)", whole, s);
  }
  return v;
}

}  // namespace

Result<v1::AllowEntry> parse_allow(const std::string& text) {
  v1::AllowEntry e;
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    auto comma = text.find(',', start);
    parts.push_back(text.substr(start, comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (parts.size() > 3 || parts[0].empty()) {
    return make_error("allow entry '{}': expected CIDR[,PROTO[,PORT[-PORT]]]", text);
  }
  e.set_peer_cidr(parts[0]);
  if (parts.size() >= 2) {
    const auto& p = parts[1];
    if (p == "tcp") e.set_protocol(v1::L4_TCP);
    else if (p == "udp") e.set_protocol(v1::L4_UDP);
    else if (p == "icmp") e.set_protocol(v1::L4_ICMP);
    else if (p == "icmpv6") e.set_protocol(v1::L4_ICMPV6);
    else if (p == "sctp") e.set_protocol(v1::L4_SCTP);
    else if (p == "any" || p.empty()) e.set_protocol(v1::L4_ANY);
    else return make_error("allow entry '{}': protocol '{}' is not one of tcp, udp, icmp, icmpv6, sctp, any", text, p);
  }
  if (parts.size() == 3) {
    std::string_view ports = parts[2];
    auto dash = ports.find('-');
    FD_ASSIGN(first, parse_port(ports.substr(0, dash), text), "allow");
    uint32_t last = first;
    if (dash != std::string_view::npos) {
      FD_ASSIGN(l, parse_port(ports.substr(dash + 1), text), "allow");
      last = l;
    }
    if (last < first) return make_error("allow entry '{}': port range {}-{} is reversed", text, first, last);
    e.mutable_peer_ports()->set_first(first);
    e.mutable_peer_ports()->set_last(last);
  }
  return e;
}

Result<std::vector<std::string>> parse_controller_list(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    auto comma = text.find(',', start);
    std::string one = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    while (!one.empty() && one.front() == ' ') one.erase(one.begin());
    while (!one.empty() && one.back() == ' ') one.pop_back();
    auto colon = one.rfind(':');
    bool bracketed = !one.empty() && one[0] == '[';
    if (one.empty() || colon == std::string::npos || colon == 0 || colon + 1 == one.size() ||
        (bracketed && one[colon - 1] != ']')) {
      return make_error("--controller '{}': '{}' is not HOST:PORT (a list is HOST:PORT,HOST:PORT,...)", text, one);
    }
    std::string_view port(one.data() + colon + 1, one.size() - colon - 1);
    uint32_t v = 0;
    auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), v);
    if (ec != std::errc() || p != port.data() + port.size() || v == 0 || v > 65535) {
      return make_error("--controller '{}': '{}' has no port 1-65535", text, one);
    }
    if (std::find(out.begin(), out.end(), one) != out.end()) {
      return make_error("--controller '{}': {} is listed twice", text, one);
    }
    out.push_back(one);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

Result<std::pair<std::string, std::string>> parse_tag(const std::string& text) {
  auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0) return make_error("tag '{}': expected key=value", text);
  std::string key = text.substr(0, eq), value = text.substr(eq + 1);
  for (char c : key) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.' && c != '/') {
      return make_error("tag '{}': key may hold letters, digits, '-', '_', '.', '/' only", text);
    }
  }
  return std::pair{key, value};
}

}  // namespace firedrill::agent
