// The process fault engine: kill now, keep down, freeze (fault.proto ProcessFault).
//
// kill       SIGKILL to every selected process (cgroup.kill for whole cgroups, pidfd
//            signals for the rest), waiting until they are gone; counted.
// keep_down  for the fault's lease, every selected process is SIGKILLed as it execs
//            (ebpf/proc_fault.bpf.c on sched_process_exec), optionally after killing
//            what runs; each kill is a ProcessKilled event.
// freeze     cgroup.freeze until revert; journaled first, so that an agent killed
//            while a cgroup is frozen thaws it on its next start.
//
// Staged (prepare, apply_at): the keep-down program is loaded and attached with its
// maps selecting nothing, and the selection resolved, ahead of the instant; at the
// instant only map entries, cgroup.freeze and cgroup.kill are written. A prepared
// keep-down that is never applied selects nothing, and revert unloads it.
//
// Never the agent itself, its cgroup or an ancestor of it, or pid 1: such a selector
// is refused by check() and changes nothing.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "agent/bpf/features.h"
#include "agent/core/event_sink.h"
#include "agent/core/fault_engine.h"
#include "agent/journal/journal.h"
#include "agent/proc/keep_down.h"
#include "agent/proc/kill.h"

namespace firedrill::agent::proc {

class ProcFaultEngine : public FaultEngine {
 public:
  // `journal` may be null only where no freeze will be asked (it is refused then).
  // `workload_cgroup` (the agent's --workload-cgroup) is what selectors'
  // workload_cgroups are relative to; empty: they are refused.
  // `features` replaces the kernel probe (tests of the refusals); null: bpf::features().
  ProcFaultEngine(std::shared_ptr<journal::Journal> journal, EventSink* events,
                  std::string workload_cgroup = {}, const bpf::Features* features = nullptr);
  ~ProcFaultEngine() override;

  std::string_view name() const override { return "process"; }
  bool handles(const v1::FaultSpec& spec) const override { return spec.has_process(); }
  Result<void> check(const v1::FaultSpec& spec) const override;
  Result<void> apply(const std::string& fault_id, const v1::FaultSpec& spec) override;
  Result<void> revert(const std::string& fault_id) override;
  v1::FaultCounters counters(const std::string& fault_id) const override;
  Result<void> prepare(const std::string& fault_id, const v1::FaultSpec& spec) override;
  std::chrono::milliseconds stage_ahead() const override { return kStageAhead; }
  Result<void> apply_at(const std::string& fault_id, const v1::FaultSpec& spec, WallTime start) override;
  // Loading and attaching the keep-down program takes up to a few hundred ms.
  static constexpr std::chrono::milliseconds kStageAhead{500};

  // Loads the keep-down program ahead, detached (it costs an exec nothing until a
  // keep-down attaches it), so that a prepare or apply only attaches it: verifying and
  // loading it takes a few hundred ms on a busy machine, which a staged power loss must
  // not spend between its command and its instant. Idempotent; without it, the first
  // keep-down loads it.
  Result<void> preload();

  // Every kill at exec with the kernel's timing (benchmarks and tests), on the
  // polling thread; then, with `gone` set and no fault id, the exit that followed.
  void on_exec_kill(std::function<void(const std::string& fault_id, const ExecKill&)> observer);

  // The last kill-now report of a fault (tests, benchmarks).
  std::optional<KillReport> last_kill(const std::string& fault_id) const;

  // Freezing and thawing wait this long for cgroup.events to agree.
  static constexpr std::chrono::milliseconds kFreezeTimeout{5000};
  // Kills at exec of one fault are told at most once per this (with how many more).
  static constexpr std::chrono::milliseconds kExecEventWindow{1000};
  // Kill now waits this long for the selected processes to be gone.
  static constexpr std::chrono::milliseconds kKillTimeout{5000};

 private:
  struct Active {
    v1::FaultSpec spec;
    Selection selection;
    int bit = -1;                      // keep-down slot in the BPF maps
    std::vector<CgroupRef> frozen;     // freeze: what this fault froze
    std::optional<KillReport> kill;    // kill / keep_down kill_running
  };

  struct Prepared {
    v1::FaultSpec spec;
    Selection selection;
  };

  Result<Selection> resolve(const v1::FaultSpec& spec) const;
  // Whether a keep-down is in effect or prepared: the program stays attached while one
  // is (and loaded once loaded).
  bool program_wanted() const;
  Result<void> load_program();    // with mu_
  Result<void> attach_program();  // with mu_
  Result<void> apply_freeze(const std::string& id, Active& a);
  Result<void> thaw(const std::string& id, Active& a);
  void on_kill(const ExecKill& k);
  void emit_killed(const std::string& fault_id, pid_t pid, const std::string& comm, const std::string& exe,
                   const std::string& cgroup, bool at_exec, WallTime at, uint32_t more = 0);
  // Tells the kills at exec of the fault's last window not told yet.
  void flush_exec_events(const std::string& fault_id);

  const bpf::Features& features() const;

  std::shared_ptr<journal::Journal> journal_;
  EventSink* events_;
  const bpf::Features* features_;
  std::string workload_cgroup_;
  mutable std::mutex mu_;  // active_, program_, freeze_refs_; held across apply/revert
  std::map<std::string, Active> active_;
  std::map<std::string, Prepared> prepared_;  // prepared and not applied yet
  std::unique_ptr<KeepDownProgram> program_;
  std::map<std::string, int> freeze_refs_;  // cgroup rel -> faults freezing it

  // Touched by the polling thread: never held while the program is stopped.
  mutable std::mutex stats_mu_;
  std::array<std::string, FD_PROC_MAX_FAULTS> bit_owner_{};
  std::map<std::string, uint64_t> killed_;  // fault id -> processes killed
  // Kills at exec are told once per fault per kExecEventWindow.
  struct ExecWindow {
    SteadyClock::time_point started{};
    uint32_t untold = 0;
    struct {
      pid_t pid = 0;
      std::string comm, exe, cgroup;
      WallTime at{};
    } last;
  };
  std::map<std::string, ExecWindow> exec_windows_;
  std::function<void(const std::string&, const ExecKill&)> observer_;
};

}  // namespace firedrill::agent::proc
