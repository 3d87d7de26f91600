// The controller with real agents in namespaces this test creates (root): register,
// plan, inject a blackhole on a selector (a run like an experiment's), traffic drops
// only on the selected hosts, revert; halt and release; SIGKILL of the controller
// during a fault (every agent reverts within lease grace + 1 s) and the restart that
// ends an inject and an experiment through the one recovery, with signed evidence.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>

#include "agent/journal/journal.h"
#include "tests/integration/ctl/ctl_lab.h"

namespace firedrill::ctltest {
namespace {

using Clock = std::chrono::steady_clock;

std::vector<HostSpec> three_hosts() {
  return {{"p1-h1", {{"dc", "pangyo"}, {"rack", "p1"}}},
          {"p2-h1", {{"dc", "pangyo"}, {"rack", "p2"}, {"role", "db"}}},
          {"c1-h1", {{"dc", "chuncheon"}, {"rack", "c1"}}}};
}

std::string run_id_of(const std::string& out) {
  std::smatch m;
  std::regex re(R"(run (r-[0-9T]+-[0-9a-f]+))");
  return std::regex_search(out, m, re) ? m[1].str() : "";
}

class CtlFleet : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::geteuid(), 0u) << "the controller integration suite needs root (namespaces, BPF)";
  }
  void TearDown() override {
    if (HasFailure() && lab) {
      std::cerr << "--- controller log\n" << lab->controller().log();
      for (auto& id : lab->ids()) std::cerr << "--- agent " << id << " log\n" << lab->agent(id).log();
    }
    lab.reset();
  }
  void up(std::string grace = "2s", std::vector<std::string> extra = {}) {
    lab = std::make_unique<Lab>(three_hosts(), grace);
    lab->start_controller(extra);
    lab->start_agents();
  }
  std::unique_ptr<Lab> lab;
};

