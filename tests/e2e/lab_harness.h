// Drives the lab fleet (deploy/lab/lab.sh) from e2e tests: brings a lab up under a
// name of its own (so a developer's lab is never touched), talks to its agents and its
// Redis the way an operator would (firedrill-agent ctl, lab-redis), reads its Sentinel
// logs, and proves after `down` that nothing of it is left.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace firedrill::e2e {

struct Run {
  int status = -1;     // exit status, or -1 when it did not exit normally
  std::string output;  // stdout and stderr together
};

// Runs `command` with /bin/sh, from the repository root.
Run sh(const std::string& command);

// Quotes a word for /bin/sh.
std::string quote(const std::string& word);

// Where the build put its binaries (the CMake binary directory of this build).
std::string build_dir();

using WallTime = std::chrono::system_clock::time_point;

// A process identity that survives pid reuse: pid and its start time in clock ticks.
struct ProcessId {
  int pid = 0;
  unsigned long long start = 0;
  auto operator<=>(const ProcessId&) const = default;
};
bool alive(const ProcessId& p);

// Every `+switch-master` line in a Sentinel log, with its time (Sentinel logs UTC here).
struct SwitchMaster {
  WallTime at;
  std::string from, to;  // "ip:port"
};
std::vector<SwitchMaster> switch_masters(const std::string& log_path);

// Holds the lab test lock: test processes of every build directory on this machine
// use the same lab name, so they take turns for the whole life of a lab (and the
// timing of one drill is not disturbed by another's). Waits up to 15 minutes.
class LabLock {
 public:
  LabLock();
  ~LabLock();
  LabLock(const LabLock&) = delete;
  LabLock& operator=(const LabLock&) = delete;
  bool held() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

class Lab {
 public:
  static constexpr const char* kName = "fdlt";

  enum class Controller { kNone, kServe, kTwoOnPostgres };

  // Brings the lab up (with the controller of this build in ops, for kServe; one in
  // each data centre on a PostgreSQL in chuncheon, for kTwoOnPostgres: lab.sh
  // --controllers 2); records a test failure when it cannot.
  explicit Lab(const std::string& placement, Controller controller = Controller::kNone);
  // Takes the lab down if the test did not.
  ~Lab();
  Lab(const Lab&) = delete;
  Lab& operator=(const Lab&) = delete;

  const std::string& placement() const { return placement_; }
  std::string dir() const;                     // /run/firedrill-lab/fdlt
  std::string cgroup() const { return cgroup_path(); }
  static std::string cgroup_path();            // <cgroup2>/firedrill-lab/fdlt
  std::string host_dir(const std::string& host) const;
  std::string socket(const std::string& host) const;
  std::string sentinel_log(const std::string& host) const;

  std::vector<std::string> hosts_in(const std::string& dc) const;  // p1-h1 ... by tag dc
  std::string ip(const std::string& host) const;

  // firedrill-agent ctl against a host's agent: "apply --id x --for 10s --spec '...'".
  Run ctl(const std::string& host, const std::string& args) const;
  // deploy/lab/bin/lab-redis against this lab: "primary", "write 3", "read".
  Run redis(const std::string& args) const;
  // An HTTP GET through HAProxy in ops; the body, or nullopt on failure.
  std::optional<std::string> http_get() const;
  Run status() const;

  // The controller's API socket and store (kServe).
  std::string api() const { return dir() + "/controller.sock"; }
  // A controller's API socket with kTwoOnPostgres ("pg-ops", "cc-ops").
  std::string api_of(const std::string& host) const { return host_dir(host) + "/controller.sock"; }
  static std::string controller_state();
  // build/controller/firedrill with FIREDRILL_API set to this lab's controller.
  Run firedrill(const std::string& args) const;

  // What the lab is made of right now: its processes and the BPF programs its agents hold.
  std::set<ProcessId> processes() const;
  std::set<int> agent_bpf_programs() const;

  // Runs `lab.sh down --purge` and checks that no namespace, cgroup, link, BPF program (of
  // `programs`) or process (of `processes`) of the lab is left; returns the failures.
  std::vector<std::string> down_and_check(const std::set<ProcessId>& processes,
                                          const std::set<int>& programs);

 private:
  LabLock lock_;  // first: taken before the lab is up, released after it is down
  std::string placement_;
  bool up_ = false;
};

// Polls `probe` every `every` until it returns true or `within` passes.
template <typename F>
bool eventually(F probe, std::chrono::milliseconds within, std::chrono::milliseconds every) {
  auto deadline = std::chrono::steady_clock::now() + within;
  while (true) {
    if (probe()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(every);
  }
}

double seconds_between(WallTime a, WallTime b);

}  // namespace firedrill::e2e
