// /metrics of real agents and a real controller (in namespaces this test creates, root),
// scraped with curl over each namespace's loopback: the numbers move with the fleet (a
// fault applied shows in faults_in_effect and drops packets; a halt shows and ends it).
#include <gtest/gtest.h>

#include <regex>

#include "tests/integration/ctl/ctl_lab.h"

namespace firedrill::ctltest {
namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kAgentMetrics = "127.0.0.1:19464";
constexpr const char* kControllerMetrics = "127.0.0.1:19465";

std::string scrape(const Netns& ns, const std::string& address) {
  auto r = exec({"ip", "netns", "exec", ns.name(), "curl", "-sS", "--fail", "--max-time", "5",
                 "http://" + address + "/metrics"});
  if (r.code != 0) throw std::runtime_error("scrape " + address + " in " + ns.name() + ": " + r.out);
  return r.out;
}

// The value of one sample (NAME{LABELS} as written), or nullopt when it is absent.
std::optional<double> sample(const std::string& text, const std::string& series) {
  auto at = text.find("\n" + series + " ");
  if (at == std::string::npos) return std::nullopt;
  return std::stod(text.substr(at + series.size() + 2));
}

// Scrapes until pred(text) holds, up to `within`; returns the last text.
template <class Pred>
std::string scrape_until(const Netns& ns, const std::string& address, Pred pred, std::chrono::milliseconds within = 10s) {
  auto deadline = Clock::now() + within;
  std::string text;
  do {
    text = scrape(ns, address);
    if (pred(text)) return text;
    std::this_thread::sleep_for(200ms);
  } while (Clock::now() < deadline);
  return text;
}

class MetricsScrape : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(::geteuid(), 0u) << "the metrics integration test needs root (namespaces, BPF)"; }
  void TearDown() override {
    if (HasFailure() && lab) {
      std::cerr << "--- controller log\n" << lab->controller().log();
      for (auto& id : lab->ids()) std::cerr << "--- agent " << id << " log\n" << lab->agent(id).log();
    }
    lab.reset();
  }
  std::unique_ptr<Lab> lab;
};

