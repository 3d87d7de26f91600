// DNS faults through the real agent binary (issue 18): dnsmasq answers for *.lab in a
// network namespace of the test; the agent runs beside it in a cgroup of its own;
// getent (glibc's resolver, a connected UDP socket) and drill (ldns, an unconnected
// one) run inside the selected cgroup and outside it. Inside, the selected names get
// NXDOMAIN, SERVFAIL, no answer or a delay and every other name resolves; outside,
// nothing changes; reverts and a SIGKILLed agent leave no hook. Needs root. Made here:
// namespace fdp-<pid>-dns, cgroups <cgroup2>/fdp-test-<pid>-dns/{target,other,agent},
// dnsmasq on 10.78.0.1:53 there; getent reads a resolv.conf of the test through a
// private mount namespace of its own (unshare -m), never the host's.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <regex>

#include "tests/integration/sock_lab.h"

namespace {

using namespace std::chrono_literals;
using fdp::Agent;
using fdp::Child;
using fdp::eventually;

const std::string kResolver = "10.78.0.1";

using fdp::expect_applied;
using fdp::Out;

struct Lab : fdp::SockLab {
  Lab() : SockLab("dns") {
    ns.ip({"addr", "add", kResolver + "/32", "dev", "lo"});
    resolv = dir.file("resolv.conf");
    std::ofstream(resolv) << "nameserver " << kResolver << "\noptions timeout:1 attempts:1\n";
    dnsmasq = Child::spawn({"/usr/sbin/dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv",
                            "--no-hosts", "--user=root", "--pid-file=" + dir.file("dnsmasq.pid"),
                            "--listen-address=" + kResolver, "--bind-interfaces", "--port=53", "--local=/lab/",
                            "--host-record=redis.lab,10.78.0.10", "--host-record=web.lab,10.78.0.11",
                            "--host-record=api.svc.lab,10.78.0.12", "--host-record=db.svc.lab,10.78.0.13"},
                           other, &ns, dir.file("dnsmasq.log"));
    EXPECT_TRUE(eventually([&] { return rcode(other, "web.lab") == "NOERROR"; }, 10s)) << fdp::read_file(dir.file("dnsmasq.log"));
  }