TEST_F(CtlFleet, RegisterPlanInjectBlackholeOnSelectorRevert) {
  up();
  auto agents = lab->cli({"agents"});
  ASSERT_EQ(agents.code, 0) << agents.out;
  EXPECT_NE(agents.out.find("3 agent(s), 3 live"), std::string::npos) << agents.out;
  EXPECT_NE(agents.out.find("dc=pangyo,rack=p2,role=db"), std::string::npos) << agents.out;
  EXPECT_NE(agents.out.find("network.blackhole"), std::string::npos) << agents.out;
  auto only = lab->cli({"agents", "-l", "rack in (p1,c1)"});
  EXPECT_NE(only.out.find("2 agent(s), 2 live"), std::string::npos) << only.out;

  // A malformed selector is an error with its position.
  auto bad = lab->cli({"plan", "-l", "rack in (p1"});
  EXPECT_EQ(bad.code, 2) << bad.out;
  EXPECT_NE(bad.out.find("at position 12: expected ',' or ')'"), std::string::npos) << bad.out;

  auto plan = lab->cli({"plan", "-l", "dc=pangyo", "--fault", "blackhole"});
  ASSERT_EQ(plan.code, 0) << plan.out;
  EXPECT_NE(plan.out.find("matches 2 of 3 live host(s)"), std::string::npos) << plan.out;
  EXPECT_NE(plan.out.find("p1-h1, p2-h1"), std::string::npos) << plan.out;
  EXPECT_NE(plan.out.find("guard: allowed"), std::string::npos) << plan.out;

  auto refused = lab->cli({"plan", "-l", "dc=pangyo", "--max-hosts", "1", "--protect", "role=db"});
  EXPECT_EQ(refused.code, 1) << refused.out;
  EXPECT_NE(refused.out.find("rule max_hosts (limit: 1 hosts)"), std::string::npos) << refused.out;
  EXPECT_NE(refused.out.find("rule protected"), std::string::npos) << refused.out;
  EXPECT_NE(refused.out.find("hosts: p2-h1"), std::string::npos) << refused.out;

  for (auto& id : lab->ids()) ASSERT_TRUE(lab->reachable(id, 1s)) << id << " before the fault";

  auto inject = lab->cli({"inject", "-l", "dc=pangyo", "--fault", "blackhole", "--for", "60s", "--in", "500ms",
                          "--description", "integration", "--detach"});
  ASSERT_EQ(inject.code, 0) << inject.out;
  std::string run = run_id_of(inject.out);
  ASSERT_FALSE(run.empty()) << inject.out;
  EXPECT_NE(inject.out.find("effect spread"), std::string::npos) << inject.out;

  EXPECT_FALSE(lab->reachable("p1-h1")) << "selected host p1-h1 still reachable";
  EXPECT_FALSE(lab->reachable("p2-h1")) << "selected host p2-h1 still reachable";
  EXPECT_TRUE(lab->reachable("c1-h1", 1s)) << "unselected host c1-h1 cut off";

  // The control channel lives through the blackhole (the controller's address is on
  // the allow list): after several lease renewals every agent is still live.
  std::this_thread::sleep_for(3s);
  EXPECT_TRUE(lab->wait_live(3, 2s)) << lab->cli({"agents"}).out;
  EXPECT_FALSE(lab->reachable("p1-h1")) << "fault lifted early";

  auto show = lab->cli({"runs", run});
  EXPECT_NE(show.out.find("active"), std::string::npos) << show.out;
  EXPECT_NE(show.out.find(" inject "), std::string::npos) << show.out;

  auto revert = lab->cli({"revert", run});
  ASSERT_EQ(revert.code, 0) << revert.out;
  for (auto& id : lab->ids()) EXPECT_TRUE(lab->reachable(id, 1s)) << id << " after revert";
  show = lab->cli({"runs", run});
  EXPECT_NE(show.out.find("aborted"), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("reverted by"), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("p1-h1"), std::string::npos) << show.out;

  // The run has signed evidence like any experiment's.
  auto report = lab->cli({"report", run, "--format", "json", "-o", lab->dir() + "/inject.json"});
  ASSERT_EQ(report.code, 0) << report.out;
  auto key = lab->cli({"keys", "export", "-o", lab->dir() + "/controller.pub"});
  ASSERT_EQ(key.code, 0) << key.out;
  auto verify = exec({firedrill_binary(), "report", "verify", lab->dir() + "/inject.json", "--key",
                      lab->dir() + "/controller.pub"});
  EXPECT_EQ(verify.code, 0) << verify.out;
}

TEST_F(CtlFleet, HaltRevertsEverythingAndRefusesRunsUntilRelease) {
  up();
  auto inject = lab->cli({"inject", "-l", "rack in (p1,c1)", "--fault", "blackhole", "--for", "60s", "--detach"});
  ASSERT_EQ(inject.code, 0) << inject.out;
  std::string run = run_id_of(inject.out);
  EXPECT_FALSE(lab->reachable("p1-h1"));
  EXPECT_FALSE(lab->reachable("c1-h1"));

  auto halt = lab->cli({"halt", "--reason", "integration halt"});
  ASSERT_EQ(halt.code, 0) << halt.out;
  EXPECT_NE(halt.out.find("3 of 3 agent(s) confirmed"), std::string::npos) << halt.out;
  EXPECT_NE(halt.out.find("aborted runs: " + run), std::string::npos) << halt.out;
  for (auto& id : lab->ids()) EXPECT_TRUE(lab->reachable(id, 1s)) << id << " after halt";

  auto blocked = lab->cli({"inject", "-l", "rack=p2", "--fault", "blackhole", "--for", "10s", "--detach"});
  EXPECT_EQ(blocked.code, 1) << blocked.out;
  EXPECT_NE(blocked.out.find("the fleet is halted (integration halt)"), std::string::npos) << blocked.out;
  EXPECT_TRUE(lab->reachable("p2-h1", 1s));
  auto agents = lab->cli({"agents"});
  EXPECT_NE(agents.out.find("FLEET HALTED"), std::string::npos) << agents.out;
  auto runs = lab->cli({"runs", run});
  EXPECT_NE(runs.out.find("aborted"), std::string::npos) << runs.out;

  auto release = lab->cli({"release"});
  ASSERT_EQ(release.code, 0) << release.out;
  EXPECT_NE(release.out.find("released"), std::string::npos) << release.out;
  auto again = lab->cli({"inject", "-l", "rack=p2", "--fault", "blackhole", "--for", "10s", "--detach"});
  EXPECT_EQ(again.code, 0) << again.out;
  EXPECT_FALSE(lab->reachable("p2-h1"));
}

