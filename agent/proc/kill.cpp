#include "agent/proc/kill.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <map>
#include <set>

#include "common/time.h"

namespace firedrill::agent::proc {
namespace {

constexpr int kMaxScanPasses = 5;
// Members of a killed cgroup followed by a pidfd each; beyond this the cgroup's own
// "populated 0" says they are gone.
constexpr size_t kMaxTrackedMembers = 16384;
constexpr std::chrono::nanoseconds kWaitTick{500'000};

int pidfd_open(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

int pidfd_send_signal(int pidfd, int sig) {
  return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
}

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    std::swap(fd_, o.fd_);
    return *this;
  }
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

// Reads cgroup.events through `fd` (re-arming its notification) and says whether the
// cgroup is empty.
bool unpopulated(int fd) {
  char buf[256];
  ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return true;  // the cgroup is gone: nothing in it
  buf[n] = '\0';
  const char* p = std::strstr(buf, "populated ");
  return p && p[10] == '0';
}

}  // namespace

Result<KillReport> kill_now(const Selection& sel, const Protected& guard, std::chrono::milliseconds timeout) {
  KillReport report;
  std::set<pid_t> seen;
  Fd ep(::epoll_create1(EPOLL_CLOEXEC));
  if (ep.get() < 0) return sys_error(errno, "epoll_create1");

  // Whole cgroups: their members now (for the count, the events, and a pidfd each
  // to see them go), then one write each; the kernel also takes what they fork
  // meanwhile, which cgroup.events confirms.
  struct CgWait {
    Fd events;
    bool done = false;
  };
  std::vector<CgWait> cg_waits;
  std::map<int, Fd> member_fds;  // fd -> owner
  size_t untracked = 0;          // members without a pidfd (already gone, or no fd left)
  for (auto& cg : sel.cgroups) {
    FD_ASSIGN(members, cgroup_procs(cg.path, true), "kill cgroup {}", cg.rel);
    for (pid_t p : members) {
      if (!seen.insert(p).second) continue;
      report.processes.push_back({p, cg.rel, {}});
      Fd fd(member_fds.size() < kMaxTrackedMembers ? pidfd_open(p) : -1);
      if (fd.get() < 0) {
        ++untracked;
        continue;
      }
      int raw = fd.get();
      member_fds.emplace(raw, std::move(fd));
    }
    std::string events = cg.path + "/cgroup.events";
    Fd efd(::open(events.c_str(), O_RDONLY | O_CLOEXEC));
    if (efd.get() < 0) return sys_error(errno, "kill cgroup {}: open {}", cg.rel, events);
    cg_waits.push_back({std::move(efd)});
  }
  auto start = SteadyClock::now();
  for (size_t i = 0; i < sel.cgroups.size(); ++i) {
    FD_TRY(write_cgroup_file(sel.cgroups[i].path, "cgroup.kill", "1"), "kill cgroup {}", sel.cgroups[i].rel);
  }

  // The rest: a pidfd per process, opened before the identity check so that a pid
  // reused in between is never signalled.
  std::map<int, Fd> pidfds;  // fd -> owner
  bool rescan = !sel.exes.empty() || !sel.comms.empty();
  if (rescan || !sel.pids.empty()) {
    for (int pass = 0; pass < kMaxScanPasses; ++pass) {
      size_t found = 0;
      for (pid_t p : scan_processes(sel, guard)) {
        if (!seen.insert(p).second) continue;
        Fd fd(pidfd_open(p));
        if (fd.get() < 0) continue;  // gone already
        std::string comm = read_comm(p);
        if (!process_matches(p, sel)) continue;
        if (pidfd_send_signal(fd.get(), SIGKILL) != 0) continue;
        report.processes.push_back({p, {}, std::move(comm)});
        int raw = fd.get();
        pidfds.emplace(raw, std::move(fd));
        ++found;
      }
      if (found == 0 || !rescan) break;
    }
  }

  for (auto& w : cg_waits) {
    if (unpopulated(w.events.get())) {
      w.done = true;
      continue;
    }
    epoll_event ev{};
    ev.events = EPOLLPRI;
    ev.data.u64 = (1ull << 32) | static_cast<uint64_t>(&w - cg_waits.data());
    if (::epoll_ctl(ep.get(), EPOLL_CTL_ADD, w.events.get(), &ev) != 0) {
      return sys_error(errno, "epoll_ctl cgroup.events");
    }
  }
  for (auto& [raw, fd] : member_fds) pidfds.emplace(raw, std::move(fd));
  for (auto& [raw, fd] : pidfds) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = static_cast<uint32_t>(raw);
    if (::epoll_ctl(ep.get(), EPOLL_CTL_ADD, raw, &ev) != 0) return sys_error(errno, "epoll_ctl pidfd");
  }

  size_t cg_left = std::count_if(cg_waits.begin(), cg_waits.end(), [](auto& w) { return !w.done; });
  size_t pid_killed = 0;
  auto deadline = SteadyClock::now() + timeout;
  epoll_event evs[256];
  while (cg_left > 0 || !pidfds.empty()) {
    auto left = std::chrono::duration_cast<Millis>(deadline - SteadyClock::now());
    if (left <= Millis::zero()) break;
    // The pidfds say when each known process is gone; cgroup.events then confirms the
    // cgroups are empty. Harvested on a short tick rather than woken per death: a
    // thousand wake-ups of this thread would take CPU from the processes that must
    // run to die. (cgroup.events' own notification goes through a work queue anyway.)
    struct timespec tick{0, kWaitTick.count()};
    ::nanosleep(&tick, nullptr);
    int n;
    do {
      n = ::epoll_wait(ep.get(), evs, 256, 0);
      if (n < 0 && errno != EINTR) return sys_error(errno, "epoll_wait");
      for (int i = 0; i < n; ++i) {
        uint64_t tag = evs[i].data.u64;
        if (tag >> 32) continue;  // cgroup: checked below
        int raw = static_cast<int>(tag & 0xffffffffu);
        ::epoll_ctl(ep.get(), EPOLL_CTL_DEL, raw, nullptr);
        pidfds.erase(raw);
        ++pid_killed;
      }
    } while (n == 256);
    for (auto& w : cg_waits) {
      if (!w.done && unpopulated(w.events.get())) {
        w.done = true;
        --cg_left;
      }
    }
  }
  report.elapsed = SteadyClock::now() - start;
  report.killed = pid_killed;
  report.still_alive = pidfds.size();
  for (auto& w : cg_waits) {
    // Members we could not follow by pidfd died with their cgroup when it emptied.
    if (w.done) {
      report.killed += untracked;
      untracked = 0;
    }
  }
  for (size_t i = 0; i < cg_waits.size(); ++i) {
    if (cg_waits[i].done) continue;
    auto left = cgroup_procs(sel.cgroups[i].path, true);
    if (left) report.still_alive += left->size();
  }
  return report;
}

}  // namespace firedrill::agent::proc
