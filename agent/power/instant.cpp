#include "agent/power/instant.h"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include <fmt/format.h>

#include "agent/proc/cgroup.h"

namespace firedrill::agent::power {
namespace {

// Below the kernel's threaded interrupt handlers (SCHED_FIFO 50): the NIC's interrupts
// and the timer still run first.
constexpr int kFifoPriority = 10;

}  // namespace

RealtimeScope::RealtimeScope() : tid_(static_cast<pid_t>(::syscall(SYS_gettid))) {
  sched_param p{};
  if (::pthread_getschedparam(::pthread_self(), &policy_, &p) == 0) priority_ = p.sched_priority;
  slack_ = ::prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
  errno = 0;
  nice_ = ::getpriority(PRIO_PROCESS, static_cast<id_t>(tid_));
  if (errno != 0) nice_ = 0;
  sched_param fifo{};
  fifo.sched_priority = kFifoPriority;
  int err = ::pthread_setschedparam(::pthread_self(), SCHED_FIFO, &fifo);
  if (err == 0) {
    fifo_ = true;
    what_ = fmt::format("SCHED_FIFO {}", kFifoPriority);
    return;
  }
  // Without CAP_SYS_NICE, or in a cgroup without real-time runtime: the best of the
  // time-shared class, and a timer that wakes when asked rather than up to 50 us late.
  ::prctl(PR_SET_TIMERSLACK, 1, 0, 0, 0);
  if (::setpriority(PRIO_PROCESS, static_cast<id_t>(tid_), -20) == 0) {
    reniced_ = true;
    what_ = fmt::format("nice -20 (SCHED_FIFO: {})", std::strerror(err));
  } else {
    what_ = fmt::format("time-shared at nice {} (SCHED_FIFO: {}; nice -20: {})", nice_, std::strerror(err),
                        std::strerror(errno));
  }
}

RealtimeScope::~RealtimeScope() {
  if (fifo_) {
    sched_param p{};
    p.sched_priority = priority_;
    ::pthread_setschedparam(::pthread_self(), policy_, &p);
    return;
  }
  if (reniced_) ::setpriority(PRIO_PROCESS, static_cast<id_t>(tid_), nice_);
  if (slack_ > 0) ::prctl(PR_SET_TIMERSLACK, slack_, 0, 0, 0);
}

std::chrono::nanoseconds RealtimeScope::wake_early() const {
  // Real-time: a timer interrupt and a context switch (tens of microseconds, measured
  // in bench/power). Time-shared: the wake-up may wait for a running task's slice.
  return fifo_ ? std::chrono::microseconds(200) : std::chrono::milliseconds(2);
}

WallTime park_until(WallTime at, std::chrono::nanoseconds early) {
  if (at == WallTime{} || WallClock::now() >= at) return WallClock::now();
  auto wake = std::chrono::duration_cast<std::chrono::nanoseconds>((at - early).time_since_epoch()).count();
  timespec ts{static_cast<time_t>(wake / 1'000'000'000), static_cast<long>(wake % 1'000'000'000)};
  while (::clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
  auto woke = WallClock::now();
  // Yielding while it spins: another thread parked at this priority for the same instant
  // (an agent beside this one, as in the lab) gets the CPU to reach its own, rather than
  // waiting for this one's whole instant. Alone, a yield returns at once.
  while (WallClock::now() < at) ::sched_yield();
  return woke;
}

namespace {

class CgroupSwitches : public WorkloadSwitches {
 public:
  explicit CgroupSwitches(std::string path) : path_(std::move(path)) {}

  Result<void> open() {
    FD_TRY(open_file("cgroup.freeze", O_RDWR, freeze_), "stage the workload cgroup");
    FD_TRY(open_file("cgroup.kill", O_WRONLY, kill_), "stage the workload cgroup");
    FD_TRY(open_file("cgroup.events", O_RDONLY, events_), "stage the workload cgroup");
    return ok();
  }

  const std::string& path() const override { return path_; }
  Result<bool> frozen_already() override {
    char buf[8] = {};
    auto n = ::pread(freeze_.get(), buf, sizeof buf - 1, 0);
    if (n < 0) return sys_error(errno, "read {}/cgroup.freeze", path_);
    return n > 0 && buf[0] == '1';
  }
  Result<void> freeze(bool frozen) override { return write(freeze_, frozen ? "1" : "0", "cgroup.freeze"); }
  Result<std::vector<pid_t>> members() override { return proc::cgroup_procs(path_, true); }
  Result<void> kill() override { return write(kill_, "1", "cgroup.kill"); }

  WallTime wait_empty(std::chrono::milliseconds timeout) override {
    constexpr timespec kTick{0, 200'000};
    auto deadline = SteadyClock::now() + timeout;
    while (true) {
      char buf[256];
      auto n = ::pread(events_.get(), buf, sizeof buf - 1, 0);
      auto now = WallClock::now();
      if (n <= 0) return now;  // the cgroup is gone: nothing in it
      buf[n] = '\0';
      const char* p = std::strstr(buf, "populated ");
      if (p && p[10] == '0') return now;
      if (SteadyClock::now() >= deadline) return WallTime{};
      ::nanosleep(&kTick, nullptr);
    }
  }

 private:
  Result<void> open_file(const char* file, int flags, bpf::UniqueFd& into) {
    auto p = path_ + "/" + file;
    int fd = ::open(p.c_str(), flags | O_CLOEXEC);
    if (fd < 0) return sys_error(errno, "open {}", p);
    into = bpf::UniqueFd(fd);
    return ok();
  }
  Result<void> write(const bpf::UniqueFd& fd, const char* value, const char* file) {
    auto len = static_cast<ssize_t>(std::strlen(value));
    if (::pwrite(fd.get(), value, static_cast<size_t>(len), 0) != len) {
      return sys_error(errno, "write '{}' to {}/{}", value, path_, file);
    }
    return ok();
  }

  std::string path_;
  bpf::UniqueFd freeze_, kill_, events_;
};

}  // namespace

Result<std::unique_ptr<WorkloadSwitches>> stage_cgroup(const std::string& workload_cgroup) {
  FD_ASSIGN(root, proc::cgroup2_root(), "workload cgroup");
  FD_ASSIGN(ref, proc::resolve_cgroup(root, workload_cgroup), "workload cgroup");
  auto switches = std::make_unique<CgroupSwitches>(ref.path);
  FD_TRY(switches->open(), "workload cgroup {}", workload_cgroup);
  return std::unique_ptr<WorkloadSwitches>(std::move(switches));
}

}  // namespace firedrill::agent::power
