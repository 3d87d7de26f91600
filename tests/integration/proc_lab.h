// What the process and power-loss suites build for themselves, and take down again
// even when an assertion fails: cgroups under <cgroup2>/fdp-test-*, network
// namespaces fdp-*, processes they started, and the real agent binary. Nothing else
// on the host is touched.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "tests/support/netns.h"
#include "tests/support/process.h"

namespace fdp {

using namespace std::chrono_literals;

// "fdp-<test pid>-<what>": unique per test process, so parallel runs never collide.
std::string unique(const std::string& what);

// What a command gave: code (exit status, 128+signal or -1) and out.
using RunResult = firedrill::support::Exec;

// Runs argv (no shell) and collects its output.
using firedrill::support::exec;
inline RunResult run(const std::vector<std::string>& argv, std::chrono::milliseconds timeout = 30s) {
  return exec(argv, timeout);
}
// Runs a /bin/sh -c command.
using firedrill::support::sh;
// A file's whole content.
using firedrill::support::read_file;

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// The cgroup v2 mount, found the way the agent finds it.
std::string cgroup_root();

// <cgroup2>/fdp-test-<pid>-<name> and its children; on destruction everything in it
// is killed (cgroup.kill), thawed, and the directories removed bottom-up.
class TestCgroup {
 public:
  explicit TestCgroup(const std::string& name);
  ~TestCgroup();
  TestCgroup(const TestCgroup&) = delete;
  TestCgroup& operator=(const TestCgroup&) = delete;

  const std::string& path() const { return path_; }  // the directory
  std::string rel() const;                            // "/fdp-test-..." below the root
  // Creates (if needed) a child cgroup and returns its directory.
  std::string child(const std::string& sub) const;
  std::vector<pid_t> procs() const;  // recursive
  bool frozen() const;

 private:
  std::string path_;
};

// A network namespace fdp-<pid>-<what> (ip netns add) with its loopback up; deleted
// on destruction.
class Netns : public firedrill::support::Netns {
 public:
  explicit Netns(const std::string& what);
  // Runs a command inside (ip netns exec).
  RunResult exec(const std::string& command) const;
};

// Connects a veth pair: a_if in `a` with a_cidr, b_if in `b` with b_cidr; both up.
void veth(const Netns& a, const std::string& a_if, const std::string& a_cidr, const Netns& b,
          const std::string& b_if, const std::string& b_cidr);

// A child process of the test, optionally started inside a cgroup and a network
// namespace; SIGKILLed and reaped on destruction.
class Child {
 public:
  Child() = default;
  static Child spawn(const std::vector<std::string>& argv, const std::string& cgroup_dir = "",
                     const Netns* ns = nullptr, const std::string& output = "");
  ~Child();
  Child(Child&& o) noexcept;
  Child& operator=(Child&& o) noexcept;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }
  // Not exited yet (reaps it when it has).
  bool alive();
  // Waits for the exit; returns the status as run() reports it, or -1 on timeout.
  int wait(std::chrono::milliseconds timeout);
  void kill9();

 private:
  pid_t pid_ = -1;
  int status_ = -1;
};

// The real agent binary, started with a local control socket and its own state dir.
class Agent {
 public:
  struct Options {
    std::vector<std::string> args;  // more options (--interface, --workload-cgroup, ...)
    std::string state_dir;          // default: a directory of the test
    std::string cgroup_dir;         // start it inside this cgroup
    const Netns* ns = nullptr;      // and this network namespace
  };
  explicit Agent(Options options);
  ~Agent();  // SIGTERM (reverting its faults), SIGKILL if it lingers
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // `firedrill-agent ctl --socket <ours> ARGS...`
  RunResult ctl(const std::vector<std::string>& args) const;
  // apply --id ID --for LEASE --spec SPEC
  RunResult apply(const std::string& id, const std::string& lease, const std::string& spec) const;

  pid_t pid() const { return child_.pid(); }
  bool running() { return child_.alive(); }
  void kill9();
  // Stops it politely (SIGTERM) and waits.
  int stop();
  std::string log() const;
  bool wait_log(const std::string& needle, std::chrono::milliseconds timeout) const;
  const std::string& state_dir() const { return state_dir_; }
  const std::string& socket() const { return socket_; }

 private:
  TempDir dir_;
  std::string socket_, state_dir_, log_path_;
  Child child_;
};

std::string agent_binary();

// Connects to ip:port from inside `ns` (nullptr: the test's own namespace) and reads
// the server's first bytes; true if a server accepted and answered within `timeout`.
bool tcp_answers(const Netns* ns, const std::string& ip, uint16_t port,
                 std::chrono::milliseconds timeout = 500ms);

// Polls `pred` every 10ms until it holds or `timeout` passes.
template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    struct timespec ts{0, 10'000'000};
    nanosleep(&ts, nullptr);
  }
  return pred();
}

// Copies a binary to DIR/NAME: a unique executable (its own inode, its own comm) that
// only the test's processes run, so exe and comm selectors touch nothing else.
std::string private_copy(const std::string& binary, const TempDir& dir, const std::string& name);

// Whether the process runs (a zombie does not).
bool process_exists(pid_t pid);

}  // namespace fdp
