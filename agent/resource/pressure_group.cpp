#include "agent/resource/pressure_group.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include "agent/proc/cgroup.h"
#include "common/log.h"

namespace firedrill::agent::resource {
namespace {

auto log() {
  static auto l = logger("agent.resource");
  return l;
}

constexpr auto kRemoveTimeout = std::chrono::seconds(10);

// ---- code that runs in forked children: system calls only, no allocation, no locks.

int64_t mono_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

void sleep_ns(int64_t ns) {
  timespec ts{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
  while (::nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

// Keeps SRC[i] as descriptor 3+i and closes every other descriptor of the agent's;
// 0-2 become /dev/null. A session of its own: a terminal's signals to the agent's
// process group do not reach it.
void isolate(const int* src, int n, const char* name) {
  ::setsid();
  ::prctl(PR_SET_NAME, name, 0, 0, 0);
  int high[4];
  for (int i = 0; i < n; ++i) high[i] = ::fcntl(src[i], F_DUPFD, 64);
  for (int i = 0; i < n; ++i) ::dup2(high[i], 3 + i);
  ::syscall(SYS_close_range, 3 + n, ~0U, 0);
  int null = ::open("/dev/null", O_RDWR);
  if (null >= 0) {
    ::dup2(null, 0);
    ::dup2(null, 1);
    ::dup2(null, 2);
    if (null > 2) ::close(null);
  }
  sigset_t none;
  ::sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
}

[[noreturn]] void cpu_worker(double percent) {
  constexpr int64_t kPeriod = 100'000'000;
  const auto busy = static_cast<int64_t>(double(kPeriod) * percent / 100.0);
  volatile uint64_t spin = 0;  // keeps the loop from being optimized away
  for (;;) {
    int64_t start = mono_ns();
    while (mono_ns() - start < busy) spin = spin + 1;
    if (busy < kPeriod) sleep_ns(kPeriod - (mono_ns() - start));
  }
}

[[noreturn]] void memory_worker(uint64_t bytes, int ready_fd) {
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) ::_exit(2);
  auto* bytes_p = static_cast<volatile char*>(p);
  long page = ::sysconf(_SC_PAGESIZE);  // async-signal-safe in glibc (a constant)
  for (uint64_t off = 0; off < bytes; off += uint64_t(page)) bytes_p[off] = 1;
  char r = 'r';
  (void)!::write(ready_fd, &r, 1);
  ::close(ready_fd);
  for (;;) ::pause();
}

[[noreturn]] void io_worker(uint64_t bytes, int fd) {
  constexpr size_t kChunk = 1 << 20;
  void* b = ::mmap(nullptr, kChunk, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (b == MAP_FAILED) ::_exit(2);
  auto* buf = static_cast<char*>(b);
  for (size_t i = 0; i < kChunk; ++i) buf[i] = static_cast<char>(i * 131 + 7);
  for (;;) {
    for (uint64_t off = 0; off < bytes; off += kChunk) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(kChunk, bytes - off));
      if (::pwrite(fd, buf, n, static_cast<off_t>(off)) < 0) sleep_ns(100'000'000);  // ENOSPC: wait, retry
    }
    ::fdatasync(fd);
    // Dropped from the page cache, so that the reads go to the device too.
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    for (uint64_t off = 0; off < bytes; off += kChunk) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(kChunk, bytes - off));
      (void)!::pread(fd, buf, n, static_cast<off_t>(off));
    }
  }
}

// Waits until every writer of descriptor 3 is gone (the agent exited, however), then
// undoes what the fault made. Everything it touches was prepared before fork().
[[noreturn]] void guard_until_agent_exits(const char* kill_file, const char* const* dirs, const char* const* files) {
  char c;
  for (;;) {
    ssize_t n = ::read(3, &c, 1);
    if (n == 0) break;
    if (n < 0 && errno != EINTR) break;
  }
  if (kill_file) {
    int fd = ::open(kill_file, O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
      (void)!::write(fd, "1", 1);
      ::close(fd);
    }
  }
  for (const char* const* f = files; *f; ++f) ::unlink(*f);
  int64_t deadline = mono_ns() + 10'000'000'000LL;
  for (;;) {
    bool left = false;
    for (const char* const* d = dirs; *d; ++d) {
      if (::rmdir(*d) != 0 && errno != ENOENT) left = true;
    }
    if (!left || mono_ns() > deadline) break;
    sleep_ns(20'000'000);
  }
  ::_exit(0);
}

// ---- the agent's side

Result<void> make_dir(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0755) != 0) return sys_error(errno, "mkdir {}", dir);
  return ok();
}

