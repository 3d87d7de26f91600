// The one way firedrill starts a child process (probes' commands, the agent's boot
// hooks, the test suites' commands): no shell unless asked for, stdin /dev/null, its
// own process group, default signal dispositions and an empty signal mask (the
// daemons block their stop signals and ignore SIGPIPE; a child must not inherit
// that), bounded in time, its output captured up to a byte cap or written to a file.
//
// A child that overstays its timeout is SIGKILLed with its whole process group. The
// group is also killed once the child has exited (leftovers it started in the
// background) unless `keep_group` says otherwise (boot hooks start services that
// outlive them). The child's exit is noticed without reaping it, so its process group
// id cannot be reused before the group kill.
//
// Started with posix_spawn (no copy of the parent's address space); a child that must
// start inside a cgroup (`cgroup`) or a network namespace (`netns`), or die with its
// parent (`die_with_parent`), is forked and sets that up itself before exec, so it is
// never seen running outside it (or orphaned).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "common/result.h"

namespace firedrill {

struct SpawnOptions {
  std::vector<std::string> argv;             // argv[0] is looked up in PATH
  std::map<std::string, std::string> env;    // set on top of this process's environment
  std::chrono::nanoseconds timeout = std::chrono::seconds(30);
  size_t max_output = 64 * 1024;             // bytes kept of each of stdout and stderr
  bool merge_stderr = false;                 // stderr into `out`
  std::string output_file;                   // append stdout and stderr here instead (0600)
  std::string cgroup;                        // a cgroup v2 directory to start the child in
  std::string netns;                         // a network namespace file (/run/netns/NAME) to start it in
  bool die_with_parent = false;              // SIGKILLed when this process dies (PR_SET_PDEATHSIG)
  // start() only: a daemon's own worker (the agent under its watcher) stays in this
  // process's group and writes to its stdout and stderr.
  bool worker = false;
  bool keep_group = false;                   // leave what it left running after it exits
};

struct SpawnResult {
  bool started = false;
  std::string error;        // why it could not start
  int exit_code = -1;
  int signal = 0;           // the signal that ended it
  bool timed_out = false;   // killed (with its group) at the timeout
  std::string out, err;     // capped at max_output each
  bool truncated = false;   // output beyond the cap was dropped

  // The exit status, 128 + signal, or -1 (not started, timed out).
  int status() const;
  // "exit 2: <first line of stderr>", "killed by signal 9", "timed out after 5s",
  // "could not start: ...".
  std::string describe() const;
};

// Runs the child to its end (or its timeout).
SpawnResult spawn(const SpawnOptions& options);

// Starts the child and returns at once (daemons a test or a bench drives): its pid,
// which is also its process group id (unless `worker`). Its output goes to
// `output_file` (/dev/null when empty); `timeout`, `max_output`, `merge_stderr` and
// `keep_group` do not apply: the caller waits for it and ends it (kill(-pid, ...)
// reaches what it started).
Result<pid_t> start(const SpawnOptions& options);

}  // namespace firedrill
