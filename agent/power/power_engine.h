// Power loss: what a rack or data centre suffers, on one host, in the order of a real
// cut:
//   "<id>/net"     NetworkFault{blackhole} on every managed interface (the management
//                  allow list is the network engine's, so the control path lives),
//                  started by the classifier at not_before from the kernel's clock;
//   the workload cgroup frozen (cgroup.freeze): from here on nothing of it runs;
//   data file systems shut down without flushing (lose_unsynced, data_fs.h);
//   "<id>/proc"    keep-down of the workload cgroup: what execs in it dies at exec,
//                  so nothing comes back while the power is off;
//   every workload process sent SIGKILL (cgroup.kill), no SIGTERM;
//   then the freeze lifted (the dying need no thaw; what is started into the cgroup
//   from then on dies at exec).
// Everything but these switches is done ahead of not_before (instant.h): at the instant
// a thread parked at real-time priority writes cgroup.freeze, issues the shutdown
// ioctls, writes cgroup.kill and the keep-down's map entries, through fds opened ahead,
// and nothing waits in between but one yield after the freeze (to another agent's
// instant thread on the same CPUs, before this one's shutdown prints on the console). The blackhole goes first, so that not even the kernel's
// FIN/RST of the dying processes' sockets leave the host; the freeze before the
// shutdown, so that no process sees its file system fail and reacts; the shutdown
// before the kill, so that no dying process's close starts a writeback. "Power
// restored" (revert) lifts the blackhole, unmounts and mounts each data file system
// again (the journal replays), lifts the keep-down, and runs the host's boot hooks in
// the workload cgroup.
//
// Journal (each record before what it covers, stages after them):
//   power_loss  intent: begun before the first part, ended when power is restored;
//   remount_fs  one per data file system, begun before its shutdown, ended after the
//               remount (its detail holds how it was mounted);
//   thaw_cgroup the workload cgroup ("<id>/freeze"), begun with the intent, ended after
//               the instant's thaw;
//   power_stage "network cut", "killed": what had happened when an agent died;
//   boot_hooks  begun with the intent, ended when every hook succeeded.
// A restarted agent (recover()) thaws first, then remounts what is shut down, then
// boots the services only where the kill happened (the "killed" stage, or a workload
// cgroup left without processes), never into a frozen cgroup.
//
// Boot hooks run on the engine's own boot thread, after revert has returned: power is
// back when the network and the keep-down are lifted, and the services then boot in
// their own time, as after a real power-on, without holding up the fault manager. A
// boot whose hooks fail stays owed and is retried with backoff (the failed hooks
// only), reported as an error event each time; hooks must be idempotent.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "agent/core/config.h"
#include "agent/core/event_sink.h"
#include "agent/core/fault_engine.h"
#include "agent/journal/journal.h"
#include "agent/power/data_fs.h"
#include "agent/power/instant.h"

namespace firedrill::agent::power {

// The journal entry kinds of a power loss (beside journal::kThawCgroup, kBootHooks).
inline constexpr const char* kPowerLossIntent = "power_loss";
inline constexpr const char* kRemountFs = "remount_fs";
inline constexpr const char* kPowerStage = "power_stage";
inline constexpr const char* kStageNetworkCut = "network cut";
inline constexpr const char* kStageKilled = "killed";

// Runs one hook (by /bin/sh -c) and returns its exit status.
using HookRunner = std::function<Result<int>(const std::string& hook)>;

struct BootHookConfig {
  std::vector<std::string> hooks;        // each run by /bin/sh -c, in order
  std::string workload_cgroup;           // where they run (as config, resolved at run time)
  std::string log_path;                  // their output (appended); empty: /dev/null
  std::chrono::milliseconds timeout{60000};  // per hook, then its process group is killed
  // In the workload cgroup, never elsewhere: a workload cgroup that is gone fails the
  // hook. Tests without cgroups replace it.
  HookRunner run;
};

BootHookConfig boot_hook_config(const AgentConfig& config);

// Runs the hooks whose `pending` flag is set (all when empty), in order, clearing the
// flag of each that succeeded (exit 0); returns how many are still pending. Failures
// are logged and emitted as AgentError events for `fault_id`, and do not stop the
// hooks after them.
size_t run_boot_hooks(const BootHookConfig& config, const std::string& fault_id, EventSink* events,
                      std::vector<bool>& pending);

// When each part of a power loss took effect on this host (zero: not done).
struct PowerEffect {
  WallTime network_cut{}, frozen{}, fs_shut_down{}, killed{};
  // Staging and the instant stage by stage (the clock read after each), for the log and
  // bench/power: staging begun, the journal written, the network cut installed,
  // everything staged (the keep-down loaded), the parked thread back from its sleep,
  // the workload's processes listed, the keep-down switched on, the freeze lifted, the
  // workload cgroup seen empty.
  WallTime begun{}, journaled{}, net_staged{}, staged{}, woke{}, listed{}, kept_down{}, thawed{}, dead{};
  std::string scheduling;  // how the thread ran at the instant (RealtimeScope)
};

class PowerLossEngine : public FaultEngine {
 public:
  // `net` and `proc` must outlive this engine.
  // `run_hook` replaces the runner of boot_hook_config(), `stage` the workload cgroup's
  // switches (stage_cgroup) (tests without cgroups).
  PowerLossEngine(FaultEngine& net, FaultEngine& proc, const AgentConfig& config,
                  std::shared_ptr<journal::Journal> journal, EventSink* events, HookRunner run_hook = {},
                  StageWorkload stage = {});
  ~PowerLossEngine() override;

