// Commands and files for the privileged suites (net, proc, ctl, e2e): running ip(8),
// the agent's ctl and the firedrill CLI with a bound on time, and reading what they
// wrote. Everything a command starts lives in its own process group, so that a
// command that overstays is killed with all it started, and nothing else is touched.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace firedrill::support {

using namespace std::chrono_literals;

struct Exec {
  int code = -1;    // exit status, 128+signal, or -1 when it could not be started
  std::string out;  // stdout and stderr together
};

// Runs argv (no shell; stdin /dev/null) and waits up to `timeout`; past it, its
// process group is SIGKILLed and the output ends with a note saying so.
Exec exec(const std::vector<std::string>& argv, std::chrono::milliseconds timeout = 30s);
// Runs a /bin/sh -c command, as exec.
Exec sh(const std::string& command, std::chrono::milliseconds timeout = 30s);
// Like exec, but throws std::runtime_error naming the command when it fails.
std::string must(const std::vector<std::string>& argv, std::chrono::milliseconds timeout = 30s);

// "a b c", for messages.
std::string join(const std::vector<std::string>& argv);

// Stops a process this test started as the leader of its own group (common/spawn's
// start): SIGTERM to the group, up to `grace` for it to exit, then SIGKILL; reaped.
void stop_group(int pid, std::chrono::milliseconds grace = 5s);

// A file's whole content ("" when it cannot be read).
std::string read_file(const std::string& path);

}  // namespace firedrill::support
