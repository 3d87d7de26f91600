#include "common/spawn.h"

#include <fcntl.h>
#include <sched.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "common/result.h"
#include "common/time.h"

extern char** environ;

namespace firedrill {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::duration_cast;
using std::chrono::milliseconds;

struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  void reset() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

void drain(int fd, std::string* into, size_t max, bool* open, bool* truncated) {
  char buf[4096];
  ssize_t n = ::read(fd, buf, sizeof buf);
  if (n > 0) {
    size_t room = into->size() < max ? max - into->size() : 0;
    into->append(buf, std::min(static_cast<size_t>(n), room));
    if (static_cast<size_t>(n) > room) *truncated = true;
  } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
    *open = false;
  }
}

// argv[0] as execve needs it: a path, found in PATH when it has no '/'.
std::string resolve(const std::string& name, const std::vector<std::string>& env) {
  if (name.find('/') != std::string::npos) return name;
  std::string path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  for (auto& kv : env) {
    if (kv.starts_with("PATH=")) path = kv.substr(5);
  }
  size_t from = 0;
  while (from <= path.size()) {
    size_t to = path.find(':', from);
    if (to == std::string::npos) to = path.size();
    std::string dir = path.substr(from, to - from);
    std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    from = to + 1;
  }
  return name;
}

// Forks a child that moves itself into the network namespace and the cgroup (their
// files opened before the fork; -1: stay), then execs: after fork, in a threaded
// process, only async-signal-safe calls.
int fork_into(pid_t* pid, const char* path, char* const argv[], char* const envp[], int procs_fd, int ns_fd,
              bool die_with_parent, bool own_group, int in_fd, int out_fd, int err_fd) {
  static const char kMoveFailed[] = "cannot move the child into its cgroup\n";
  static const char kNetnsFailed[] = "cannot move the child into its network namespace\n";
  pid_t parent = ::getpid();
  pid_t child = ::fork();
  if (child < 0) return errno;
  if (child == 0) {
    if (die_with_parent) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);  // the parent died before the prctl
    }
    if (ns_fd >= 0 && ::setns(ns_fd, CLONE_NEWNET) != 0) {
      (void)!::write(err_fd, kNetnsFailed, sizeof kNetnsFailed - 1);
      ::_exit(126);
    }
    if (procs_fd >= 0 && ::write(procs_fd, "0", 1) != 1) {
      (void)!::write(err_fd, kMoveFailed, sizeof kMoveFailed - 1);
      ::_exit(126);
    }
    if (own_group) ::setpgid(0, 0);
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; ++s) ::sigaction(s, &dfl, nullptr);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::dup2(in_fd, 0);
    ::dup2(out_fd, 1);
    ::dup2(err_fd, 2);
    ::execve(path, argv, envp);
    ::_exit(127);
  }
  *pid = child;
  return 0;
}

}  // namespace

int SpawnResult::status() const {
  if (!started || timed_out) return -1;
  return signal ? 128 + signal : exit_code;
}

std::string SpawnResult::describe() const {
  if (!started) return "could not start: " + error;
  if (timed_out) return "timed out";
  std::string what = signal ? fmt::format("killed by signal {}", signal) : fmt::format("exit {}", exit_code);
  std::string e = err.substr(0, err.find('\n'));
  if (e.size() > 200) e = e.substr(0, 200) + "...";
  return e.empty() ? what : what + ": " + e;
}

