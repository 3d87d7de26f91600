// NetFaultEngine in this process, on veth pairs in namespaces the test creates: its
// refusals (naming the missing kernel feature or the unmanaged interface), the XDP
// fallback, attachments that live as long as the engine (and no longer), faults on a
// subset of the interfaces, and per-fault allow entries, all with real traffic.
#include <gtest/gtest.h>
#include <google/protobuf/text_format.h>

#include "agent/net/net_fault_engine.h"
#include "tests/integration/net_lab.h"

namespace firedrill::agent::net {
namespace {

using namespace firedrill::testing;

v1::FaultSpec spec(const std::string& text) {
  v1::FaultSpec s;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &s)) << text;
  return s;
}

class NetEngine : public ::testing::Test {
 protected:
  NetEngine()
      : pid_(std::to_string(::getpid())),
        if_a_("fdn" + pid_ + "a"),
        if_b_("fdn" + pid_ + "b"),
        host_("ehost"),
        peer_a_("epeera"),
        peer_b_("epeerb") {
    veth(host_, if_a_, {"10.201.11.1/24"}, peer_a_, "fdn" + pid_ + "x", {"10.201.11.2/24"});
    veth(host_, if_b_, {"10.201.12.1/24"}, peer_b_, "fdn" + pid_ + "y", {"10.201.12.2/24"});
    host_udp_ = std::make_unique<UdpSink>(host_, "10.201.11.1", 9000);
    a_udp_ = std::make_unique<UdpSink>(peer_a_, "10.201.11.2", 9000);
    b_udp_ = std::make_unique<UdpSink>(peer_b_, "10.201.12.2", 9000);
  }

  std::unique_ptr<NetFaultEngine> engine(NetEngineConfig c) {
    auto e = std::make_unique<NetFaultEngine>(std::move(c));
    EXPECT_FALSE(e->load_error().has_value()) << e->load_error()->describe();
    return e;
  }
  // Engine calls resolve interface names in the calling thread's namespace.
  Result<void> apply(NetFaultEngine& e, const std::string& id, const std::string& text) {
    Result<void> r = ok();
    in_netns(host_, [&] { r = e.apply(id, spec(text)); });
    return r;
  }
  bool to_a() { return udp_gets_through(host_, "10.201.11.2", 9000, *a_udp_, 300ms); }
  bool to_b() { return udp_gets_through(host_, "10.201.12.2", 9000, *b_udp_, 300ms); }
  bool from_a() { return udp_gets_through(peer_a_, "10.201.11.1", 9000, *host_udp_, 300ms); }

  std::string pid_, if_a_, if_b_;
  Netns host_, peer_a_, peer_b_;
  std::unique_ptr<UdpSink> host_udp_, a_udp_, b_udp_;
};

TEST_F(NetEngine, RefusesWithTheReasonAndChangesNothing) {
  auto none = engine({});
  auto r = none->check(spec("network { blackhole {} }"));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("manages no interface"), std::string::npos) << r.error().message;

  auto e = engine({{if_a_}, {}, std::nullopt, std::nullopt});
  r = e->check(spec("network { interfaces: \"eth0\" blackhole {} }"));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("interface 'eth0' is not managed by this agent (--interface: " + if_a_ + ")"),
            std::string::npos)
      << r.error().message;
  r = e->check(spec("network { drop { match { dst_cidrs: \"10.0.0.1/40\" } } }"));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("drop.match.dst_cidrs[0]"), std::string::npos) << r.error().message;
  EXPECT_FALSE(e->handles(spec("process { kill {} }")));
  EXPECT_TRUE(e->handles(spec("network { blackhole {} }")));

  // An interface in the list that this host does not have: refused at apply.
  auto ghost = engine({{"fdn" + pid_ + "g"}, {}, std::nullopt, std::nullopt});
  r = apply(*ghost, "g", "network { blackhole {} }");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("does not exist here"), std::string::npos) << r.error().message;

  // Kernel features: egress needs tcx; ingress needs tcx or an XDP link.
  auto no_tcx = engine({{if_a_}, {}, false, true});
  r = no_tcx->check(spec("network { blackhole {} }"));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("missing kernel feature 'tcx'"), std::string::npos) << r.error().message;
  auto nothing = engine({{if_a_}, {}, false, false});
  r = nothing->check(spec("network { partition { peer_cidrs: \"10.201.11.2\" direction: DIRECTION_INGRESS } }"));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("'tcx'"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("'xdp_link'"), std::string::npos) << r.error().message;
  EXPECT_TRUE(no_tcx->check(spec("network { partition { peer_cidrs: \"10.201.11.2\" direction: DIRECTION_INGRESS } }")));

  EXPECT_TRUE(to_a());
}