Result<void> join(const std::string& dir, pid_t pid) {
  return proc::write_cgroup_file(dir, "cgroup.procs", std::to_string(pid));
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

void reap(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
}

}  // namespace

const std::vector<std::string>& v1_hierarchies() {
  static const std::vector<std::string> mounts = [] {
    std::vector<std::string> out;
    std::ifstream in("/proc/self/mountinfo");
    std::string line;
    while (std::getline(in, line)) {
      // id parent maj:min root mountpoint options... - fstype source superoptions
      std::istringstream f(line);
      std::string id, parent, dev, root, mountpoint, word;
      f >> id >> parent >> dev >> root >> mountpoint;
      while (f >> word && word != "-") {
      }
      std::string fstype, source, super;
      f >> fstype >> source >> super;
      // A hierarchy mounted from a sub-cgroup (a container's view) names cgroups by
      // other paths than the v2 tree does: not used.
      if (fstype != "cgroup" || root != "/") continue;
      std::istringstream opts(super);
      std::string opt;
      bool wanted = false;
      while (std::getline(opts, opt, ',')) {
        if (opt == "cpu" || opt == "cpuacct" || opt == "memory" || opt == "blkio") wanted = true;
      }
      if (wanted) out.push_back(mountpoint);
    }
    return out;
  }();
  return mounts;
}

Result<void> remove_cgroup(const std::string& dir, std::chrono::milliseconds timeout) {
  if (!exists(dir)) return ok();
  bool v2 = exists(dir + "/cgroup.kill");
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (v2) {
      (void)proc::write_cgroup_file(dir, "cgroup.kill", "1");  // gone already: rmdir says
    } else if (auto pids = proc::cgroup_procs(dir, true); pids) {
      for (pid_t p : *pids) ::kill(p, SIGKILL);
    }
    if (::rmdir(dir.c_str()) == 0 || errno == ENOENT) return ok();
    int err = errno;
    if (err != EBUSY || std::chrono::steady_clock::now() > deadline) {
      return sys_error(err, "remove cgroup {}", dir);
    }
    ::usleep(10'000);
  }
}

std::map<std::string, journal::ReplayHandler> replay_handlers() {
  std::map<std::string, journal::ReplayHandler> h;
  h[kRemoveCgroup] = [](const journal::Entry& e) { return remove_cgroup(e.target, kRemoveTimeout); };
  h[kRemoveFile] = [](const journal::Entry& e) -> Result<void> {
    if (::unlink(e.target.c_str()) != 0 && errno != ENOENT) return sys_error(errno, "remove {}", e.target);
    return ok();
  };
  return h;
}

