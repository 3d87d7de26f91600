// The keep-down program (ebpf/proc_fault.bpf.c) as the engine uses it: loaded once
// (verifying and loading it takes a few hundred ms on a busy machine) and kept, attached
// (sched_process_exec, through a bpf_link that dies with the agent) only while at least
// one keep-down fault is in effect or prepared; its maps hold the union of their
// selections, one bit per fault; its kills come back through a ring buffer polled by a
// thread.
#pragma once

#include <sys/types.h>

#include <array>
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "agent/bpf/skeleton.h"
#include "agent/proc/selector.h"
#include "common/result.h"
#include "proc_fault.h"

struct proc_fault;
struct ring_buffer;

namespace firedrill::agent::proc {

struct ProcFaultOps;  // binds the generated proc_fault__* functions (keep_down.cpp)

// One kill at exec, as the kernel saw it; or (gone) the exit that followed it.
struct ExecKill {
  bool gone = false;        // the exit of a process killed at exec: only pid, comm, times
  uint64_t ktime_ns = 0;    // CLOCK_MONOTONIC at exec
  uint64_t gone_ktime_ns = 0;  // CLOCK_MONOTONIC at exit (gone)
  uint64_t fault_mask = 0;  // bits of the faults that selected it
  uint64_t cgroup_id = 0;
  pid_t pid = 0;
  uint32_t matched_by = 0;  // FD_MATCH_* bits
  std::string cgroup;       // the selected cgroup it was in (FD_MATCH_CGROUP), else ""
  std::string comm;
  std::string filename;     // the path given to exec
  int signal_ret = 0;       // bpf_send_signal's result, 0 when the SIGKILL was queued
};

// Mounts tracefs at /sys/kernel/tracing when no tracefs is mounted: tracepoint
// attachment looks its events up there.
Result<void> ensure_tracefs();

class KeepDownProgram {
 public:
  using Sink = std::function<void(const ExecKill&)>;

  // Loads and starts polling, not attached: it sees no exec until attach(). `sink` is
  // called on the polling thread.
  static Result<std::unique_ptr<KeepDownProgram>> load(Sink sink);
  // Both idempotent. Detached, it costs an exec nothing; what it killed before is still
  // drained from the ring.
  Result<void> attach();
  void detach();
  bool attached() const { return attached_; }
  ~KeepDownProgram();  // detaches (destroys the link), drains and stops the thread
  KeepDownProgram(const KeepDownProgram&) = delete;
  KeepDownProgram& operator=(const KeepDownProgram&) = delete;

  // Puts a selection in the maps under fault bit `bit` (0..63). On error, nothing of
  // it stays.
  Result<void> add(unsigned bit, const Selection& selection);
  // Takes bit `bit` out of every map entry, deleting entries no fault selects any more.
  Result<void> remove(unsigned bit);

  struct Stats {
    uint64_t execs_seen = 0;
    uint64_t killed = 0;
    uint64_t events_lost = 0;
  };
  Stats stats() const;
  // Selected cgroups made again that could not be followed (the fault is broken there).
  std::vector<std::string> broken_cgroups() const;

 private:
  KeepDownProgram() = default;
  static int on_sample(void* ctx, void* data, size_t size);
  void poll_loop();
  Result<void> write_config();

  // A selected cgroup is followed by its path: one removed and made again (a
  // supervisor recreating its service's cgroup) is held again within kFollowEvery.
  void follow_cgroups();
  static constexpr std::chrono::milliseconds kFollowEvery{200};

  struct Slot {
    std::string rel;
    std::string path;
    uint64_t id = 0;      // the cgroup the map points at now
    bool broken = false;  // made again, and could not be followed
    int fd = -1;
    uint64_t mask = 0;
  };

  bpf::BpfSkeleton<proc_fault, ProcFaultOps> skel_;
  ring_buffer* rb_ = nullptr;
  Sink sink_;
  std::atomic<bool> stop_{false};
  bool attached_ = false;  // the owner's lock
  std::thread thread_;

  mutable std::mutex mu_;  // the userspace mirror of the maps
  std::array<Slot, FD_PROC_MAX_CGROUPS> slots_{};
  std::map<std::pair<uint64_t, uint32_t>, uint64_t> exes_;  // (ino, kdev) -> mask
  std::map<std::string, uint64_t> comms_;
  std::map<pid_t, uint64_t> pids_;
};

}  // namespace firedrill::agent::proc
