// Experiments end to end, as an operator runs them: a controller (`firedrill serve`)
// and two agents, each in a network namespace this test creates (fde-ops, fde-h1,
// fde-h2 on a bridge inside fde-ops, 10.204.0.0/24), a real HTTP server on each host
// and a real HAProxy in fde-ops in front of both. `firedrill run` is the real CLI; its
// exit code is the verdict:
//   - a blackhole on the only host the probe reaches fails availability (exit 1);
//   - a blackhole on one of the two hosts behind HAProxy passes (exit 0);
//   - an abort condition stops a run early (exit 2) and everything is reverted.
// Needs root with CAP_BPF and tcx; fails loudly otherwise. Everything it made is removed
// at the end, also when a test fails.
#include <gtest/gtest.h>

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

#include "common/spawn.h"
#include "tests/e2e/web_fleet.h"

namespace {

using namespace std::chrono_literals;

using firedrill::e2e::build_dir;
using firedrill::e2e::eventually;
using firedrill::e2e::sh;
using Out = firedrill::e2e::Run;

// The approvers of the approval test: uids without a user entry, so nothing on the host changes.
constexpr uid_t kKim = 61901, kLee = 61902, kMallory = 61903;

// h1 in dc1 and h2 in dc2, both role=web, round robin behind HAProxy with a retry on
// the other server: one host down costs no request once the health check saw it.
class Fleet : public firedrill::e2e::WebFleet {
 public:
  Fleet()
      : WebFleet({.suite = "the experiment e2e tests",
                  .prefix = "fde",
                  .net = "10.204.0",
                  .controller_port = 17540,
                  .web_port = 17580,
                  .front_port = 17581,
                  .haproxy_defaults = "  retries 2\n  option redispatch 1\n",
                  .haproxy_backend = "  balance roundrobin\n"
                                     "  default-server inter 300ms fastinter 200ms downinter 300ms fall 1 rise 2\n",
                  .host_tags = {{"role=web", "dc=dc1"}, {"role=web", "dc=dc2"}},
                  .log_tail = 4000,
                  // kim, lee and mallory are uids of their own: the controller knows
                  // a caller by the connection.
                  .serve_args = {"--api-mode", "0666", "--approver", "uid:" + std::to_string(kKim), "--approver",
                                 "uid:" + std::to_string(kLee), "--approver", "uid:" + std::to_string(kMallory)}}) {}
};

std::string experiment(const std::string& name, const std::string& selector, const std::string& url,
                       const std::string& duration, const std::string& extra) {
  return "name: " + name + R"(
owner: e2e
test_type: ad_hoc
targets: {selector: ")" + selector + R"("}
blast_radius: {max_hosts: 1}
steps:
  - fault: {network: {blackhole: {}}}
    duration: )" + duration + R"(
probes:
  - name: web
    http: {url: ")" + url + R"(", expect_status: [200], body_match: "hello"}
    interval: 200ms
    timeout: 1s
steady_state: {hold: 2s, timeout: 30s}
recovery: {hold: 2s, timeout: 30s}
slo:
  availability: {min: 0.9}
  failover_time: {max: 5s}
)" + extra;
}

class ExperimentE2E : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { fleet_ = new Fleet(); }
  static void TearDownTestSuite() {
    delete fleet_;
    fleet_ = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(fleet_ && fleet_->ready()) << "the test fleet is not up"; }

  // Runs `firedrill run`, and checks that afterwards nothing is left in effect.
  Out run(const std::string& file) {
    auto o = sh(fleet_->firedrill("run " + file + " --quiet"));
    std::cout << o.output;  // the operator's transcript, for the test log
    for (const char* h : {"h1", "h2"}) {
      EXPECT_EQ(fleet_->agent_status(h).find("active_faults"), std::string::npos)
          << "agent " << h << " still holds a fault:\n" << fleet_->agent_status(h);
    }
    EXPECT_TRUE(eventually([] { return fleet_->reachable("10.204.0.11:17580"); }, 5s)) << "h1 not reachable after the run";
    return o;
  }

  static Fleet* fleet_;
};

Fleet* ExperimentE2E::fleet_ = nullptr;

TEST_F(ExperimentE2E, BlackholeOnTheOnlyHostFailsAvailability) {
  auto file = fleet_->write("single.yaml", experiment("fde-single-host", "host=fde-h1", "http://10.204.0.11:17580/", "6s", ""));
  auto o = run(file);
  EXPECT_EQ(o.status, 1) << o.output << fleet_->logs();
  EXPECT_NE(o.output.find("verdict: FAILED"), std::string::npos) << o.output;
  EXPECT_NE(o.output.find("availability"), std::string::npos) << o.output;
  EXPECT_NE(o.output.find("never"), std::string::npos) << o.output;  // no failover without a second host
}

