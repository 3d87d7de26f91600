// The network engine's pure logic: CIDRs, NetworkFault -> internal rules, and the
// prefix index that lets the kernel do one lookup per packet.
#include <gtest/gtest.h>
#include <google/protobuf/text_format.h>

#include <random>

#include "agent/net/prefix_index.h"
#include "agent/net/rules.h"

namespace firedrill::agent::net {
namespace {

v1::NetworkFault fault(const std::string& text) {
  v1::NetworkFault f;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &f)) << text;
  return f;
}

Cidr cidr(const char* text) {
  auto c = Cidr::parse(text);
  EXPECT_TRUE(c) << text;
  return *c;
}

TEST(Cidr, ParsesAndMasks) {
  EXPECT_EQ(cidr("10.1.2.3/24").str(), "10.1.2.0/24");
  EXPECT_EQ(cidr("10.1.2.3").str(), "10.1.2.3/32");
  EXPECT_EQ(cidr("fd00:201::7/64").str(), "fd00:201::/64");
  EXPECT_EQ(cidr("::1").len, 128);
  EXPECT_EQ(cidr("0.0.0.0/0").len, 0);
  EXPECT_EQ(cidr("10.255.255.255/9").str(), "10.128.0.0/9");
  EXPECT_TRUE(cidr("10.0.0.0/8").covers(cidr("10.9.0.1")));
  EXPECT_FALSE(cidr("10.0.0.0/8").covers(cidr("11.0.0.1")));
  EXPECT_FALSE(cidr("10.0.0.0/8").covers(cidr("fd00::1")));
  for (const char* bad : {"", "10.0.0.0/33", "fd00::/129", "10.0.0/8", "10.0.0.0/", "10.0.0.0/x", "host"}) {
    auto c = Cidr::parse(bad);
    EXPECT_FALSE(c) << bad;
  }
  auto e = Cidr::parse("10.0.0.0/33");
  EXPECT_NE(e.error().message.find("prefix length '33'"), std::string::npos) << e.error().message;
}

TEST(Compile, DropMapsSourceAndDestinationToRemoteAndLocalByDirection) {
  auto c = compile_network_fault(fault(R"(drop { percent: 30 percent_set: true match {
      src_cidrs: "10.201.1.0/24" dst_cidrs: "10.201.2.2" protocol: L4_TCP
      src_ports { first: 1000 last: 2000 } dst_ports { first: 80 } } })"));
  ASSERT_TRUE(c) << c.error().describe();
  ASSERT_EQ(c->rules.size(), 2u);  // both directions
  EXPECT_TRUE(c->needs_ingress);
  EXPECT_TRUE(c->needs_egress);
  for (auto& r : c->rules) {
    EXPECT_EQ(r.family, 4);
    EXPECT_EQ(r.protocol, 6);
    EXPECT_DOUBLE_EQ(r.percent, 30);
    if (r.dir == Dir::kEgress) {
      EXPECT_EQ(r.remote.str(), "10.201.2.2/32");
      EXPECT_EQ(r.local->str(), "10.201.1.0/24");
      EXPECT_EQ(r.remote_ports, (std::vector<PortSpan>{{80, 80}}));
      EXPECT_EQ(r.local_ports, (std::vector<PortSpan>{{1000, 2000}}));
    } else {
      EXPECT_EQ(r.remote.str(), "10.201.1.0/24");
      EXPECT_EQ(r.local->str(), "10.201.2.2/32");
      EXPECT_EQ(r.remote_ports, (std::vector<PortSpan>{{1000, 2000}}));
      EXPECT_EQ(r.local_ports, (std::vector<PortSpan>{{80, 80}}));
    }
  }
}

