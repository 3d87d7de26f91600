// The agent's own safety (issue 13) with the real agent binary, real processes and
// cgroups under the test's own subtree: a journal damaged between two starts, and the
// processes no fault may touch. Needs root.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <thread>
#include <fstream>

#include "tests/integration/proc_lab.h"

namespace {

using namespace std::chrono_literals;
using fdp::Agent;
using fdp::Child;
using fdp::TestCgroup;

void flip_byte(const std::string& path, off_t at) {
  int fd = ::open(path.c_str(), O_RDWR);
  ASSERT_GE(fd, 0) << path;
  char c;
  ASSERT_EQ(::pread(fd, &c, 1, at), 1);
  c ^= 0x5a;
  ASSERT_EQ(::pwrite(fd, &c, 1, at), 1);
  ::close(fd);
}

bool frozen(const std::string& dir) {
  std::ifstream in(dir + "/cgroup.events");
  std::string key;
  int value = 0;
  while (in >> key >> value) {
    if (key == "frozen") return value == 1;
  }
  return false;
}

// The watched agent: the watcher's only child.
pid_t worker_of(pid_t watcher) {
  std::ifstream in("/proc/" + std::to_string(watcher) + "/task/" + std::to_string(watcher) + "/children");
  pid_t pid = 0;
  in >> pid;
  return pid;
}

class AgentSafety : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(::geteuid(), 0u) << "needs root (cgroups, BPF)"; }
};