TEST_F(ExperimentE2E, BlackholeOnOneOfTwoHostsBehindHaproxyPasses) {
  auto file = fleet_->write("haproxy.yaml", experiment("fde-behind-haproxy", "host=fde-h1", "http://10.204.0.1:17581/", "6s", ""));
  auto o = run(file);
  EXPECT_EQ(o.status, 0) << o.output << fleet_->logs();
  EXPECT_NE(o.output.find("verdict: PASSED"), std::string::npos) << o.output;
  // The run is kept: `firedrill show` reads it back with its per-host fault record.
  auto id_at = o.output.find("run r-");
  ASSERT_NE(id_at, std::string::npos) << o.output;
  std::string id = o.output.substr(id_at + 4, o.output.find(' ', id_at + 4) - id_at - 4);
  auto show = sh(fleet_->firedrill("show " + id));
  EXPECT_EQ(show.status, 0) << show.output;
  EXPECT_NE(show.output.find("fde-h1"), std::string::npos) << show.output;
  EXPECT_NE(show.output.find("reverted"), std::string::npos) << show.output;
  // `firedrill runs` lists experiment runs with the ad hoc ones.
  auto runs = sh(fleet_->firedrill("runs"));
  EXPECT_NE(runs.output.find(id), std::string::npos) << runs.output;
  // Its signed evidence log renders a report that verifies.
  std::string report = fleet_->dir() + "/" + id + ".json";
  auto r = sh(fleet_->firedrill("report " + id + " --format json -o " + report));
  EXPECT_EQ(r.status, 0) << r.output;
  std::string pub = fleet_->dir() + "/controller.pub";
  auto k = sh(fleet_->firedrill("keys export -o " + pub));
  EXPECT_EQ(k.status, 0) << k.output;
  auto v = sh(build_dir() + "/controller/firedrill report verify " + report + " --key " + pub);
  EXPECT_EQ(v.status, 0) << v.output;
}

TEST_F(ExperimentE2E, ApprovalsFromTheCommandLine) {
  const std::string kim = "uid:" + std::to_string(kKim), lee = "uid:" + std::to_string(kLee),
                    mallory = "uid:" + std::to_string(kMallory);
  auto file = fleet_->write("approve.yaml", experiment("fde-approvals", "host=fde-h1", "http://10.204.0.1:17581/", "2s",
                                                       "approvals: {required: 2, approvers: [" + kim + ", " + lee + "]}\n"));
  auto start = sh(fleet_->firedrill("run " + file + " --detach"));
  ASSERT_EQ(start.status, 0) << start.output;
  std::string id = start.output.substr(4, start.output.find(' ', 4) - 4);
  auto first = sh(fleet_->firedrill_as(kKim, "approve " + id + " --comment 'change CHG-1'"));
  EXPECT_EQ(first.status, 0) << first.output;
  EXPECT_NE(first.output.find("(1 of 2)"), std::string::npos) << first.output;
  auto again = sh(fleet_->firedrill_as(kKim, "approve " + id));
  EXPECT_EQ(again.status, 1);
  EXPECT_NE(again.output.find("approvals must come from distinct people"), std::string::npos) << again.output;
  auto stranger = sh(fleet_->firedrill_as(kMallory, "approve " + id));
  EXPECT_EQ(stranger.status, 1);
  EXPECT_NE(stranger.output.find(mallory + " may not approve this run"), std::string::npos) << stranger.output;
  // Nothing was injected while it waited.
  EXPECT_EQ(fleet_->agent_status("h1").find("active_faults"), std::string::npos);
  EXPECT_EQ(sh(fleet_->firedrill_as(kLee, "approve " + id)).status, 0);
  bool done = eventually([&] { return sh(fleet_->firedrill("show " + id)).status == 0; }, 60s);
  auto show = sh(fleet_->firedrill("show " + id));
  EXPECT_TRUE(done) << show.output;
  EXPECT_NE(show.output.find("approved    by " + kim), std::string::npos) << show.output;
  EXPECT_NE(show.output.find("change CHG-1"), std::string::npos) << show.output;
  EXPECT_NE(show.output.find("approved    by " + lee), std::string::npos) << show.output;
  EXPECT_NE(show.output.find("verdict: PASSED"), std::string::npos) << show.output;
}