TEST_F(CtlFleet, ControllerKilledAgentsRevertWithinGraceRestartRecordsAborted) {
  const auto grace = 2s;
  up("2s");
  auto inject = lab->cli({"inject", "-l", "", "--fault", "blackhole", "--for", "120s", "--detach"});
  ASSERT_EQ(inject.code, 0) << inject.out;
  std::string run = run_id_of(inject.out);
  ASSERT_FALSE(run.empty());
  for (auto& id : lab->ids()) ASSERT_FALSE(lab->reachable(id)) << id;

  auto killed = Clock::now();
  lab->kill_controller();
  // Probe every host until it answers again: each must within grace + 1 s.
  std::map<std::string, Clock::duration> restored;
  while (restored.size() < 3 && Clock::now() - killed < grace + 5s) {
    for (auto& id : lab->ids()) {
      if (!restored.count(id) && lab->reachable(id, 100ms)) restored[id] = Clock::now() - killed;
    }
  }
  for (auto& id : lab->ids()) {
    ASSERT_TRUE(restored.count(id)) << id << " never reverted after the controller died";
    EXPECT_LE(restored[id], grace + 1s) << id << " reverted "
                                        << std::chrono::duration_cast<std::chrono::milliseconds>(restored[id]).count()
                                        << " ms after the controller died";
    EXPECT_TRUE(lab->agent(id).wait_log("DEAD-MAN SWITCH", 1s)) << id;
    std::cout << id << ": traffic restored "
              << std::chrono::duration_cast<std::chrono::milliseconds>(restored[id]).count()
              << " ms after SIGKILL of the controller (lease grace 2000 ms)\n";
  }

  lab->start_controller();
  EXPECT_TRUE(lab->controller().wait_log("1 run(s) from before the restart recorded aborted", 2s))
      << lab->controller().log();
  auto runs = lab->cli({"runs", run});
  ASSERT_EQ(runs.code, 0) << runs.out;
  EXPECT_NE(runs.out.find("aborted"), std::string::npos) << runs.out;
  EXPECT_NE(runs.out.find("the controller restarted while the run was in observe"), std::string::npos) << runs.out;
  // The agents come back and tell what they reverted while it was away.
  ASSERT_TRUE(lab->wait_live(3, 20s));
  for (auto& id : lab->ids()) {
    EXPECT_TRUE(lab->controller().wait_log("agent " + id + " reverted " + run + ".0 on its own while away: REVERT_LEASE_LOST", 5s))
        << id;
  }
}

