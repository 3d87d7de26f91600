// Schedules for continuous chaos: each holds an experiment (its file as added) whose
// `schedule` says when it runs (calendar.h). Schedules are files under the state
// directory, so a controller restart keeps them, paused or not.
//
// Occurrences, exactly:
// - on each tick, the occurrences of a schedule after its last handled one (last_due)
//   and not after now are due; all but the latest are recorded as missed;
// - the latest starts a run if it is at most `starting_deadline` old (1 minute when
//   unset, which covers a busy tick but not a controller that was down), else it is
//   recorded as missed too;
// - last_due is written (with a "claimed" entry in the history) before the run is
//   started, and on a shared store under the leader's epoch fence: a crash or a
//   takeover between the two never starts it twice, and the next leader starts it
//   late when no run of it was recorded (finish_claimed): none is lost;
// - concurrency forbid: while the schedule's previous run is active, the occurrence
//   is recorded as skipped;
// - random_targets: each run hits that many hosts chosen with a fresh random seed;
// - pause keeps the schedule and starts nothing; resume counts from the moment of
//   resuming (occurrences during the pause are not run late).
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/time.h"
#include "controller/calendar/calendar.h"
#include "controller/store/store.h"
#include "firedrill/v1/run.pb.h"

namespace firedrill::scheduler {

class Launcher {
 public:
  virtual ~Launcher() = default;
  // Starts a run of `experiment` (already adjusted for random targets) on behalf of
  // schedule `s`; returns the run id.
  virtual Result<std::string> launch(const v1::ScheduleRecord& s, const v1::Experiment& experiment,
                                     WallTime due) = 0;
  // Whether a run is still in flight.
  virtual bool active(const std::string& run_id) = 0;
};

class Scheduler {
 public:
  // Schedules live in `store`.
  Scheduler(controller::Store* store, Launcher* launcher);

  // Loads every schedule from the store. Call once before anything else.
  Result<void> open();

  // Adds a schedule from a draft with experiment_* and created_by filled in; the
  // experiment must have a `schedule`. Returns the record as stored.
  Result<v1::ScheduleRecord> add(v1::ScheduleRecord draft, WallTime now);
  std::vector<v1::ScheduleRecord> list() const;
  Result<v1::ScheduleRecord> get(const std::string& id) const;
  Result<v1::ScheduleRecord> pause(const std::string& id, WallTime now);
  Result<v1::ScheduleRecord> resume(const std::string& id, WallTime now);
  Result<v1::ScheduleRecord> remove(const std::string& id);

  // Handles what is due at `now`; returns the ids of the runs started.
  std::vector<std::string> tick(WallTime now);
  // After open(), at a restart or a takeover: each occurrence claimed by the previous
  // leader whose run was never recorded starts now (late); returns the ids started.
  std::vector<std::string> finish_claimed(WallTime now);

  // The experiment a scheduled run uses: with random_targets, the targets (and every
  // step's own targets) choose that many hosts with `seed`.
  static v1::Experiment for_run(const v1::Experiment& e, uint64_t seed);

 private:
  struct Entry {
    v1::ScheduleRecord record;
    calendar::Calendar calendar;
  };

  Result<void> persist(const v1::ScheduleRecord& r);
  void note(v1::ScheduleRecord* r, WallTime due, WallTime now, std::string outcome, std::string run_id);
  void refresh_next(Entry* e, WallTime now);
  std::vector<std::string> tick_one(Entry* e, WallTime now);
  void launch(v1::ScheduleRecord* r, WallTime due, WallTime now, std::vector<std::string>& started);

  controller::Store* store_;
  Launcher* launcher_;
  mutable std::mutex mu_;
  std::map<std::string, Entry> entries_;
};

}  // namespace firedrill::scheduler