TEST(Compile, EmptyMatchCoversBothFamiliesAndIcmpFollowsTheFamily) {
  auto c = compile_network_fault(fault("drop { match { protocol: L4_ICMP direction: DIRECTION_EGRESS } }"));
  ASSERT_TRUE(c);
  ASSERT_EQ(c->rules.size(), 2u);
  EXPECT_FALSE(c->needs_ingress);
  EXPECT_EQ(c->rules[0].family, 4);
  EXPECT_EQ(c->rules[0].protocol, 1);
  EXPECT_EQ(c->rules[0].remote.len, 0);
  EXPECT_EQ(c->rules[1].family, 6);
  EXPECT_EQ(c->rules[1].protocol, 58);
  EXPECT_DOUBLE_EQ(c->rules[0].percent, 100);  // percent not set: always
  auto v6only = compile_network_fault(fault("drop { match { protocol: L4_ICMPV6 } }"));
  ASSERT_TRUE(v6only);
  for (auto& r : v6only->rules) EXPECT_EQ(r.family, 6);
  auto zero = compile_network_fault(fault("drop { percent: 0 percent_set: true match {} }"));
  ASSERT_TRUE(zero);
  EXPECT_DOUBLE_EQ(zero->rules[0].percent, 0);
}

TEST(Compile, MixedFamiliesPairOnlyWithTheirOwn) {
  auto c = compile_network_fault(fault(R"(drop { match { direction: DIRECTION_EGRESS
      src_cidrs: "10.201.0.1" src_cidrs: "fd00:201::1" dst_cidrs: "10.201.0.2" dst_cidrs: "fd00:201::2" } })"));
  ASSERT_TRUE(c);
  ASSERT_EQ(c->rules.size(), 2u);
  for (auto& r : c->rules) EXPECT_EQ(r.remote.family, r.local->family);
}

TEST(Compile, BlackholeAndPartition) {
  auto b = compile_network_fault(fault("blackhole {} allow { peer_cidr: \"10.201.0.9\" protocol: L4_TCP peer_ports { first: 7443 } }"));
  ASSERT_TRUE(b);
  EXPECT_EQ(b->rules.size(), 6u);  // 2 directions x (IPv4, IPv6, non-IP)
  EXPECT_EQ(std::count_if(b->rules.begin(), b->rules.end(), [](auto& r) { return r.family == 0; }), 2);
  ASSERT_EQ(b->allow.size(), 1u);
  EXPECT_EQ(b->allow[0].ports, (PortSpan{7443, 7443}));

  auto p = compile_network_fault(fault(R"(partition { peer_cidrs: "10.201.3.0/24" peer_cidrs: "fd00:201::/64"
      direction: DIRECTION_INGRESS })"));
  ASSERT_TRUE(p);
  ASSERT_EQ(p->rules.size(), 2u);
  EXPECT_TRUE(p->needs_ingress);
  EXPECT_FALSE(p->needs_egress);
  EXPECT_EQ(p->rules[1].remote.str(), "fd00:201::/64");
  auto both = compile_network_fault(fault(R"(partition { peer_cidrs: "10.201.3.0/24" })"));
  ASSERT_TRUE(both);
  EXPECT_EQ(both->rules.size(), 2u);
}

