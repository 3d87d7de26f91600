// One experiment run: a persisted state machine.
//
//   pending_approval   waits for `approvals.required` distinct approvers (a rejection
//                      refuses the run)
//   preflight          the fleet is not halted; every step's targets resolve; the guard
//                      admits them (each step's hosts together with the held ones
//                      before it); every target is live and offers the fault's kind
//   steady_state       every judged probe succeeds without a failure for `hold` before
//                      any fault (within `timeout`)
//   inject (step i)    the guard again; the fault to every host of the step with one
//                      common not_before; all must apply it
//   observe (step i)   watch for the step's duration; a step without `hold` is
//                      reverted at its end
//   revert             everything still in effect is reverted
//   recover            every judged probe holds again for `hold` (within `timeout`);
//                      then the data probes read their markers back
//   verdict            SLO rows over [fault_start, window_end); passed or failed
//
// Any failure, abort condition, halt, lost agent or operator abort reverts whatever
// is in effect and ends the run aborted (or refused, when nothing was injected yet),
// recording why. The record (without its probe samples) is written to the store at every
// phase change and every few seconds; samples are appended to it as they arrive.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "controller/experiment/loader.h"
#include "controller/probes/probe_set.h"
#include "controller/runner/clock.h"
#include "controller/runner/fleet_driver.h"
#include "controller/runner/takeover.h"
#include "controller/slo/slo.h"
#include "controller/store/store.h"
#include "firedrill/v1/run.pb.h"

namespace firedrill::runner {

struct RunnerOptions {
  std::chrono::milliseconds tick{100};                                  // how often the run looks
  std::chrono::nanoseconds start_delay = std::chrono::seconds(1);       // not_before = now + this
  std::chrono::nanoseconds lease_margin = std::chrono::seconds(30);     // expiry past the planned end
  std::chrono::nanoseconds persist_every = std::chrono::seconds(2);
  std::chrono::nanoseconds default_steady_hold = std::chrono::seconds(10);
  std::chrono::nanoseconds default_recovery_timeout = std::chrono::minutes(5);
};

// Told of everything that happens in a run, as it happens, from the run's thread
// (approvals: from the approver's). The evidence log listens here.
class RunObserver {
 public:
  virtual ~RunObserver() = default;
  virtual void on_created(const v1::RunRecord& run) {}
  virtual void on_approval(const v1::RunRecord& run, const v1::Approval& a, bool rejected) {}
  virtual void on_phase(const v1::RunRecord& run, const std::string& detail) {}
  virtual void on_targets(const v1::RunRecord& run, int step, const std::vector<controller::Host>& hosts) {}
  virtual void on_guard(const v1::RunRecord& run, const std::string& when, const v1::GuardVerdict& verdict) {}
  virtual void on_fault(const v1::RunRecord& run, const v1::FaultRecord& fault, bool reverted) {}
  virtual void on_samples(const v1::RunRecord& run, const std::string& probe, const std::vector<slo::Sample>& s) {}
  virtual void on_data_check(const v1::RunRecord& run, const v1::DataReadBack& data) {}
  virtual void on_milestone(const v1::RunRecord& run, const std::string& name, WallTime at, const std::string& detail) {}
  virtual void on_abort(const v1::RunRecord& run, const std::string& reason, const std::string& by) {}
  // The run goes on at another controller (takeover.h): nothing was measured in
  // [gap_from, gap_to).
  virtual void on_handover(const v1::RunRecord& run, const Takeover& takeover, WallTime gap_from, WallTime gap_to) {}
  virtual void on_verdict(const v1::RunRecord& run) {}  // last; also for refused runs
  // Asked just before the verdict: what this observer could not record of the run
  // ("" for nothing). A run whose evidence is incomplete says so in its verdict and
  // never ends as passed.
  virtual std::string incomplete(const std::string& run_id) const { return ""; }
};

class Run {
 public:
  Run(v1::RunRecord record, Clock* clock, FleetDriver* fleet, std::unique_ptr<probes::ProbeSource> probes,
      controller::Store* store, RunObserver* observer = nullptr, RunnerOptions options = {});
  ~Run();
  Run(const Run&) = delete;
  Run& operator=(const Run&) = delete;

