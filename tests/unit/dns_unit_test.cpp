// DNS faults without a kernel: names matched by the rules, queries decided and the
// fault's answers built (read back with ldns), the value checks with the field named,
// a kernel without the hooks refused naming them, and the proxy's DNS side on loopback
// against a resolver of the test.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include "agent/sockfault/ldns.h"
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <google/protobuf/text_format.h>

#include <atomic>
#include <thread>

#include "agent/sockfault/dns.h"
#include "agent/sockfault/proxy.h"
#include "agent/sockfault/sock_fault_engine.h"
#include "agent/sockfault/steering.h"
#include "common/fault_values.h"

namespace firedrill::agent::sockfault {
namespace {

using namespace std::chrono_literals;

template <typename T>
T parse(const std::string& text) {
  T m;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &m)) << text;
  return m;
}

// A query for `name` (type A, RD set) in wire form, built by ldns.
std::string query(const std::string& name, uint16_t id = 4242) {
  ldns_pkt* p = nullptr;
  EXPECT_EQ(ldns_pkt_query_new_frm_str(&p, name.c_str(), LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, LDNS_RD), LDNS_STATUS_OK);
  ldns_pkt_set_id(p, id);
  uint8_t* wire = nullptr;
  size_t size = 0;
  EXPECT_EQ(ldns_pkt2wire(&wire, p, &size), LDNS_STATUS_OK);
  std::string out(reinterpret_cast<char*>(wire), size);
  free(wire);
  ldns_pkt_free(p);
  return out;
}

const char* kRules =
    "rules { names: \"redis.lab\" names: \"Cache.Lab.\" action: DNS_NXDOMAIN } "
    "rules { domains: \"svc.lab\" action: DNS_SERVFAIL } "
    "rules { names: \"slow.lab\" action: DNS_DELAY delay_us: 250000 } "
    "rules { domains: \"gone\" action: DNS_NO_ANSWER }";

DnsRules rules() {
  auto r = DnsRules::compile(parse<v1::DnsFault>(kRules));
  EXPECT_TRUE(r) << r.error().describe();
  return *r;
}

TEST(DnsRules, ExactNamesAndDomainsWithoutCaseOrFinalDot) {
  auto r = rules();
  EXPECT_TRUE(r.matches(0, "redis.lab"));
  EXPECT_TRUE(r.matches(0, "cache.lab"));
  EXPECT_FALSE(r.matches(0, "x.redis.lab")) << "names match exactly";
  EXPECT_TRUE(r.matches(1, "svc.lab"));
  EXPECT_TRUE(r.matches(1, "api.svc.lab"));
  EXPECT_TRUE(r.matches(1, "a.b.svc.lab"));
  EXPECT_FALSE(r.matches(1, "xsvc.lab")) << "a domain matches at a label boundary only";
  EXPECT_FALSE(r.matches(1, "lab"));
}

TEST(DnsRules, QueriesAreDecidedByTheFirstRuleThatMatches) {
  auto r = rules();
  auto v = r.decide(query("REDIS.lab."));
  EXPECT_EQ(v.action, v1::DNS_NXDOMAIN);
  EXPECT_EQ(v.name, "redis.lab");
  EXPECT_EQ(r.decide(query("api.svc.lab")).action, v1::DNS_SERVFAIL);
  v = r.decide(query("slow.lab"));
  EXPECT_EQ(v.action, v1::DNS_DELAY);
  EXPECT_EQ(v.delay, 250ms);
  EXPECT_EQ(r.decide(query("x.gone")).action, v1::DNS_NO_ANSWER);
  EXPECT_EQ(r.decide(query("web.lab")).action, v1::DNS_ACTION_UNSPECIFIED);
}