Result<std::unique_ptr<PressureGroup>> PressureGroup::create(const std::string& fault_id,
                                                             const std::string& target_dir,
                                                             const std::string& target_rel,
                                                             std::vector<std::string> files,
                                                             std::shared_ptr<journal::Journal> journal) {
  if (!journal) return make_error("resource pressure needs the agent's journal (no state directory)");
  const std::string child = "firedrill-" + fault_id;
  std::string v2_dir;
  std::vector<std::string> v1_dirs;
  if (!target_dir.empty()) {
    v2_dir = target_dir + "/" + child;
    for (auto& mount : v1_hierarchies()) {
      std::string parent = mount + (target_rel == "/" ? "" : target_rel);
      if (exists(parent)) v1_dirs.push_back(parent + "/" + child);
    }
  }
  // Checked before the group owns them: what exists is not this fault's to remove.
  for (auto& d : v1_dirs) {
    if (exists(d)) return make_error("cgroup {} exists already: refused (not this agent's to remove)", d);
  }
  if (!v2_dir.empty() && exists(v2_dir)) {
    return make_error("cgroup {} exists already: refused (not this agent's to remove)", v2_dir);
  }
  for (auto& f : files) {
    if (exists(f)) return make_error("{} exists already: refused (not this agent's to remove)", f);
  }
  std::unique_ptr<PressureGroup> g(new PressureGroup);
  g->id_ = fault_id;
  g->journal_ = std::move(journal);
  g->files_ = std::move(files);
  g->v2_dir_ = std::move(v2_dir);
  g->v1_dirs_ = std::move(v1_dirs);
  // Journaled before anything is made, so that every later step has its undo on disk.
  auto begin = [&](const char* kind, const std::string& target, const std::string& what) -> Result<void> {
    journal::Entry e{fault_id, kind, target, what, {}};
    FD_TRY(g->journal_->begin(e), "journal {}", target);
    g->owed_.push_back(e);
    return ok();
  };
  if (!g->v2_dir_.empty()) FD_TRY(begin(kRemoveCgroup, g->v2_dir_, "pressure cgroup"), "fault {}", fault_id);
  for (auto& d : g->v1_dirs_) FD_TRY(begin(kRemoveCgroup, d, "pressure cgroup (v1)"), "fault {}", fault_id);
  for (auto& f : g->files_) FD_TRY(begin(kRemoveFile, f, "fill file"), "fault {}", fault_id);
  FD_TRY(g->spawn_guardian(), "fault {}", fault_id);
  if (!g->v2_dir_.empty()) FD_TRY(make_dir(g->v2_dir_), "fault {}", fault_id);
  for (auto& d : g->v1_dirs_) FD_TRY(make_dir(d), "fault {}", fault_id);
  return g;
}

PressureGroup::~PressureGroup() {
  if (auto r = teardown(); !r) log()->error("fault {}: {}", id_, r.error().describe());
}

Result<void> PressureGroup::spawn_guardian() {
  // Prepared here: the child may not allocate.
  std::string kill_file = v2_dir_.empty() ? "" : v2_dir_ + "/cgroup.kill";
  std::vector<const char*> dirs, files;
  for (auto& d : v1_dirs_) dirs.push_back(d.c_str());
  if (!v2_dir_.empty()) dirs.push_back(v2_dir_.c_str());
  dirs.push_back(nullptr);
  for (auto& f : files_) files.push_back(f.c_str());
  files.push_back(nullptr);
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return sys_error(errno, "guardian pipe");
  pid_t pid = ::fork();
  if (pid < 0) {
    int err = errno;
    ::close(p[0]);
    ::close(p[1]);
    return sys_error(err, "fork guardian");
  }
  if (pid == 0) {
    isolate(&p[0], 1, "fd-guardian");
    guard_until_agent_exits(kill_file.empty() ? nullptr : kill_file.c_str(), dirs.data(), files.data());
  }
  ::close(p[0]);
  guardian_ = pid;
  guardian_fd_ = p[1];
  return ok();
}

void PressureGroup::stop_guardian() {
  if (guardian_fd_ >= 0) ::close(guardian_fd_);
  guardian_fd_ = -1;
  if (guardian_ > 0) reap(guardian_);
  guardian_ = -1;
}

