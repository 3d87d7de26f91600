// The network classifier in the kernel, run with BPF_PROG_TEST_RUN over a table of
// fixtures: a description, the faults installed (compiled by the engine's own
// compiler), a packet from the fluent builder, the direction and the expected verdict.
// Ingress fixtures run through both the tc ingress program and the XDP fallback.
// Needs root with CAP_BPF; fails (never skips) where it cannot load.
#include <gtest/gtest.h>

#include <time.h>
#include <unistd.h>
#include <google/protobuf/text_format.h>

#include <bpf/bpf.h>

#include "agent/core/config.h"
#include "agent/net/dataplane.h"
#include "tests/bpf/net_compile.h"
#include "tests/bpf/net_packet.h"

namespace firedrill::agent::net {
namespace {

using firedrill::testing::Packet;

constexpr bool kDrop = true, kPass = false;

// The agent's own allow list for the whole table.
const char* const kAgentAllow[] = {"10.201.99.1,tcp,7443", "fd00:201::99,tcp,7443", "10.201.99.2"};

std::unique_ptr<NetDataplane> load_dataplane() {
  auto dp = NetDataplane::load();
  if (!dp) {
    ADD_FAILURE() << "cannot load the network classifier (this suite needs root with CAP_BPF): "
                  << dp.error().describe();
    return nullptr;
  }
  std::vector<AllowRule> allow;
  for (auto* text : kAgentAllow) {
    auto e = parse_allow(text);
    EXPECT_TRUE(e) << text;
    auto a = compile_allow(*e, text);
    EXPECT_TRUE(a) << text;
    allow.push_back(*a);
  }
  auto r = (*dp)->set_global_allow(allow);
  EXPECT_TRUE(r) << r.error().describe();
  return std::move(*dp);
}

struct Run {
  bool drop = false;
  uint32_t duration_ns = 0;
};

// One run of a program over a packet; the verdict must be one the program returns.
Run run(const NetDataplane& dp, Program prog, const std::vector<uint8_t>& pkt, uint32_t repeat = 1) {
  LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt.data(), .data_size_in = static_cast<uint32_t>(pkt.size()),
              .repeat = static_cast<int>(repeat));
  int err = bpf_prog_test_run_opts(dp.prog_fd(prog), &o);
  EXPECT_EQ(err, 0) << "BPF_PROG_TEST_RUN: " << std::strerror(errno);
  Run r;
  r.duration_ns = o.duration;
  if (prog == Program::kXdp) {
    EXPECT_TRUE(o.retval == 1 || o.retval == 2) << "XDP verdict " << o.retval;
    r.drop = o.retval == 1;  // XDP_DROP
  } else {
    int v = static_cast<int>(o.retval);
    EXPECT_TRUE(v == NF_TC_NEXT || v == NF_TC_DROP) << "tc verdict " << v;
    r.drop = v == NF_TC_DROP;
  }
  return r;
}

struct Fixture {
  std::string what;
  std::vector<std::string> faults;  // NetworkFault text specs, installed for this fixture
  Packet packet;
  Dir dir;
  bool drop;
  uint64_t iface_mask = NF_IFACES_ALL;
};

const Dir kEg = Dir::kEgress, kIn = Dir::kIngress;

std::vector<Fixture> fixtures() {
  const std::string tcp80 = R"(drop { match { protocol: L4_TCP dst_ports { first: 80 last: 90 } } })";
  const std::string frag = R"(drop { match { dst_cidrs: "10.201.2.2" protocol: L4_UDP } })";
  const std::string frag_ports = R"(drop { match { dst_cidrs: "10.201.2.2" protocol: L4_UDP dst_ports { first: 53 } } })";
  const std::string frag6 = R"(drop { match { dst_cidrs: "fd00:201:2::2" protocol: L4_UDP } })";
  const std::string frag6_ports = R"(drop { match { dst_cidrs: "fd00:201:2::2" protocol: L4_UDP dst_ports { first: 53 } } })";
  const std::string blackhole = "blackhole {}";
  return {
      // No fault: nothing is dropped.
      {"no fault, tcp egress", {}, Packet().eth().ipv4("10.201.1.1", "10.201.2.2").tcp(40000, 80), kEg, kPass},
      {"no fault, arp ingress", {}, Packet().eth().arp(1, "10.201.2.2", "10.201.1.1"), kIn, kPass},

      // Remote cidr (egress: destination; ingress: source).
      {"remote /24 egress matches", {R"(drop { match { dst_cidrs: "10.201.2.0/24" direction: DIRECTION_EGRESS } })"},
       Packet().eth().ipv4("10.201.1.1", "10.201.2.2").tcp(40000, 80), kEg, kDrop},
      {"remote /24 egress, other address", {R"(drop { match { dst_cidrs: "10.201.2.0/24" direction: DIRECTION_EGRESS } })"},
       Packet().eth().ipv4("10.201.1.1", "10.201.3.2").tcp(40000, 80), kEg, kPass},
      {"remote /24 ingress matches the source", {R"(drop { match { src_cidrs: "10.201.2.0/24" direction: DIRECTION_INGRESS } })"},
       Packet().eth().ipv4("10.201.2.7", "10.201.1.1").udp(53, 40000), kIn, kDrop},
      {"direction: an ingress rule leaves egress alone", {R"(drop { match { src_cidrs: "10.201.2.0/24" direction: DIRECTION_INGRESS } })"},
       Packet().eth().ipv4("10.201.2.7", "10.201.1.1").udp(53, 40000), kEg, kPass},
      {"direction: an egress rule leaves ingress alone", {R"(drop { match { dst_cidrs: "10.201.1.0/24" direction: DIRECTION_EGRESS } })"},
       Packet().eth().ipv4("10.201.2.7", "10.201.1.1").udp(53, 40000), kIn, kPass},

      // Local cidr (egress: source; ingress: destination).
      {"local /32 egress matches", {R"(drop { match { src_cidrs: "10.201.1.1" direction: DIRECTION_EGRESS } })"},
       Packet().eth().ipv4("10.201.1.1", "10.201.2.2").tcp(40000, 80), kEg, kDrop},
      {"local /32 egress, other local", {R"(drop { match { src_cidrs: "10.201.1.1" direction: DIRECTION_EGRESS } })"},
       Packet().eth().ipv4("10.201.1.5", "10.201.2.2").tcp(40000, 80), kEg, kPass},
      {"local + remote both needed", {R"(drop { match { src_cidrs: "10.201.1.0/24" dst_cidrs: "10.201.2.2" } })"},
       Packet().eth().ipv4("10.201.4.1", "10.201.2.2").tcp(40000, 80), kEg, kPass},
      {"local + remote ingress", {R"(drop { match { src_cidrs: "10.201.2.2" dst_cidrs: "10.201.1.0/24" } })"},
       Packet().eth().ipv4("10.201.2.2", "10.201.1.200").tcp(80, 40000), kIn, kDrop},

      // Protocol.
      {"protocol udp drops udp", {R"(drop { match { protocol: L4_UDP } })"},
       Packet().eth().ipv4("10.201.1.1", "10.201.2.2").udp(40000, 53), kEg, kDrop},
      {"protocol udp spares tcp", {R"(drop { match { protocol: L4_UDP } })"},
       Packet().eth().ipv4("10.201.1.1", "10.201.2.2").tcp(40000, 53), kEg, kPass},
      {"protocol udp spares icmp", {R"(drop { match { protocol: L4_UDP } })"},
       Packet().eth().ipv4("10.201.1.1", "10.201.2.2").icmp(), kEg, kPass},
      {"protocol icmp drops ping", {R"(drop { match { protocol: L4_ICMP } })"},
       Packet().eth().ipv4("10.201.1.1", "10.201.2.2").icmp(), kEg, kDrop},
      {"protocol icmp drops ping6 too", {R"(drop { match { protocol: L4_ICMP } })"},
       Packet().eth().ipv6("fd00:201:1::1", "fd00:201:2::2").icmp6(128), kEg, kDrop},
      {"protocol sctp with ports", {R"(drop { match { protocol: L4_SCTP dst_ports { first: 3868 } } })"},
       Packet().eth().ipv4("10.201.1.1", "10.201.2.2").sctp(40000, 3868), kEg, kDrop},
      {"protocol sctp, other port", {R"(drop { match { protocol: L4_SCTP dst_ports { first: 3868 } } })"},
       Packet().eth().ipv4("10.201.1.1", "10.201.2.2").sctp(40000, 3869), kEg, kPass},

      // Remote and local port ranges, with their bounds.
      {"remote port 80 (first of 80-90)", {tcp80}, Packet().eth().ipv4("10.201.1.1", "10.201.2.2").tcp(40000, 80), kEg, kDrop},
      {"remote port 90 (last of 80-90)", {tcp80}, Packet().eth().ipv4("10.201.1.1", "10.201.2.2").tcp(40000, 90), kEg, kDrop},
      {"remote port 91 outside", {tcp80}, Packet().eth().ipv4("10.201.1.1", "10.201.2.2").tcp(40000, 91), kEg, kPass},
      {"remote port 79 outside", {tcp80}, Packet().eth().ipv4("10.201.1.1", "10.201.2.2").tcp(40000, 79), kEg, kPass},
      {"dst port on ingress is the local port", {tcp80}, Packet().eth().ipv4("10.201.2.2", "10.201.1.1").tcp(40000, 85), kIn, kDrop},
      {"dst port on ingress: reply from port 85 spared", {tcp80}, Packet().eth().ipv4("10.201.2.2", "10.201.1.1").tcp(85, 40000), kIn, kPass},
      {"local port range egress", {R"(drop { match { protocol: L4_UDP src_ports { first: 5000 last: 5010 } } })"},
       Packet().eth().ipv4("10.201.1.1", "10.201.2.2").udp(5005, 53), kEg, kDrop},
      {"local port range egress, outside", {R"(drop { match { protocol: L4_UDP src_ports { first: 5000 last: 5010 } } })"},
       Packet().eth().ipv4("10.201.1.1", "10.201.2.2").udp(5011, 53), kEg, kPass},
      {"second of several port ranges", {R"(drop { match { protocol: L4_TCP dst_ports { first: 22 } dst_ports { first: 443 } dst_ports { first: 8000 last: 8080 } } })"},
       Packet().eth().ipv4("10.201.1.1", "10.201.2.2").tcp(40000, 443), kEg, kDrop},
      {"between port ranges", {R"(drop { match { protocol: L4_TCP dst_ports { first: 22 } dst_ports { first: 443 } } })"},
       Packet().eth().ipv4("10.201.1.1", "10.201.2.2").tcp(40000, 442), kEg, kPass},
      {"port rule spares port-less icmp", {R"(drop { match { dst_ports { first: 80 } } })"},
       Packet().eth().ipv4("10.201.1.1", "10.201.2.2").icmp(), kEg, kPass},

      // IPv6, with extension headers.
      {"ipv6 remote /64", {R"(drop { match { dst_cidrs: "fd00:201:2::/64" } })"},
       Packet().eth().ipv6("fd00:201:1::1", "fd00:201:2::9").tcp(40000, 80), kEg, kDrop},
      {"ipv6 rule spares ipv4", {R"(drop { match { dst_cidrs: "fd00:201:2::/64" } })"},
       Packet().eth().ipv4("10.201.1.1", "10.201.2.2").tcp(40000, 80), kEg, kPass},
      {"ipv4 rule spares ipv6", {R"(drop { match { dst_cidrs: "10.201.2.0/24" } })"},
       Packet().eth().ipv6("fd00:201:1::1", "fd00:201:2::9").tcp(40000, 80), kEg, kPass},
      {"ipv6 ingress source", {R"(drop { match { src_cidrs: "fd00:201:2::/48" protocol: L4_UDP } })"},
       Packet().eth().ipv6("fd00:201:2:7::1", "fd00:201:1::1").udp(53, 40000), kIn, kDrop},
      {"ipv6 port behind hop-by-hop and dest options", {tcp80},
       Packet().eth().ipv6("fd00:201:1::1", "fd00:201:2::2").ext6(0).ext6(60).tcp(40000, 85), kEg, kDrop},
      {"ipv6 port behind routing header, outside range", {tcp80},
       Packet().eth().ipv6("fd00:201:1::1", "fd00:201:2::2").ext6(43).tcp(40000, 95), kEg, kPass},
      {"ipv6 local cidr", {R"(drop { match { src_cidrs: "fd00:201:1::/64" direction: DIRECTION_EGRESS } })"},
       Packet().eth().ipv6("fd00:201:1::1", "fd00:201:2::2").udp(1, 2), kEg, kDrop},
      {"ipv6 local cidr, other local", {R"(drop { match { src_cidrs: "fd00:201:1::/64" direction: DIRECTION_EGRESS } })"},
       Packet().eth().ipv6("fd00:201:5::1", "fd00:201:2::2").udp(1, 2), kEg, kPass},

      // Fragments: only the first carries ports.
      {"ipv4 first fragment has ports", {frag_ports},
       Packet().eth().ipv4("10.201.1.1", "10.201.2.2", 0, true).udp(40000, 53).payload(64), kEg, kDrop},
      {"ipv4 later fragment: port rule spares it", {frag_ports},
       Packet().eth().ipv4("10.201.1.1", "10.201.2.2", 100).udp(1, 53).payload(64), kEg, kPass},
      {"ipv4 later fragment: port-less rule drops it", {frag},
       Packet().eth().ipv4("10.201.1.1", "10.201.2.2", 100).udp(1, 53).payload(64), kEg, kDrop},
      {"ipv6 later fragment: port rule spares it", {frag6_ports},
       Packet().eth().ipv6("fd00:201:1::1", "fd00:201:2::2").frag6(100).udp(1, 53), kEg, kPass},
      {"ipv6 later fragment: port-less rule drops it", {frag6},
       Packet().eth().ipv6("fd00:201:1::1", "fd00:201:2::2").frag6(100).udp(1, 53), kEg, kDrop},
      {"ipv6 first fragment has ports", {frag6_ports},
       Packet().eth().ipv6("fd00:201:1::1", "fd00:201:2::2").frag6(0, true).udp(40000, 53), kEg, kDrop},

      // Header shapes: IPv4 options, a VLAN tag, malformed frames.
      {"ipv4 with options (IHL 7)", {tcp80},
       Packet().eth().ipv4("10.201.1.1", "10.201.2.2", 0, false, 2).tcp(40000, 80), kEg, kDrop},
      {"vlan-tagged ipv4", {tcp80}, Packet().eth().vlan(42).ipv4("10.201.1.1", "10.201.2.2").tcp(40000, 80), kEg, kDrop},
      {"vlan-tagged ipv6", {tcp80}, Packet().eth().vlan(42).ipv6("fd00:201:1::1", "fd00:201:2::2").tcp(40000, 80), kEg, kDrop},
      // (BPF_PROG_TEST_RUN refuses a tc packet shorter than its IP header, so the
      // malformed one has a header length below 20 instead.)
      {"ipv4 with IHL 4 is not matched by an IP rule", {R"(drop { match {} })"},
       Packet().eth().ipv4("10.201.2.2", "10.201.1.1", 0, false, -1).tcp(80, 40000), kIn, kPass},
      {"ipv4 with IHL 4 is dropped by a blackhole", {blackhole},
       Packet().eth().ipv4("10.201.2.2", "10.201.1.1", 0, false, -1).tcp(80, 40000), kIn, kDrop},

      // Probability.
      {"probability 0 never drops", {R"(drop { percent: 0 percent_set: true match { protocol: L4_TCP } })"},
       Packet().eth().ipv4("10.201.1.1", "10.201.2.2").tcp(40000, 80), kEg, kPass},
      {"probability 100 always drops", {R"(drop { percent: 100 match { protocol: L4_TCP } })"},
       Packet().eth().ipv4("10.201.1.1", "10.201.2.2").tcp(40000, 80), kEg, kDrop},
      {"a covering rule at 0% does not hide a longer one at 100%",
       {R"(drop { percent: 0 percent_set: true match { dst_cidrs: "10.0.0.0/8" } })", R"(drop { match { dst_cidrs: "10.201.2.2" } })"},
       Packet().eth().ipv4("10.201.1.1", "10.201.2.2").tcp(40000, 80), kEg, kDrop},
      {"a longer rule at 0% does not hide a covering one at 100%",
       {R"(drop { match { dst_cidrs: "10.0.0.0/8" } })", R"(drop { percent: 0 percent_set: true match { dst_cidrs: "10.201.2.2" } })"},
       Packet().eth().ipv4("10.201.1.1", "10.201.2.2").tcp(40000, 80), kEg, kDrop},

      // Blackhole: everything, both ways, both families, ARP and other frames.
      {"blackhole ipv4 egress", {blackhole}, Packet().eth().ipv4("10.201.1.1", "10.201.2.2").udp(1, 2), kEg, kDrop},
      {"blackhole ipv4 ingress", {blackhole}, Packet().eth().ipv4("10.201.2.2", "10.201.1.1").udp(1, 2), kIn, kDrop},
      {"blackhole ipv6 egress", {blackhole}, Packet().eth().ipv6("fd00:201:1::1", "fd00:201:2::2").icmp6(), kEg, kDrop},
      {"blackhole ipv6 ingress", {blackhole}, Packet().eth().ipv6("fd00:201:2::2", "fd00:201:1::1").tcp(80, 40000), kIn, kDrop},
      {"blackhole arp request egress", {blackhole}, Packet().eth().arp(1, "10.201.1.1", "10.201.2.2"), kEg, kDrop},
      {"blackhole arp reply ingress", {blackhole}, Packet().eth().arp(2, "10.201.2.2", "10.201.1.1"), kIn, kDrop},
      {"blackhole lldp frame", {blackhole}, Packet().eth().ethertype(0x88cc).payload(40), kIn, kDrop},

      // The agent's allow list wins over a blackhole (and over any rule).
      {"allow: agent's tcp 7443 egress survives a blackhole", {blackhole},
       Packet().eth().ipv4("10.201.1.1", "10.201.99.1").tcp(40000, 7443), kEg, kPass},
      {"allow: agent's tcp 7443 reply ingress survives", {blackhole},
       Packet().eth().ipv4("10.201.99.1", "10.201.1.1").tcp(7443, 40000), kIn, kPass},
      {"allow: other port of the allowed peer is dropped", {blackhole},
       Packet().eth().ipv4("10.201.1.1", "10.201.99.1").tcp(40000, 7444), kEg, kDrop},
      {"allow: udp to the tcp-allowed peer is dropped", {blackhole},
       Packet().eth().ipv4("10.201.1.1", "10.201.99.1").udp(40000, 7443), kEg, kDrop},
      {"allow: any protocol to an address-only entry", {blackhole},
       Packet().eth().ipv4("10.201.1.1", "10.201.99.2").udp(40000, 9), kEg, kPass},
      {"allow: ipv6 entry", {blackhole},
       Packet().eth().ipv6("fd00:201:1::1", "fd00:201::99").tcp(40000, 7443), kEg, kPass},
      {"allow: arp who-has the allowed peer passes", {blackhole},
       Packet().eth().arp(1, "10.201.1.1", "10.201.99.1"), kEg, kPass},
      {"allow: arp from the allowed peer passes", {blackhole},
       Packet().eth().arp(2, "10.201.99.1", "10.201.1.1"), kIn, kPass},
      {"allow: arp of another address is dropped", {blackhole},
       Packet().eth().arp(1, "10.201.1.1", "10.201.99.3"), kEg, kDrop},
      {"allow: neighbour solicitation for the allowed ipv6 peer passes", {blackhole},
       Packet().eth().ipv6("fd00:201:1::1", "ff02::1:ff00:99").nd(135, "fd00:201::99"), kEg, kPass},
      {"allow: neighbour advertisement from the allowed peer passes", {blackhole},
       Packet().eth().ipv6("fd00:201::99", "fd00:201:1::1").nd(136, "fd00:201::99"), kIn, kPass},
      {"allow: neighbour solicitation for another address is dropped", {blackhole},
       Packet().eth().ipv6("fd00:201:1::1", "ff02::1:ff00:98").nd(135, "fd00:201::98"), kEg, kDrop},
      {"allow: also wins over a drop rule", {R"(drop { match { protocol: L4_TCP } })"},
       Packet().eth().ipv4("10.201.1.1", "10.201.99.1").tcp(40000, 7443), kEg, kPass},

      // A fault's own allow entries exempt from that fault only.
      {"fault allow: exempt from its own blackhole",
       {R"(blackhole {} allow { peer_cidr: "10.201.5.0/24" })"},
       Packet().eth().ipv4("10.201.1.1", "10.201.5.5").udp(1, 2), kEg, kPass},
      {"fault allow: not exempt from another fault",
       {R"(blackhole {} allow { peer_cidr: "10.201.5.0/24" })", R"(drop { match { protocol: L4_UDP } })"},
       Packet().eth().ipv4("10.201.1.1", "10.201.5.5").udp(1, 2), kEg, kDrop},
      {"fault allow: port-restricted entry", {R"(blackhole {} allow { peer_cidr: "10.201.5.5" protocol: L4_UDP peer_ports { first: 2 } })"},
       Packet().eth().ipv4("10.201.1.1", "10.201.5.5").udp(1, 3), kEg, kDrop},

      // Partition.
      {"partition egress: to the peer dropped", {R"(partition { peer_cidrs: "10.201.2.0/24" direction: DIRECTION_EGRESS })"},
       Packet().eth().ipv4("10.201.1.1", "10.201.2.2").icmp(), kEg, kDrop},
      {"partition egress: from the peer still arrives", {R"(partition { peer_cidrs: "10.201.2.0/24" direction: DIRECTION_EGRESS })"},
       Packet().eth().ipv4("10.201.2.2", "10.201.1.1").icmp(0), kIn, kPass},
      {"partition both: from the peer dropped", {R"(partition { peer_cidrs: "10.201.2.0/24" })"},
       Packet().eth().ipv4("10.201.2.2", "10.201.1.1").icmp(0), kIn, kDrop},
      {"partition: others untouched", {R"(partition { peer_cidrs: "10.201.2.0/24" })"},
       Packet().eth().ipv4("10.201.3.3", "10.201.1.1").icmp(0), kIn, kPass},
      {"partition: arp still resolves", {R"(partition { peer_cidrs: "10.201.2.0/24" })"},
       Packet().eth().arp(1, "10.201.1.1", "10.201.2.2"), kEg, kPass},

      // Interface: a fault restricted to interfaces whose slots are not this one's.
      // (Test runs see the loopback device, ifindex 1, given slot 3 below.)
      {"interface: rule for this interface", {R"(drop { match {} })"},
       Packet().eth().ipv4("10.201.1.1", "10.201.2.2").udp(1, 2), kEg, kDrop, 1ull << 3},
      {"interface: rule for another interface", {R"(drop { match {} })"},
       Packet().eth().ipv4("10.201.1.1", "10.201.2.2").udp(1, 2), kEg, kPass, 1ull << 4},
  };
}

class NetClassifier : public ::testing::Test {
 protected:
  void SetUp() override {
    dp_ = load_dataplane();
    ASSERT_TRUE(dp_);
    auto r = dp_->set_iface_slot(1, 3);
    ASSERT_TRUE(r) << r.error().describe();
  }
  std::unique_ptr<NetDataplane> dp_;
};

TEST_F(NetClassifier, FixtureTable) {
  int n = 0;
  for (auto& f : fixtures()) {
    SCOPED_TRACE(f.what);
    std::vector<std::string> keys;
    for (auto& spec : f.faults) {
      keys.push_back(fmt::format("fx{}-{}", n, keys.size()));
      auto r = dp_->install(keys.back(), compile(spec), f.iface_mask);
      ASSERT_TRUE(r) << r.error().describe();
    }
    auto pkt = f.packet.bytes();
    if (f.dir == Dir::kEgress) {
      EXPECT_EQ(run(*dp_, Program::kEgress, pkt).drop, f.drop) << "tc egress";
    } else {
      EXPECT_EQ(run(*dp_, Program::kIngress, pkt).drop, f.drop) << "tc ingress";
      EXPECT_EQ(run(*dp_, Program::kXdp, pkt).drop, f.drop) << "xdp";
    }
    for (auto& k : keys) ASSERT_TRUE(dp_->remove(k));
    // Nothing stays behind: the same packet passes once the faults are gone.
    EXPECT_FALSE(run(*dp_, f.dir == Dir::kEgress ? Program::kEgress : Program::kIngress, pkt).drop);
    ++n;
  }
  EXPECT_EQ(dp_->rules_in_use(), 0u);
  EXPECT_EQ(dp_->index_prefixes(), 0u);
}

TEST_F(NetClassifier, CountsPacketsAndBytesPerFault) {
  ASSERT_TRUE(dp_->install("a", compile(R"(drop { match { protocol: L4_UDP dst_ports { first: 53 } } })"), NF_IFACES_ALL));
  ASSERT_TRUE(dp_->install("b", compile(R"(drop { percent: 0 percent_set: true match { protocol: L4_TCP } })"), NF_IFACES_ALL));
  auto udp = Packet().eth().ipv4("10.201.1.1", "10.201.2.2").udp(40000, 53).payload(100).bytes();
  auto tcp = Packet().eth().ipv4("10.201.1.1", "10.201.2.2").tcp(40000, 80).bytes();
  auto other = Packet().eth().ipv4("10.201.1.1", "10.201.2.2").udp(40000, 54).bytes();
  EXPECT_TRUE(run(*dp_, Program::kEgress, udp, 7).drop);
  // Both directions: on ingress the destination port is the local one, 53 again.
  EXPECT_TRUE(run(*dp_, Program::kIngress, udp, 3).drop);
  EXPECT_FALSE(run(*dp_, Program::kEgress, tcp, 5).drop);
  EXPECT_FALSE(run(*dp_, Program::kEgress, other, 4).drop);
  auto a = dp_->counters("a");
  EXPECT_EQ(a.packets_matched(), 10u);
  EXPECT_EQ(a.packets_dropped(), 10u);
  EXPECT_EQ(a.bytes_dropped(), 10u * udp.size());
  EXPECT_EQ(a.bytes_matched(), 10u * udp.size());
  auto b = dp_->counters("b");
  EXPECT_EQ(b.packets_matched(), 5u);
  EXPECT_EQ(b.packets_dropped(), 0u);
  EXPECT_EQ(b.bytes_matched(), 5u * tcp.size());
  ASSERT_TRUE(dp_->remove("a"));
  // A new fault that reuses the rule ids starts from zero.
  ASSERT_TRUE(dp_->install("c", compile(R"(drop { match { protocol: L4_UDP } })"), NF_IFACES_ALL));
  EXPECT_EQ(dp_->counters("c").packets_matched(), 0u);
  EXPECT_EQ(dp_->counters("a").packets_matched(), 0u);  // gone
}

// Staged ahead of its start: the kernel's clock (bpf_ktime_get_ns) starts the rule,
// and the first drop's kernel time says when it took effect.
TEST_F(NetClassifier, AStagedRuleMatchesNothingBeforeItsStartTime) {
  auto mono_ns = [] {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
  };
  uint64_t start = mono_ns() + 300'000'000ull;  // 300 ms from now
  ASSERT_TRUE(dp_->install("staged", compile(R"(drop { match {} })"), NF_IFACES_ALL, start));
  auto pkt = Packet().eth().ipv4("10.201.1.1", "10.201.2.2").udp(1, 2).bytes();
  EXPECT_FALSE(run(*dp_, Program::kEgress, pkt).drop) << "dropped before its start";
  EXPECT_FALSE(run(*dp_, Program::kIngress, pkt).drop) << "dropped before its start";
  EXPECT_FALSE(run(*dp_, Program::kXdp, pkt).drop) << "dropped before its start";
  EXPECT_EQ(dp_->counters("staged").packets_matched(), 0u);
  EXPECT_EQ(dp_->first_drop_ns("staged"), 0u);
  while (mono_ns() < start) ::usleep(1000);
  EXPECT_TRUE(run(*dp_, Program::kEgress, pkt).drop) << "not started at its start time";
  EXPECT_TRUE(run(*dp_, Program::kXdp, pkt).drop);
  uint64_t first = dp_->first_drop_ns("staged");
  EXPECT_GE(first, start);
  EXPECT_LE(first, mono_ns());
  // A start in the past (or 0) is in effect at once.
  ASSERT_TRUE(dp_->remove("staged"));
  ASSERT_TRUE(dp_->install("past", compile(R"(drop { match {} })"), NF_IFACES_ALL, mono_ns() - 1));
  EXPECT_TRUE(run(*dp_, Program::kEgress, pkt).drop);
}

// A mid probability, drawn in the kernel: 50% of 20,000 runs, within 4 sigma.
TEST_F(NetClassifier, DropsAFractionAtMidProbability) {
  ASSERT_TRUE(dp_->install("half", compile(R"(drop { percent: 50 percent_set: true match {} })"), NF_IFACES_ALL));
  auto pkt = Packet().eth().ipv4("10.201.1.1", "10.201.2.2").udp(1, 2).bytes();
  run(*dp_, Program::kEgress, pkt, 20000);
  auto c = dp_->counters("half");
  EXPECT_EQ(c.packets_matched(), 20000u);
  EXPECT_NEAR(static_cast<double>(c.packets_dropped()), 10000.0, 4 * 71.0);
}

TEST_F(NetClassifier, RefusesWhatDoesNotFitAndLeavesNothing) {
  // 17 rules on one prefix: more candidates than a packet may scan.
  v1::NetworkFault f;
  auto* m = f.mutable_drop()->mutable_match();
  m->add_dst_cidrs("10.201.2.2");
  for (int i = 0; i < 17; ++i) m->add_src_cidrs(fmt::format("10.201.1.{}", i));
  m->set_direction(v1::DIRECTION_EGRESS);
  auto c = compile_network_fault(f);
  ASSERT_TRUE(c);
  auto r = dp_->install("crowded", *c, NF_IFACES_ALL);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("10.201.2.2/32 (egress) would hold 17 overlapping entries (at most 16)"),
            std::string::npos)
      << r.error().message;
  EXPECT_FALSE(dp_->installed("crowded"));
  EXPECT_EQ(dp_->rules_in_use(), 0u);
  EXPECT_EQ(dp_->index_prefixes(), 0u);
  auto pkt = Packet().eth().ipv4("10.201.1.1", "10.201.2.2").udp(1, 2).bytes();
  EXPECT_FALSE(run(*dp_, Program::kEgress, pkt).drop);
}

