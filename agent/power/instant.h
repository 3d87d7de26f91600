// The instant of a power loss on one host: what is left to do at not_before once
// everything that can be is done ahead.
//
// Ahead (stage_workload, open_for_shutdown): the workload cgroup resolved and its
// cgroup.freeze, cgroup.kill and cgroup.events opened; each data file system's
// directory opened for the ioctl; the keep-down program loaded and attached selecting
// nothing (the process engine's prepare). The thread that will flip the switches is
// parked on an absolute timer (park_until) at real-time priority (RealtimeScope).
// At the instant only switches flip, in the order of a real cut: one write to
// cgroup.freeze, one FS_IOC_SHUTDOWN per data file system, one write to cgroup.kill,
// the keep-down's map entries. Nothing waits in between (but a yield after the freeze,
// power_engine.h): writing cgroup.freeze marks every
// task of the cgroup before it returns, so none runs user code again (a task inside a
// system call finishes it and traps on its way out), and a fatal signal wakes frozen
// tasks in cgroup v2, so they die without a thaw.
//
// Death is asynchronous: cgroup.kill returns once SIGKILL is queued to every task;
// each must then be scheduled to run its exit (unmap its memory, close its files).
// WorkloadSwitches::wait_empty watches for that, after the instant.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <sys/types.h>

#include "agent/bpf/skeleton.h"
#include "common/result.h"
#include "common/time.h"

namespace firedrill::agent::power {

// Raises the calling thread, for its lifetime, to the best scheduling it is allowed:
// SCHED_FIFO (no time-shared task preempts it, and its timers have no slack), else
// nice -20 with a timer slack of 1 ns, else as it was (with that slack). Restores
// the thread's policy, priority and slack when it ends.
class RealtimeScope {
 public:
  RealtimeScope();
  ~RealtimeScope();
  RealtimeScope(const RealtimeScope&) = delete;
  RealtimeScope& operator=(const RealtimeScope&) = delete;

  bool realtime() const { return fifo_; }
  // "SCHED_FIFO 50", "nice -20 (SCHED_FIFO: Operation not permitted)", ...
  const std::string& describe() const { return what_; }
  // How long before the instant the parked thread should wake: its wake-up latency.
  std::chrono::nanoseconds wake_early() const;

 private:
  int policy_ = 0, priority_ = 0, nice_ = 0;
  long slack_ = 0;
  pid_t tid_ = 0;
  bool fifo_ = false, reniced_ = false;
  std::string what_;
};

// Sleeps until `at - early` on CLOCK_REALTIME with TIMER_ABSTIME (a clock step while
// asleep moves the wake-up with it), then spins to `at`, yielding to threads of its
// priority. Returns when it woke from the
// sleep (equal to `at` or later when it was already past).
WallTime park_until(WallTime at, std::chrono::nanoseconds early);

// The workload cgroup's switches, opened ahead of the instant. The real ones write
// cgroup.freeze and cgroup.kill through fds opened ahead (stage_cgroup); tests without
// cgroups replace them.
class WorkloadSwitches {
 public:
  virtual ~WorkloadSwitches() = default;
  // The cgroup's directory (what a restarted agent thaws).
  virtual const std::string& path() const = 0;
  // Whether cgroup.freeze holds 1: someone froze it.
  virtual Result<bool> frozen_already() = 0;
  virtual Result<void> freeze(bool frozen) = 0;
  // The processes of the cgroup and its descendants.
  virtual Result<std::vector<pid_t>> members() = 0;
  virtual Result<void> kill() = 0;
  // Waits until the cgroup holds no process or `timeout`; the time it first saw it
  // empty (zero on timeout).
  virtual WallTime wait_empty(std::chrono::milliseconds timeout) = 0;
};

// Resolves a workload cgroup (as configured) and opens its switches.
using StageWorkload = std::function<Result<std::unique_ptr<WorkloadSwitches>>(const std::string& workload_cgroup)>;

// The real switches: cgroup.freeze, cgroup.kill and cgroup.events opened ahead. Their
// wait_empty polls cgroup.events every 200 us rather than waiting for the file's
// notification: the kernel sends at most one per 10 ms per file
// (CGROUP_FILE_NOTIFY_MIN_INTV), and the freeze just spent it.
Result<std::unique_ptr<WorkloadSwitches>> stage_cgroup(const std::string& workload_cgroup);

}  // namespace firedrill::agent::power
