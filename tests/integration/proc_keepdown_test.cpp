// Keep-down against a real TCP server (socat) restarted by a real supervisor loop, in
// a cgroup and a network namespace of the test; freeze and thaw, and the journal that
// thaws a cgroup frozen by an agent that was SIGKILLed. Driven through the agent
// binary (`firedrill-agent ctl`). Needs root.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "tests/integration/proc_lab.h"

namespace {

using namespace std::chrono_literals;
using fdp::Agent;
using fdp::Child;
using fdp::Netns;
using fdp::TempDir;
using fdp::TestCgroup;

size_t lines(const std::string& path) {
  auto s = fdp::read_file(path);
  return static_cast<size_t>(std::count(s.begin(), s.end(), '\n'));
}

uint64_t counter_value(const std::string& status, const std::string& name) {
  auto p = status.find(name + ": ");
  if (p == std::string::npos) return 0;
  return std::stoull(status.substr(p + name.size() + 2));
}

// A supervisor loop as an init system runs one: restart the service whenever it dies.
// With `svc_dir`, each start moves itself into the service's cgroup before exec, the
// way systemd starts a unit.
std::string supervisor_script(const std::string& server, uint16_t port, const std::string& restarts,
                              const std::string& svc_dir) {
  std::string start = svc_dir.empty() ? "" : "echo $$ > " + svc_dir + "/cgroup.procs && ";
  return "while :; do /bin/sh -c '" + start + "exec " + server + " TCP-LISTEN:" + std::to_string(port) +
         ",bind=127.0.0.1,reuseaddr,fork SYSTEM:\"echo ok\"'; echo restart >> " + restarts +
         "; sleep 0.02; done";
}

struct KeepDownCase {
  const char* name;
  bool by_cgroup;  // else by exe path
};

void PrintTo(const KeepDownCase& c, std::ostream* os) { *os << c.name; }

class KeepDown : public ::testing::TestWithParam<KeepDownCase> {};

TEST_P(KeepDown, SupervisedServerNeverAcceptsDuringKeepDownAndServesAfter) {
  ASSERT_EQ(::geteuid(), 0u) << "the process suite needs root";
  const bool by_cgroup = GetParam().by_cgroup;
  TempDir dir;
  auto server = fdp::private_copy("/usr/bin/socat", dir, "fdp-srv");
  Netns ns(by_cgroup ? "kdc" : "kde");
  TestCgroup cg(by_cgroup ? "kd-cgroup" : "kd-exe");
  auto super_dir = cg.child("supervisor");
  auto svc_dir = by_cgroup ? cg.child("svc") : "";
  auto restarts = dir.file("restarts");
  const uint16_t port = 7101;
  Child supervisor = Child::spawn({"/bin/sh", "-c", supervisor_script(server, port, restarts, svc_dir)},
                                  super_dir, &ns, dir.file("supervisor.log"));
  ASSERT_TRUE(fdp::eventually([&] { return fdp::tcp_answers(&ns, "127.0.0.1", port); }, 10s))
      << "the server never came up: " << fdp::read_file(dir.file("supervisor.log"));

  Agent agent({});
  std::string spec = by_cgroup ? "process { keep_down { select { cgroups: \"" + cg.rel() + "/svc\" } kill_running: true } }"
                               : "process { keep_down { select { exe_paths: \"" + server + "\" } kill_running: true } }";
  auto r = agent.apply("kd", "60s", spec);
  ASSERT_EQ(r.code, 0) << r.out << agent.log();

  // Three seconds of connection attempts while the supervisor keeps restarting it.
  size_t restarts_before = lines(restarts);
  size_t attempts = 0, answered = 0;
  auto until = std::chrono::steady_clock::now() + 3s;
  while (std::chrono::steady_clock::now() < until) {
    ++attempts;
    if (fdp::tcp_answers(&ns, "127.0.0.1", port, 50ms)) ++answered;
    std::this_thread::sleep_for(10ms);
  }
  size_t restarted = lines(restarts) - restarts_before;
  EXPECT_EQ(answered, 0u) << "the server accepted during keep-down (" << attempts << " attempts)";
  EXPECT_GE(restarted, 20u) << "the supervisor did not keep restarting the service";
  EXPECT_TRUE(supervisor.alive()) << "the supervisor was not selected and must live";

  auto status = agent.ctl({"status"});
  ASSERT_EQ(status.code, 0) << status.out;
  EXPECT_GE(counter_value(status.out, "processes_killed"), restarted) << status.out;
  // Each kill at exec is an event naming the process.
  EXPECT_NE(agent.log().find("killed pid"), std::string::npos);
  EXPECT_NE(agent.log().find("comm: \"fdp-srv\" exe: \"" + server + "\" " +
                             (by_cgroup ? "cgroup: \"" + cg.rel() + "/svc\" " : "") + "at_exec: true"),
            std::string::npos)
      << agent.log().substr(0, 4000);

  r = agent.ctl({"revert", "--id", "kd"});
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(fdp::eventually([&] { return fdp::tcp_answers(&ns, "127.0.0.1", port); }, 5s))
      << "the service did not come back after revert";

  // The program stays loaded, detached; the next keep-down attaches it again.
  r = agent.apply("kd2", "60s", spec);
  ASSERT_EQ(r.code, 0) << r.out << agent.log();
  size_t restarts_again = lines(restarts);
  EXPECT_TRUE(fdp::eventually([&] { return lines(restarts) >= restarts_again + 5; }, 10s))
      << "the supervisor did not restart the service under the second keep-down";
  EXPECT_FALSE(fdp::tcp_answers(&ns, "127.0.0.1", port, 50ms)) << "the second keep-down did not hold";
  r = agent.ctl({"revert", "--id", "kd2"});
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(fdp::eventually([&] { return fdp::tcp_answers(&ns, "127.0.0.1", port); }, 5s))
      << "the service did not come back after the second revert";
}

INSTANTIATE_TEST_SUITE_P(Select, KeepDown,
                         ::testing::Values(KeepDownCase{"cgroup", true}, KeepDownCase{"exe", false}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(KeepDownLease, ExpiryLiftsItWithoutARevert) {
  ASSERT_EQ(::geteuid(), 0u);
  TempDir dir;
  std::string comm = "fdpk" + std::to_string(::getpid());
  auto sleeper = fdp::private_copy("/bin/sleep", dir, comm);
  Agent agent({});
  auto r = agent.apply("kdl", "2s", "process { keep_down { select { comms: \"" + comm + "\" } } }");
  ASSERT_EQ(r.code, 0) << r.out;
  Child during = Child::spawn({sleeper, "5"});
  EXPECT_EQ(during.wait(2s), 128 + SIGKILL) << "a selected exec survived keep-down";
  ASSERT_TRUE(agent.wait_log("reverted: REVERT_EXPIRED", 5s)) << agent.log();
  Child after = Child::spawn({sleeper, "0.2"});
  EXPECT_EQ(after.wait(5s), 0) << "keep-down outlived its lease";
  EXPECT_NE(agent.log().find("keep-down program attached"), std::string::npos);
}

// ---------------------------------------------------------------- freeze

std::string ticker(const std::string& file) {
  return "i=0; while :; do i=$((i+1)); echo $i > " + file + ".tmp && mv " + file + ".tmp " + file +
         "; sleep 0.01; done";
}

long read_long(const std::string& file) {
  auto s = fdp::read_file(file);
  return s.empty() ? -1 : std::stol(s);
}

bool ticking(const std::string& file) {
  long a = read_long(file);
  std::this_thread::sleep_for(200ms);
  return read_long(file) > a;
}

TEST(Freeze, FreezeStopsTheCgroupAndRevertThawsIt) {
  ASSERT_EQ(::geteuid(), 0u);
  TempDir dir;
  TestCgroup cg("freeze");
  auto tick = dir.file("tick");
  Child worker = Child::spawn({"/bin/sh", "-c", ticker(tick)}, cg.path());
  ASSERT_TRUE(fdp::eventually([&] { return ticking(tick); }, 5s));
  Agent agent({});
  auto r = agent.apply("fz", "60s", "process { freeze { cgroups: \"" + cg.rel() + "\" } }");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(cg.frozen());
  EXPECT_FALSE(ticking(tick));
  // Journaled while frozen.
  EXPECT_GT(std::filesystem::file_size(agent.state_dir() + "/journal"), 0u);
  r = agent.ctl({"revert", "--id", "fz"});
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_FALSE(cg.frozen());
  EXPECT_TRUE(ticking(tick));
  EXPECT_EQ(std::filesystem::file_size(agent.state_dir() + "/journal"), 0u);
  EXPECT_TRUE(worker.alive());
}

TEST(Freeze, AgentKilledWhileFrozenThawsOnItsNextStart) {
  ASSERT_EQ(::geteuid(), 0u);
  TempDir dir;
  TestCgroup cg("freeze-crash");
  auto tick = dir.file("tick");
  Child worker = Child::spawn({"/bin/sh", "-c", ticker(tick)}, cg.path());
  ASSERT_TRUE(fdp::eventually([&] { return ticking(tick); }, 5s));
  std::string state = dir.file("state");
  {
    Agent::Options o;
    o.state_dir = state;
    Agent first(o);
    auto r = first.apply("fz", "60s", "process { freeze { cgroups: \"" + cg.rel() + "\" } }");
    ASSERT_EQ(r.code, 0) << r.out;
    ASSERT_TRUE(cg.frozen());
    first.kill9();
  }
  // No bpf_link undoes a freeze: it is still frozen with the agent gone.
  EXPECT_TRUE(cg.frozen());
  EXPECT_FALSE(ticking(tick));
  Agent::Options o;
  o.state_dir = state;
  Agent second(o);
  EXPECT_NE(second.log().find("recovered fault fz from journal: thawed " + cg.path()), std::string::npos)
      << second.log();
  EXPECT_NE(second.log().find("reason: REVERT_RECOVERED"), std::string::npos) << second.log();
  EXPECT_FALSE(cg.frozen());
  EXPECT_TRUE(ticking(tick));
  EXPECT_EQ(std::filesystem::file_size(state + "/journal"), 0u);
  EXPECT_TRUE(worker.alive());
}

}  // namespace
