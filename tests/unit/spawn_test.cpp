// common/spawn.h, the one way to start a child: exit statuses, output caps, stderr
// kept apart or merged, the environment, the timeout that kills the whole process
// group, and what is left running after the child exits.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <thread>

#include "common/spawn.h"

namespace firedrill {
namespace {

using namespace std::chrono_literals;

SpawnOptions sh(const std::string& script, std::chrono::nanoseconds timeout = 5s) {
  SpawnOptions o;
  o.argv = {"/bin/sh", "-c", script};
  o.timeout = timeout;
  return o;
}

// Running (a zombie whose parent has not reaped it yet is not).
bool alive(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] != 'Z';
}

pid_t read_pid(const std::string& path) {
  std::ifstream in(path);
  pid_t pid = 0;
  in >> pid;
  return pid;
}

struct TempFile {
  std::string path = (std::filesystem::temp_directory_path() / fmt_name()).string();
  static std::string fmt_name() {
    static int n = 0;
    return "fd-spawn-" + std::to_string(::getpid()) + "-" + std::to_string(++n);
  }
  ~TempFile() { std::filesystem::remove(path); }
};

TEST(Spawn, ExitStatusOutputAndStderrApart) {
  auto r = spawn(sh("echo out; echo err >&2; exit 3"));
  ASSERT_TRUE(r.started) << r.error;
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.status(), 3);
  EXPECT_EQ(r.out, "out\n");
  EXPECT_EQ(r.err, "err\n");
  EXPECT_EQ(r.describe(), "exit 3: err");
  auto o = sh("echo out; echo err >&2");
  o.merge_stderr = true;
  r = spawn(o);
  EXPECT_EQ(r.out, "out\nerr\n");
  EXPECT_EQ(r.err, "");
}

TEST(Spawn, SignalsAndCommandsThatDoNotExist) {
  auto r = spawn(sh("kill -TERM $$"));
  EXPECT_EQ(r.signal, SIGTERM);
  EXPECT_EQ(r.status(), 128 + SIGTERM);
  SpawnOptions o;
  o.argv = {"firedrill-no-such-command"};
  r = spawn(o);
  EXPECT_FALSE(r.started);
  EXPECT_NE(r.error.find("firedrill-no-such-command"), std::string::npos) << r.error;
  EXPECT_EQ(r.status(), -1);
}

TEST(Spawn, OutputIsCappedAndTheEnvironmentAdded) {
  auto o = sh("head -c 100000 /dev/zero; printf %s \"$FD_SPAWN_X\" >&2");
  o.max_output = 1000;
  o.env = {{"FD_SPAWN_X", "hello"}};
  auto r = spawn(o);
  EXPECT_EQ(r.status(), 0);
  EXPECT_EQ(r.out.size(), 1000u);
  EXPECT_TRUE(r.truncated);
  EXPECT_EQ(r.err, "hello");
}

TEST(Spawn, ATimeoutKillsTheWholeProcessGroup) {
  TempFile pidfile;
  auto start = std::chrono::steady_clock::now();
  auto r = spawn(sh("sleep 30 & echo $! > " + pidfile.path + "; sleep 31", 300ms));
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.describe(), "timed out");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
  pid_t bg = read_pid(pidfile.path);
  ASSERT_GT(bg, 0);
  // Reaped by init once killed; give it a moment.
  for (int i = 0; i < 100 && alive(bg); ++i) std::this_thread::sleep_for(10ms);
  EXPECT_FALSE(alive(bg)) << "the background job of a timed-out child survived";
}

TEST(Spawn, LeftoversAreKilledAfterExitUnlessKept) {
  TempFile pidfile;
  auto r = spawn(sh("sleep 30 >/dev/null 2>&1 & echo $! > " + pidfile.path));
  EXPECT_EQ(r.status(), 0);
  pid_t bg = read_pid(pidfile.path);
  ASSERT_GT(bg, 0);
  for (int i = 0; i < 100 && alive(bg); ++i) std::this_thread::sleep_for(10ms);
  EXPECT_FALSE(alive(bg));

  auto o = sh("sleep 30 >/dev/null 2>&1 & echo $! > " + pidfile.path);
  o.keep_group = true;
  r = spawn(o);
  EXPECT_EQ(r.status(), 0);
  bg = read_pid(pidfile.path);
  ASSERT_GT(bg, 0);
  EXPECT_TRUE(alive(bg)) << "a kept background job was killed";
  ::kill(bg, SIGKILL);  // ours: started by this test
}