TEST_F(CtlFleet, RestartedControllerEndsAnInjectAndAnExperimentThroughOneRecovery) {
  // A long grace: the agents still hold the faults when the controller is back.
  up("30s");
  auto inject = lab->cli({"inject", "-l", "rack=p1", "--fault", "blackhole", "--for", "120s", "--detach"});
  ASSERT_EQ(inject.code, 0) << inject.out;
  std::string adhoc = run_id_of(inject.out);
  ASSERT_FALSE(adhoc.empty()) << inject.out;
  {
    std::ofstream f(lab->dir() + "/restart.yaml");
    f << "name: ctl-restart\ntargets: {selector: \"rack=p2\"}\n"
         "steps: [{fault: {network: {blackhole: {}}}, duration: 120s}]\n";
  }
  auto started = lab->cli({"run", lab->dir() + "/restart.yaml", "--detach"});
  ASSERT_EQ(started.code, 0) << started.out;
  std::string experiment = run_id_of(started.out);
  ASSERT_FALSE(experiment.empty()) << started.out;
  // Until the experiment's fault is in effect.
  auto deadline = Clock::now() + 20s;
  while (Clock::now() < deadline && lab->reachable("p2-h1", 200ms)) {
  }
  ASSERT_FALSE(lab->reachable("p1-h1"));
  ASSERT_FALSE(lab->reachable("p2-h1")) << lab->cli({"show", experiment}).out;
  EXPECT_TRUE(lab->reachable("c1-h1", 1s));

  lab->kill_controller();
  lab->start_controller();
  EXPECT_TRUE(lab->controller().wait_log("2 run(s) from before the restart recorded aborted", 10s))
      << lab->controller().log();
  // Each agent reconnects holding a fault of a run that is now aborted: reverted.
  deadline = Clock::now() + 15s;
  while (Clock::now() < deadline && !(lab->reachable("p1-h1", 200ms) && lab->reachable("p2-h1", 200ms))) {
  }
  EXPECT_TRUE(lab->reachable("p1-h1", 1s)) << "fault of the aborted inject still in effect";
  EXPECT_TRUE(lab->reachable("p2-h1", 1s)) << "fault of the aborted experiment still in effect";
  EXPECT_TRUE(lab->controller().wait_log("agent p1-h1 holds " + adhoc + ".0 of run " + adhoc, 5s));
  EXPECT_TRUE(lab->controller().wait_log("agent p2-h1 holds " + experiment + ".0 of run " + experiment, 5s));
  auto runs = lab->cli({"runs"});
  for (const auto& [id, kind] : {std::pair{adhoc, std::string("inject")}, std::pair{experiment, std::string("experiment")}}) {
    auto one = lab->cli({"runs", id});
    ASSERT_EQ(one.code, 0) << one.out;
    EXPECT_NE(one.out.find(id + " " ), std::string::npos) << one.out;
    EXPECT_NE(one.out.find(kind), std::string::npos) << one.out;
    EXPECT_NE(one.out.find("aborted"), std::string::npos) << one.out;
    EXPECT_NE(one.out.find("the controller restarted while the run was in observe"), std::string::npos) << one.out;
    EXPECT_NE(runs.out.find(id), std::string::npos) << runs.out;
    // The evidence says so too, and verifies.
    std::string file = lab->dir() + "/" + id + ".json";
    auto report = lab->cli({"report", id, "--format", "json", "-o", file});
    ASSERT_EQ(report.code, 0) << report.out;
    std::ifstream in(file);
    std::string json((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_NE(json.find("the controller restarted while the run was in observe"), std::string::npos) << id;
    auto key = lab->cli({"keys", "export", "-o", lab->dir() + "/controller.pub"});
    ASSERT_EQ(key.code, 0) << key.out;
    auto verify = exec({firedrill_binary(), "report", "verify", file, "--key", lab->dir() + "/controller.pub"});
    EXPECT_EQ(verify.code, 0) << verify.out;
  }
}

TEST_F(CtlFleet, AgentTellsTheControllerWhatItsJournalFinishedAtStart) {
  up("5s");
  // An agent killed while it owed a thaw (its cgroup gone since): the next start
  // finishes the entry and the controller hears of it in the Hello.
  lab->agent("p1-h1").kill9();
  {
    auto journal = agent::journal::Journal::open(lab->agent_state_dir("p1-h1"));
    ASSERT_TRUE(journal) << journal.error().describe();
    ASSERT_TRUE((*journal)->begin({"r-19700101T000000-0.1", agent::journal::kThawCgroup,
                                   lab->dir() + "/no-such-cgroup", "frozen by a killed agent", {}}));
  }
  lab->start_agent("p1-h1");
  EXPECT_TRUE(lab->agent("p1-h1").wait_log("recovered fault r-19700101T000000-0.1 from journal", 10s))
      << lab->agent("p1-h1").log();
  EXPECT_TRUE(lab->controller().wait_log(
      "agent p1-h1 reverted r-19700101T000000-0.1 on its own while away: REVERT_RECOVERED", 15s));
  ASSERT_TRUE(lab->wait_live(3, 20s));
}

}  // namespace
}  // namespace firedrill::ctltest