// Reproduced wedge: a frozen cgroup removed before its fault expired made the agent
// retry the thaw in a loop holding its fault manager: `ctl status` timed out, SIGTERM
// was ignored, the log grew by 100,000 lines a second and the dead-man switch never
// reached the blackhole beside it. Here the agent runs in a namespace of the test,
// under a real controller on that namespace's loopback, which is then SIGKILLed.
TEST_F(AgentSafety, FrozenCgroupRemovedBeforeExpiryWedgesNothing) {
  const auto grace = 2s;
  fdp::Netns host("wedge-h"), peer("wedge-p");
  std::string tag = std::to_string(::getpid() % 1000000);
  fdp::veth(host, "fdw" + tag + "h", "10.204.7.1/24", peer, "fdw" + tag + "p", "10.204.7.2/24");
  fdp::TempDir dir;
  auto server = Child::spawn({"/usr/bin/socat", "TCP-LISTEN:7501,bind=10.204.7.2,reuseaddr,fork", "SYSTEM:echo ok"}, "",
                             &peer);
  ASSERT_TRUE(fdp::eventually([&] { return fdp::tcp_answers(&host, "10.204.7.2", 7501); }, 5s));
  auto controller = Child::spawn({FDP_FIREDRILL_BIN, "serve", "--insecure", "--listen", "127.0.0.1:7502", "--api",
                                  dir.file("api.sock"), "--state-dir", dir.file("ctl"), "--lease-grace", "2s"},
                                 "", &host, dir.file("controller.log"));
  TestCgroup cg("safety-wedge");
  std::string box = cg.child("box");
  Agent agent({.args = {"--controller", "127.0.0.1:7502", "--insecure", "--lease-grace", "2s", "--interface",
                        "fdw" + tag + "h"},
               .ns = &host});
  ASSERT_TRUE(agent.wait_log("connected to 127.0.0.1:7502", 15s)) << agent.log();
  auto hole = agent.apply("bh", "60s", "network { blackhole {} }");
  ASSERT_EQ(hole.code, 0) << hole.out;
  ASSERT_FALSE(fdp::tcp_answers(&host, "10.204.7.2", 7501));
  auto freeze = agent.apply("fz", "1s", "process { freeze { cgroups: \"" + cg.rel() + "/box\" } }");
  ASSERT_EQ(freeze.code, 0) << freeze.out;
  ASSERT_TRUE(frozen(box));
  ASSERT_EQ(::rmdir(box.c_str()), 0) << "rmdir " << box;
  std::this_thread::sleep_for(2s);  // past the freeze's lease

  auto killed = std::chrono::steady_clock::now();
  controller.kill9();
  std::this_thread::sleep_until(killed + grace + 1s);
  EXPECT_TRUE(fdp::tcp_answers(&host, "10.204.7.2", 7501)) << "the blackhole outlived the controller by more than grace + 1 s";
  auto status = agent.ctl({"--timeout", "1s", "status"});
  ASSERT_EQ(status.code, 0) << "ctl status did not answer within 1 s: " << status.out;
  EXPECT_EQ(status.out.find("active_faults"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("fault_id: \"fz\"\n    reason: REVERT_EXPIRED"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("fault_id: \"bh\"\n    reason: REVERT_LEASE_LOST"), std::string::npos) << status.out;
  auto log = agent.log();
  EXPECT_NE(log.find("cgroup " + cg.rel() + "/box was removed while frozen: nothing is left to thaw"), std::string::npos)
      << log;
  EXPECT_LT(std::count(log.begin(), log.end(), '\n'), 400) << "the agent's log is flooded";
  EXPECT_EQ(agent.stop(), 0) << "SIGTERM was not obeyed";
}

// Two cgroups frozen by an agent that is then killed; a byte of the first journal
// record is flipped before the next start. Both are thawed: the second record carries
// everything owed, and the damage is reported with its offset.
TEST_F(AgentSafety, CorruptFirstJournalRecordBothFrozenCgroupsAreThawed) {
  TestCgroup cg("safety-journal");
  std::string a = cg.child("a"), b = cg.child("b");
  auto pa = Child::spawn({"/bin/sleep", "600"}, a);
  auto pb = Child::spawn({"/bin/sleep", "600"}, b);
  fdp::TempDir keep;
  std::string state = keep.file("state");
  {
    Agent first({.state_dir = state});
    for (auto [id, dir] : {std::pair{"fz1", std::string("/a")}, std::pair{"fz2", std::string("/b")}}) {
      auto r = first.apply(id, "60s", "process { freeze { cgroups: \"" + cg.rel() + dir + "\" } }");
      ASSERT_EQ(r.code, 0) << r.out;
    }
    ASSERT_TRUE(frozen(a));
    ASSERT_TRUE(frozen(b));
    first.kill9();
  }
  ASSERT_TRUE(frozen(a));
  flip_byte(state + "/journal", 12);
  Agent second({.state_dir = state});
  EXPECT_TRUE(second.wait_log("recovered fault fz2 from journal", 10s)) << second.log();
  EXPECT_TRUE(second.wait_log("recovered fault fz1 from journal", 1s)) << second.log();
  EXPECT_FALSE(frozen(a));
  EXPECT_FALSE(frozen(b));
  EXPECT_NE(second.log().find("corrupt byte(s) at offset 0; a later record says everything owed"), std::string::npos)
      << second.log();
}

// Processes on the deny list (and the defaults, sshd and systemd-journald) are refused
// by every way of selecting them, with the process named; nothing is killed.
TEST_F(AgentSafety, DenyListedProcessesAreRefusedNamingThem) {
  fdp::TempDir dir;
  TestCgroup cg("safety-deny");
  std::string box = cg.child("box");
  std::string guarded = fdp::private_copy("/bin/sleep", dir, "fdp-guarded");
  auto p = Child::spawn({guarded, "600"}, box);
  ASSERT_TRUE(fdp::eventually([&] { return fdp::read_file("/proc/" + std::to_string(p.pid()) + "/comm") == "fdp-guarded\n"; }, 5s));
  Agent agent({.args = {"--protect", "fdp-guarded"}});
  struct Case {
    std::string spec, says;
  };
  std::string pid = std::to_string(p.pid());
  std::vector<Case> cases = {
      {"process { kill { select { comms: \"fdp-guarded\" } } }", "fdp-guarded\\' is on the deny list (sshd, systemd-journal, fdp-guarded)"},
      {"process { kill { select { pids: " + pid + " } } }", "pid " + pid + " is fdp-guarded (on the deny list)"},
      {"process { kill { select { exe_paths: \"" + guarded + "\" } } }", "is the executable of fdp-guarded (pid " + pid},
      {"process { kill { select { cgroups: \"" + cg.rel() + "/box\" } } }", "holds fdp-guarded (pid " + pid + ", on the deny list)"},
      {"process { freeze { cgroups: \"" + cg.rel() + "\" } }", "holds fdp-guarded (pid " + pid},
      {"process { keep_down { select { comms: \"sshd\" } } }", "sshd\\' is on the deny list (sshd, systemd-journal, fdp-guarded)"},
  };
  for (auto& c : cases) {
    auto r = agent.apply("deny", "10s", c.spec);
    EXPECT_EQ(r.code, 1) << c.spec << "\n" << r.out;
    EXPECT_NE(r.out.find(c.says), std::string::npos) << c.spec << "\n" << r.out;
  }
  EXPECT_TRUE(p.alive());
  EXPECT_FALSE(frozen(box));
}

// Keep-down follows its cgroup by path: a supervisor that removes the service's
// cgroup and makes it again does not bring the service back.
TEST_F(AgentSafety, KeepDownHoldsACgroupRemovedAndMadeAgain) {
  TestCgroup cg("safety-follow");
  std::string svc = cg.child("svc");
  Agent agent({});
  auto r = agent.apply("kd", "60s", "process { keep_down { select { cgroups: \"" + cg.rel() + "/svc\" } } }");
  ASSERT_EQ(r.code, 0) << r.out;
  {
    auto before = Child::spawn({"/bin/sleep", "600"}, svc);
    EXPECT_EQ(before.wait(5s), 128 + SIGKILL) << "keep-down does not hold the cgroup it was given";
  }
  ASSERT_EQ(::rmdir(svc.c_str()), 0) << svc;
  ASSERT_EQ(::mkdir(svc.c_str(), 0755), 0) << svc;
  ASSERT_TRUE(agent.wait_log("cgroup " + cg.rel() + "/svc was removed and made again: held again", 5s)) << agent.log();
  auto after = Child::spawn({"/bin/sleep", "600"}, svc);
  EXPECT_EQ(after.wait(5s), 128 + SIGKILL) << "a cgroup made again escaped keep-down";
}

// The watcher restarts an agent that died; the new one finishes the journal.
TEST_F(AgentSafety, WatcherRestartsAKilledAgentWhichThawsWhatItFroze) {
  TestCgroup cg("safety-watch");
  std::string box = cg.child("box");
  Agent agent({});
  pid_t first = worker_of(agent.pid());
  ASSERT_GT(first, 0) << "no watched agent under pid " << agent.pid();
  auto r = agent.apply("fz", "60s", "process { freeze { cgroups: \"" + cg.rel() + "/box\" } }");
  ASSERT_EQ(r.code, 0) << r.out;
  ASSERT_TRUE(frozen(box));
  ::kill(first, SIGKILL);
  ASSERT_TRUE(agent.wait_log("restarting it in", 5s)) << agent.log();
  ASSERT_TRUE(agent.wait_log("recovered fault fz from journal", 15s)) << agent.log();
  EXPECT_FALSE(frozen(box));
  pid_t second = worker_of(agent.pid());
  EXPECT_GT(second, 0);
  EXPECT_NE(second, first);
  EXPECT_TRUE(fdp::eventually([&] { return agent.ctl({"status"}).code == 0; }, 10s));
  EXPECT_EQ(agent.stop(), 0);
}

// A watcher that may not restart the agent (or cannot) finishes what the journal owes
// itself: nothing is left frozen by an agent that never comes back.
TEST_F(AgentSafety, WatcherThatCannotRestartFinishesTheJournal) {
  TestCgroup cg("safety-finish");
  std::string box = cg.child("box");
  Agent agent({.args = {"--max-restarts", "0"}});
  pid_t worker = worker_of(agent.pid());
  ASSERT_GT(worker, 0);
  auto r = agent.apply("fz", "60s", "process { freeze { cgroups: \"" + cg.rel() + "/box\" } }");
  ASSERT_EQ(r.code, 0) << r.out;
  ASSERT_TRUE(frozen(box));
  ::kill(worker, SIGKILL);
  ASSERT_TRUE(agent.wait_log("not restarting it; finishing what its journal owes", 5s)) << agent.log();
  EXPECT_TRUE(agent.wait_log("the journal owes nothing any more", 10s)) << agent.log();
  EXPECT_FALSE(frozen(box));
}

// An unprivileged exec loop of a kept-down comm: thousands of kills, one event per
// second, and the agent answers within a second meanwhile.
TEST_F(AgentSafety, ExecLoopOfAKeptDownCommIsOneEventASecondAndDelaysNoAnswer) {
  fdp::TempDir dir;
  std::string loop = fdp::private_copy("/bin/true", dir, "fdp-exec-loop");
  Agent agent({});
  auto r = agent.apply("kd", "60s", "process { keep_down { select { comms: \"fdp-exec-loop\" } } }");
  ASSERT_EQ(r.code, 0) << r.out;
  auto flood = Child::spawn({"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/timeout",
                             "3", "/bin/sh", "-c", "while :; do " + loop + "; done"});
  int answered = 0, asked = 0;
  auto until = std::chrono::steady_clock::now() + 3s;
  while (std::chrono::steady_clock::now() < until) {
    ++asked;
    auto status = agent.ctl({"--timeout", "1s", "status"});
    if (status.code == 0) ++answered;
    std::this_thread::sleep_for(200ms);
  }
  flood.wait(5s);
  EXPECT_EQ(answered, asked) << "status went unanswered for a second during the exec loop";
  auto status = agent.ctl({"status"});
  auto at = status.out.find("processes_killed: ");
  ASSERT_NE(at, std::string::npos) << status.out;
  uint64_t killed = std::stoull(status.out.substr(at + 18));
  EXPECT_GT(killed, 50u) << "the exec loop hardly ran";
  ASSERT_EQ(agent.ctl({"revert", "--id", "kd"}).code, 0);
  auto log = agent.log();
  size_t events = 0;
  for (size_t p = 0; (p = log.find("killed { fault_id: \"kd\"", p)) != std::string::npos; ++p) ++events;
  EXPECT_GE(events, 1u);
  EXPECT_LE(events, 8u) << killed << " kills told in " << events << " events";
  std::cout << killed << " kills at exec in 3 s told in " << events << " events\n";
}

}  // namespace
