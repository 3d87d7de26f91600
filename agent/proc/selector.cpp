#include "agent/proc/selector.h"

#include <dirent.h>
#include <signal.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <mutex>
#include <fstream>
#include <sstream>

#include <fmt/ranges.h>

#include "proc_fault.h"

namespace firedrill::agent::proc {
namespace {

constexpr unsigned kPfKthread = 0x00200000;  // task flag of kernel threads (include/linux/sched.h)

std::string read_small(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  char buf[256];
  ssize_t n = ::read(fd, buf, sizeof buf);
  ::close(fd);
  if (n <= 0) return {};
  std::string s(buf, static_cast<size_t>(n));
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

bool is_kernel_thread(pid_t pid) {
  std::string stat = read_small(fmt::format("/proc/{}/stat", pid));
  // "pid (comm) state ppid pgrp session tty tpgid flags ...": comm may hold spaces.
  auto close = stat.rfind(')');
  if (close == std::string::npos) return false;
  std::istringstream in(stat.substr(close + 2));
  std::string field;
  for (int i = 0; i < 6 && in >> field; ++i) {
  }
  unsigned long flags = 0;
  in >> flags;
  return (flags & kPfKthread) != 0;
}

// Thread group id of a pid or tid, 0 when it does not exist.
pid_t tgid_of(pid_t pid) {
  std::ifstream in(fmt::format("/proc/{}/status", pid));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("Tgid:", 0) == 0) return static_cast<pid_t>(std::stol(line.substr(5)));
  }
  return 0;
}

bool exe_is(pid_t pid, const std::vector<ExeRef>& exes) {
  if (exes.empty()) return false;
  struct stat st {};
  if (::stat(fmt::format("/proc/{}/exe", pid).c_str(), &st) != 0) return false;
  for (auto& e : exes) {
    if (e.ino == st.st_ino && e.st_dev == st.st_dev) return true;
  }
  return false;
}

template <typename T>
void dedupe(std::vector<T>& v) {
  std::vector<T> out;
  for (auto& x : v) {
    if (std::find(out.begin(), out.end(), x) == out.end()) out.push_back(x);
  }
  v = std::move(out);
}

}  // namespace

Result<ExeRef> exe_ref(const std::string& path) {
  if (path.empty()) return make_error("exe path is empty");
  if (path[0] != '/') return make_error("exe path '{}' is not absolute", path);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    int err = errno;
    if (err == ENOENT) return make_error("exe path '{}' does not exist", path);
    return sys_error(err, "exe path '{}': stat", path);
  }
  if (!S_ISREG(st.st_mode)) return make_error("exe path '{}' is not a regular file", path);
  ExeRef r;
  r.path = path;
  r.ino = st.st_ino;
  r.st_dev = st.st_dev;
  r.kdev = (major(st.st_dev) << 20) | minor(st.st_dev);
  return r;
}

std::string Selection::describe() const {
  std::vector<std::string> parts;
  if (!cgroups.empty()) {
    std::vector<std::string> v;
    for (auto& c : cgroups) v.push_back(c.rel);
    parts.push_back(fmt::format("cgroups [{}]", fmt::join(v, " ")));
  }
  if (!exes.empty()) {
    std::vector<std::string> v;
    for (auto& e : exes) v.push_back(e.path);
    parts.push_back(fmt::format("exe [{}]", fmt::join(v, " ")));
  }
  if (!comms.empty()) parts.push_back(fmt::format("comm [{}]", fmt::join(comms, " ")));
  if (!pids.empty()) parts.push_back(fmt::format("pids [{}]", fmt::join(pids, " ")));
  return fmt::format("{}", fmt::join(parts, ", "));
}

std::string read_comm(pid_t pid) { return read_small(fmt::format("/proc/{}/comm", pid)); }

namespace {
std::mutex protected_mu;
std::vector<std::string> protected_list = kDefaultProtectedComms;
}  // namespace

void set_protected_comms(std::vector<std::string> comms) {
  std::lock_guard lock(protected_mu);
  protected_list = std::move(comms);
}

std::vector<std::string> protected_comms() {
  std::lock_guard lock(protected_mu);
  return protected_list;
}

bool Protected::protects(pid_t pid) const {
  return pid <= 1 || pid == self_pid ||
         std::any_of(processes.begin(), processes.end(), [&](auto& p) { return p.pid == pid; });
}