namespace {

// Starts the child with stdout on out_fd and stderr on err_fd; 0 or an errno, with
// what failed in *error.
int launch(const SpawnOptions& o, int out_fd, int err_fd, pid_t* pid, std::string* error) {
  if (o.argv.empty()) {
    *error = "empty argv";
    return EINVAL;
  }
  std::vector<std::string> env_strings;
  for (char** e = environ; e && *e; ++e) {
    std::string kv = *e;
    if (!o.env.count(kv.substr(0, kv.find('=')))) env_strings.push_back(std::move(kv));
  }
  for (const auto& [k, v] : o.env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp, args;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv = o.argv;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);

  Fd null_in(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (null_in.fd < 0) {
    int err = errno;
    *error = fmt::format("open /dev/null: {}", std::strerror(err));
    return err;
  }
  int rc = 0;
  if (!o.cgroup.empty() || !o.netns.empty() || o.die_with_parent || o.worker) {
    Fd procs_fd, ns_fd;
    auto open_or_fail = [&](Fd& fd, const std::string& file, int flags) {
      fd.fd = ::open(file.c_str(), flags | O_CLOEXEC);
      if (fd.fd >= 0) return 0;
      int err = errno;
      *error = fmt::format("open {}: {}", file, std::strerror(err));
      return err;
    };
    if (!o.cgroup.empty()) {
      if (int err = open_or_fail(procs_fd, o.cgroup + "/cgroup.procs", O_WRONLY)) return err;
    }
    if (!o.netns.empty()) {
      if (int err = open_or_fail(ns_fd, o.netns, O_RDONLY)) return err;
    }
    std::string path = resolve(o.argv[0], env_strings);
    rc = fork_into(pid, path.c_str(), args.data(), envp.data(), procs_fd.fd, ns_fd.fd, o.die_with_parent, !o.worker,
                   null_in.fd, out_fd, err_fd);
  } else {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, null_in.fd, 0);
    posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
    posix_spawn_file_actions_adddup2(&fa, err_fd, 2);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setpgroup(&attr, 0);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    sigset_t dfl;
    sigfillset(&dfl);
    posix_spawnattr_setsigdefault(&attr, &dfl);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    rc = posix_spawnp(pid, args[0], &fa, &attr, args.data(), envp.data());
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
  }
  if (rc != 0) *error = fmt::format("{}: {}", o.argv[0], std::strerror(rc));
  return rc;
}

int open_output(const std::string& path) {
  return ::open(path.empty() ? "/dev/null" : path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
}

}  // namespace

Result<pid_t> start(const SpawnOptions& o) {
  pid_t pid = -1;
  std::string error;
  if (o.worker) {
    if (launch(o, STDOUT_FILENO, STDERR_FILENO, &pid, &error) != 0) return make_error("{}", error);
    return pid;
  }
  Fd out(open_output(o.output_file));
  if (out.fd < 0) return make_error("open {}: {}", o.output_file.empty() ? "/dev/null" : o.output_file, std::strerror(errno));
  if (launch(o, out.fd, out.fd, &pid, &error) != 0) return make_error("{}", error);
  return pid;
}

SpawnResult spawn(const SpawnOptions& o) {
  SpawnResult r;
  if (o.worker) {
    r.error = "a worker is started with start(), not run to its end";
    return r;
  }
  // Where the output goes: a file, or pipes read below.
  Fd out_r, out_w, err_r, err_w;
  if (!o.output_file.empty()) {
    out_w.fd = open_output(o.output_file);
    if (out_w.fd < 0) {
      r.error = fmt::format("open {}: {}", o.output_file, std::strerror(errno));
      return r;
    }
  } else {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) {
      r.error = fmt::format("pipe: {}", std::strerror(errno));
      return r;
    }
    out_r.fd = p[0];
    out_w.fd = p[1];
    if (!o.merge_stderr) {
      if (::pipe2(p, O_CLOEXEC) != 0) {
        r.error = fmt::format("pipe: {}", std::strerror(errno));
        return r;
      }
      err_r.fd = p[0];
      err_w.fd = p[1];
    }
  }
  pid_t pid = -1;
  int rc = launch(o, out_w.fd, err_w.fd >= 0 ? err_w.fd : out_w.fd, &pid, &r.error);
  out_w.reset();
  err_w.reset();
  if (rc != 0) return r;
  r.started = true;
  if (out_r.fd >= 0) ::fcntl(out_r.fd, F_SETFL, O_NONBLOCK);
  if (err_r.fd >= 0) ::fcntl(err_r.fd, F_SETFL, O_NONBLOCK);
  auto deadline = Clock::now() + duration_cast<Clock::duration>(o.timeout);
  bool out_open = out_r.fd >= 0, err_open = err_r.fd >= 0;
  auto child_exited = [pid] {
    siginfo_t si{};
    return ::waitid(P_PID, static_cast<id_t>(pid), &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid;
  };
  bool exited = false;
  while (true) {
    if (!exited) exited = child_exited();
    if (exited && !out_open && !err_open) break;
    auto left = duration_cast<milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      r.timed_out = !exited;
      break;
    }
    pollfd pfds[2] = {{out_open ? out_r.fd : -1, POLLIN, 0}, {err_open ? err_r.fd : -1, POLLIN, 0}};
    // Until it exits, wake up every 10 ms to notice; after, give what it left behind
    // holding the pipes 50 ms to finish writing.
    int n = ::poll(pfds, 2, static_cast<int>(std::min<long>(left, exited ? 50 : 10)));
    if (n > 0) {
      if (out_open && (pfds[0].revents & (POLLIN | POLLHUP | POLLERR))) {
        drain(out_r.fd, &r.out, o.max_output, &out_open, &r.truncated);
      }
      if (err_open && (pfds[1].revents & (POLLIN | POLLHUP | POLLERR))) {
        drain(err_r.fd, &r.err, o.max_output, &err_open, &r.truncated);
      }
    }
    if (exited && n == 0 && (out_open || err_open)) break;
  }
  if (r.timed_out || !o.keep_group) ::kill(-pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!r.timed_out) {
    if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
  }
  return r;
}

}  // namespace firedrill