TEST(Spawn, OutputToAFile) {
  TempFile log;
  auto o = sh("echo one; echo two >&2");
  o.output_file = log.path;
  auto r = spawn(o);
  EXPECT_EQ(r.status(), 0);
  EXPECT_EQ(r.out, "");
  std::ifstream in(log.path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, "one\ntwo\n");
}

TEST(Spawn, StartReturnsAtOnceWithTheChildLeadingItsOwnGroup) {
  TempFile log;
  SpawnOptions o;
  o.argv = {"/bin/sh", "-c", "echo up; exec sleep 30"};
  o.output_file = log.path;
  auto pid = start(o);
  ASSERT_TRUE(pid) << pid.error().describe();
  EXPECT_EQ(::getpgid(*pid), *pid);
  std::string text;
  for (int i = 0; i < 200 && text.empty(); ++i) {
    std::this_thread::sleep_for(10ms);
    std::ifstream in(log.path);
    std::getline(in, text);
  }
  EXPECT_EQ(text, "up");
  ::kill(-*pid, SIGKILL);
  int status = 0;
  ASSERT_EQ(::waitpid(*pid, &status, 0), *pid);
  EXPECT_TRUE(WIFSIGNALED(status));
  o.argv = {"firedrill-no-such-command"};
  EXPECT_FALSE(start(o));
}

// Root: a network namespace of the test's own, entered by the child before exec.
TEST(Spawn, AChildStartsInsideItsNetworkNamespace) {
  const std::string name = "fd-spawn-" + std::to_string(::getpid());
  SpawnOptions add;
  add.argv = {"ip", "netns", "add", name};
  auto made = spawn(add);
  ASSERT_EQ(made.status(), 0) << "ip netns add (needs root): " << made.describe();
  struct Remove {
    std::string name;
    ~Remove() {
      SpawnOptions del;
      del.argv = {"ip", "netns", "delete", name};
      (void)spawn(del);
    }
  } remove{name};
  SpawnOptions o;
  o.argv = {"readlink", "/proc/self/ns/net"};
  auto outside = spawn(o);
  o.netns = "/run/netns/" + name;
  auto inside = spawn(o);
  ASSERT_EQ(inside.status(), 0) << inside.describe();
  EXPECT_NE(inside.out, outside.out);
  std::filesystem::path own = std::filesystem::read_symlink("/proc/self/ns/net");
  EXPECT_EQ(outside.out, own.string() + "\n");
  // Only the namespace's own loopback is there.
  o.argv = {"ip", "-o", "link", "show"};
  auto links = spawn(o);
  ASSERT_EQ(links.status(), 0) << links.describe();
  EXPECT_EQ(std::count(links.out.begin(), links.out.end(), '\n'), 1) << links.out;
  EXPECT_NE(links.out.find(": lo:"), std::string::npos) << links.out;
  // A namespace that is not there is an error naming it; nothing runs.
  o.netns = "/run/netns/" + name + "-gone";
  auto gone = spawn(o);
  EXPECT_FALSE(gone.started);
  EXPECT_NE(gone.describe().find(o.netns), std::string::npos) << gone.describe();
  EXPECT_FALSE(start(o));
}

TEST(Spawn, AWorkerStaysInItsParentsGroupAndIsOnlyStarted) {
  SpawnOptions o;
  o.argv = {"sleep", "30"};
  o.worker = true;
  o.die_with_parent = true;
  auto pid = start(o);
  ASSERT_TRUE(pid) << pid.error().describe();
  EXPECT_EQ(::getpgid(*pid), ::getpgrp());
  ::kill(*pid, SIGKILL);
  ASSERT_EQ(::waitpid(*pid, nullptr, 0), *pid);
  auto r = spawn(o);
  EXPECT_FALSE(r.started);
  EXPECT_NE(r.describe().find("start()"), std::string::npos) << r.describe();
}

}  // namespace
}  // namespace firedrill
