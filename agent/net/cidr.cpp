#include "agent/net/cidr.h"

#include <arpa/inet.h>

#include <charconv>

namespace firedrill::agent::net {

void mask_bytes(std::array<uint8_t, 16>& addr, unsigned bits) {
  for (unsigned i = 0; i < addr.size(); ++i) {
    unsigned first_bit = i * 8;
    if (first_bit >= bits) {
      addr[i] = 0;
    } else if (first_bit + 8 > bits) {
      addr[i] &= static_cast<uint8_t>(0xff00u >> (bits - first_bit));
    }
  }
}

Result<Cidr> Cidr::parse(std::string_view text) {
  if (text.empty()) return make_error("empty CIDR");
  std::string addr_text(text.substr(0, text.find('/')));
  Cidr c;
  if (inet_pton(AF_INET, addr_text.c_str(), c.addr.data()) == 1) {
    c.family = 4;
  } else if (inet_pton(AF_INET6, addr_text.c_str(), c.addr.data()) == 1) {
    c.family = 6;
  } else {
    return make_error("'{}' is not an IPv4 or IPv6 address or CIDR", text);
  }
  c.len = c.max_len();
  if (auto slash = text.find('/'); slash != std::string_view::npos) {
    auto bits = text.substr(slash + 1);
    unsigned v = 0;
    auto [p, ec] = std::from_chars(bits.data(), bits.data() + bits.size(), v);
    if (bits.empty() || ec != std::errc() || p != bits.data() + bits.size() || v > c.max_len()) {
      return make_error("'{}': prefix length '{}' is not a number from 0 to {}", text, bits, c.max_len());
    }
    c.len = static_cast<uint8_t>(v);
  }
  mask_bytes(c.addr, c.len);
  return c;
}

Cidr Cidr::any(uint8_t family) {
  Cidr c;
  c.family = family;
  c.len = 0;
  return c;
}

bool Cidr::covers(const Cidr& other) const {
  if (family != other.family || len > other.len) return false;
  return other.masked_to(len).addr == addr;
}

Cidr Cidr::masked_to(uint8_t bits) const {
  Cidr c = *this;
  c.len = bits;
  mask_bytes(c.addr, bits);
  return c;
}

std::string Cidr::str() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(family == 4 ? AF_INET : AF_INET6, addr.data(), buf, sizeof buf);
  return fmt::format("{}/{}", buf, len);
}

}  // namespace firedrill::agent::net
