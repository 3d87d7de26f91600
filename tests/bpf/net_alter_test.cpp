// The classifier's packet-altering rules under BPF_PROG_TEST_RUN: corruption flips one
// payload bit and fixes the TCP/UDP checksum or leaves it wrong as asked; a delay sets
// the departure time (skb->tstamp) to now + delay (+ jitter); a copy made by a duplicate
// rule (its mark) passes untouched. Needs root with CAP_BPF; fails where it cannot load.
#include <gtest/gtest.h>
#include <google/protobuf/text_format.h>

#include <linux/bpf.h>
#include <time.h>

#include <bpf/bpf.h>

#include "agent/net/dataplane.h"
#include "tests/bpf/net_compile.h"
#include "tests/bpf/net_packet.h"

namespace firedrill::agent::net {
namespace {

using firedrill::testing::Packet;

constexpr size_t kEth = 14, kIp = 20, kUdp = 8, kTcp = 20;

// The one's-complement sum of the IPv4 pseudo-header and the L4 segment at `l4`.
uint16_t l4_checksum(const std::vector<uint8_t>& p, size_t l4, uint8_t proto) {
  uint32_t sum = 0;
  auto add16 = [&](size_t at) { sum += (uint32_t(p[at]) << 8) | (at + 1 < p.size() ? p[at + 1] : 0); };
  for (size_t i = kEth + 12; i < kEth + 20; i += 2) add16(i);  // addresses
  sum += proto;
  sum += static_cast<uint32_t>(p.size() - l4);
  for (size_t i = l4; i < p.size(); i += 2) add16(i);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

// A packet with a correct checksum at `csum` (offset in the packet).
std::vector<uint8_t> with_checksum(std::vector<uint8_t> p, size_t l4, size_t csum, uint8_t proto) {
  p[csum] = p[csum + 1] = 0;
  uint16_t c = l4_checksum(p, l4, proto);
  p[csum] = static_cast<uint8_t>(c >> 8);
  p[csum + 1] = static_cast<uint8_t>(c);
  return p;
}

bool checksum_ok(const std::vector<uint8_t>& p, size_t l4, uint8_t proto) { return l4_checksum(p, l4, proto) == 0; }

uint64_t mono_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

class NetAlter : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dp = NetDataplane::load();
    ASSERT_TRUE(dp) << "cannot load the network classifier (this suite needs root with CAP_BPF): "
                    << dp.error().describe();
    dp_ = std::move(*dp);
  }

  struct Out {
    int verdict = 0;
    std::vector<uint8_t> data;
    __sk_buff ctx{};
  };

  Out run(Program prog, const std::vector<uint8_t>& in, uint32_t mark = 0) {
    Out out;
    out.data.resize(in.size() + 256);
    __sk_buff ctx_in{};
    ctx_in.mark = mark;
    LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in.data(), .data_out = out.data.data(),
                .data_size_in = static_cast<uint32_t>(in.size()),
                .data_size_out = static_cast<uint32_t>(out.data.size()), .ctx_in = &ctx_in, .ctx_out = &out.ctx,
                .ctx_size_in = sizeof ctx_in, .ctx_size_out = sizeof out.ctx);
    int err = bpf_prog_test_run_opts(dp_->prog_fd(prog), &o);
    EXPECT_EQ(err, 0) << "BPF_PROG_TEST_RUN: " << std::strerror(errno);
    out.data.resize(o.data_size_out);
    out.verdict = static_cast<int>(o.retval);
    return out;
  }

  std::unique_ptr<NetDataplane> dp_;
};

// The bits that differ between two packets of one size.
int differing_bits(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b, size_t from, size_t to) {
  int n = 0;
  for (size_t i = from; i < to && i < a.size(); ++i) n += __builtin_popcount(a[i] ^ b[i]);
  return n;
}

TEST_F(NetAlter, CorruptionFlipsOnePayloadBitAndFixesTheUdpChecksumWhenAsked) {
  ASSERT_TRUE(dp_->install("c", compile(R"(corrupt { percent: 100 fix_checksums: true match { protocol: L4_UDP } })"),
                           NF_IFACES_ALL));
  size_t l4 = kEth + kIp, csum = l4 + 6;
  auto in = with_checksum(Packet().eth().ipv4("10.9.0.1", "10.9.0.2").udp(4000, 5000).payload(64).bytes(), l4, csum, 17);
  ASSERT_TRUE(checksum_ok(in, l4, 17));
  for (int i = 0; i < 200; ++i) {
    auto out = run(Program::kEgress, in);
    ASSERT_EQ(out.verdict, NF_TC_NEXT);
    ASSERT_EQ(out.data.size(), in.size());
    EXPECT_EQ(differing_bits(in, out.data, 0, l4 + kUdp), csum == 0 ? 0 : differing_bits(in, out.data, csum, csum + 2))
        << "only the checksum may change in the headers";
    EXPECT_EQ(differing_bits(in, out.data, l4 + kUdp, in.size()), 1) << "one payload bit flipped";
    EXPECT_TRUE(checksum_ok(out.data, l4, 17)) << "the checksum follows the flipped bit";
  }
}