TEST(Compile, RefusesBadInputNamingWhatAndWhere) {
  struct Case {
    const char* spec;
    const char* says;
  };
  std::vector<Case> cases = {
      {"", "unknown fault kind"},
      {"drop { match { dst_cidrs: \"10.0.0.300\" } }", "drop.match.dst_cidrs[0]"},
      {"drop { match { src_cidrs: \"10.0.0.0/8\" src_cidrs: \"nope\" } }", "drop.match.src_cidrs[1]"},
      {"drop { percent: 150 match {} }", "percent 150"},
      {"drop { percent: -1 percent_set: true match {} }", "percent -1"},
      {"drop { match { protocol: L4_ICMP dst_ports { first: 80 } } }", "ports given with protocol L4_ICMP"},
      {"drop { match { protocol: L4_TCP dst_ports { first: 90 last: 80 } } }", "drop.match.dst_ports[0]: port range 90-80 is reversed"},
      {"drop { match { protocol: L4_TCP dst_ports { first: 70000 } } }", "above 65535"},
      {"drop { match { protocol: L4_TCP dst_ports { } } }", "port range 0-0"},
      {"drop { match { protocol: 99 } }", "protocol 99"},
      {"drop { match { direction: 9 } }", "direction 9"},
      {"drop { match { src_cidrs: \"10.0.0.1\" dst_cidrs: \"fd00::1\" } }", "matches nothing"},
      {"drop { match { src_cidrs: \"10.0.0.1\" protocol: L4_ICMPV6 } }", "matches nothing"},
      {"partition {}", "partition.peer_cidrs is empty"},
      {"partition { peer_cidrs: \"x\" }", "partition.peer_cidrs[0]"},
      {"blackhole {} allow { peer_cidr: \"10.0.0.1\" protocol: L4_ICMP peer_ports { first: 1 } }", "network.allow[0]"},
  };
  for (auto& c : cases) {
    auto r = compile_network_fault(fault(c.spec));
    ASSERT_FALSE(r) << c.spec;
    EXPECT_NE(r.error().message.find(c.says), std::string::npos) << c.spec << " -> " << r.error().message;
  }
  v1::NetworkFault many;
  auto* m = many.mutable_drop()->mutable_match();
  m->set_protocol(v1::L4_TCP);
  for (int i = 0; i < 9; ++i) m->add_dst_ports()->set_first(1000 + i);
  auto r = compile_network_fault(many);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("9 port ranges (at most 8)"), std::string::npos) << r.error().message;
}

TEST(Compile, CapsTheExpansion) {
  v1::NetworkFault f;
  auto* m = f.mutable_drop()->mutable_match();
  for (int i = 0; i < 200; ++i) m->add_src_cidrs(fmt::format("10.1.{}.0/24", i));
  for (int i = 0; i < 200; ++i) m->add_dst_cidrs(fmt::format("10.2.{}.0/24", i));
  auto r = compile_network_fault(f, 1000);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("expands to 80000 rules"), std::string::npos) << r.error().message;
}

TEST(Compile, DropThreshold) {
  EXPECT_EQ(drop_threshold(0), 0u);
  EXPECT_EQ(drop_threshold(100), 0xffffffffu);
  EXPECT_NEAR(drop_threshold(30) / 4294967296.0, 0.30, 1e-9);
  EXPECT_NEAR(drop_threshold(0.001) / 4294967296.0, 0.00001, 1e-9);
}

PrefixKey key(uint32_t scope, const char* c) {
  auto x = cidr(c);
  return PrefixKey{scope, x.addr, x.len};
}

TEST(PrefixIndex, PropagatesCoveringPrefixesIntoLongerOnes) {
  PrefixIndex<uint32_t> idx(16, 1000, "test index");
  auto a = idx.add(1, {{key(4, "10.0.0.0/8"), 1}});
  ASSERT_TRUE(a);
  ASSERT_EQ(a->size(), 1u);
  auto b = idx.add(2, {{key(4, "10.1.0.0/16"), 2}, {key(4, "10.1.2.3/32"), 3}, {key(4, "11.0.0.0/8"), 4}});
  ASSERT_TRUE(b);
  auto& inst = idx.installed();
  EXPECT_EQ(inst.at(key(4, "10.0.0.0/8")), (std::vector<uint32_t>{1}));
  EXPECT_EQ(inst.at(key(4, "10.1.0.0/16")), (std::vector<uint32_t>{1, 2}));
  EXPECT_EQ(inst.at(key(4, "10.1.2.3/32")), (std::vector<uint32_t>{1, 2, 3}));
  EXPECT_EQ(inst.at(key(4, "11.0.0.0/8")), (std::vector<uint32_t>{4}));

  // A short prefix added later reaches every longer one it covers, in its scope only.
  auto c = idx.add(3, {{key(4, "0.0.0.0/0"), 5}, {key(0x104, "0.0.0.0/0"), 6}});
  ASSERT_TRUE(c);
  EXPECT_EQ(c->size(), 6u);  // 4 existing + 2 new
  EXPECT_EQ(inst.at(key(4, "10.1.2.3/32")), (std::vector<uint32_t>{5, 1, 2, 3}));
  EXPECT_EQ(inst.at(key(0x104, "0.0.0.0/0")), (std::vector<uint32_t>{6}));

  // Removal restores what was, deleting keys nobody holds any more.
  auto d = idx.remove(1);
  EXPECT_EQ(inst.count(key(4, "10.0.0.0/8")), 0u);
  EXPECT_EQ(inst.at(key(4, "10.1.2.3/32")), (std::vector<uint32_t>{5, 2, 3}));
  size_t deletes = std::count_if(d.begin(), d.end(), [](auto& ch) { return !ch.items; });
  EXPECT_EQ(deletes, 1u);
  idx.remove(2);
  idx.remove(3);
  EXPECT_TRUE(inst.empty());
  EXPECT_EQ(idx.prefixes(), 0u);
  EXPECT_TRUE(idx.remove(42).empty());
}