TEST(DnsRules, WhatIsNotAStandardQueryPassesUntouched) {
  auto r = rules();
  EXPECT_EQ(r.decide("").action, v1::DNS_ACTION_UNSPECIFIED);
  EXPECT_EQ(r.decide("\x01\x02garbage").action, v1::DNS_ACTION_UNSPECIFIED);
  auto q = query("redis.lab");
  std::string truncated = q.substr(0, q.size() - 3);
  EXPECT_EQ(r.decide(truncated).action, v1::DNS_ACTION_UNSPECIFIED);
  std::string response = q;
  response[2] = char(response[2] | 0x80);  // QR: an answer, not a query
  EXPECT_EQ(r.decide(response).action, v1::DNS_ACTION_UNSPECIFIED);
  EXPECT_FALSE(dns_answer(truncated, v1::DNS_NXDOMAIN));
  EXPECT_FALSE(dns_answer(q, v1::DNS_DELAY)) << "only NXDOMAIN and SERVFAIL are answers";
}

// A query is decided by its header and question alone: what follows (an EDNS record, a
// signature, or bytes no resolver would send) neither hides a matching name nor reaches
// ldns, which leaks repeated TSIG records (dns_fuzz found it; its input is kept under
// tests/fuzz/seeds/dns_fuzz and the fuzz build reruns it).
TEST(DnsRules, AQueryIsDecidedByItsQuestionWhateverFollowsIt) {
  auto r = rules();
  std::string q = query("redis.lab", 99);
  // Three records of type TSIG (250) that ldns cannot read: root owner, class ANY,
  // no TTL, a rdlength past the end.
  const std::string tsig("\x00\x00\xfa\x00\xff\x00\x00\x00\x00\x00\x20", 11);
  std::string signed_thrice = q + tsig + tsig + tsig;
  signed_thrice[LDNS_ARCOUNT_OFF] = 0;
  signed_thrice[LDNS_ARCOUNT_OFF + 1] = 3;
  EXPECT_EQ(r.decide(signed_thrice).action, v1::DNS_NXDOMAIN);
  auto wire = dns_answer(signed_thrice, v1::DNS_NXDOMAIN);
  ASSERT_TRUE(wire);
  ldns_pkt* a = nullptr;
  ASSERT_EQ(ldns_wire2pkt(&a, reinterpret_cast<const uint8_t*>(wire->data()), wire->size()), LDNS_STATUS_OK);
  EXPECT_EQ(ldns_pkt_id(a), 99);
  EXPECT_EQ(ldns_pkt_arcount(a), 0) << "the answer carries only the question";
  ldns_pkt_free(a);
  EXPECT_EQ(r.decide(std::string(q.data(), LDNS_HEADER_SIZE - 1)).action, v1::DNS_ACTION_UNSPECIFIED);
}

TEST(DnsAnswer, CarriesTheQueryIdQuestionAndTheRcode) {
  for (auto [action, rcode] : {std::pair{v1::DNS_NXDOMAIN, LDNS_RCODE_NXDOMAIN}, std::pair{v1::DNS_SERVFAIL, LDNS_RCODE_SERVFAIL}}) {
    auto wire = dns_answer(query("redis.lab", 777), action);
    ASSERT_TRUE(wire);
    ldns_pkt* a = nullptr;
    ASSERT_EQ(ldns_wire2pkt(&a, reinterpret_cast<const uint8_t*>(wire->data()), wire->size()), LDNS_STATUS_OK);
    EXPECT_TRUE(ldns_pkt_qr(a));
    EXPECT_TRUE(ldns_pkt_rd(a));
    EXPECT_TRUE(ldns_pkt_ra(a));
    EXPECT_EQ(ldns_pkt_id(a), 777);
    EXPECT_EQ(ldns_pkt_get_rcode(a), rcode);
    ASSERT_EQ(ldns_pkt_qdcount(a), 1);
    EXPECT_EQ(ldns_pkt_ancount(a), 0);
    char* name = ldns_rdf2str(ldns_rr_owner(ldns_rr_list_rr(ldns_pkt_question(a), 0)));
    EXPECT_STREQ(name, "redis.lab.");
    free(name);
    ldns_pkt_free(a);
  }
}