Protected Protected::current() {
  Protected p;
  p.comms = protected_comms();
  auto add = [&](pid_t pid, std::string why) {
    ProtectedProcess pp;
    pp.pid = pid;
    pp.comm = read_comm(pid);
    if (auto c = cgroup_of_pid(pid)) pp.cgroup = *c;
    if (auto e = exe_ref(fmt::format("/proc/{}/exe", pid))) pp.exe = *e;
    pp.why = std::move(why);
    p.processes.push_back(std::move(pp));
  };
  if (pid_t parent = ::getppid(); parent > 1) add(parent, "the agent's parent (its watcher)");
  if (!p.comms.empty()) {
    if (DIR* d = ::opendir("/proc")) {
      while (dirent* e = ::readdir(d)) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
        pid_t pid = static_cast<pid_t>(std::strtol(e->d_name, nullptr, 10));
        if (pid <= 1 || pid == ::getpid() || pid == ::getppid()) continue;
        std::string comm = read_comm(pid);
        if (comm.empty() || std::find(p.comms.begin(), p.comms.end(), comm) == p.comms.end()) continue;
        if (is_kernel_thread(pid)) continue;
        add(pid, "on the deny list");
      }
      ::closedir(d);
    }
  }
  p.self_pid = ::getpid();
  if (auto c = cgroup_of_pid(p.self_pid)) p.self_cgroup = *c;
  p.self_comm = read_comm(p.self_pid);
  if (auto e = exe_ref("/proc/self/exe")) p.self_exe = *e;
  if (auto c = cgroup_of_pid(1)) p.init_cgroup = *c;
  p.init_comm = read_comm(1);
  if (auto e = exe_ref("/proc/1/exe")) p.init_exe = *e;
  return p;
}

Result<v1::ProcessSelector> expand_workload_cgroups(const v1::ProcessSelector& selector,
                                                    const std::string& workload) {
  v1::ProcessSelector out = selector;
  out.clear_workload_cgroups();
  for (const auto& rel : selector.workload_cgroups()) {
    if (workload.empty()) {
      return make_error("workload cgroup '{}': this agent has no --workload-cgroup to name it below", rel);
    }
    if (!rel.empty() && rel[0] == '/') {
      return make_error("workload cgroup '{}': must be relative to the workload cgroup {}", rel, workload);
    }
    std::string path = workload;
    size_t start = 0;
    while (start <= rel.size()) {
      size_t slash = rel.find('/', start);
      std::string part = rel.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
      if (part == "..") return make_error("workload cgroup '{}': '..' would leave the workload cgroup {}", rel, workload);
      if (!part.empty() && part != ".") path += "/" + part;
      if (slash == std::string::npos) break;
      start = slash + 1;
    }
    out.add_cgroups(path);
  }
  return out;
}

