#include "agent/proc/cgroup.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "agent/bpf/features.h"
#include "common/spawn.h"
#include "common/time.h"

namespace firedrill::agent::proc {
namespace {

namespace fs = std::filesystem;

std::string strip_trailing_slashes(std::string s) {
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

Result<std::string> read_fd(int fd) {
  std::string out;
  char buf[4096];
  if (::lseek(fd, 0, SEEK_SET) < 0) return sys_error(errno, "seek");
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return sys_error(errno, "read");
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

int parse_event(const std::string& text, const char* key) {
  std::istringstream in(text);
  std::string k;
  int v = 0;
  while (in >> k >> v) {
    if (k == key) return v;
  }
  return -1;
}

}  // namespace

Result<std::string> cgroup2_root() {
  // Read once: the mount does not move while the agent runs.
  static const Result<std::string> root = bpf::find_cgroup2_mount();
  return root;
}

Result<CgroupRef> resolve_cgroup(const std::string& root, const std::string& spec) {
  if (spec.empty()) return make_error("cgroup path is empty");
  std::string s = strip_trailing_slashes(spec);
  std::string rootp = strip_trailing_slashes(root);
  if (s == rootp) {
    s = "/";
  } else if (s.rfind(rootp + "/", 0) == 0) {
    s = s.substr(rootp.size());
  }
  std::string rel;
  size_t start = 0;
  while (start <= s.size()) {
    size_t slash = s.find('/', start);
    std::string part = s.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (part == "." || part == "..") {
      return make_error("cgroup path '{}': '{}' is not allowed (name a cgroup below {})", spec, part, rootp);
    }
    if (!part.empty()) rel += "/" + part;
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  if (rel.empty()) rel = "/";
  CgroupRef ref;
  ref.rel = rel;
  ref.path = rel == "/" ? rootp : rootp + rel;
  struct stat st {};
  if (::stat(ref.path.c_str(), &st) != 0) {
    int err = errno;
    if (err == ENOENT) return make_error("cgroup '{}' does not exist (no {})", spec, ref.path);
    return sys_error(err, "cgroup '{}': stat {}", spec, ref.path);
  }
  if (!S_ISDIR(st.st_mode) || ::access((ref.path + "/cgroup.procs").c_str(), F_OK) != 0) {
    return make_error("cgroup '{}': {} is not a cgroup v2 directory", spec, ref.path);
  }
  ref.id = st.st_ino;
  return ref;
}

Result<std::string> cgroup_of_pid(pid_t pid) {
  std::string file = fmt::format("/proc/{}/cgroup", pid);
  std::ifstream in(file);
  if (!in) return sys_error(errno ? errno : ESRCH, "read {}", file);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("0::", 0) == 0) return strip_trailing_slashes(line.substr(3));
  }
  return make_error("{} has no cgroup v2 line (0::...)", file);
}

bool cgroup_contains(const std::string& ancestor, const std::string& rel) {
  if (ancestor == "/" || ancestor == rel) return true;
  return rel.size() > ancestor.size() && rel.compare(0, ancestor.size(), ancestor) == 0 &&
         rel[ancestor.size()] == '/';
}

Result<std::vector<pid_t>> cgroup_procs(const std::string& path, bool recursive) {
  std::vector<pid_t> out;
  std::vector<std::string> dirs{path};
  while (!dirs.empty()) {
    std::string dir = std::move(dirs.back());
    dirs.pop_back();
    std::ifstream in(dir + "/cgroup.procs");
    if (!in) {
      // A child cgroup removed while we walk is fine; the top one must be there.
      if (dir == path) return sys_error(errno, "read {}/cgroup.procs", dir);
      continue;
    }
    pid_t pid;
    while (in >> pid) out.push_back(pid);
    if (!recursive) continue;
    std::error_code ec;
    for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
      if (it->is_directory(ec)) dirs.push_back(it->path().string());
    }
  }
  return out;
}

Result<void> write_cgroup_file(const std::string& path, const char* file, const std::string& value) {
  std::string p = path + "/" + file;
  int fd = ::open(p.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return sys_error(errno, "open {}", p);
  ssize_t n = ::write(fd, value.data(), value.size());
  int err = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(value.size())) return sys_error(err, "write '{}' to {}", value, p);
  return ok();
}

Result<std::string> read_cgroup_file(const std::string& path, const char* file) {
  std::string p = path + "/" + file;
  int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return sys_error(errno, "open {}", p);
  auto r = read_fd(fd);
  ::close(fd);
  if (!r) return r.error().context(p);
  return r;
}

Result<int> cgroup_event(const std::string& path, const char* key) {
  FD_ASSIGN(text, read_cgroup_file(path, "cgroup.events"), "cgroup events");
  return parse_event(text, key);
}

Result<void> wait_cgroup_event(const std::string& path, const char* key, int value,
                               std::chrono::milliseconds timeout) {
  std::string p = path + "/cgroup.events";
  int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return sys_error(errno, "open {}", p);
  auto deadline = SteadyClock::now() + timeout;
  int last = -1;
  Result<void> result = ok();
  while (true) {
    // Reading through the same fd re-arms its change notification, so a change after
    // this read wakes the poll below.
    auto text = read_fd(fd);
    if (!text) {
      result = text.error().context(p);
      break;
    }
    last = parse_event(*text, key);
    if (last == value) break;
    auto left = std::chrono::duration_cast<Millis>(deadline - SteadyClock::now());
    if (left <= Millis::zero()) {
      result = make_error("{}: '{}' is still {} after {} (waited for {})", p, key, last,
                          format_duration(timeout), value);
      break;
    }
    pollfd pfd{fd, POLLPRI, 0};
    // The tick bounds a missed notification; normally the change wakes us first.
    ::poll(&pfd, 1, static_cast<int>(std::min<int64_t>(left.count() + 1, 20)));
  }
  ::close(fd);
  return result;
}

Result<void> set_frozen(const std::string& path, bool frozen, std::chrono::milliseconds timeout) {
  FD_TRY(write_cgroup_file(path, "cgroup.freeze", frozen ? "1" : "0"), "{} cgroup", frozen ? "freeze" : "thaw");
  FD_TRY(wait_cgroup_event(path, "frozen", frozen ? 1 : 0, timeout), "{} cgroup", frozen ? "freeze" : "thaw");
  return ok();
}

Result<bool> thaw_if_present(const std::string& path, uint64_t expected_id, std::chrono::milliseconds timeout) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || (expected_id != 0 && st.st_ino != expected_id)) return false;
  auto r = set_frozen(path, false, timeout);
  if (!r) {
    // Removed while we were at it: gone is thawed.
    if (::stat(path.c_str(), &st) != 0 || (expected_id != 0 && st.st_ino != expected_id)) return false;
    return r.error();
  }
  return true;
}

Result<int> run_in_cgroup(const std::string& command, const std::string& cgroup_path,
                          const std::string& log_path, std::chrono::milliseconds timeout) {
  SpawnOptions o;
  o.argv = {"/bin/sh", "-c", command};
  o.cgroup = cgroup_path;
  o.output_file = log_path.empty() ? "/dev/null" : log_path;
  o.timeout = timeout;
  // Background jobs it started are the services it booted: they live on.
  o.keep_group = true;
  auto r = spawn(o);
  if (!r.started) return make_error("'{}': {}", command, r.error);
  if (r.timed_out) {
    return make_error("'{}' still ran after {}: killed with its process group", command, format_duration(timeout));
  }
  return r.status();
}

}  // namespace firedrill::agent::proc
