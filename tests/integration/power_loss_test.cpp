// Power loss on a host made of a network namespace (the "host") wired by a veth to a
// peer namespace (the rest of the network and the controller's side), a workload
// cgroup with a real supervised TCP server, and the real agent binary inside the host
// namespace, driven with `firedrill-agent ctl`. Needs root.
#include "tests/integration/power_lab.h"

namespace {

using namespace std::chrono_literals;
using fdp::Agent;
using fdp::Child;
using fdp::Netns;
using fdp::TempDir;
using fdp::TestCgroup;
using fdp::PowerLab;
using fdp::counter_value;
using fdp::expect_host_is_back;
using fdp::expect_host_is_dark;

TEST(PowerLoss, HostGoesDarkAndBootsAgainWhenTheLeaseEnds) {
  ASSERT_EQ(::geteuid(), 0u) << "the power-loss suite needs root";
  PowerLab lab(31);
  ASSERT_TRUE(fdp::eventually([&] { return lab.service_up(); }, 10s));
  ASSERT_TRUE(lab.infra_reachable() && lab.mgmt_reachable() && lab.other_reachable() && lab.ping_ok());
  Agent agent(lab.agent_options());

  auto r = agent.apply("pl", "6s", "power_loss {}");
  ASSERT_EQ(r.code, 0) << r.out << agent.log();
  expect_host_is_dark(lab, agent);
  EXPECT_EQ(lab.booted(), 0u);

  ASSERT_TRUE(agent.wait_log("reverted: REVERT_EXPIRED", 15s)) << agent.log();
  EXPECT_TRUE(agent.wait_log("power loss pl: power restored, 1/1 boot hook(s) succeeded", 10s)) << agent.log();
  expect_host_is_back(lab);
}

TEST(PowerLoss, AgentKilledMidwayIsFinishedByTheNextStart) {
  ASSERT_EQ(::geteuid(), 0u) << "the power-loss suite needs root";
  PowerLab lab(32);
  ASSERT_TRUE(fdp::eventually([&] { return lab.service_up(); }, 10s));
  {
    Agent first(lab.agent_options());
    auto r = first.apply("pl", "10m", "power_loss {}");
    ASSERT_EQ(r.code, 0) << r.out << first.log();
    expect_host_is_dark(lab, first);
    first.kill9();
  }
  // The kernel dropped the agent's links: traffic flows; but nothing booted the
  // services again, and the journal still owes it.
  EXPECT_TRUE(fdp::eventually([&] { return lab.infra_reachable(); }, 5s));
  EXPECT_TRUE(lab.workload_procs().empty());
  EXPECT_FALSE(lab.service_up());
  EXPECT_EQ(lab.booted(), 0u);
  EXPECT_GT(std::filesystem::file_size(lab.state + "/journal"), 0u);

  Agent second(lab.agent_options());
  EXPECT_TRUE(second.wait_log("recovered fault pl from journal: boot hooks queued", 5s)) << second.log();
  EXPECT_NE(second.log().find("reason: REVERT_RECOVERED"), std::string::npos) << second.log();
  EXPECT_TRUE(second.wait_log("power loss pl: power restored, 1/1 boot hook(s) succeeded", 10s)) << second.log();
  expect_host_is_back(lab);
  auto status = second.ctl({"status"});
  EXPECT_EQ(status.out.find("active_faults"), std::string::npos) << status.out;
}

// Issue 13: with a freeze and a power loss on the same workload, a restarted agent ran
// the boot hooks into the still-frozen cgroup (they hung until --boot-hook-timeout and
// the entry was closed as booted), and had no control socket meanwhile.
TEST(PowerLoss, RecoveryThawsBeforeItBootsAndCtlAnswersMeanwhile) {
  ASSERT_EQ(::geteuid(), 0u);
  PowerLab lab(34);
  ASSERT_TRUE(fdp::eventually([&] { return lab.service_up(); }, 10s));
  {
    Agent first(lab.agent_options());
    auto r = first.apply("fz", "10m", "process { freeze { cgroups: \"" + lab.cg.rel() + "/workload\" } }");
    ASSERT_EQ(r.code, 0) << r.out << first.log();
    r = first.apply("pl", "10m", "power_loss {}");
    ASSERT_EQ(r.code, 0) << r.out << first.log();
    EXPECT_TRUE(fdp::eventually([&] { return lab.workload_procs().empty(); }, 5s));
    first.kill9();
  }
  EXPECT_EQ(fdp::read_file(lab.workload + "/cgroup.freeze").substr(0, 1), "1") << "the dead agent left it frozen";
  // A boot that takes a while: ctl must answer before it is done.
  std::string slow = "sleep 2; " + lab.hook;
  auto o = lab.agent_options({"--boot-hook-timeout", "20s"});
  o.args[std::find(o.args.begin(), o.args.end(), "--boot-hook") - o.args.begin() + 1] = slow;
  auto started = std::chrono::steady_clock::now();
  Agent second(o);
  auto status = second.ctl({"status"});
  auto answered = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(status.code, 0) << status.out;
  EXPECT_EQ(lab.booted(), 0u) << "ctl answered only after the boot";
  EXPECT_LT(answered, 1900ms) << "ctl waited for the boot hooks";
  EXPECT_TRUE(second.wait_log("power loss pl: power restored, 1/1 boot hook(s) succeeded", 15s)) << second.log();
  EXPECT_EQ(second.log().find("still ran after"), std::string::npos) << "a hook hung in the frozen cgroup:\n"
                                                                      << second.log();
  EXPECT_EQ(fdp::read_file(lab.workload + "/cgroup.freeze").substr(0, 1), "0");
  expect_host_is_back(lab);
}

// Staged: the agent sets the power loss up ahead of not_before (journal, the network
// cut started by the kernel's clock) and the host goes dark at not_before, not before;
// the applied event carries when each part took effect and the clock's sync state.
TEST(PowerLoss, AStagedPowerLossStartsAtNotBeforeAndReportsItsParts) {
  ASSERT_EQ(::geteuid(), 0u);
  PowerLab lab(36);
  ASSERT_TRUE(fdp::eventually([&] { return lab.service_up(); }, 10s));
  Agent agent(lab.agent_options());
  auto r = agent.ctl({"apply", "--id", "pl", "--for", "6s", "--in", "2s", "--spec", "power_loss {}"});
  ASSERT_EQ(r.code, 0) << r.out << agent.log();
  EXPECT_TRUE(lab.service_up()) << "dark before not_before";
  EXPECT_TRUE(lab.infra_reachable()) << "the staged cut dropped before not_before";
  EXPECT_TRUE(fdp::eventually([&] { return lab.workload_procs().empty(); }, 5s));
  EXPECT_FALSE(lab.infra_reachable());
  ASSERT_TRUE(agent.wait_log("applied at not_before", 2s)) << agent.log();
  EXPECT_TRUE(agent.wait_log("part: \"network cut\"", 2s)) << agent.log();
  auto log = agent.log();
  EXPECT_NE(log.find("part: \"kill\""), std::string::npos) << log;
  EXPECT_NE(log.find("part: \"freeze\""), std::string::npos) << log;
  EXPECT_NE(log.find("clock {"), std::string::npos) << log;
  ASSERT_TRUE(agent.wait_log("reverted: REVERT_EXPIRED", 15s)) << agent.log();
  expect_host_is_back(lab);
}

// Issue 13: a power loss whose workload cgroup is missing is refused at check.
TEST(PowerLoss, RefusedWhenTheWorkloadCgroupIsMissing) {
  ASSERT_EQ(::geteuid(), 0u);
  PowerLab lab(35);
  ASSERT_TRUE(fdp::eventually([&] { return lab.service_up(); }, 10s));
  auto o = lab.agent_options();
  auto missing = lab.cg.rel() + "/no-such-workload";
  o.args[std::find(o.args.begin(), o.args.end(), "--workload-cgroup") - o.args.begin() + 1] = missing;
  Agent agent(o);
  auto r = agent.apply("pl", "30s", "power_loss {}");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("no-such-workload"), std::string::npos) << r.out;
  EXPECT_TRUE(lab.infra_reachable()) << "a refused power loss cut the network";
  EXPECT_TRUE(lab.service_up());
  EXPECT_EQ(fdp::read_file(lab.state + "/journal").size(), 0u);
}

TEST(PowerLoss, RefusedWithoutAWorkloadCgroupAndChangesNothing) {
  ASSERT_EQ(::geteuid(), 0u);
  PowerLab lab(33);
  ASSERT_TRUE(fdp::eventually([&] { return lab.service_up(); }, 10s));
  auto o = lab.agent_options();
  o.args = {"--interface", lab.host_if, "--allow", lab.peer_ip + ",tcp,7443"};
  Agent agent(o);
  auto r = agent.apply("pl", "30s", "power_loss {}");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("--workload-cgroup"), std::string::npos) << r.out;
  EXPECT_TRUE(lab.service_up());
  EXPECT_TRUE(lab.infra_reachable());
  EXPECT_FALSE(lab.workload_procs().empty());
}

}  // namespace
