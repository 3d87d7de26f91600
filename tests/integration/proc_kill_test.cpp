// Kill now on real processes, and the refusals that must change nothing. Needs root
// (cgroups, pidfd signals, the agent binary). Everything is created by the test and
// taken down by RAII even when an assertion fails.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <mutex>

#include "agent/proc/proc_engine.h"
#include "tests/integration/proc_lab.h"

namespace firedrill::agent {
namespace {

using namespace std::chrono_literals;
using fdp::Child;
using fdp::TempDir;
using fdp::TestCgroup;

struct Events : EventSink {
  void emit(const v1::Event& e) override {
    std::lock_guard l(mu);
    all.push_back(e);
  }
  std::vector<v1::ProcessKilled> killed() {
    std::lock_guard l(mu);
    std::vector<v1::ProcessKilled> out;
    for (auto& e : all) {
      if (e.has_killed()) out.push_back(e.killed());
    }
    return out;
  }
  std::mutex mu;
  std::vector<v1::Event> all;
};

struct ProcKill : ::testing::Test {
  void SetUp() override {
    ASSERT_EQ(::geteuid(), 0u) << "the process suite needs root (cgroups, signals, BPF)";
    auto j = journal::Journal::open(dir.file("state"));
    ASSERT_TRUE(j) << j.error().describe();
    journal = std::move(*j);
    engine = std::make_unique<proc::ProcFaultEngine>(journal, &events);
  }
  v1::FaultSpec kill_spec(const v1::ProcessSelector& s) {
    v1::FaultSpec spec;
    *spec.mutable_process()->mutable_kill()->mutable_select() = s;
    return spec;
  }
  TempDir dir;
  Events events;
  std::shared_ptr<journal::Journal> journal;
  std::unique_ptr<proc::ProcFaultEngine> engine;
};

TEST_F(ProcKill, ThousandProcessCgroupLeavesNoneAndAnOutsiderSurvives) {
  auto sleeper = fdp::private_copy("/bin/sleep", dir, "fdp-sleeper");
  TestCgroup cg("kill1000");
  TestCgroup outside("kill1000-outside");
  // Spread over child cgroups: a cgroup selects its descendants.
  std::vector<std::string> subs;
  for (int i = 0; i < 10; ++i) subs.push_back(cg.child("s" + std::to_string(i)));
  std::vector<Child> kids;
  kids.reserve(1000);
  for (int i = 0; i < 1000; ++i) kids.push_back(Child::spawn({sleeper, "600"}, subs[i % 10]));
  Child outsider = Child::spawn({sleeper, "600"}, outside.path());
  // Each child moves itself in before it execs.
  ASSERT_TRUE(fdp::eventually([&] { return cg.procs().size() == 1000; }, 20s)) << cg.procs().size();

  v1::ProcessSelector s;
  s.add_cgroups(cg.rel());
  auto r = engine->apply("k1000", kill_spec(s));
  ASSERT_TRUE(r) << r.error().describe();

  EXPECT_EQ(engine->counters("k1000").processes_killed(), 1000u);
  auto report = engine->last_kill("k1000");
  ASSERT_TRUE(report);
  EXPECT_EQ(report->still_alive, 0u);
  EXPECT_TRUE(cg.procs().empty()) << cg.procs().size() << " left";
  size_t running = 0;
  for (auto& k : kids) running += fdp::process_exists(k.pid());
  EXPECT_EQ(running, 0u);
  for (auto& k : kids) EXPECT_EQ(k.wait(5s), 128 + SIGKILL);
  EXPECT_TRUE(fdp::process_exists(outsider.pid())) << "a process outside the selection died";
  EXPECT_TRUE(outsider.alive());
  // Events stop at a cap; the counter carries the total.
  auto ev = events.killed();
  EXPECT_EQ(ev.size(), 256u);
  for (auto& k : ev) {
    EXPECT_EQ(k.fault_id(), "k1000");
    EXPECT_FALSE(k.at_exec());
    EXPECT_EQ(k.cgroup(), cg.rel());
  }
  ASSERT_TRUE(engine->revert("k1000"));
}

TEST_F(ProcKill, ByExeCommAndPidOnlyTheSelected) {
  auto exe_a = fdp::private_copy("/bin/sleep", dir, "fdp-exe-a");
  auto exe_b = fdp::private_copy("/bin/sleep", dir, "fdp-exe-b");  // same bytes, another file
  std::string comm = "fdpc" + std::to_string(::getpid());
  auto by_comm_bin = fdp::private_copy("/bin/sleep", dir, comm);
  std::string link = dir.file("fdp-exe-a-link");
  std::filesystem::create_symlink(exe_a, link);

  std::vector<Child> selected, spared;
  for (int i = 0; i < 3; ++i) selected.push_back(Child::spawn({exe_a, "600"}));
  for (int i = 0; i < 2; ++i) selected.push_back(Child::spawn({by_comm_bin, "600"}));
  selected.push_back(Child::spawn({exe_b, "600"}));  // by pid
  pid_t by_pid = selected.back().pid();
  for (int i = 0; i < 2; ++i) spared.push_back(Child::spawn({exe_b, "600"}));
  ASSERT_TRUE(fdp::eventually([&] { return proc::read_comm(selected[3].pid()) == comm; }, 2s));

  v1::ProcessSelector s;
  s.add_exe_paths(link);  // the same file through a symlink
  s.add_comms(comm);
  s.add_pids(static_cast<uint32_t>(by_pid));
  auto r = engine->apply("kx", kill_spec(s));
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(engine->counters("kx").processes_killed(), 6u);
  for (auto& c : selected) EXPECT_EQ(c.wait(5s), 128 + SIGKILL) << "pid " << c.pid();
  for (auto& c : spared) EXPECT_TRUE(c.alive()) << "pid " << c.pid() << " was not selected";
  auto ev = events.killed();
  ASSERT_EQ(ev.size(), 6u);
  std::set<std::string> comms;
  for (auto& k : ev) comms.insert(k.comm());
  EXPECT_EQ(comms, (std::set<std::string>{"fdp-exe-a", comm, "fdp-exe-b"}));
  ASSERT_TRUE(engine->revert("kx"));
}

TEST_F(ProcKill, ForksOfADyingSelectedProcessAreFoundAgain) {
  // A shell under the selected comm that keeps forking copies of itself: a re-scan
  // after the first signals catches what it forked meanwhile.
  std::string comm = "fdpf" + std::to_string(::getpid());
  auto sh_copy = fdp::private_copy("/bin/sh", dir, comm);
  Child forker = Child::spawn({sh_copy, "-c", "while :; do (sleep 600) & sleep 0.001; done"});
  ASSERT_TRUE(fdp::eventually([&] { return proc::read_comm(forker.pid()) == comm; }, 2s));
  std::this_thread::sleep_for(100ms);
  v1::ProcessSelector s;
  s.add_comms(comm);
  auto r = engine->apply("kf", kill_spec(s));
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(forker.wait(5s), 128 + SIGKILL);
  EXPECT_GE(engine->counters("kf").processes_killed(), 1u);
  ASSERT_TRUE(engine->revert("kf"));
}

TEST_F(ProcKill, APreparedKeepDownSelectsNothingUntilAppliedAndIsDroppedByRevert) {
  // Staged for an instant: the program is loaded and attached ahead, and only the apply
  // makes it select (the map entries and the kill of what runs).
  std::string comm = "fdpp" + std::to_string(::getpid());
  auto sleeper = fdp::private_copy("/bin/sleep", dir, comm);
  Child running = Child::spawn({sleeper, "600"});
  ASSERT_TRUE(fdp::eventually([&] { return proc::read_comm(running.pid()) == comm; }, 2s));
  v1::FaultSpec spec;
  auto* kd = spec.mutable_process()->mutable_keep_down();
  kd->mutable_select()->add_comms(comm);
  kd->set_kill_running(true);
  ASSERT_TRUE(engine->prepare("kp", spec));
  ASSERT_TRUE(engine->prepare("kp", spec));  // idempotent
  Child before = Child::spawn({sleeper, "0.01"});
  EXPECT_EQ(before.wait(5s), 0) << "a prepared keep-down killed at exec";
  EXPECT_TRUE(running.alive()) << "a prepared keep-down killed what runs";
  EXPECT_EQ(engine->counters("kp").processes_killed(), 0u);

  ASSERT_TRUE(engine->apply("kp", spec));
  EXPECT_EQ(running.wait(5s), 128 + SIGKILL);
  Child after = Child::spawn({sleeper, "5"});
  EXPECT_EQ(after.wait(5s), 128 + SIGKILL) << "an applied keep-down let a selected exec live";
  ASSERT_TRUE(engine->revert("kp"));

  // Prepared and reverted without an apply: nothing selects, nothing is held.
  ASSERT_TRUE(engine->prepare("kq", spec));
  ASSERT_TRUE(engine->revert("kq"));
  Child later = Child::spawn({sleeper, "0.01"});
  EXPECT_EQ(later.wait(5s), 0);
  auto other = spec;
  other.mutable_process()->mutable_keep_down()->set_kill_running(false);
  ASSERT_TRUE(engine->prepare("kr", spec));
  auto r = engine->apply("kr", other);
  ASSERT_FALSE(r) << "an apply with another spec than the one prepared";
  EXPECT_NE(r.error().message.find("prepared with another spec"), std::string::npos) << r.error().describe();
  ASSERT_TRUE(engine->revert("kr"));
}

// ---------------------------------------------------------------- refusals, through the agent binary

TEST(ProcRefusals, BadRequestsAreRefusedWithAClearErrorAndChangeNothing) {
  ASSERT_EQ(::geteuid(), 0u) << "the process suite needs root";
  TempDir dir;
  auto sleeper = fdp::private_copy("/bin/sleep", dir, "fdp-victim");
  TestCgroup cg("refusals");
  auto agent_dir = cg.child("agent");
  auto victim_dir = cg.child("victim");
  Child victim = Child::spawn({sleeper, "600"}, victim_dir);
  fdp::Agent::Options opts;
  opts.cgroup_dir = agent_dir;
  fdp::Agent agent(opts);
  std::string rel = cg.rel();

  struct Case {
    std::string spec, expect;
  };
  std::vector<Case> cases = {
      {"process { kill { select { cgroups: \"" + rel + "/nope\" } } }", "does not exist"},
      {"process { kill { } }", "selector is empty"},
      {"process { keep_down { select { } } }", "selector is empty"},
      {"process { kill { select { cgroups: \"" + rel + "\" } } }", "holds the agent itself"},
      {"process { kill { select { cgroups: \"" + rel + "/agent\" } } }", "holds the agent itself"},
      {"process { kill { select { cgroups: \"/\" } } }", "holds the agent itself"},
      {"process { kill { select { cgroups: \"" + rel + "/../..\" } } }", "'..' is not allowed"},
      {"process { kill { select { pids: " + std::to_string(agent.pid()) + " } } }", "is the agent itself"},
      {"process { kill { select { pids: 1 } } }", "pid 1"},
      {"process { keep_down { select { exe_paths: \"" + fdp::agent_binary() + "\" } } }",
       "agent's own executable"},
      {"process { keep_down { select { comms: \"firedrill-agent\" } } }", "agent's own"},
      {"process { keep_down { select { comms: \"a-comm-that-is-too-long\" } } }", "the kernel keeps 15"},
      {"process { keep_down { select { exe_paths: \"/nonexistent/fdp\" } } }", "does not exist"},
      {"process { freeze { cgroups: \"" + rel + "\" } }", "holds the agent itself"},
      {"process { freeze { } }", "freeze names no cgroup"},
      {"process { }", "unknown"},
      // The victim's cgroup with a bad entry beside it: the whole fault is refused.
      {"process { kill { select { cgroups: \"" + rel + "/victim\" pids: 1 } } }", "pid 1"},
  };
  int n = 0;
  for (auto& c : cases) {
    auto r = agent.apply("bad" + std::to_string(n++), "30s", c.spec);
    // The answer is printed in text format, which escapes quotes.
    for (size_t p; (p = r.out.find("\\'")) != std::string::npos;) r.out.erase(p, 1);
    EXPECT_EQ(r.code, 1) << c.spec << "\n" << r.out;
    EXPECT_NE(r.out.find("ACK_REFUSED"), std::string::npos) << c.spec << "\n" << r.out;
    EXPECT_NE(r.out.find(c.expect), std::string::npos) << c.spec << "\nexpected: " << c.expect << "\n" << r.out;
  }
  // Nothing changed: the victim lives, nothing is frozen, no fault is held.
  EXPECT_TRUE(victim.alive());
  EXPECT_FALSE(cg.frozen());
  EXPECT_TRUE(agent.running());
  auto status = agent.ctl({"status"});
  EXPECT_EQ(status.code, 0) << status.out;
  EXPECT_EQ(status.out.find("active_faults"), std::string::npos) << status.out;
  EXPECT_EQ(agent.log().find("keep-down program attached"), std::string::npos);
}

}  // namespace
}  // namespace firedrill::agent
