// Power loss: what a rack or data centre suffers, on one host, composed from the other
// engines through the FaultEngine face only:
//   "<id>/net"   NetworkFault{blackhole} on every managed interface (the management
//                allow list is the network engine's, so the control path lives),
//   "<id>/proc"  keep-down of the workload cgroup with kill_running: SIGKILL, no
//                SIGTERM, and nothing comes back while the power is off.
// The blackhole goes first, so that not even the kernel's FIN/RST of the dying
// processes' sockets leave the host. "Power restored" (revert) lifts the blackhole,
// stops the keep-down, and runs the host's boot hooks in the workload cgroup.
//
// The boot hooks are owed from the moment the processes are killed: they are
// journaled before, and a restarted agent runs them (recover_from_journal). They run
// on the engine's own boot thread, after revert has returned: power is back when the
// network and the keep-down are lifted, and the services then boot in their own time,
// as after a real power-on, without holding up the fault manager (heartbeats, halts,
// other faults) for as long as a boot takes. The journal entry ends when they are done.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "agent/core/config.h"
#include "agent/core/event_sink.h"
#include "agent/core/fault_engine.h"
#include "agent/journal/journal.h"

namespace firedrill::agent::power {

struct BootHookConfig {
  std::vector<std::string> hooks;        // each run by /bin/sh -c, in order
  std::string workload_cgroup;           // where they run (as config, resolved at run time)
  std::string log_path;                  // their output (appended); empty: /dev/null
  std::chrono::milliseconds timeout{60000};  // per hook
};

BootHookConfig boot_hook_config(const AgentConfig& config);

// Runs every hook; returns how many succeeded (exit 0). Failures are logged and
// emitted as AgentError events for `fault_id`, and do not stop the hooks after them.
size_t run_boot_hooks(const BootHookConfig& config, const std::string& fault_id, EventSink* events);

class PowerLossEngine : public FaultEngine {
 public:
  // `net` and `proc` must outlive this engine.
  PowerLossEngine(FaultEngine& net, FaultEngine& proc, const AgentConfig& config,
                  std::shared_ptr<journal::Journal> journal, EventSink* events);
  ~PowerLossEngine() override;

  std::string_view name() const override { return "power_loss"; }
  bool handles(const v1::FaultSpec& spec) const override { return spec.has_power_loss(); }
  Result<void> check(const v1::FaultSpec& spec) const override;
  Result<void> apply(const std::string& fault_id, const v1::FaultSpec& spec) override;
  Result<void> revert(const std::string& fault_id) override;
  v1::FaultCounters counters(const std::string& fault_id) const override;

  static std::string net_id(const std::string& id) { return id + "/net"; }
  static std::string proc_id(const std::string& id) { return id + "/proc"; }

  // The sub-fault specs, for checks and tests.
  v1::FaultSpec net_spec() const;
  v1::FaultSpec proc_spec() const;

  // Waits until every boot owed by a revert so far has run; false on timeout.
  bool wait_booted(std::chrono::milliseconds timeout) const;

 private:
  struct Active {
    v1::FaultSpec spec;
    bool net_applied = false;
    bool proc_applied = false;
    bool hooks_owed = false;
  };
  journal::Entry hooks_entry(const std::string& id) const;
  void boot_loop();

  FaultEngine& net_;
  FaultEngine& proc_;
  std::string workload_cgroup_;
  BootHookConfig hooks_;
  std::shared_ptr<journal::Journal> journal_;
  EventSink* events_;
  mutable std::mutex mu_;
  std::map<std::string, Active> active_;

  // Boots owed by reverts, run in order by booter_ (declared last: it starts after
  // everything above exists).
  mutable std::mutex boot_mu_;
  mutable std::condition_variable boot_cv_;
  std::deque<std::string> boots_;  // fault ids; the front one is booting
  bool stopping_ = false;
  std::thread booter_;
};

// Finishes, on start, what a killed agent owed (journal entries of the kinds
// thaw_cgroup and boot_hooks): thaws, runs the boot hooks, logs "recovered fault ...
// from journal" and emits FaultReverted REVERT_RECOVERED per fault. Returns those
// records (for Hello.reverted_while_away); entries that could not be finished stay
// owed.
std::vector<v1::FaultReverted> recover_from_journal(journal::Journal& journal, const AgentConfig& config,
                                                    EventSink* events);

}  // namespace firedrill::agent::power