TEST_F(NetEngine, XdpFallbackDropsIngressWhereTcxIsMissing) {
  auto e = engine({{if_a_}, {}, false, true});
  auto r = apply(*e, "in", "network { partition { peer_cidrs: \"10.201.11.2\" direction: DIRECTION_INGRESS } }");
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(attached_programs(host_, if_a_), 1);  // one XDP link, no tcx
  EXPECT_FALSE(from_a()) << "ingress from the peer dropped by XDP";
  EXPECT_TRUE(to_a()) << "egress untouched";
  EXPECT_GT(e->counters("in").packets_dropped(), 0u);
  auto refused = apply(*e, "out", "network { partition { peer_cidrs: \"10.201.11.2\" direction: DIRECTION_EGRESS } }");
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("egress filtering needs tcx"), std::string::npos);
  ASSERT_TRUE(e->revert("in"));
  EXPECT_TRUE(from_a());
  e.reset();
  EXPECT_EQ(attached_programs(host_, if_a_), 0);
}

TEST_F(NetEngine, AttachesOnceToManagedInterfacesAndLeavesNothingWhenGone) {
  std::unique_ptr<NetFaultEngine> e;
  // Attached at start: the engine resolves names in the namespace it starts in.
  in_netns(host_, [&] { e = engine({{if_a_, if_b_, "fdn" + pid_ + "later"}, {}, std::nullopt, std::nullopt}); });
  EXPECT_EQ(attached_programs(host_, if_a_), 2);  // tcx ingress + egress
  EXPECT_EQ(attached_programs(host_, if_b_), 2);
  EXPECT_TRUE(to_a()) << "attached with nothing to drop";
  ASSERT_TRUE(apply(*e, "both", "network { interfaces: \"" + if_a_ + "\" blackhole {} }"));
  auto missing = apply(*e, "all", "network { drop { match { protocol: L4_UDP } } }");
  ASSERT_FALSE(missing) << "a fault on every managed interface, one of which is missing";
  EXPECT_NE(missing.error().message.find("later' does not exist here"), std::string::npos) << missing.error().message;
  ASSERT_TRUE(apply(*e, "eg", "network { interfaces: \"" + if_a_ + "\" interfaces: \"" + if_b_ +
                                  "\" drop { match { direction: DIRECTION_EGRESS protocol: L4_UDP } } }"));
  EXPECT_EQ(attached_programs(host_, if_a_), 2) << "faults share the attachment";
  ASSERT_TRUE(e->revert("both"));
  ASSERT_TRUE(e->revert("eg"));
  EXPECT_EQ(attached_programs(host_, if_a_), 2);
  EXPECT_TRUE(to_a());
  EXPECT_TRUE(e->revert("never-applied"));

  // An interface that appears after the start is attached when a fault first needs it.
  std::unique_ptr<Netns> late_peer = std::make_unique<Netns>("elate");
  veth(host_, "fdn" + pid_ + "later", {"10.201.13.1/24"}, *late_peer, "fdn" + pid_ + "z", {"10.201.13.2/24"});
  bool up = false;  // a fresh veth takes a moment to carry traffic
  for (int i = 0; i < 25 && !up; ++i) up = icmp_echo(host_, "10.201.13.2", 200ms);
  ASSERT_TRUE(up);
  ASSERT_TRUE(apply(*e, "late", "network { drop { match { protocol: L4_ICMP } } }"));
  EXPECT_EQ(attached_programs(host_, "fdn" + pid_ + "later"), 2);
  EXPECT_FALSE(icmp_echo(host_, "10.201.13.2", 300ms));
  ASSERT_TRUE(e->revert("late"));
  EXPECT_TRUE(icmp_echo(host_, "10.201.13.2", 1s));

  // Gone with the engine: a fault in effect leaves nothing once the engine goes.
  ASSERT_TRUE(to_b());
  ASSERT_TRUE(apply(*e, "left", "network { blackhole {} }"));
  EXPECT_FALSE(to_b());
  e.reset();
  EXPECT_EQ(attached_programs(host_, if_a_), 0);
  EXPECT_EQ(attached_programs(host_, if_b_), 0);
  EXPECT_TRUE(to_b());
}

