// The daemon's runs, experiments and ad hoc injects alike: each on its own thread,
// reachable by id for approvals, aborts and live updates; finished ones read back from
// the store. Also the scheduler's Launcher, and the thread that ticks the scheduler.
// On start it ends the runs a previous controller left in flight (the one recovery:
// their faults reverted, the abort and its reason in their record and evidence) and
// resumes the ones that were waiting for approval; after a takeover (takeover.h) it
// continues them instead.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "controller/experiment/loader.h"
#include "controller/runner/run.h"
#include "controller/scheduler/scheduler.h"
#include "controller/store/store.h"
#include "firedrill/v1/controller.pb.h"

namespace firedrill::runner {

// Observers for one run (its evidence); `resumed` when the run continues after a
// controller restart.
using ObserverFactory =
    std::function<std::vector<std::unique_ptr<RunObserver>>(const v1::RunRecord& run, bool resumed)>;
// The probes of one run (the daemon's are real; tests may script them).
using ProbeFactory = std::function<std::unique_ptr<probes::ProbeSource>(const v1::Experiment& e)>;

struct RunManagerConfig {
  controller::Store* store = nullptr;  // runs, their samples, schedules
  RunnerOptions options;
  std::function<std::string()> new_run_id;  // default make_run_id (run_ids.h): "r-..." ids the fleet recognises
  // The approvals the controller's policy asks of a run of an experiment file in an
  // environment (controller/auth); such a run waits for the larger of this and its
  // file's own `approvals.required`. None: the file's.
  // The environment is where the run's targets are (environment.h).
  std::function<uint32_t(const std::string& environment)> policy_approvals;
  // Set when this controller took the leader lease from one that was lost (takeover.h):
  // the runs it left in flight go on here instead of ending. `readoption` is what the
  // fleet is told to re-adopt (Fleet::set_adoption).
  std::optional<Takeover> takeover;
  Readoption* readoption = nullptr;
};

class RunManager : public scheduler::Launcher {
 public:
  RunManager(RunManagerConfig config, Clock* clock, FleetDriver* fleet, ObserverFactory observers = {},
             ProbeFactory probes = {});
  ~RunManager() override;

  // Opens the schedules, ends or resumes interrupted runs, starts the scheduler's
  // thread. Returns the ids of the runs it ended.
  Result<std::vector<std::string>> start();
  // Aborts every run in flight (reverting its faults) and joins every thread.
  void stop(const std::string& why);

  // Starts a run of a valid experiment file; returns its id.
  Result<std::string> start_run(const experiment::LoadedExperiment& file, const std::string& started_by,
                                const std::vector<v1::Participant>& participants);
  // Starts an ad hoc run (`firedrill inject`): one step, no probes; returns its id.
  Result<std::string> start_inject(const v1::InjectRequest& request, const std::string& started_by);
  Result<v1::RunRecord> get(const std::string& id, bool with_samples);
  Result<std::vector<v1::RunRecord>> list(size_t limit);
  v1::ApproveResponse approve(const std::string& id, const std::string& approver, const std::string& comment,
                              bool reject);
  Result<void> abort(const std::string& id, const std::string& reason, const std::string& by);
  // The live run, or null when it is not running in this controller.
  std::shared_ptr<Run> live(const std::string& id);

  scheduler::Scheduler& schedules() { return scheduler_; }

  // Launcher
  Result<std::string> launch(const v1::ScheduleRecord& s, const v1::Experiment& experiment, WallTime due) override;
  bool active(const std::string& run_id) override;

 private:
  struct Entry {
    std::shared_ptr<Run> run;
    std::vector<std::unique_ptr<RunObserver>> observers;
    std::unique_ptr<RunObserver> fanout;
    std::thread thread;
    bool done = false;
  };

  Result<std::string> begin(v1::RunRecord record, bool resumed, const Takeover* takeover = nullptr);
  // A run in flight at the lost leader: its held hosts back in the fleet's ledger, its
  // faults expected back from their agents, its thread started to go on.
  Result<std::string> continue_run(v1::RunRecord record);
  // The environment a new run of `e` is in, from its targets (environment.h).
  Result<std::string> place(const v1::Experiment& e);
  void recover(v1::RunRecord record);
  void reap();
  void scheduler_loop();

  RunManagerConfig config_;
  Clock* clock_;
  FleetDriver* fleet_;
  ObserverFactory observers_;
  ProbeFactory probes_;
  controller::Store* store_;
  scheduler::Scheduler scheduler_;

  std::mutex mu_;
  std::map<std::string, std::unique_ptr<Entry>> runs_;
  bool stopping_ = false;
  std::condition_variable cv_;
  std::thread scheduler_thread_;
};

}  // namespace firedrill::runner