  // Drives the run from its recorded phase to the end; returns the final record.
  v1::RunRecord execute();
  // Before execute(): the run was in flight at a controller that was lost, and this one
  // took over (takeover.h); `readoption` tells which of its faults the agents still hold.
  void continue_after(const Takeover& takeover, const Readoption* readoption);

  // Thread-safe while execute() runs on another thread.
  v1::ApproveResponse approve(const std::string& approver, const std::string& comment, bool reject);
  void abort(const std::string& reason, const std::string& by);
  // The controller is stopping: a run waiting for approval stops waiting and stays
  // pending on disk (resumed on the next start); any other is aborted.
  void shutdown(const std::string& why);
  v1::RunRecord snapshot(bool with_samples = false) const;
  v1::RunUpdate update() const;
  // Waits until the run changed after `version` (or `timeout`); returns the version now.
  uint64_t wait_change(uint64_t version, std::chrono::milliseconds timeout) const;
  bool finished() const;
  std::string id() const;

 private:
  enum class Step { kGo, kStop };

  Step wait_for_approvals();
  Step preflight();
  // Runs a from_command (target_command.h) and records it in the run.
  Result<v1::Targets> choose_by_command(const v1::Targets& declared, const std::string& field);
  Step steady_state();
  Step inject(int i);
  Step observe(int i);
  void revert_all(const std::string& why);
  void recover();
  void verdict();
  void end_aborted(const std::string& reason, const std::string& by);
  // After a takeover: what only the lost controller's thread held, the probe gap, the
  // faults re-adopted; then on from the recorded phase.
  v1::RunRecord continue_run();
  Step readopt();
  void mark_probe_gap(WallTime from, WallTime to);
  void end_refused(const std::string& reason);
  void finish();

  void set_phase(v1::RunPhase phase, const std::string& detail, int step = -1);
  void event(const std::string& kind, const std::string& message);
  void pump();  // takes new samples
  // A reason to stop now, and who stopped it; empty when none.
  std::pair<std::string, std::string> should_abort(bool faults_on);
  // Faults the agents ended before the run reverted them: recorded on their hosts; a
  // reason to abort unless the experiment continues.
  std::pair<std::string, std::string> faults_ended();
  void persist(bool force);
  v1::RunRecord without_samples() const;
  void revert_entry(size_t index, const std::string& why);
  bool holds(const std::vector<std::string>& probes, WallTime since, std::chrono::nanoseconds hold,
             WallTime* held_since, std::string* failing);
  void read_back_data();
  void compute_slos(WallTime window_end);
  void sleep_tick(WallTime limit);
  void touch();  // the record changed: wake watchers

  struct Active {
    int step;
    std::string fault_id;
    std::vector<std::string> hosts;
    bool hold;
  };

  Clock* clock_;
  FleetDriver* fleet_;
  std::unique_ptr<probes::ProbeSource> probes_;
  controller::Store* store_;
  RunObserver* observer_;
  RunnerOptions options_;

  mutable std::mutex mu_;  // record_, sets_, version_, abort/reject flags
  mutable std::condition_variable changed_;
  v1::RunRecord record_;
  slo::SampleSets sets_;
  uint64_t version_ = 0;
  std::string abort_reason_, abort_by_;
  std::string rejection_;
  bool suspended_ = false;
  std::map<std::string, slo::DataCheck> data_checks_;

  std::mutex persist_mu_;
  WallTime last_persist_{};

  // Only the run's thread touches these.
  std::vector<std::vector<controller::Host>> step_hosts_;
  std::vector<Active> active_;
  std::set<std::string> ended_seen_;  // "FAULT@HOST" already recorded as ended early
  bool probes_started_ = false;
  bool admitted_ = false;
  std::optional<Takeover> takeover_;
  const Readoption* readoption_ = nullptr;
};

// The record of a new run of a loaded (valid) experiment file.
v1::RunRecord new_run_record(const experiment::LoadedExperiment& file, const std::string& id,
                             const std::string& started_by, WallTime now);

// A copy without the bulky parts (samples, events, the file's text), for lists and
// live updates.
v1::RunRecord summary(const v1::RunRecord& run);

std::string phase_name(v1::RunPhase phase);
std::string outcome_name(v1::RunOutcome outcome);

}  // namespace firedrill::runner