TEST_F(ExperimentE2E, CtrlCAbortsTheRunAndRevertsIt) {
  auto file = fleet_->write("ctrlc.yaml", experiment("fde-ctrl-c", "host=fde-h1", "http://10.204.0.1:17581/", "2m", ""));
  std::string log = fleet_->dir() + "/ctrlc.out";
  firedrill::SpawnOptions o;
  o.argv = {build_dir() + "/controller/firedrill", "run", file, "--quiet", "--api", fleet_->api()};
  o.output_file = log;
  auto started = firedrill::start(o);
  ASSERT_TRUE(started.ok()) << started.error().describe();
  pid_t pid = *started;
  // Interrupt once the fault is on.
  bool faulted = eventually([] { return fleet_->agent_status("h1").find("active_faults") != std::string::npos; }, 30s);
  EXPECT_TRUE(faulted);
  ::kill(pid, SIGINT);
  int status = 0;
  bool exited = eventually([&] { return ::waitpid(pid, &status, WNOHANG) == pid; }, 30s);
  if (!exited) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
  }
  std::ifstream in(log);
  std::stringstream out;
  out << in.rdbuf();
  EXPECT_TRUE(exited) << out.str();
  EXPECT_EQ(WIFEXITED(status) ? WEXITSTATUS(status) : -1, 2) << out.str();
  EXPECT_NE(out.str().find("verdict: ABORTED - interrupted from the terminal"), std::string::npos) << out.str();
  EXPECT_EQ(fleet_->agent_status("h1").find("active_faults"), std::string::npos) << fleet_->agent_status("h1");
}

TEST_F(ExperimentE2E, SchedulesFromTheCommandLine) {
  auto file = fleet_->write("sched.yaml", experiment("fde-scheduled", "host=fde-h1", "http://10.204.0.1:17581/", "2s",
                                                     "schedule: {cron: \"0 3 * * mon\", time_zone: Asia/Seoul, "
                                                     "blackout_dates: [\"2026-12-28\"]}\n"));
  auto add = sh(fleet_->firedrill("schedule add " + file));
  ASSERT_EQ(add.status, 0) << add.output;
  std::string id = add.output.substr(9, add.output.find(' ', 9) - 9);
  auto list = sh(fleet_->firedrill("schedule list"));
  EXPECT_NE(list.output.find(id), std::string::npos) << list.output;
  EXPECT_NE(list.output.find("Asia/Seoul"), std::string::npos) << list.output;
  EXPECT_NE(list.output.find("active"), std::string::npos) << list.output;
  auto pause = sh(fleet_->firedrill("schedule pause " + id));
  EXPECT_EQ(pause.status, 0) << pause.output;
  EXPECT_NE(pause.output.find("paused"), std::string::npos) << pause.output;
  EXPECT_EQ(sh(fleet_->firedrill("schedule resume " + id)).status, 0);
  EXPECT_EQ(sh(fleet_->firedrill("schedule remove " + id)).status, 0);
  EXPECT_EQ(sh(fleet_->firedrill("schedule list")).output.find(id), std::string::npos);
  auto none = sh(fleet_->firedrill("schedule add " + fleet_->write("nosched.yaml",
      experiment("fde-unscheduled", "host=fde-h1", "http://10.204.0.1:17581/", "2s", ""))));
  EXPECT_NE(none.status, 0);
  EXPECT_NE(none.output.find("has no schedule"), std::string::npos) << none.output;
}

TEST_F(ExperimentE2E, AbortConditionStopsTheRunEarlyAndRevertsEverything) {
  auto file = fleet_->write("abort.yaml", experiment("fde-abort", "host=fde-h1", "http://10.204.0.11:17580/", "2m",
                                                     "abort: {unavailability_over: 2s}\n"));
  auto t0 = std::chrono::steady_clock::now();
  auto o = run(file);
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(o.status, 2) << o.output << fleet_->logs();
  EXPECT_NE(o.output.find("verdict: ABORTED"), std::string::npos) << o.output;
  EXPECT_NE(o.output.find("abort.unavailability_over 2s"), std::string::npos) << o.output;
  EXPECT_LT(took, 60s);  // far before the fault's 2 minutes
}

TEST_F(ExperimentE2E, AnInvalidFileIsRefusedWithEveryError) {
  auto file = fleet_->write("bad.yaml", "name: bad\ntargets: {selector: \"\"}\nsteps: [{fault: {power_loss: {}}, duration: 5 min}]\n");
  auto o = sh(fleet_->firedrill("run " + file));
  EXPECT_EQ(o.status, 2);
  EXPECT_NE(o.output.find("bad.yaml:2:21: targets.selector: empty selector"), std::string::npos) << o.output;
  EXPECT_NE(o.output.find("steps[0].duration: bad duration '5 min'"), std::string::npos) << o.output;
}

}  // namespace