  std::string_view name() const override { return "power_loss"; }
  bool handles(const v1::FaultSpec& spec) const override { return spec.has_power_loss(); }
  Result<void> check(const v1::FaultSpec& spec) const override;
  Result<void> apply(const std::string& fault_id, const v1::FaultSpec& spec) override;
  Result<void> revert(const std::string& fault_id) override;
  v1::FaultCounters counters(const std::string& fault_id) const override;

  // Staged: the journal is written, the network cut installed (started by the
  // kernel's clock), the keep-down program loaded and attached selecting nothing, the
  // workload cgroup's files and the data directories opened ahead of `start`; freeze,
  // shutdown, keep-down and kill follow an absolute timer woken just before it at
  // real-time priority and finished by spinning to it, and flip only switches. Returns
  // once the workload is seen dead (or kKillTimeout).
  // The engine's lock is not held meanwhile: counters, effects and other faults' reverts
  // answer while a power loss is parked.
  std::chrono::milliseconds stage_ahead() const override { return kStageAhead; }
  Result<void> apply_at(const std::string& fault_id, const v1::FaultSpec& spec, WallTime start) override;
  // The keep-down program loaded and attached selecting nothing, kPrepareAhead before
  // not_before (or when the fault is scheduled, if later): loading it is most of
  // staging's time (bench/power: up to 0.8 s with eight hosts on 2 CPUs), and waiting
  // attached costs an exec a lookup that selects nothing. Revert drops it.
  Result<void> prepare(const std::string& fault_id, const v1::FaultSpec& spec) override;
  std::chrono::milliseconds prepare_ahead() const override { return kPrepareAhead; }
  static constexpr std::chrono::milliseconds kPrepareAhead{5000};
  // network cut (the classifier's first drop), freeze, fs shutdown, kill.
  std::vector<v1::FaultEffect> effects(const std::string& fault_id) const override;
  static constexpr std::chrono::milliseconds kStageAhead{600};

  static std::string net_id(const std::string& id) { return id + "/net"; }
  static std::string proc_id(const std::string& id) { return id + "/proc"; }

  // The sub-fault specs, for checks and tests.
  v1::FaultSpec net_spec() const;
  v1::FaultSpec proc_spec() const;

  static std::string freeze_id(const std::string& id) { return id + "/freeze"; }
  v1::FaultSpec freeze_spec() const;

  // Waits until every boot owed so far has succeeded; false on timeout.
  bool wait_booted(std::chrono::milliseconds timeout) const;

  // When each part of the power loss `id` took effect (while it is in effect).
  std::optional<PowerEffect> effect(const std::string& id) const;

  // Finishes, once at start, what a killed agent owed (thaw_cgroup, remount_fs,
  // boot_hooks and the power-loss records): thaws every cgroup first, remounts the data
  // file systems that are shut down, and queues the boots owed where the kill happened
  // on the boot thread (so that it returns without waiting for them). Logs "recovered
  // fault ... from journal" and emits FaultReverted REVERT_RECOVERED per fault; returns
  // those records (for Hello.reverted_while_away). What could not be finished stays owed.
  std::vector<v1::FaultReverted> recover();

  // The first retry of a failed boot waits this long, doubling up to kBootRetryMax.
  static constexpr std::chrono::milliseconds kBootRetryFirst{1000};
  static constexpr std::chrono::milliseconds kBootRetryMax{60000};

 private:
  struct Active {
    v1::FaultSpec spec;
    bool net_applied = false;
    bool frozen = false;
    bool proc_applied = false;
    bool prepared = false;        // keep-down prepared in the process engine
    std::shared_ptr<WorkloadSwitches> workload;  // opened ahead
    uint64_t killed = 0;          // sent SIGKILL at the instant and seen gone
    bool hooks_owed = false;
    std::vector<DataFs> data;      // the data file systems it shuts down
    std::vector<DataFs> shut;      // those shut down and not yet mounted again
    PowerEffect effect;
  };
  struct Boot {
    std::string fault_id;
    std::vector<bool> pending;   // per hook
    int attempts = 0;
    SteadyClock::time_point next{};
  };
  // Stages the power loss, parks until `start` and fires it (apply_at, without mu_);
  // undone on failure.
  Result<Active> stage_and_fire(const std::string& id, const v1::FaultSpec& spec, WallTime start);
  journal::Entry intent_entry(const std::string& id) const;
  journal::Entry hooks_entry(const std::string& id) const;
  journal::Entry remount_entry(const std::string& id, const DataFs& fs) const;
  journal::Entry stage_entry(const std::string& id, const char* stage) const;
  journal::Entry thaw_entry(const std::string& id, const std::string& path) const;
  v1::FaultSpec kill_spec() const;
  void emit_killed(const std::string& id, const std::vector<pid_t>& pids, WallTime at) const;
  Result<std::vector<DataFs>> data_file_systems(const v1::FaultSpec& spec) const;
  Result<void> restore(const std::string& id, Active& a);
  void queue_boot(const std::string& id);
  void boot_loop();

  FaultEngine& net_;
  FaultEngine& proc_;
  std::string workload_cgroup_;
  std::vector<std::string> data_dirs_;
  BootHookConfig hooks_;
  std::shared_ptr<journal::Journal> journal_;
  EventSink* events_;
  StageWorkload stage_workload_;
  // Held for the map lookups, never across a parked instant.
  mutable std::mutex mu_;
  std::map<std::string, Active> active_;
  std::set<std::string> applying_;  // staged or parked, not in active_ yet
  std::set<std::string> prepared_;  // keep-down prepared ahead (prepare), not applied yet

  // Boots owed by reverts and recovery, run in order by booter_ (declared last: it
  // starts after everything above exists).
  mutable std::mutex boot_mu_;
  mutable std::condition_variable boot_cv_;
  std::deque<Boot> boots_;  // the front one is booting (or waiting for its retry)
  bool stopping_ = false;
  std::thread booter_;
};

}  // namespace firedrill::agent::power