Result<Selection> resolve_selector(const v1::ProcessSelector& s, const Protected& guard,
                                   const std::string& cgroup_root, ResolveOptions options) {
  Selection sel;
  if (s.cgroups_size() + s.exe_paths_size() + s.comms_size() + s.pids_size() == 0) {
    return make_error("process selector is empty: name at least one of cgroups, exe_paths, comms, pids");
  }
  for (auto& spec : s.cgroups()) {
    if (cgroup_root.empty()) return make_error("cgroup '{}': this host has no cgroup v2 mount", spec);
    auto resolved = resolve_cgroup(cgroup_root, spec);
    if (!resolved) return resolved.error();
    auto ref = std::move(*resolved);
    if (!guard.self_cgroup.empty() && cgroup_contains(ref.rel, guard.self_cgroup)) {
      return make_error("cgroup '{}' ({}) holds the agent itself (pid {} in {}): refused", spec, ref.rel,
                        guard.self_pid, guard.self_cgroup);
    }
    if (!guard.init_cgroup.empty() && cgroup_contains(ref.rel, guard.init_cgroup)) {
      return make_error("cgroup '{}' ({}) holds pid 1 (init, in {}): refused", spec, ref.rel, guard.init_cgroup);
    }
    for (auto& p : guard.processes) {
      if (!p.cgroup.empty() && cgroup_contains(ref.rel, p.cgroup)) {
        return make_error("cgroup '{}' ({}) holds {} (pid {}, {}): refused", spec, ref.rel, p.comm, p.pid, p.why);
      }
    }
    sel.cgroups.push_back(std::move(ref));
  }
  for (auto& path : s.exe_paths()) {
    auto resolved = exe_ref(path);
    if (!resolved) return resolved.error();
    auto ref = std::move(*resolved);
    if (guard.self_exe.ino != 0 && ref == guard.self_exe) {
      return make_error("exe path '{}' is the agent's own executable: refused", path);
    }
    if (guard.init_exe.ino != 0 && ref == guard.init_exe) {
      return make_error("exe path '{}' is the executable of pid 1 (init): refused", path);
    }
    for (auto& p : guard.processes) {
      if (p.exe.ino != 0 && ref == p.exe) {
        return make_error("exe path '{}' is the executable of {} (pid {}, {}): refused", path, p.comm, p.pid, p.why);
      }
    }
    sel.exes.push_back(std::move(ref));
  }
  for (auto& comm : s.comms()) {
    if (comm.empty()) return make_error("comm is empty");
    if (comm.size() >= FD_PROC_COMM_LEN) {
      return make_error("comm '{}' is {} characters long; the kernel keeps {} (use '{}' or an exe path)",
                        comm, comm.size(), FD_PROC_COMM_LEN - 1, comm.substr(0, FD_PROC_COMM_LEN - 1));
    }
    if (comm.find('\0') != std::string::npos || comm.find('\n') != std::string::npos) {
      return make_error("comm holds a NUL or newline");
    }
    if (comm == guard.self_comm) return make_error("comm '{}' is the agent's own: refused", comm);
    if (comm == guard.init_comm) return make_error("comm '{}' is that of pid 1 (init): refused", comm);
    if (std::find(guard.comms.begin(), guard.comms.end(), comm) != guard.comms.end()) {
      return make_error("comm '{}' is on the deny list ({}): refused", comm, fmt::join(guard.comms, ", "));
    }
    for (auto& p : guard.processes) {
      if (comm == p.comm) return make_error("comm '{}' is that of {} (pid {}): refused", comm, p.why, p.pid);
    }
    sel.comms.push_back(comm);
  }
  for (uint32_t raw : s.pids()) {
    auto pid = static_cast<pid_t>(raw);
    if (raw == 0 || raw > 0x3fffffff) return make_error("pid {} is not a process id", raw);
    if (pid == 1) return make_error("pid 1 (init) is never touched: refused");
    pid_t tgid = tgid_of(pid);
    if (tgid == 0) {
      if (options.pids_must_exist) return make_error("pid {} does not exist", pid);
      tgid = pid;
    }
    if (tgid == guard.self_pid) {
      return make_error("pid {} is the agent itself{}: refused", pid,
                        tgid == pid ? "" : fmt::format(" (a thread of pid {})", tgid));
    }
    if (tgid == 1) return make_error("pid {} is a thread of pid 1 (init): refused", pid);
    for (auto& p : guard.processes) {
      if (tgid == p.pid) {
        if (p.pid == ::getppid()) return make_error("pid {} is the agent itself (its watcher, {}): refused", pid, p.comm);
        return make_error("pid {} is {} ({}): refused", pid, p.comm, p.why);
      }
    }
    if (is_kernel_thread(tgid)) return make_error("pid {} is a kernel thread", pid);
    sel.pids.push_back(tgid);
  }
  dedupe(sel.exes);
  dedupe(sel.comms);
  dedupe(sel.pids);
  std::vector<CgroupRef> cgs;
  for (auto& c : sel.cgroups) {
    if (std::none_of(cgs.begin(), cgs.end(), [&](auto& o) { return o.rel == c.rel; })) cgs.push_back(c);
  }
  sel.cgroups = std::move(cgs);
  return sel;
}

bool process_matches(pid_t pid, const Selection& sel) {
  if (std::find(sel.pids.begin(), sel.pids.end(), pid) != sel.pids.end()) return true;
  if (!sel.comms.empty()) {
    std::string comm = read_comm(pid);
    if (!comm.empty() && std::find(sel.comms.begin(), sel.comms.end(), comm) != sel.comms.end()) {
      return !is_kernel_thread(pid);
    }
  }
  return exe_is(pid, sel.exes);
}

std::vector<pid_t> scan_processes(const Selection& sel, const Protected& guard) {
  std::vector<pid_t> out;
  auto allowed = [&](pid_t pid) { return !guard.protects(pid); };
  if (sel.exes.empty() && sel.comms.empty()) {
    for (pid_t pid : sel.pids) {
      if (allowed(pid) && ::kill(pid, 0) == 0) out.push_back(pid);
    }
    return out;
  }
  DIR* d = ::opendir("/proc");
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (*end != '\0' || !allowed(static_cast<pid_t>(pid))) continue;
    if (process_matches(static_cast<pid_t>(pid), sel)) out.push_back(static_cast<pid_t>(pid));
  }
  ::closedir(d);
  return out;
}

}  // namespace firedrill::agent::proc