TEST(DnsValues, BadInputIsRefusedWithTheFieldNamed) {
  struct Case {
    std::string spec, field;
  };
  std::vector<Case> cases = {
      {"dns { workload_cgroups: \"w\" rules { names: \"a\" action: 7 } }", "dns.rules[0].action: unknown DNS action 7"},
      {"dns { workload_cgroups: \"w\" rules { names: \"a\" } }", "dns.rules[0].action: required"},
      {"dns { workload_cgroups: \"w\" rules { names: \"a\" names: \"\" action: DNS_NXDOMAIN } }", "dns.rules[0].names[1]: empty"},
      {"dns { workload_cgroups: \"w\" rules { domains: \".\" action: DNS_NXDOMAIN } }", "dns.rules[0].domains[0]: empty"},
      {"dns { workload_cgroups: \"w\" rules { domains: \"a b\" action: DNS_NXDOMAIN } }", "dns.rules[0].domains[0]"},
      {"dns { workload_cgroups: \"w\" rules { action: DNS_NXDOMAIN } }", "dns.rules[0]: give names or domains"},
      {"dns { workload_cgroups: \"w\" rules { names: \"a\" action: DNS_DELAY delay_us: 99000000 } }", "dns.rules[0].delay_us: at most"},
      {"dns { workload_cgroups: \"w\" rules { names: \"a\" action: DNS_DELAY } }", "dns.rules[0].delay_us: required"},
      {"dns { workload_cgroups: \"w\" rules { names: \"a\" action: DNS_SERVFAIL delay_us: 5 } }", "dns.rules[0].delay_us: only for DNS_DELAY"},
      {"dns { rules { names: \"a\" action: DNS_SERVFAIL } }", "dns: required: the cgroups"},
      {"dns { workload_cgroups: \"w\" }", "dns.rules: required"},
      {"dns { workload_cgroups: \"w\" max_queries: 70000 rules { names: \"a\" action: DNS_SERVFAIL } }", "dns.max_queries"},
      {"dns { workload_cgroups: \"w\" match { src_ports { first: 5 } } rules { names: \"a\" action: DNS_SERVFAIL } }", "dns.match.src_ports"},
  };
  for (const auto& c : cases) {
    auto problem = first_fault_value_problem(parse<v1::FaultSpec>(c.spec));
    EXPECT_EQ(problem.rfind(c.field, 0), 0u) << c.spec << "\n got: " << problem;
  }
  auto longer = first_fault_value_problem(
      parse<v1::FaultSpec>("dns { workload_cgroups: \"w\" rules { names: \"a\" action: DNS_DELAY delay_us: 2000000 } }"),
      std::chrono::seconds(2));
  EXPECT_NE(longer.find("not shorter than the fault"), std::string::npos) << longer;
  EXPECT_EQ(first_fault_value_problem(parse<v1::FaultSpec>(std::string("dns { workload_cgroups: \"w\" ") + kRules + " }")), "");
}

TEST(DnsFaultEngine, AKernelWithoutTheDatagramHooksIsRefusedNamingThem) {
  bpf::Features f;
  f.kernel_release = "4.14.0-test";
  f.cgroup_v2 = true;
  f.sock_hooks = true;
  f.cgroup2_mount = "/sys/fs/cgroup";
  v1::Feature d;
  d.set_name("dns_hooks");
  d.set_detail("cgroup/recvmsg4 programs do not load (Invalid argument)");
  f.details.push_back(d);
  SockFaultEngine engine("/w", &f);
  auto spec = parse<v1::FaultSpec>("dns { workload_cgroups: \"web\" rules { names: \"a.lab\" action: DNS_NXDOMAIN } }");
  EXPECT_TRUE(engine.handles(spec));
  auto r = engine.apply("x", spec);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("missing kernel feature 'dns_hooks' on 4.14.0-test"), std::string::npos)
      << r.error().message;
  EXPECT_NE(r.error().message.find("recvmsg4"), std::string::npos) << r.error().message;
}

