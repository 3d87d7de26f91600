// Evidence from a real run, as an auditor receives it: a controller (`firedrill serve`)
// and two agents in network namespaces this test creates (fdv-ops, fdv-h1 in
// dc=pangyo, fdv-h2 in dc=chuncheon, on a bridge in fdv-ops, 10.207.0.0/24), a real
// HTTP server on each host and a real HAProxy in fdv-ops in front of both. A game day
// run through the real CLI (approval, participants given at run time, a data probe),
// a finding recorded afterwards, then `firedrill report` in JSON and HTML: both verify
// against the exported key, and the report holds every section with content.
// Needs root with CAP_BPF and tcx; fails loudly otherwise. Everything it made is
// removed at the end, also when a test fails.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "controller/evidence/report_model.h"
#include "tests/e2e/web_fleet.h"

namespace firedrill::evidence {
namespace {

using namespace std::chrono_literals;

using e2e::build_dir;
using e2e::eventually;
using e2e::sh;

// h1 in dc=pangyo, h2 in dc=chuncheon. `balance first` sends every request to h1 while
// HAProxy thinks it is up, and no retries: the probe sees the outage until the health
// check marks h1 down, then sustained success through h2 (the failover this drill
// measures).
// The head of SRE approves as a uid of their own (no user entry): the controller knows
// a caller by the connection.
constexpr uid_t kHeadOfSre = 61910;

class Fleet : public e2e::WebFleet {
 public:
  Fleet()
      : WebFleet({.suite = "the evidence e2e test",
                  .prefix = "fdv",
                  .net = "10.207.0",
                  .controller_port = 17740,
                  .web_port = 17780,
                  .front_port = 17781,
                  .haproxy_defaults = "  retries 0\n",
                  .haproxy_backend = "  balance first\n"
                                     "  default-server inter 300ms fastinter 200ms downinter 300ms fall 2 rise 2\n",
                  .host_tags = {{"dc=pangyo", "rack=r1"}, {"dc=chuncheon", "rack=r2"}},
                  .log_tail = 3000,
                  .serve_args = {"--api-mode", "0666", "--approver", "uid:" + std::to_string(kHeadOfSre)}}) {}
};

std::string game_day(const std::string& dir) {
  return R"(name: fdv-web-site-loss
version: "2"
description: Every host of dc=pangyo drops off the network; the web tier must keep answering from chuncheon.
hypothesis: HAProxy takes the pangyo backend out within 5 s and no acknowledged marker is lost.
owner: web-sre
test_type: game_day
environment: lab
targets: {selector: "dc=pangyo"}
blast_radius:
  max_domains: {key: dc, count: 1}
  keep_untouched: {key: dc, min: 1}
steps:
  - name: pangyo off the network
    fault: {network: {blackhole: {}}}
    duration: 8s
probes:
  - name: web
    http: {url: "http://10.207.0.1:17781/", expect_status: [200], body_match: "hello"}
    interval: 100ms
    timeout: 1s
  - name: markers
    data:
      write: [sh, -c, "echo {marker} >> )" + dir + R"(/markers"]
      read: [cat, )" + dir + R"(/markers]
    interval: 250ms
steady_state: {hold: 2s, timeout: 30s}
recovery: {hold: 2s, timeout: 30s}
slo:
  availability: {min: 0.8, probes: [web]}
  failover_time: {max: 5s, consecutive: 3, probes: [web]}
  recovery_time: {max: 10s, probes: [web]}
  data_loss: {max_markers: 0, probes: [markers]}
approvals: {required: 1}
report: {user_notice_threshold: 2h}
)";
}

TEST(EvidenceE2E, AGameDayOnRealAgentsMakesAVerifiedCompleteReport) {
  Fleet fleet;
  ASSERT_TRUE(fleet.ready()) << "the test fleet is not up";
  std::string file = fleet.dir() + "/game-day.yaml";
  std::ofstream(file) << game_day(fleet.dir());

  auto start = sh(fleet.firedrill("run " + file + " --detach --participant kim:observer "
                                  "--participant 'lee:incident commander'"));
  ASSERT_EQ(start.status, 0) << start.output;
  ASSERT_EQ(start.output.rfind("run ", 0), 0u) << start.output;
  std::string id = start.output.substr(4, start.output.find_first_of(" \n", 4) - 4);
  auto approve = sh(fleet.firedrill_as(kHeadOfSre, "approve " + id + " --comment 'game day GD-7'"));
  ASSERT_EQ(approve.status, 0) << approve.output;
  bool done = eventually(
      [&] {
        auto out = sh(fleet.firedrill("show " + id)).output;
        for (const char* v : {"verdict: PASSED", "verdict: FAILED", "verdict: ABORTED", "verdict: REFUSED"}) {
          if (out.find(v) != std::string::npos) return true;
        }
        return false;
      },
      120s);
  auto show = sh(fleet.firedrill("show " + id));
  ASSERT_TRUE(done) << show.output << fleet.logs();
  std::cout << show.output;
  ASSERT_NE(show.output.find("verdict: PASSED"), std::string::npos) << show.output << fleet.logs();

  // A finding after the run: its own signed record; the run's log is unchanged.
  auto finding = sh(fleet.firedrill("finding add " + id + " --severity low --owner web-team --due 2026-12-31 "
                                  "--title 'first requests after the cut waited for a connect timeout'"));
  ASSERT_EQ(finding.status, 0) << finding.output;
  EXPECT_THAT(finding.output, ::testing::HasSubstr("F-0001"));

  std::string json = fleet.dir() + "/report.json", html = fleet.dir() + "/report.html", pub = fleet.dir() + "/pub.pem";
  ASSERT_EQ(sh(fleet.firedrill("keys export -o " + pub)).status, 0);
  for (auto [format, path] : {std::pair{"json", json}, {"html", html}}) {
    auto r = sh(fleet.firedrill("report " + id + " --format " + format + " -o " + path));
    ASSERT_EQ(r.status, 0) << r.output;
    auto v = sh(build_dir() + "/controller/firedrill report verify " + path + " --key " + pub);
    EXPECT_EQ(v.status, 0) << v.output;
    EXPECT_THAT(v.output, ::testing::HasSubstr("VERIFIED"));
    auto py = sh("scripts/verify-evidence.py " + path + " --key " + pub);
    EXPECT_EQ(py.status, 0) << py.output;
    // Without the controller's key a report is never VERIFIED: exit 3, both verifiers.
    auto unpinned = sh(build_dir() + "/controller/firedrill report verify " + path);
    EXPECT_EQ(unpinned.status, 3) << unpinned.output;
    EXPECT_EQ(sh("scripts/verify-evidence.py " + path).status, 3);
  }

  // Every section of the report has content, from the real run's log alone.
  std::ifstream in(json);
  Json doc = Json::parse(in);
  auto model = build_model(doc["evidence"]);
  ASSERT_TRUE(model) << model.error().message;
  auto missing = missing_sections(*model);
  EXPECT_TRUE(missing.empty()) << "missing: " << ::testing::PrintToString(missing);
  const auto& m = *model;
  EXPECT_EQ(m.summary.verdict, "pass");
  EXPECT_EQ(m.identity.run_id, id);
  ASSERT_EQ(m.scope.hosts.size(), 1u);
  EXPECT_EQ(m.scope.hosts[0].host, "fdv-h1");
  EXPECT_EQ(m.scope.hosts[0].dc, "pangyo");
  ASSERT_EQ(m.people.approvals.size(), 1u);
  EXPECT_EQ(m.people.approvals[0].approver, "uid:" + std::to_string(kHeadOfSre));
  EXPECT_GE(m.people.participants.size(), 2u);
  ASSERT_EQ(m.timeline.hosts.size(), 1u);
  EXPECT_FALSE(m.timeline.hosts[0].applied_at.empty());
  EXPECT_FALSE(m.timeline.hosts[0].reverted_at.empty());
  EXPECT_GE(m.timeline.milestones.failover_ms, 0);
  EXPECT_LE(m.timeline.milestones.failover_ms, 5000);
  EXPECT_EQ(m.results.data_lost_markers, 0);
  EXPECT_GT(m.results.data[0].acknowledged, 10);
  for (auto& c : m.compliance) EXPECT_EQ(c.status, "evidenced") << c.framework << " " << c.clause;
  std::cout << "report: " << m.integrity.events << " events, head " << m.integrity.head << ", failover "
            << m.timeline.milestones.failover_ms << " ms, " << m.probes.at(0).total << " web samples\n";

  // The run is over: nothing is left on the agents.
  for (const char* h : {"h1", "h2"}) {
    auto st = sh(build_dir() + "/agent/firedrill-agent ctl --socket " + fleet.dir() + "/agent-" + h + ".sock status");
    EXPECT_EQ(st.output.find("active_faults"), std::string::npos) << h << ": " << st.output;
  }
}

}  // namespace
}  // namespace firedrill::evidence