// The index keeps the busiest prefix lengths in a hash and the rest in an LPM trie;
// the longest match must win across both, also as lengths move from one to the other.
TEST_F(NetClassifier, LongestMatchAcrossHashAndTrie) {
  auto drop = [](double percent, const std::vector<std::string>& dsts) {
    std::string text = fmt::format("drop {{ percent: {} percent_set: true match {{ direction: DIRECTION_EGRESS", percent);
    for (auto& d : dsts) text += " dst_cidrs: \"" + d + "\"";
    return compile(text + " } }");
  };
  auto egress = [&](const char* dst) {
    return run(*dp_, Program::kEgress, Packet().eth().ipv4("10.201.1.1", dst).udp(1, 2).bytes()).drop;
  };
  // Busiest lengths (hashed with /32): /24, /20, /16, five prefixes each.
  ASSERT_TRUE(dp_->install("24", drop(0, {"10.50.0.0/24", "10.50.1.0/24", "10.50.2.0/24", "10.50.3.0/24", "10.50.4.0/24"}), NF_IFACES_ALL));
  ASSERT_TRUE(dp_->install("20", drop(0, {"10.60.0.0/20", "10.60.16.0/20", "10.60.32.0/20", "10.60.48.0/20", "10.60.64.0/20"}), NF_IFACES_ALL));
  ASSERT_TRUE(dp_->install("16", drop(0, {"10.70.0.0/16", "10.71.0.0/16", "10.72.0.0/16", "10.73.0.0/16", "10.74.0.0/16"}), NF_IFACES_ALL));
  // One prefix each: in the trie.
  ASSERT_TRUE(dp_->install("28", drop(100, {"10.50.1.16/28"}), NF_IFACES_ALL));
  ASSERT_TRUE(dp_->install("8", drop(100, {"11.0.0.0/8"}), NF_IFACES_ALL));
  auto check = [&](const char* when) {
    SCOPED_TRACE(when);
    EXPECT_TRUE(egress("10.50.1.20")) << "a trie /28 inside a hashed /24 is the longer match";
    EXPECT_FALSE(egress("10.50.1.40")) << "the hashed /24 (0%) when the trie has nothing longer";
    EXPECT_TRUE(egress("11.1.2.3")) << "the trie alone";
    EXPECT_FALSE(egress("10.72.9.9")) << "a hashed /16 at 0%";
    EXPECT_FALSE(egress("12.0.0.1")) << "nothing";
  };
  check("/28 and /8 in the trie");
  ASSERT_TRUE(dp_->install("32", drop(100, {"10.50.1.40"}), NF_IFACES_ALL));
  EXPECT_TRUE(egress("10.50.1.40")) << "a host entry beats its covering /24";
  ASSERT_TRUE(dp_->remove("32"));
  // /16 goes: the /28 becomes one of the busiest lengths and moves into the hash.
  ASSERT_TRUE(dp_->remove("16"));
  check("/28 moved to the hash");
  // /16 comes back busier than anything: the /28 moves back to the trie.
  ASSERT_TRUE(dp_->install("16", drop(0, {"10.70.0.0/16", "10.71.0.0/16", "10.72.0.0/16", "10.73.0.0/16", "10.74.0.0/16", "10.75.0.0/16"}), NF_IFACES_ALL));
  check("/28 back in the trie");
  for (auto* k : {"24", "20", "16", "28", "8"}) ASSERT_TRUE(dp_->remove(k));
  EXPECT_EQ(dp_->index_prefixes(), 0u);
  EXPECT_FALSE(egress("10.50.1.20"));
  EXPECT_FALSE(egress("11.1.2.3"));
}