TEST(PrefixIndex, RefusesTooManyOverlapsAndChangesNothing) {
  PrefixIndex<uint32_t> idx(3, 1000, "test index");
  ASSERT_TRUE(idx.add(1, {{key(4, "10.0.0.0/8"), 1}, {key(4, "10.1.0.0/16"), 2}}));
  auto before = idx.installed();
  auto r = idx.add(2, {{key(4, "10.1.2.0/24"), 3}, {key(4, "10.1.2.0/24"), 4}});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("10.1.2.0/24"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("4 overlapping entries (at most 3)"), std::string::npos) << r.error().message;
  EXPECT_EQ(idx.installed(), before);
  EXPECT_EQ(idx.prefixes(), 2u);

  PrefixIndex<uint32_t> small(16, 2, "small index");
  ASSERT_FALSE(small.add(1, {{key(4, "10.0.0.1"), 1}, {key(4, "10.0.0.2"), 2}, {key(4, "10.0.0.3"), 3}}));
  EXPECT_EQ(small.prefixes(), 0u);
}

// The propagated lists equal a brute-force "every covering prefix" on random sets,
// through adds and removes.
TEST(PrefixIndex, MatchesBruteForceOnRandomPrefixes) {
  std::mt19937 rng(7);
  PrefixIndex<uint32_t> idx(1000, 100000, "random");
  std::map<uint64_t, std::vector<std::pair<Cidr, uint32_t>>> owners;
  uint32_t next_item = 0;
  for (uint64_t owner = 1; owner <= 40; ++owner) {
    std::vector<std::pair<PrefixKey, uint32_t>> items;
    for (int i = 0; i < 20; ++i) {
      Cidr c;
      c.family = 4;
      uint32_t a = rng() & 0x0f0f0000u;  // few distinct bits, so prefixes overlap
      std::memcpy(c.addr.data(), &a, 4);
      c = c.masked_to(static_cast<uint8_t>(rng() % 33));
      owners[owner].push_back({c, next_item});
      items.push_back({PrefixKey{4, c.addr, c.len}, next_item++});
    }
    ASSERT_TRUE(idx.add(owner, items));
    if (owner % 3 == 0) {
      idx.remove(owner - 1);
      owners.erase(owner - 1);
    }
  }
  std::map<PrefixKey, std::vector<uint32_t>> expect;
  for (auto& [o, list] : owners) {
    for (auto& [c, item] : list) expect[PrefixKey{4, c.addr, c.len}];
  }
  for (auto& [k, items] : expect) {
    Cidr kc;
    kc.family = 4;
    kc.addr = k.addr;
    kc.len = k.len;
    for (auto& [o, list] : owners) {
      for (auto& [c, item] : list) {
        if (c.covers(kc)) items.push_back(item);
      }
    }
    std::sort(items.begin(), items.end());
  }
  ASSERT_EQ(idx.installed().size(), expect.size());
  for (auto& [k, items] : idx.installed()) {
    auto got = items;
    std::sort(got.begin(), got.end());
    EXPECT_EQ(got, expect.at(k)) << PrefixIndex<uint32_t>::describe(k);
  }
}

}  // namespace
}  // namespace firedrill::agent::net