  // drill's whole answer to a query for `name` sent to the resolver.
  Out drill(const std::string& cgroup_dir, const std::string& name) {
    return run(cgroup_dir, {"/usr/bin/drill", "@" + kResolver, name, "A"});
  }
  // The rcode drill saw ("NOERROR", "NXDOMAIN", "SERVFAIL"), or "" when none came.
  std::string rcode(const std::string& cgroup_dir, const std::string& name) {
    std::smatch m;
    auto o = drill(cgroup_dir, name);
    return std::regex_search(o.out, m, std::regex("rcode: ([A-Z]+)")) ? m[1].str() : "";
  }
  // drill's ";; Query time: N msec".
  double query_ms(const std::string& cgroup_dir, const std::string& name) {
    std::smatch m;
    auto o = drill(cgroup_dir, name);
    EXPECT_TRUE(std::regex_search(o.out, m, std::regex("Query time: ([0-9]+) msec"))) << o.out;
    return m.empty() ? -1 : std::atof(m[1].str().c_str());
  }
  // `getent hosts name` through glibc with the test's resolv.conf; with its duration.
  Out getent(const std::string& cgroup_dir, const std::string& name, double* ms = nullptr) {
    auto start = std::chrono::steady_clock::now();
    auto o = run(cgroup_dir, {"/usr/bin/unshare", "-m", "/bin/sh", "-c",
                              "mount --bind " + resolv + " /etc/resolv.conf && exec getent hosts " + name});
    if (ms) *ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    return o;
  }
  std::string resolv;
  Child dnsmasq;
};

std::string dns_spec(const std::string& rules) {
  return "dns { workload_cgroups: \"target\" match { dst_cidrs: \"" + kResolver + "\" } " + rules + " }";
}

const std::string kFailSome = dns_spec(
    "rules { names: \"redis.lab\" action: DNS_NXDOMAIN } rules { domains: \"svc.lab\" action: DNS_SERVFAIL }");

TEST(DnsFault, SelectedNamesFailInsideOnlyAndOtherNamesResolve) {
  Lab lab;
  Agent agent(lab.agent_options());
  expect_applied(agent.apply("d1", "120s", kFailSome));
  EXPECT_NE(lab.attached(lab.target).find("sf_sendmsg4"), std::string::npos) << lab.attached(lab.target);

  // drill (an unconnected UDP socket): the rcode asked, for the selected names only.
  EXPECT_EQ(lab.rcode(lab.target, "redis.lab"), "NXDOMAIN");
  EXPECT_EQ(lab.rcode(lab.target, "REDIS.lab."), "NXDOMAIN") << "names compare without case";
  EXPECT_EQ(lab.rcode(lab.target, "api.svc.lab"), "SERVFAIL");
  EXPECT_EQ(lab.rcode(lab.target, "db.svc.lab"), "SERVFAIL");
  auto web = lab.drill(lab.target, "web.lab");
  EXPECT_NE(web.out.find("rcode: NOERROR"), std::string::npos) << web.out;
  EXPECT_NE(web.out.find("10.78.0.11"), std::string::npos) << web.out;
  // The answer seems to come from the resolver itself.
  EXPECT_NE(web.out.find("SERVER: " + kResolver), std::string::npos) << web.out;
  EXPECT_EQ(lab.rcode(lab.target, "nothere.lab"), "NXDOMAIN") << "dnsmasq's own answer passes";

  // getent (glibc: a connected UDP socket).
  auto g = lab.getent(lab.target, "redis.lab");
  EXPECT_EQ(g.code, 2) << g.out;
  g = lab.getent(lab.target, "api.svc.lab");
  EXPECT_EQ(g.code, 2) << g.out;
  g = lab.getent(lab.target, "web.lab");
  EXPECT_EQ(g.code, 0) << g.out;
  EXPECT_NE(g.out.find("10.78.0.11"), std::string::npos) << g.out;

  // Outside the cgroup nothing changed.
  EXPECT_EQ(lab.rcode(lab.other, "redis.lab"), "NOERROR");
  EXPECT_EQ(lab.rcode(lab.other, "api.svc.lab"), "NOERROR");
  g = lab.getent(lab.other, "redis.lab");
  EXPECT_EQ(g.code, 0) << g.out;
  EXPECT_NE(g.out.find("10.78.0.10"), std::string::npos) << g.out;

  auto status = agent.ctl({"status"});
  std::smatch m;
  ASSERT_TRUE(std::regex_search(status.out, m, std::regex("dns_faulted: ([0-9]+)"))) << status.out;
  EXPECT_GE(std::stoi(m[1].str()), 6) << status.out;

  ASSERT_EQ(agent.ctl({"revert", "--id", "d1"}).code, 0);
  EXPECT_EQ(lab.attached(lab.target).find("sf_"), std::string::npos) << lab.attached(lab.target);
  EXPECT_EQ(lab.rcode(lab.target, "redis.lab"), "NOERROR");
  EXPECT_EQ(lab.getent(lab.target, "api.svc.lab").code, 0);
}

TEST(DnsFault, DelayAndNoAnswerAreObserved) {
  Lab lab;
  Agent agent(lab.agent_options());
  double before = lab.query_ms(lab.target, "web.lab");
  expect_applied(agent.apply("d2", "120s",
                             dns_spec("rules { names: \"web.lab\" action: DNS_DELAY delay_us: 300000 } "
                                      "rules { names: \"redis.lab\" action: DNS_NO_ANSWER }")));
  std::vector<double> in;
  for (int i = 0; i < 3; ++i) in.push_back(lab.query_ms(lab.target, "web.lab"));
  std::sort(in.begin(), in.end());
  double other_name = lab.query_ms(lab.target, "api.svc.lab");
  double outside = lab.query_ms(lab.other, "web.lab");
  std::cout << "drill query time (ms, asked 300 more): before " << before << ", inside " << in[1]
            << ", other name inside " << other_name << ", outside " << outside << "\n";
  EXPECT_NEAR(in[1] - before, 300, 30);
  EXPECT_LT(other_name, 100);
  EXPECT_LT(outside, 100);
  auto web = lab.getent(lab.target, "web.lab");
  EXPECT_EQ(web.code, 0) << web.out;

  // No answer: glibc gives up after its timeout (1 s in the test's resolv.conf).
  double ms = 0;
  auto g = lab.getent(lab.target, "redis.lab", &ms);
  std::cout << "getent redis.lab without an answer: exit " << g.code << " after " << ms << " ms\n";
  EXPECT_EQ(g.code, 2) << g.out;
  EXPECT_GE(ms, 900);
  EXPECT_EQ(lab.getent(lab.other, "redis.lab").code, 0);
}

TEST(DnsFault, ExpiryLiftsTheFault) {
  Lab lab;
  Agent agent(lab.agent_options());
  expect_applied(agent.apply("d4", "3s", kFailSome));
  EXPECT_EQ(lab.rcode(lab.target, "redis.lab"), "NXDOMAIN");
  EXPECT_TRUE(eventually([&] { return lab.attached(lab.target).find("sf_") == std::string::npos; }, 10s))
      << lab.attached(lab.target);
  EXPECT_EQ(lab.rcode(lab.target, "redis.lab"), "NOERROR");
  EXPECT_EQ(lab.getent(lab.target, "api.svc.lab").code, 0);
}

TEST(DnsFault, AgentSigkillLeavesNoHook) {
  Lab lab;
  auto agent = std::make_unique<Agent>(lab.agent_options());
  expect_applied(agent->apply("d3", "120s", kFailSome));
  ASSERT_EQ(lab.rcode(lab.target, "redis.lab"), "NXDOMAIN");
  EXPECT_NE(lab.attached(lab.target).find("sf_recvmsg4"), std::string::npos);
  agent->kill9();
  EXPECT_EQ(lab.attached(lab.target).find("sf_"), std::string::npos) << lab.attached(lab.target);
  EXPECT_EQ(lab.rcode(lab.target, "redis.lab"), "NOERROR");
  auto g = lab.getent(lab.target, "api.svc.lab");
  EXPECT_EQ(g.code, 0) << g.out;
}

TEST(DnsFault, BadSpecsAreRefusedWithTheFieldNamed) {
  Lab lab;
  Agent agent(lab.agent_options());
  std::vector<fdp::Refusal> cases = {
      {dns_spec("rules { names: \"a.lab\" action: 9 }"), "dns.rules[0].action: unknown DNS action 9"},
      {dns_spec("rules { names: \"a.lab\" }"), "dns.rules[0].action: required"},
      {dns_spec("rules { names: \"\" action: DNS_NXDOMAIN }"), "dns.rules[0].names[0]: empty"},
      {dns_spec("rules { domains: \"a..lab\" action: DNS_NXDOMAIN }"), "dns.rules[0].domains[0]"},
      {dns_spec("rules { names: \"a.lab\" action: DNS_DELAY delay_us: 60000000 }"), "dns.rules[0].delay_us: at most"},
      {dns_spec("rules { names: \"a.lab\" action: DNS_DELAY }"), "dns.rules[0].delay_us: required"},
      {dns_spec(""), "dns.rules: required"},
      {"dns { workload_cgroups: \"target\" match { protocol: L4_TCP } rules { names: \"a\" action: DNS_NXDOMAIN } }",
       "dns.match.protocol"},
      {"dns { workload_cgroups: \"nope\" rules { names: \"a\" action: DNS_NXDOMAIN } }", "nope"},
  };
  fdp::expect_refused(agent, cases);
  // A delay as long as the lease.
  auto r = agent.apply("long", "2s", dns_spec("rules { names: \"a.lab\" action: DNS_DELAY delay_us: 3000000 }"));
  EXPECT_NE(r.out.find("not shorter than the fault"), std::string::npos) << r.out;
  EXPECT_EQ(lab.attached(lab.target).find("sf_"), std::string::npos);
}

}  // namespace
