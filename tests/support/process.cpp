#include "tests/support/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

extern char** environ;

namespace firedrill::support {

Exec exec(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
  Exec out;
  if (argv.empty()) return out;
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) {
    out.out = std::string("pipe: ") + std::strerror(errno);
    return out;
  }
  // posix_spawn rather than fork: it does not copy the test's address space, so the
  // start of a command costs the same in a large process (bench/net times commands
  // such as `iptables -A` from their call), and a thread inside a namespace spawns
  // its command there.
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
  posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  int err = posix_spawnp(&pid, args[0], &fa, &attr, args.data(), environ);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&fa);
  ::close(pipefd[1]);
  if (err != 0) {
    ::close(pipefd[0]);
    out.out = std::string("cannot run ") + argv[0] + ": " + std::strerror(err);
    return out;
  }
  auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[4096];
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      ::kill(-pid, SIGKILL);
      out.out += "\n[timed out after " + std::to_string(timeout.count()) + " ms]";
      break;
    }
    pollfd p{pipefd[0], POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(left.count()));
    if (r <= 0) continue;
    ssize_t n = ::read(pipefd[0], buf, sizeof buf);
    if (n <= 0) break;
    out.out.append(buf, static_cast<size_t>(n));
  }
  ::close(pipefd[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  out.code = WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
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

}  // namespace firedrill::support