TEST_F(NetEngine, FaultOnASubsetOfTheInterfacesSparesTheOthers) {
  auto e = engine({{if_a_, if_b_}, {}, std::nullopt, std::nullopt});
  // Attached on both (one fault each) but the first fault only drops on if_b.
  ASSERT_TRUE(apply(*e, "only-b", "network { interfaces: \"" + if_b_ + "\" drop { match { protocol: L4_UDP } } }"));
  ASSERT_TRUE(apply(*e, "icmp-a", "network { interfaces: \"" + if_a_ + "\" drop { match { protocol: L4_ICMP } } }"));
  EXPECT_FALSE(to_b());
  EXPECT_TRUE(to_a()) << "udp on " << if_a_ << " is not in the fault's interfaces";
  EXPECT_FALSE(icmp_echo(host_, "10.201.11.2", 300ms));
  EXPECT_TRUE(icmp_echo(host_, "10.201.12.2", 300ms));
}

TEST_F(NetEngine, AllowListsAgentWideAndPerFault) {
  v1::AllowEntry mgmt;
  mgmt.set_peer_cidr("10.201.12.2");
  auto e = engine({{if_a_, if_b_}, {mgmt}, std::nullopt, std::nullopt});
  ASSERT_TRUE(apply(*e, "bh", "network { blackhole {} allow { peer_cidr: \"10.201.11.0/24\" protocol: L4_UDP } }"));
  EXPECT_TRUE(to_b()) << "agent-wide allow entry";
  EXPECT_TRUE(to_a()) << "the blackhole's own allow entry";
  EXPECT_FALSE(icmp_echo(host_, "10.201.11.2", 300ms)) << "icmp is not in the fault's allow entry";
  ASSERT_TRUE(apply(*e, "udp", "network { drop { match { protocol: L4_UDP } } }"));
  EXPECT_FALSE(to_a()) << "another fault's allow entry does not exempt from this one";
  EXPECT_TRUE(to_b()) << "the agent's does";
  ASSERT_TRUE(e->revert("udp"));
  EXPECT_TRUE(to_a());
  auto c = e->counters("bh");
  EXPECT_GT(c.packets_dropped(), 0u);
  EXPECT_EQ(c.packets_matched(), c.packets_dropped());
  EXPECT_GT(c.bytes_dropped(), c.packets_dropped() * 28);
}

TEST_F(NetEngine, IdempotentApplyAndRefusedChanges) {
  auto e = engine({{if_a_}, {}, std::nullopt, std::nullopt});
  const std::string s = "network { drop { match { protocol: L4_UDP } } }";
  ASSERT_TRUE(apply(*e, "x", s));
  ASSERT_TRUE(apply(*e, "x", s));
  EXPECT_EQ(e->dataplane()->rules_in_use(), 4u);  // (ingress, egress) x (IPv4, IPv6), once
  auto r = apply(*e, "x", "network { blackhole {} }");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("already in effect with a different spec"), std::string::npos);
  ASSERT_TRUE(e->revert("x"));
  ASSERT_TRUE(e->revert("x"));
  EXPECT_EQ(e->dataplane()->rules_in_use(), 0u);
}

}  // namespace
}  // namespace firedrill::agent::net
