// The network fault engine end to end: a real firedrill-agent process in a network
// namespace, driven with `firedrill-agent ctl`, and real TCP, UDP and ICMP between
// namespaces joined by veth pairs that the test creates (and removes, also on failure).
//
//   host (agent) --fdn<pid>p-- peer      10.201.1.0/24, fd00:201:1::/64   managed
//   host         --fdn<pid>o-- other     10.201.2.0/24                     not managed
#include <gtest/gtest.h>

#include <csignal>

#include "tests/integration/net_lab.h"

namespace firedrill::testing {
namespace {

constexpr const char* kHost = "10.201.1.1";
constexpr const char* kPeer = "10.201.1.2";
constexpr const char* kPeer6 = "fd00:201:1::2";
constexpr const char* kOther = "10.201.2.2";
constexpr uint16_t kTcp = 8080, kAllowed = 7443, kUdp = 9000;
constexpr auto kProbe = 300ms;

class NetLab : public ::testing::Test {
 protected:
  NetLab()
      : pid_(std::to_string(::getpid())),
        managed_("fdn" + pid_ + "p"),
        unmanaged_("fdn" + pid_ + "o"),
        host_("host"),
        peer_("peer"),
        other_("other") {
    veth(host_, managed_, {"10.201.1.1/24", "fd00:201:1::1/64"}, peer_, "fdn" + pid_ + "q",
         {"10.201.1.2/24", "fd00:201:1::2/64"});
    veth(host_, unmanaged_, {"10.201.2.1/24"}, other_, "fdn" + pid_ + "r", {"10.201.2.2/24"});
    peer_tcp_ = std::make_unique<TcpEcho>(peer_, kPeer, kTcp);
    peer_tcp6_ = std::make_unique<TcpEcho>(peer_, kPeer6, kTcp);
    peer_allowed_ = std::make_unique<TcpEcho>(peer_, kPeer, kAllowed);
    peer_udp_ = std::make_unique<UdpSink>(peer_, kPeer, kUdp);
    host_udp_ = std::make_unique<UdpSink>(host_, kHost, kUdp);
    other_tcp_ = std::make_unique<TcpEcho>(other_, kOther, kTcp);
    other_udp_ = std::make_unique<UdpSink>(other_, kOther, kUdp);
  }

  void start_agent() {
    agent_ = std::make_unique<AgentProcess>(
        host_, std::vector<std::string>{"--interface", managed_, "--allow", std::string(kPeer) + ",tcp," +
                                                                              std::to_string(kAllowed)});
  }

  void TearDown() override {
    if (HasFailure() && agent_) std::cerr << "---- agent log ----\n" << agent_->log() << "\n";
  }

  // Host -> peer traffic of each kind.
  bool tcp_ok() { return tcp_connects(host_, kPeer, kTcp, kProbe); }
  bool udp_ok() { return udp_gets_through(host_, kPeer, kUdp, *peer_udp_, kProbe); }
  bool icmp_ok() { return icmp_echo(host_, kPeer, kProbe); }
  void expect_all_flow(const char* when) {
    EXPECT_TRUE(tcp_ok()) << "tcp " << when;
    EXPECT_TRUE(udp_ok()) << "udp " << when;
    EXPECT_TRUE(icmp_ok()) << "icmp " << when;
  }

  template <typename F>
  bool eventually(F f, std::chrono::milliseconds within) {
    auto end = std::chrono::steady_clock::now() + within;
    while (std::chrono::steady_clock::now() < end) {
      if (f()) return true;
      std::this_thread::sleep_for(20ms);
    }
    return f();
  }

  void expect_applied(const Exec& r) { ASSERT_EQ(r.code, 0) << r.out; }