Result<void> PressureGroup::fill_file(const std::string& file, uint64_t bytes) {
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return sys_error(errno, "create {}", file);
  int r = bytes ? ::fallocate(fd, 0, 0, static_cast<off_t>(bytes)) : 0;
  int err = errno;
  ::close(fd);
  if (r != 0) return sys_error(err, "allocate {} bytes in {}", bytes, file);
  return ok();
}

Result<pid_t> PressureGroup::start_worker(const WorkerPlan& plan, std::chrono::milliseconds ready_timeout) {
  if (v2_dir_.empty()) return make_error("no cgroup for workers");
  int go[2], ready[2];
  if (::pipe2(go, O_CLOEXEC) != 0) return sys_error(errno, "worker pipe");
  if (::pipe2(ready, O_CLOEXEC) != 0) {
    int err = errno;
    ::close(go[0]);
    ::close(go[1]);
    return sys_error(err, "worker pipe");
  }
  int keep[3] = {go[0], ready[1], plan.io_fd};
  pid_t pid = ::fork();
  if (pid == 0) {
    isolate(keep, plan.kind == WorkerPlan::Kind::kIo ? 3 : 2, "fd-pressure");
    char c;
    if (::read(3, &c, 1) != 1) ::_exit(1);  // the agent gave up before go
    ::close(3);
    switch (plan.kind) {
      case WorkerPlan::Kind::kCpu: cpu_worker(plan.percent);
      case WorkerPlan::Kind::kMemory: memory_worker(plan.bytes, 4);
      case WorkerPlan::Kind::kIo: io_worker(plan.bytes, 5);
    }
    ::_exit(3);
  }
  int fork_err = errno;
  ::close(go[0]);
  ::close(ready[1]);
  auto fail = [&](Error e) -> Result<pid_t> {
    ::close(go[1]);
    ::close(ready[0]);
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      reap(pid);
    }
    return e;
  };
  if (pid < 0) return fail(sys_error(fork_err, "fork worker"));
  // Into every child cgroup before it does anything, so that all it uses is charged there.
  if (auto r = join(v2_dir_, pid); !r) return fail(r.error());
  for (auto& d : v1_dirs_) {
    if (auto r = join(d, pid); !r) return fail(r.error());
  }
  workers_.push_back(pid);
  if (::write(go[1], "g", 1) != 1) {
    workers_.pop_back();
    return fail(sys_error(errno, "start worker {}", pid));
  }
  ::close(go[1]);
  if (plan.kind == WorkerPlan::Kind::kMemory) {
    pollfd pf{ready[0], POLLIN, 0};
    int n = ::poll(&pf, 1, static_cast<int>(ready_timeout.count()));
    char c = 0;
    ssize_t got = n > 0 ? ::read(ready[0], &c, 1) : -1;
    ::close(ready[0]);
    if (n == 0) return make_error("memory worker {} did not touch {} bytes within {} ms", pid, plan.bytes,
                                  ready_timeout.count());
    if (got != 1) {
      return make_error("memory worker {} died before it touched {} bytes (the OOM killer, at the target's "
                        "memory limit?)", pid, plan.bytes);
    }
  } else {
    ::close(ready[0]);
  }
  return pid;
}

Result<void> PressureGroup::teardown() {
  if (!v2_dir_.empty()) FD_TRY(remove_cgroup(v2_dir_, kRemoveTimeout), "fault {}", id_);
  for (pid_t p : workers_) reap(p);  // killed with the cgroup
  workers_.clear();
  for (auto& d : v1_dirs_) FD_TRY(remove_cgroup(d, kRemoveTimeout), "fault {}", id_);
  for (auto& f : files_) {
    if (::unlink(f.c_str()) != 0 && errno != ENOENT) return sys_error(errno, "fault {}: remove {}", id_, f);
  }
  stop_guardian();
  while (!owed_.empty()) {
    FD_TRY(journal_->end(owed_.back()), "fault {}: journal", id_);
    owed_.pop_back();
  }
  return ok();
}

}  // namespace firedrill::agent::resource