TEST_F(NetAlter, CorruptionLeavesTheTcpChecksumWrongByDefault) {
  ASSERT_TRUE(dp_->install("c", compile(R"(corrupt { percent: 100 match { protocol: L4_TCP } })"), NF_IFACES_ALL));
  size_t l4 = kEth + kIp, csum = l4 + 16;
  auto in = with_checksum(Packet().eth().ipv4("10.9.0.1", "10.9.0.2").tcp(4000, 80).payload(33).bytes(), l4, csum, 6);
  ASSERT_TRUE(checksum_ok(in, l4, 6));
  for (int i = 0; i < 200; ++i) {
    auto out = run(Program::kIngress, in);
    ASSERT_EQ(out.verdict, NF_TC_NEXT);
    EXPECT_EQ(differing_bits(in, out.data, 0, l4 + kTcp), 0) << "headers untouched";
    EXPECT_EQ(differing_bits(in, out.data, l4 + kTcp, in.size()), 1);
    EXPECT_FALSE(checksum_ok(out.data, l4, 6)) << "the receiver must see a bad checksum";
  }
}

TEST_F(NetAlter, CorruptionAtAProbabilityAndNotOutsideTheMatch) {
  ASSERT_TRUE(dp_->install("c", compile(R"(corrupt { percent: 30 match { protocol: L4_UDP dst_ports { first: 5000 } } })"),
                           NF_IFACES_ALL));
  auto in = Packet().eth().ipv4("10.9.0.1", "10.9.0.2").udp(4000, 5000).payload(64).bytes();
  auto other = Packet().eth().ipv4("10.9.0.1", "10.9.0.2").udp(4000, 5001).payload(64).bytes();
  int changed = 0, n = 10000;
  for (int i = 0; i < n; ++i) changed += run(Program::kEgress, in).data != in;
  EXPECT_NEAR(changed * 100.0 / n, 30.0, 5.0) << changed << " of " << n;
  for (int i = 0; i < 200; ++i) EXPECT_EQ(run(Program::kEgress, other).data, other);
  // A packet without payload has nothing to corrupt.
  auto empty = Packet().eth().ipv4("10.9.0.1", "10.9.0.2").udp(4000, 5000).bytes();
  ASSERT_TRUE(dp_->install("all", compile(R"(corrupt { percent: 100 match { protocol: L4_UDP } })"), NF_IFACES_ALL));
  EXPECT_EQ(run(Program::kEgress, empty).data, empty);
}

TEST_F(NetAlter, DelaySetsTheDepartureTimeToNowPlusDelayAndJitter) {
  ASSERT_TRUE(dp_->install("d", compile(R"(delay { delay_us: 10000 jitter_us: 2000 match { direction: DIRECTION_EGRESS } })"),
                           NF_IFACES_ALL));
  auto in = Packet().eth().ipv4("10.9.0.1", "10.9.0.2").tcp(4000, 80).bytes();
  uint64_t lo = UINT64_MAX, hi = 0;
  for (int i = 0; i < 500; ++i) {
    uint64_t before = mono_ns();
    auto out = run(Program::kEgress, in);
    uint64_t after = mono_ns();
    ASSERT_EQ(out.verdict, NF_TC_NEXT);
    ASSERT_GE(out.ctx.tstamp, before + 10'000'000);
    ASSERT_LT(out.ctx.tstamp, after + 12'000'000);
    uint64_t extra = out.ctx.tstamp - before - 10'000'000;
    lo = std::min(lo, extra);
    hi = std::max(hi, extra);
  }
  // The jitter spreads over its range (draws of 500: both ends are reached).
  EXPECT_LT(lo, 400'000u);
  EXPECT_GT(hi, 1'600'000u);
  // An ingress packet is never delayed (departure times hold on egress only).
  auto ing = run(Program::kIngress, in);
  EXPECT_EQ(ing.ctx.tstamp, 0u);
}

TEST_F(NetAlter, ACopyMadeByADuplicateRulePassesUntouched) {
  ASSERT_TRUE(dp_->install("x", compile(R"(drop { match { protocol: L4_UDP } })"), NF_IFACES_ALL));
  auto in = Packet().eth().ipv4("10.9.0.1", "10.9.0.2").udp(4000, 5000).payload(8).bytes();
  EXPECT_EQ(run(Program::kEgress, in).verdict, NF_TC_DROP);
  EXPECT_EQ(run(Program::kEgress, in, NF_DUP_MARK).verdict, NF_TC_NEXT);
}

}  // namespace
}  // namespace firedrill::agent::net