// A UDP socket on 127.0.0.1: the resolver of the test, or its client.
struct Udp {
  Udp() {
    fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  }
  ~Udp() { ::close(fd); }
  void send_to(uint16_t port, const std::string& data) const {
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    to.sin_port = htons(port);
    ::sendto(fd, data.data(), data.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
  }
  // A datagram within `wait`, or "" (and from where it came).
  std::string receive(std::chrono::milliseconds wait, sockaddr_storage* from = nullptr) const {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, int(wait.count())) != 1) return "";
    char buf[4096];
    sockaddr_storage f{};
    socklen_t len = sizeof f;
    ssize_t n = ::recvfrom(fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&f), &len);
    if (from) *from = f;
    return n > 0 ? std::string(buf, size_t(n)) : "";
  }
  int fd;
  sockaddr_storage addr{};
};

uint16_t rcode_of(const std::string& wire) {
  return wire.size() >= 4 ? uint8_t(wire[3]) & 0x0f : 0xffff;
}

TEST(DnsProxy, AnswersDropsDelaysAndPassesOnLoopback) {
  Udp resolver, client;
  // The resolver of the test answers every query with "NOERROR" after swapping QR on.
  std::atomic<bool> stop{false};
  std::thread serve([&] {
    while (!stop) {
      sockaddr_storage from{};
      auto q = resolver.receive(50ms, &from);
      if (q.size() < 4) continue;
      q[2] = char(q[2] | 0x80);
      ::sendto(resolver.fd, q.data(), q.size(), 0, reinterpret_cast<sockaddr*>(&from), sizeof(sockaddr_in));
    }
  });
  auto proxy = Proxy::start();
  ASSERT_TRUE(proxy) << proxy.error().describe();
  auto shape = DnsShape::from(parse<v1::DnsFault>(kRules));
  ASSERT_TRUE(shape);
  sf_addr dest = to_sf_addr(resolver.addr);
  std::atomic<int> asked{0};
  auto ports = (*proxy)->add_dns("d", *shape, [&](const sockaddr_storage&, const sockaddr_storage&) {
    asked++;
    return std::optional<sf_addr>(dest);
  });
  ASSERT_TRUE(ports) << ports.error().describe();

  client.send_to(ports->v4, query("redis.lab", 1));
  auto nx = client.receive(2s);
  EXPECT_EQ(rcode_of(nx), LDNS_RCODE_NXDOMAIN);
  client.send_to(ports->v4, query("a.svc.lab", 2));
  EXPECT_EQ(rcode_of(client.receive(2s)), LDNS_RCODE_SERVFAIL);
  client.send_to(ports->v4, query("x.gone", 3));
  EXPECT_EQ(client.receive(300ms), "") << "no answer";
  client.send_to(ports->v4, query("web.lab", 4));
  auto passed = client.receive(2s);
  ASSERT_EQ(passed.size(), query("web.lab", 4).size());
  EXPECT_EQ(rcode_of(passed), LDNS_RCODE_NOERROR);
  EXPECT_EQ(passed.substr(0, 2), query("web.lab", 4).substr(0, 2)) << "the resolver's answer, same id";
  auto start = std::chrono::steady_clock::now();
  client.send_to(ports->v4, query("slow.lab", 5));
  auto slow = client.receive(2s);
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(rcode_of(slow), LDNS_RCODE_NOERROR);
  EXPECT_GE(took, 250ms);
  EXPECT_EQ(asked.load(), 2) << "only passed and delayed queries need their resolver";
  auto c = (*proxy)->dns_counters("d");
  EXPECT_EQ(c.queries, 5u);
  EXPECT_EQ(c.faulted, 4u);
  EXPECT_EQ(c.passed, 2u);
  (*proxy)->lift("d");
  client.send_to(ports->v4, query("redis.lab", 6));
  EXPECT_EQ(client.receive(200ms), "") << "a lifted fault takes no query";
  stop = true;
  serve.join();
}

}  // namespace
}  // namespace firedrill::agent::sockfault