TEST_F(MetricsScrape, AgentAndControllerNumbersMoveWithTheFleet) {
  lab = std::make_unique<Lab>(std::vector<HostSpec>{{"p1-h1", {{"dc", "pangyo"}, {"rack", "p1"}}},
                                                    {"c1-h1", {{"dc", "chuncheon"}, {"rack", "c1"}}}});
  lab->start_controller({"--metrics-listen", kControllerMetrics});
  lab->start_agents({"--metrics-listen", kAgentMetrics});

  auto c = scrape(lab->hub(), kControllerMetrics);
  EXPECT_EQ(sample(c, R"(firedrill_controller_agents_connected{dc="pangyo",rack="p1"})"), 1) << c;
  EXPECT_EQ(sample(c, R"(firedrill_controller_agents_connected{dc="chuncheon",rack="c1"})"), 1) << c;
  EXPECT_EQ(sample(c, "firedrill_controller_halted"), 0) << c;
  EXPECT_NE(c.find("# TYPE firedrill_controller_runs_in_flight gauge"), std::string::npos) << c;

  const auto& p1 = lab->host("p1-h1");
  auto a = scrape_until(p1, kAgentMetrics, [](const std::string& t) {
    return sample(t, "firedrill_agent_controller_connected") == 1;
  });
  EXPECT_EQ(sample(a, "firedrill_agent_controller_connected"), 1) << a;
  EXPECT_EQ(sample(a, R"(firedrill_agent_faults_in_effect{kind="network.blackhole"})"), std::nullopt) << a;
  EXPECT_EQ(sample(a, "firedrill_agent_journal_entries_owed"), 0) << a;

  auto inject = lab->cli({"inject", "-l", "rack=p1", "--fault", "blackhole", "--for", "60s", "--detach"});
  ASSERT_EQ(inject.code, 0) << inject.out;
  a = scrape_until(p1, kAgentMetrics, [](const std::string& t) {
    return sample(t, R"(firedrill_agent_faults_in_effect{kind="network.blackhole"})") == 1;
  });
  ASSERT_EQ(sample(a, R"(firedrill_agent_faults_in_effect{kind="network.blackhole"})"), 1) << a;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(a, m, std::regex(R"re(firedrill_agent_fault_lease_seconds_left\{fault_id="([^"]+)",kind="network.blackhole"\} ([0-9.e+]+))re")))
      << a;
  const std::string fault_id = m[1].str();
  double left = std::stod(m[2].str());
  EXPECT_GT(left, 30);
  EXPECT_LE(left, 120);  // --for 60s, and the lease margin the runner adds
  // Traffic to the host is dropped by the fault's rules, and counted.
  EXPECT_FALSE(lab->reachable("p1-h1"));
  const std::string dropped =
      R"(firedrill_agent_fault_packets_dropped_total{fault_id=")" + fault_id + R"(",kind="network.blackhole"})";
  a = scrape_until(p1, kAgentMetrics, [&](const std::string& t) { return sample(t, dropped).value_or(0) > 0; });
  EXPECT_GT(sample(a, dropped).value_or(0), 0) << a;
  EXPECT_GE(sample(a, "firedrill_agent_journal_entries_owed").value_or(0), 1) << a;  // the held fault is journaled
  // The other host holds nothing.
  auto other = scrape(lab->host("c1-h1"), kAgentMetrics);
  EXPECT_EQ(sample(other, R"(firedrill_agent_faults_in_effect{kind="network.blackhole"})"), std::nullopt) << other;

  c = scrape_until(lab->hub(), kControllerMetrics, [](const std::string& t) {
    return sample(t, R"(firedrill_controller_fleet_faults_in_effect{kind="network.blackhole"})") == 1;
  });
  EXPECT_EQ(sample(c, R"(firedrill_controller_fleet_faults_in_effect{kind="network.blackhole"})"), 1) << c;
  // The apply's fan-out was timed, and the inject's evidence written and timed.
  EXPECT_EQ(sample(c, R"(firedrill_controller_fanout_seconds_count{command="apply"})"), 1) << c;
  EXPECT_EQ(sample(c, R"(firedrill_controller_fanout_unanswered_total{command="apply"})"), 0) << c;
  EXPECT_EQ(sample(c, R"(firedrill_controller_fanout_seconds_count{command="halt"})"), 0) << c;
  EXPECT_GE(sample(c, "firedrill_controller_evidence_append_seconds_count").value_or(0), 3) << c;
  EXPECT_EQ(sample(c, "firedrill_controller_evidence_append_failures_total"), 0) << c;
  EXPECT_EQ(sample(c, R"(firedrill_controller_guard_refusals_total{rule="halted"})"), 0) << c;

  auto halt = lab->cli({"halt", "--reason", "metrics test"});
  ASSERT_EQ(halt.code, 0) << halt.out;
  c = scrape(lab->hub(), kControllerMetrics);
  EXPECT_EQ(sample(c, "firedrill_controller_halted"), 1) << c;
  EXPECT_EQ(sample(c, R"(firedrill_controller_fanout_seconds_count{command="halt"})"), 1) << c;
  a = scrape_until(p1, kAgentMetrics, [](const std::string& t) {
    return !sample(t, R"(firedrill_agent_faults_in_effect{kind="network.blackhole"})");
  });
  EXPECT_EQ(sample(a, R"(firedrill_agent_faults_in_effect{kind="network.blackhole"})"), std::nullopt) << a;
  EXPECT_EQ(a.find(fault_id), std::string::npos) << a;  // its series ended with it
  ASSERT_EQ(lab->cli({"release"}).code, 0);
  c = scrape(lab->hub(), kControllerMetrics);
  EXPECT_EQ(sample(c, "firedrill_controller_halted"), 0) << c;

  // A run the guard refuses is counted under the rule that refused it, and only there.
  auto refused = lab->cli({"inject", "-l", "dc", "--fault", "blackhole", "--for", "60s", "--max-hosts", "1", "--detach"});
  EXPECT_NE(refused.code, 0) << refused.out;
  c = scrape(lab->hub(), kControllerMetrics);
  EXPECT_EQ(sample(c, R"(firedrill_controller_guard_refusals_total{rule="max_hosts"})"), 1) << c << refused.out;
  EXPECT_EQ(sample(c, R"(firedrill_controller_guard_refusals_total{rule="max_percent"})"), 0) << c;
}

}  // namespace
}  // namespace firedrill::ctltest