// 10,000 rules at once: installed, effective, and removed without a trace.
TEST_F(NetClassifier, TenThousandRules) {
  v1::NetworkFault f;
  auto* m = f.mutable_drop()->mutable_match();
  m->set_direction(v1::DIRECTION_EGRESS);
  for (int i = 0; i < 10000; ++i) m->add_dst_cidrs(fmt::format("10.{}.{}.{}", 100 + i / 65536, (i / 256) % 256, i % 256));
  auto c = compile_network_fault(f);
  ASSERT_TRUE(c);
  ASSERT_TRUE(dp_->install("many", *c, NF_IFACES_ALL));
  EXPECT_EQ(dp_->rules_in_use(), 10000u);
  EXPECT_TRUE(run(*dp_, Program::kEgress, Packet().eth().ipv4("10.201.1.1", "10.100.39.15").udp(1, 2).bytes()).drop);
  EXPECT_FALSE(run(*dp_, Program::kEgress, Packet().eth().ipv4("10.201.1.1", "10.100.39.16").udp(1, 2).bytes()).drop);
  ASSERT_TRUE(dp_->remove("many"));
  EXPECT_EQ(dp_->rules_in_use(), 0u);
  EXPECT_FALSE(run(*dp_, Program::kEgress, Packet().eth().ipv4("10.201.1.1", "10.100.39.15").udp(1, 2).bytes()).drop);
}

}  // namespace
}  // namespace firedrill::agent::net
