#include "tests/support/process.h"

#include <signal.h>
#include <sys/wait.h>

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "common/spawn.h"

namespace firedrill::support {

Exec exec(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
  Exec out;
  if (argv.empty()) return out;
  SpawnOptions o;
  o.argv = argv;
  o.timeout = timeout;
  o.merge_stderr = true;
  o.max_output = 64u << 20;
  // Labs start daemons in the background (`... &`): they outlive the command.
  o.keep_group = true;
  auto r = spawn(o);
  out.out = std::move(r.out);
  if (!r.started) {
    out.out = "cannot run " + argv[0] + ": " + r.error;
  } else if (r.timed_out) {
    out.out += "\n[timed out after " + std::to_string(timeout.count()) + " ms]";
    out.code = 128 + SIGKILL;
  } else {
    out.code = r.status();
  }
  return out;
}

Exec sh(const std::string& command, std::chrono::milliseconds timeout) {
  return exec({"/bin/sh", "-c", command}, timeout);
}

std::string must(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
  auto r = exec(argv, timeout);
  if (r.code != 0) throw std::runtime_error(join(argv) + " failed (" + std::to_string(r.code) + "): " + r.out);
  return r.out;
}

std::string join(const std::vector<std::string>& argv) {
  std::string s;
  for (const auto& a : argv) s += (s.empty() ? "" : " ") + a;
  return s;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void stop_group(int pid, std::chrono::milliseconds grace) {
  if (pid <= 0) return;
  ::kill(-pid, SIGTERM);
  auto until = std::chrono::steady_clock::now() + grace;
  while (::waitpid(pid, nullptr, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() >= until) {
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      return;
    }
    std::this_thread::sleep_for(50ms);
  }
}

}  // namespace firedrill::support
