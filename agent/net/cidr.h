// IPv4 and IPv6 prefixes as the network engine keys them: family, length and the
// address bytes in network order, masked to the length.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace firedrill::agent::net {

struct Cidr {
  uint8_t family = 4;                // 4 or 6
  uint8_t len = 0;                   // prefix length in bits
  std::array<uint8_t, 16> addr{};    // IPv4 uses the first 4 bytes; host bits are zero

  // "10.0.0.0/8", "fd00::/8", or a bare address (/32, /128). Host bits are cleared:
  // "10.1.2.3/24" is 10.1.2.0/24, as the kernel's own routing would read it.
  static Result<Cidr> parse(std::string_view text);
  // 0.0.0.0/0 or ::/0
  static Cidr any(uint8_t family);

  uint8_t max_len() const { return family == 4 ? 32 : 128; }
  bool covers(const Cidr& other) const;
  Cidr masked_to(uint8_t bits) const;
  std::string str() const;

  auto operator<=>(const Cidr&) const = default;
};

// Clears every bit of `addr` from `bits` on.
void mask_bytes(std::array<uint8_t, 16>& addr, unsigned bits);

}  // namespace firedrill::agent::net
