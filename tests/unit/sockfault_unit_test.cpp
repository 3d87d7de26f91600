// The connection fault engine without a kernel: what a match compiles to for the hooks,
// the proxy's shape from a spec, and the refusal on a kernel without the hooks.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <google/protobuf/text_format.h>

#include <atomic>
#include <thread>

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

// The proxy alone, on loopback, without hooks: a test connects to its port directly and
// the resolver names an echo server of the test as the destination.
class EchoServer {
 public:
  EchoServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    EXPECT_EQ(::listen(fd_, 64), 0);
    socklen_t len = sizeof sa;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&sa), &len);
    addr_ = to_sf_addr(reinterpret_cast<sockaddr_storage&>(sa));
    thread_ = std::thread([this] {
      for (;;) {
        int c = ::accept(fd_, nullptr, nullptr);
        if (c < 0 || stop_) return;
        accepted_++;
        std::thread([c] {
          char buf[4096];
          ssize_t n;
          while ((n = ::recv(c, buf, sizeof buf, 0)) > 0) ::send(c, buf, size_t(n), MSG_NOSIGNAL);
          ::close(c);
        }).detach();
      }
    });
  }
  ~EchoServer() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }
  const sf_addr& addr() const { return addr_; }
  int accepted() const { return accepted_; }

 private:
  int fd_ = -1;
  sf_addr addr_{};
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::thread thread_;
};

int connect_to(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{3, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  return fd;
}

// Sends `msg` and reads as many bytes back; what came back ("" on reset or timeout).
std::string echo(int fd, const std::string& msg) {
  if (::send(fd, msg.data(), msg.size(), MSG_NOSIGNAL) != ssize_t(msg.size())) return "";
  std::string got(msg.size(), '\0');
  size_t n = 0;
  while (n < got.size()) {
    ssize_t r = ::recv(fd, got.data() + n, got.size() - n, 0);
    if (r <= 0) return "";
    n += size_t(r);
  }
  return got;
}

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

TEST(SockFaultProxy, SetUpCostsARoundTripAndEachAnswerAnother) {
  EchoServer server;
  auto proxy = Proxy::start();
  ASSERT_TRUE(proxy) << proxy.error().describe();
  Shape s;
  s.to_server.fixed = std::chrono::milliseconds(20);
  s.to_client.fixed = std::chrono::milliseconds(10);
  auto dest = server.addr();
  auto ports = (*proxy)->add("f", s, [dest](const sf_addr&) { return std::optional<sf_addr>(dest); });
  ASSERT_TRUE(ports) << ports.error().describe();
  auto t0 = Clock::now();
  int fd = connect_to(ports->v4);
  EXPECT_EQ(echo(fd, "ping"), "ping");
  double first = ms_since(t0);
  t0 = Clock::now();
  EXPECT_EQ(echo(fd, "again"), "again");
  double second = ms_since(t0);
  ::close(fd);
  // Set-up 20 + 10, then the request 20 and the answer 10.
  EXPECT_GE(first, 60);
  EXPECT_LT(first, 60 + 50);  // generous: a loaded machine only adds
  EXPECT_GE(second, 30);
  EXPECT_LT(second, 30 + 50);
  EXPECT_EQ((*proxy)->counters("f").accepted, 1u);
  EXPECT_EQ((*proxy)->counters("f").bytes_to_server, 9u);
}

TEST(SockFaultProxy, PastItsLimitNewConnectionsAreReset) {
  EchoServer server;
  auto proxy = Proxy::start();
  ASSERT_TRUE(proxy);
  Shape s;
  s.max_connections = 2;
  auto dest = server.addr();
  auto ports = (*proxy)->add("f", s, [dest](const sf_addr&) { return std::optional<sf_addr>(dest); });
  ASSERT_TRUE(ports);
  int a = connect_to(ports->v4), b = connect_to(ports->v4);
  EXPECT_EQ(echo(a, "a"), "a");
  EXPECT_EQ(echo(b, "b"), "b");
  int c = connect_to(ports->v4);
  EXPECT_EQ(echo(c, "c"), "");
  auto counters = (*proxy)->counters("f");
  EXPECT_EQ(counters.over_limit, 1u);
  EXPECT_EQ(counters.open, 2u);
  for (int fd : {a, b, c}) ::close(fd);
}

TEST(SockFaultProxy, WithoutARecordedDestinationTheConnectionIsReset) {
  auto proxy = Proxy::start();
  ASSERT_TRUE(proxy);
  auto ports = (*proxy)->add("f", Shape{}, [](const sf_addr&) { return std::optional<sf_addr>(); });
  ASSERT_TRUE(ports);
  int fd = connect_to(ports->v4);
  EXPECT_EQ(echo(fd, "x"), "");
  ::close(fd);
  EXPECT_EQ((*proxy)->counters("f").reset, 1u);
}

TEST(SockFaultProxy, LiftedConnectionsGoOnUnshapedAndStalledOnesAreReset) {
  EchoServer server;
  auto proxy = Proxy::start();
  ASSERT_TRUE(proxy);
  auto dest = server.addr();
  Shape slow;
  slow.to_client.fixed = std::chrono::milliseconds(200);
  auto p1 = (*proxy)->add("slow", slow, [dest](const sf_addr&) { return std::optional<sf_addr>(dest); });
  Shape stall;
  stall.never_answer = true;
  auto p2 = (*proxy)->add("stall", stall, [dest](const sf_addr&) { return std::optional<sf_addr>(dest); });
  ASSERT_TRUE(p1 && p2);
  int a = connect_to(p1->v4);
  EXPECT_EQ(echo(a, "1"), "1");
  int b = connect_to(p2->v4);
  ASSERT_EQ(::send(b, "q", 1, 0), 1);
  (*proxy)->lift("slow");
  (*proxy)->lift("stall");
  auto t0 = Clock::now();
  EXPECT_EQ(echo(a, "2"), "2");
  EXPECT_LT(ms_since(t0), 100);
  char c;
  EXPECT_LE(::recv(b, &c, 1, 0), 0);  // reset: nothing ever answered it
  EXPECT_EQ(server.accepted(), 1);    // the stalled connection never reached the server
  ::close(a);
  ::close(b);
  // The lifted faults' listeners are gone.
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(p1->v4);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_NE(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  ::close(fd);
}

}  // namespace
}  // namespace firedrill::agent::sockfault