  std::string pid_, managed_, unmanaged_;
  // Declared before the agent and the servers, so they outlive them.
  Netns host_, peer_, other_;
  std::unique_ptr<TcpEcho> peer_tcp_, peer_tcp6_, peer_allowed_, other_tcp_;
  std::unique_ptr<UdpSink> peer_udp_, host_udp_, other_udp_;
  std::unique_ptr<AgentProcess> agent_;
};

TEST_F(NetLab, DropStopsTcpUdpIcmpAndTrafficFlowsAfterRevertAndExpiry) {
  start_agent();
  expect_all_flow("before any fault");

  expect_applied(agent_->apply("tcp", "network { drop { match { protocol: L4_TCP dst_ports { first: 8080 } } } }"));
  EXPECT_FALSE(tcp_ok()) << "tcp to 8080 under the drop";
  EXPECT_TRUE(udp_ok()) << "udp is not matched";
  EXPECT_TRUE(icmp_ok()) << "icmp is not matched";
  EXPECT_GT(agent_->packets_dropped("tcp"), 0u);
  expect_applied(agent_->revert("tcp"));
  EXPECT_TRUE(tcp_ok()) << "tcp after revert";

  expect_applied(agent_->apply("udp", "network { drop { match { protocol: L4_UDP } } }"));
  EXPECT_FALSE(udp_ok()) << "udp under the drop";
  EXPECT_TRUE(tcp_ok()) << "tcp is not matched";
  expect_applied(agent_->revert("udp"));
  EXPECT_TRUE(udp_ok()) << "udp after revert";

  expect_applied(agent_->apply("icmp", "network { drop { match { protocol: L4_ICMP } } }"));
  EXPECT_FALSE(icmp_ok()) << "icmp under the drop";
  EXPECT_TRUE(tcp_ok());
  expect_applied(agent_->revert("icmp"));
  EXPECT_TRUE(icmp_ok()) << "icmp after revert";

  // Expiry: the agent's own timer lifts the fault.
  expect_applied(agent_->apply("short", "network { drop { match { dst_cidrs: \"10.201.1.2\" } } }", "2s"));
  EXPECT_FALSE(tcp_ok());
  EXPECT_FALSE(udp_ok());
  EXPECT_FALSE(icmp_ok());
  EXPECT_TRUE(eventually([&] { return icmp_ok(); }, 5s)) << "traffic after expiry";
  expect_all_flow("after expiry");
  // The classifier stays attached (tcx ingress + egress) with nothing to drop.
  EXPECT_EQ(attached_programs(host_, managed_), 2);
}

TEST_F(NetLab, BlackholeDropsEverythingButTheAllowList) {
  start_agent();
  auto allowed = TcpClient::connect(host_, kPeer, kAllowed, 1s);
  ASSERT_TRUE(allowed.ok());
  ASSERT_TRUE(allowed.round_trip(1s));

  expect_applied(agent_->apply("bh", "network { blackhole {} }"));
  EXPECT_FALSE(tcp_ok()) << "tcp under blackhole";
  EXPECT_FALSE(udp_ok()) << "udp under blackhole";
  EXPECT_FALSE(icmp_ok()) << "icmp under blackhole";
  EXPECT_FALSE(tcp_connects(host_, kPeer6, kTcp, kProbe)) << "tcp over IPv6 under blackhole";
  EXPECT_FALSE(udp_gets_through(peer_, kHost, kUdp, *host_udp_, kProbe)) << "udp into the host";

  // The allow-listed connection lives on, also once the neighbour must be resolved
  // again (ARP of the allowed peer passes).
  EXPECT_TRUE(allowed.round_trip(1s)) << "allowed connection during blackhole";
  host_.ip({"neigh", "flush", "all"});
  peer_.ip({"neigh", "flush", "all"});
  EXPECT_TRUE(allowed.round_trip(2s)) << "allowed connection after neighbour flush";
  EXPECT_TRUE(tcp_connects(host_, kPeer, kAllowed, 1s)) << "new allowed connection during blackhole";
  EXPECT_FALSE(tcp_ok()) << "still blackholed";
  EXPECT_GT(agent_->packets_dropped("bh"), 0u);

  expect_applied(agent_->revert("bh"));
  expect_all_flow("after the blackhole");
  EXPECT_TRUE(tcp_connects(host_, kPeer6, kTcp, kProbe)) << "IPv6 after the blackhole";
  EXPECT_TRUE(allowed.round_trip(1s));
}

TEST_F(NetLab, PartitionOneWayAndBothWays) {
  start_agent();
  expect_applied(agent_->apply("out", "network { partition { peer_cidrs: \"10.201.1.2\" direction: DIRECTION_EGRESS } }"));
  EXPECT_FALSE(udp_gets_through(host_, kPeer, kUdp, *peer_udp_, kProbe)) << "host -> peer cut";
  EXPECT_TRUE(udp_gets_through(peer_, kHost, kUdp, *host_udp_, kProbe)) << "peer -> host still flows";
  expect_applied(agent_->revert("out"));

  expect_applied(agent_->apply("in", "network { partition { peer_cidrs: \"10.201.1.0/24\" direction: DIRECTION_INGRESS } }"));
  EXPECT_TRUE(udp_gets_through(host_, kPeer, kUdp, *peer_udp_, kProbe)) << "host -> peer still flows";
  EXPECT_FALSE(udp_gets_through(peer_, kHost, kUdp, *host_udp_, kProbe)) << "peer -> host cut";
  expect_applied(agent_->revert("in"));

  expect_applied(agent_->apply("both", "network { partition { peer_cidrs: \"10.201.1.2\" peer_cidrs: \"fd00:201:1::2\" } }"));
  EXPECT_FALSE(tcp_ok());
  EXPECT_FALSE(icmp_ok());
  EXPECT_FALSE(tcp_connects(host_, kPeer6, kTcp, kProbe));
  EXPECT_FALSE(udp_gets_through(peer_, kHost, kUdp, *host_udp_, kProbe));
  EXPECT_TRUE(tcp_connects(host_, kOther, kTcp, kProbe)) << "other hosts untouched";
  expect_applied(agent_->revert("both"));
  expect_all_flow("after the partition");
}

TEST_F(NetLab, SigkillOfTheAgentMidBlackholeRestoresTrafficWithinOneSecond) {
  start_agent();
  // Neighbours resolved first, as on a host in service: what is measured is the
  // classifier going away, not the kernel's ARP retry interval.
  expect_all_flow("before the blackhole");
  expect_applied(agent_->apply("bh", "network { blackhole {} }", "60s"));
  ASSERT_FALSE(icmp_ok());
  ASSERT_EQ(attached_programs(host_, managed_), 2);

  auto t0 = std::chrono::steady_clock::now();
  agent_->kill9();
  bool back = false;
  while (std::chrono::steady_clock::now() - t0 < 3s) {
    if (icmp_echo(host_, kPeer, 20ms)) {
      back = true;
      break;
    }
  }
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  ASSERT_TRUE(back) << "traffic did not come back within 3s of SIGKILL";
  EXPECT_LT(took, 1000ms) << "traffic came back " << took.count() << " ms after SIGKILL";
  std::cout << "traffic back " << took.count() << " ms after SIGKILL of the agent\n";
  EXPECT_EQ(attached_programs(host_, managed_), 0) << "the kernel detached the classifier";
  expect_all_flow("after the agent died");
}

TEST_F(NetLab, ThirtyPercentDropsBetween25And35PercentOf10000Packets) {
  start_agent();
  expect_applied(agent_->apply("p30",
                               "network { drop { percent: 30 percent_set: true match { protocol: L4_UDP "
                               "dst_ports { first: 9000 } direction: DIRECTION_EGRESS } } }",
                               "120s"));
  constexpr size_t kCount = 10000;
  auto before = peer_udp_->received();
  // Paced, so that nothing but the fault loses a packet on the veth.
  udp_send(host_, kPeer, kUdp, kCount, 20us, 1000000);
  std::this_thread::sleep_for(300ms);
  uint64_t received = peer_udp_->received() - before;
  double lost = 1.0 - static_cast<double>(received) / kCount;
  EXPECT_GE(lost, 0.25) << received << " of " << kCount << " received";
  EXPECT_LE(lost, 0.35) << received << " of " << kCount << " received";
  // Every loss is one of ours.
  EXPECT_EQ(agent_->packets_dropped("p30"), kCount - received);
  std::cout << "30% drop: " << kCount - received << " of " << kCount << " dropped (" << lost * 100 << "%)\n";
}

TEST_F(NetLab, InterfacesAndTrafficOutsideTheSelectionAreUntouched) {
  start_agent();
  expect_applied(agent_->apply("bh", "network { blackhole {} }"));
  EXPECT_FALSE(tcp_ok());
  EXPECT_TRUE(tcp_connects(host_, kOther, kTcp, kProbe)) << "tcp on the unmanaged interface";
  EXPECT_TRUE(udp_gets_through(host_, kOther, kUdp, *other_udp_, kProbe)) << "udp on the unmanaged interface";
  EXPECT_TRUE(icmp_echo(host_, kOther, kProbe)) << "icmp on the unmanaged interface";
  EXPECT_EQ(attached_programs(host_, unmanaged_), 0) << "nothing attached outside the selection";
  EXPECT_EQ(attached_programs(host_, managed_), 2);

  auto refused = agent_->apply("outside", "network { interfaces: \"" + unmanaged_ + "\" blackhole {} }");
  EXPECT_EQ(refused.code, 1) << refused.out;
  // (ctl prints the reason in text format, which escapes the quotes.)
  EXPECT_NE(refused.out.find(unmanaged_ + "\\' is not managed by this agent (--interface: " + managed_ + ")"),
            std::string::npos)
      << refused.out;
  EXPECT_EQ(attached_programs(host_, unmanaged_), 0);

  expect_applied(agent_->revert("bh"));
  EXPECT_EQ(attached_programs(host_, unmanaged_), 0);
  expect_all_flow("after revert");
}

TEST_F(NetLab, ApplyAndRevertAreIdempotentThroughTheAgent) {
  start_agent();
  const std::string spec = "network { drop { match { protocol: L4_ICMP } } }";
  expect_applied(agent_->apply("same", spec));
  expect_applied(agent_->apply("same", spec));
  auto other = agent_->apply("same", "network { blackhole {} }");
  EXPECT_EQ(other.code, 1) << other.out;
  EXPECT_NE(other.out.find("different spec"), std::string::npos) << other.out;
  EXPECT_FALSE(icmp_ok());
  EXPECT_TRUE(tcp_ok()) << "the refused blackhole changed nothing";
  expect_applied(agent_->revert("same"));
  // A second revert changes nothing and says so: the fault was not in effect.
  auto again = agent_->revert("same");
  EXPECT_EQ(again.code, 1) << again.out;
  EXPECT_TRUE(again.out.find("NOT_IN_EFFECT") != std::string::npos ||
              again.out.find("not in effect") != std::string::npos)
      << again.out;
  EXPECT_TRUE(icmp_ok());
}

}  // namespace
}  // namespace firedrill::testing
