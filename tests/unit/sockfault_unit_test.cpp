// The connection fault engine without a kernel: what a match compiles to for the hooks,
// the proxy's shape from a spec, and the refusal on a kernel without the hooks.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <google/protobuf/text_format.h>

#include "agent/sockfault/proxy.h"
#include "agent/sockfault/sock_fault_engine.h"
#include "agent/sockfault/steering.h"

namespace firedrill::agent::sockfault {
namespace {

template <typename T>
T parse(const std::string& text) {
  T m;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &m)) << text;
  return m;
}

TEST(SockFaultRules, PrefixesWithTheirPorts) {
  auto rules = compile_rules(parse<v1::TrafficMatch>(
      "dst_cidrs: \"10.1.2.3/16\" dst_cidrs: \"fd00::1\" dst_ports { first: 6379 } dst_ports { first: 8000 last: 8080 }"));
  ASSERT_TRUE(rules) << rules.error().describe();
  ASSERT_EQ(rules->size(), 2u);
  const auto& v4 = (*rules)[0];
  EXPECT_EQ(v4.family, 4);
  EXPECT_EQ(v4.prefixlen, 16);
  EXPECT_EQ(v4.addr[0], 10);
  EXPECT_EQ(v4.addr[1], 1);
  EXPECT_EQ(v4.addr[2], 0);  // host bits cleared
  ASSERT_EQ(v4.nports, 2);
  EXPECT_EQ(v4.port_first[0], 6379);
  EXPECT_EQ(v4.port_last[0], 6379);
  EXPECT_EQ(v4.port_first[1], 8000);
  EXPECT_EQ(v4.port_last[1], 8080);
  EXPECT_EQ((*rules)[1].family, 6);
  EXPECT_EQ((*rules)[1].prefixlen, 128);
}

TEST(SockFaultRules, NoPrefixMeansEveryDestinationOfBothFamilies) {
  auto rules = compile_rules(v1::TrafficMatch{});
  ASSERT_TRUE(rules);
  ASSERT_EQ(rules->size(), 2u);
  EXPECT_EQ((*rules)[0].family, 4);
  EXPECT_EQ((*rules)[0].prefixlen, 0);
  EXPECT_EQ((*rules)[0].nports, 0);
  EXPECT_EQ((*rules)[1].family, 6);
}

TEST(SockFaultRules, BadEntriesAreNamed) {
  auto bad = compile_rules(parse<v1::TrafficMatch>("dst_cidrs: \"10.0.0.0/8\" dst_cidrs: \"nonsense\""));
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("connection.match.dst_cidrs[1]"), std::string::npos) << bad.error().message;
  auto port = compile_rules(parse<v1::TrafficMatch>("dst_ports { first: 90 last: 80 }"));
  ASSERT_FALSE(port);
  EXPECT_NE(port.error().message.find("connection.match.dst_ports[0]"), std::string::npos) << port.error().message;
  v1::TrafficMatch many;
  for (int i = 0; i < SF_MAX_RULES + 1; ++i) many.add_dst_cidrs("10.0.0." + std::to_string(i));
  EXPECT_FALSE(compile_rules(many));
}

TEST(SockFaultRules, AddressesRoundTrip) {
  sf_addr a{};
  a.family = 4;
  a.port = htons(6379);
  a.addr[0] = 10, a.addr[1] = 77, a.addr[3] = 1;
  socklen_t len = 0;
  auto sa = to_sockaddr(a, &len);
  EXPECT_EQ(len, sizeof(sockaddr_in));
  auto back = to_sf_addr(sa);
  EXPECT_EQ(0, std::memcmp(&a, &back, sizeof a));
  EXPECT_EQ(describe(a), "10.77.0.1:6379");
}

TEST(SockFaultShape, FromTheSpec) {
  auto s = Shape::from(parse<v1::ConnectionFault>(
      "to_server_latency { fixed_us: 1000 jitter_us: 10 } to_client_bandwidth { bytes_per_sec: 5 } reset { after_bytes: 7 }"));
  EXPECT_EQ(s.to_server.fixed, std::chrono::milliseconds(1));
  EXPECT_EQ(s.to_server.jitter, std::chrono::microseconds(10));
  EXPECT_EQ(s.to_client.fixed.count(), 0);
  EXPECT_EQ(s.to_client_rate, 5u);
  EXPECT_EQ(s.to_server_rate, 0u);
  EXPECT_TRUE(s.reset);
  EXPECT_EQ(s.reset_after_bytes, 7u);
  EXPECT_EQ(s.reset_percent, 100);
  EXPECT_EQ(s.max_connections, 1024u);
  EXPECT_FALSE(s.never_answer);
}

TEST(SockFaultEngine, AKernelWithoutTheHooksIsRefusedNamingThem) {
  bpf::Features f;
  f.kernel_release = "5.4.0-test";
  f.cgroup_v2 = true;
  f.cgroup2_mount = "/sys/fs/cgroup";
  v1::Feature d;
  d.set_name("sock_hooks");
  d.set_detail("cgroup/getpeername4 programs do not load (Invalid argument)");
  f.details.push_back(d);
  SockFaultEngine engine("/w", &f);
  auto spec = parse<v1::FaultSpec>("connection { workload_cgroups: \"web\" reset { } }");
  auto r = engine.check(spec);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("missing kernel feature 'sock_hooks' on 5.4.0-test"), std::string::npos)
      << r.error().message;
  EXPECT_NE(r.error().message.find("getpeername4"), std::string::npos) << r.error().message;
  auto a = engine.apply("x", spec);
  ASSERT_FALSE(a);
  EXPECT_NE(a.error().message.find("sock_hooks"), std::string::npos);
}

}  // namespace
}  // namespace firedrill::agent::sockfault
