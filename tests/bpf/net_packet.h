// A small fluent packet builder for the network classifier's fixtures and benchmark:
//   Packet().eth().vlan(7).ipv4("10.0.0.1", "10.0.0.2").tcp(40000, 80).payload(32).bytes()
// Layers are appended in order; lengths and next-header fields are filled in by bytes().
// Checksums stay zero: the classifier never reads them.
#pragma once

#include <arpa/inet.h>

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace firedrill::testing {

class Packet {
 public:
  Packet& eth() {
    static const uint8_t dst[6] = {0x02, 0xfd, 0, 0, 0, 2}, src[6] = {0x02, 0xfd, 0, 0, 0, 1};
    append(dst, 6);
    append(src, 6);
    ethertype_ = b_.size();
    u16(0);
    return *this;
  }
  Packet& vlan(uint16_t vid) {
    set_ethertype(0x8100);
    u16(vid & 0x0fff);
    ethertype_ = b_.size();
    u16(0);
    return *this;
  }
  Packet& ethertype(uint16_t type) {
    set_ethertype(type);
    return *this;
  }
  // frag_units: fragment offset in 8-byte units; option_words: IPv4 options (IHL - 5;
  // negative makes a malformed header).
  Packet& ipv4(const char* src, const char* dst, uint16_t frag_units = 0, bool more = false,
               int option_words = 0) {
    set_ethertype(0x0800);
    ip4_ = b_.size();
    u8(static_cast<uint8_t>(0x40 | (5 + option_words)));
    u8(0);
    u16(0);  // total length
    u16(1);  // id
    u16(static_cast<uint16_t>((more ? 0x2000 : 0) | (frag_units & 0x1fff)));
    u8(64);
    next_ = b_.size();
    u8(0);
    u16(0);
    addr(AF_INET, src);
    addr(AF_INET, dst);
    for (int i = 0; i < option_words; ++i) u32(0x01010101);  // NOPs
    return *this;
  }
  Packet& ipv6(const char* src, const char* dst) {
    set_ethertype(0x86DD);
    ip6_ = b_.size();
    u32(0x60000000);
    u16(0);  // payload length
    next_ = b_.size();
    u8(0);
    u8(64);
    addr(AF_INET6, src);
    addr(AF_INET6, dst);
    return *this;
  }
  // An IPv6 extension header of 8 bytes (hop-by-hop 0, routing 43, destination options 60).
  Packet& ext6(uint8_t type) {
    set_next(type);
    next_ = b_.size();
    u8(0);
    u8(0);
    for (int i = 0; i < 6; ++i) u8(type == 43 ? 0 : 1);  // PadN-ish filler
    return *this;
  }
  Packet& frag6(uint16_t offset_units, bool more = false) {
    set_next(44);
    next_ = b_.size();
    u8(0);
    u8(0);
    u16(static_cast<uint16_t>((offset_units << 3) | (more ? 1 : 0)));
    u32(0x1234);
    return *this;
  }
  Packet& tcp(uint16_t sport, uint16_t dport) {
    set_next(6);
    u16(sport);
    u16(dport);
    u32(1);
    u32(0);
    u8(5 << 4);
    u8(0x02);  // SYN
    u16(65535);
    u16(0);
    u16(0);
    return *this;
  }
  Packet& udp(uint16_t sport, uint16_t dport) {
    set_next(17);
    udp_ = b_.size();
    u16(sport);
    u16(dport);
    u16(0);
    u16(0);
    return *this;
  }
  Packet& sctp(uint16_t sport, uint16_t dport) {
    set_next(132);
    u16(sport);
    u16(dport);
    u32(0);
    u32(0);
    return *this;
  }
  Packet& icmp(uint8_t type = 8) {
    set_next(1);
    u8(type);
    u8(0);
    u16(0);
    u32(0x00010001);
    return *this;
  }
  Packet& icmp6(uint8_t type = 128) {
    set_next(58);
    u8(type);
    u8(0);
    u16(0);
    u32(0x00010001);
    return *this;
  }
  // Neighbour solicitation (135) or advertisement (136) for `target`.
  Packet& nd(uint8_t type, const char* target) {
    set_next(58);
    u8(type);
    u8(0);
    u16(0);
    u32(0);
    addr(AF_INET6, target);
    return *this;
  }
  Packet& arp(uint16_t op, const char* spa, const char* tpa) {
    set_ethertype(0x0806);
    u16(1);
    u16(0x0800);
    u8(6);
    u8(4);
    u16(op);
    for (int i = 0; i < 6; ++i) u8(0x02);
    addr(AF_INET, spa);
    for (int i = 0; i < 6; ++i) u8(0);
    addr(AF_INET, tpa);
    return *this;
  }
  Packet& payload(size_t n) {
    for (size_t i = 0; i < n; ++i) u8(static_cast<uint8_t>(i));
    return *this;
  }
  std::vector<uint8_t> bytes() const {
    std::vector<uint8_t> out = b_;
    if (ip4_ != kNone) put16(out, ip4_ + 2, static_cast<uint16_t>(out.size() - ip4_));
    if (ip6_ != kNone) put16(out, ip6_ + 4, static_cast<uint16_t>(out.size() - ip6_ - 40));
    if (udp_ != kNone) put16(out, udp_ + 4, static_cast<uint16_t>(out.size() - udp_));
    return out;
  }

 private:
  static constexpr size_t kNone = static_cast<size_t>(-1);

  void append(const uint8_t* p, size_t n) { b_.insert(b_.end(), p, p + n); }
  void u8(uint8_t v) { b_.push_back(v); }
  void u16(uint16_t v) {
    u8(static_cast<uint8_t>(v >> 8));
    u8(static_cast<uint8_t>(v));
  }
  void u32(uint32_t v) {
    u16(static_cast<uint16_t>(v >> 16));
    u16(static_cast<uint16_t>(v));
  }
  static void put16(std::vector<uint8_t>& b, size_t at, uint16_t v) {
    b[at] = static_cast<uint8_t>(v >> 8);
    b[at + 1] = static_cast<uint8_t>(v);
  }
  void addr(int family, const char* text) {
    uint8_t buf[16];
    if (inet_pton(family, text, buf) != 1) throw std::invalid_argument(std::string("bad address ") + text);
    append(buf, family == AF_INET ? 4 : 16);
  }
  void set_ethertype(uint16_t t) {
    if (ethertype_ == kNone) throw std::logic_error("eth() first");
    put16(b_, ethertype_, t);
  }
  void set_next(uint8_t proto) {
    if (next_ == kNone) throw std::logic_error("an IP layer first");
    b_[next_] = proto;
  }

  std::vector<uint8_t> b_;
  size_t ethertype_ = kNone, next_ = kNone, ip4_ = kNone, ip6_ = kNone, udp_ = kNone;
};

}  // namespace firedrill::testing
