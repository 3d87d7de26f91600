// Holds the faults in effect on this host and enforces their lifetimes: a fault takes
// effect at its not_before and is reverted at its expires_at by the agent's own timer,
// whatever the controller does. Engines do the work; the manager decides when.
//
// No engine is ever called with the manager's lock held: a fault being applied or
// reverted is marked busy, and everything else (status, heartbeats, the dead-man
// switch, other faults' reverts, shutdown) goes on meanwhile. Nor does the timer call
// an engine at all: a scheduled fault is prepared and applied (staged, then parked
// until its instant) on a thread of its own, and so is a revert the timer owes (a
// lease's expiry, a retry), so that no other fault's expiry or retry waits on a staged
// power loss or on a slow revert (a power loss's remount). A revert that fails
// keeps its fault, reported as "revert failing: why", and is retried by the timer with
// backoff (one attempt, one log line, one event at a time).
#pragma once

#include <condition_variable>
#include <deque>
#include <list>
#include <optional>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "agent/core/event_sink.h"
#include "agent/core/fault_engine.h"
#include "agent/journal/journal.h"
#include "common/result.h"
#include "common/time.h"

namespace firedrill::agent {

struct ManagedFault {
  std::string id;
  v1::FaultSpec spec;
  FaultEngine* engine = nullptr;
  WallTime not_before;
  WallTime expires_at;
  bool in_effect = false;   // false while waiting for not_before
  WallTime applied_at;
  // Staged ahead and started by the kernel or a timer at not_before: told applied
  // (with its effect times) once that instant has come, not when it was staged.
  WallTime announce_at{};
  bool prepared = false;    // its engine's prepare() was called ahead (a revert drops it)
  bool busy = false;        // an engine call on it runs (without the manager's lock)
  // Set once its revert is owed (asked for, or expired); kept while it fails.
  std::optional<v1::RevertReason> revert_reason;
  std::string revert_error;  // the last attempt's error; empty: none failed
  uint32_t revert_attempts = 0;
  WallTime revert_failing_since{};
  SteadyClock::time_point next_retry{};
};

// What a revert did: the fault was reverted, or there was nothing to revert (never
// applied here, or ended already: the note says when and why).
struct RevertOutcome {
  bool was_in_effect = true;
  std::string note;
};

class FaultManager {
 public:
  // Engines are tried in order; the first that handles() a spec owns it. With a
  // journal, every fault held is recorded there (journal::kFaultHeld) until it ends.
  FaultManager(std::vector<std::unique_ptr<FaultEngine>> engines, EventSink* events,
               std::shared_ptr<journal::Journal> journal = nullptr);
  ~FaultManager();  // reverts everything (REVERT_AGENT_SHUTDOWN)
  FaultManager(const FaultManager&) = delete;
  FaultManager& operator=(const FaultManager&) = delete;

  // Validates and applies now, or schedules for not_before. Returns the status
  // (ACK_APPLIED or ACK_SCHEDULED) or an error saying why it was refused.
  Result<v1::AckStatus> apply(const v1::ApplyFault& command);

  // Reverts one fault. An id that is not held says so (was_in_effect false), never
  // success. A failed revert keeps the fault (retried with backoff) and is the error.
  Result<RevertOutcome> revert(const std::string& fault_id, v1::RevertReason reason);

  // Reverts every fault; returns how many were reverted. Errors are logged and
  // emitted as events, and never stop the others from being reverted; a fault whose
  // revert failed and waits for its retry is left to the timer.
  size_t revert_all(v1::RevertReason reason);

  std::vector<v1::ActiveFault> active() const;
  // Faults that ended lately (newest last): see Heartbeat.ended.
  std::vector<v1::FaultReverted> ended() const;
  // Adds to that list faults that ended before this manager existed (the journal's
  // recovery at start).
  void note_ended(const std::vector<v1::FaultReverted>& ended);
  bool empty() const;
  // Whether some fault is held that revert_all would try now (not one waiting for
  // its retry after a failed revert).
  bool any_revertible() const;

  // Backoff between attempts to revert a fault whose revert failed.
  static constexpr std::chrono::milliseconds kRetryFirst{250};
  static constexpr std::chrono::milliseconds kRetryMax{30000};

  // The engine names and the fault kinds the engines accept here.
  const std::vector<std::unique_ptr<FaultEngine>>& engines() const { return engines_; }

  // Called after every revert with the record; used by the session to report reverts
  // that happened while the controller was away.
  void on_revert(std::function<void(const v1::FaultReverted&)> callback);

 private:
  void timer_loop();
  // With `lock` held and the fault present and not busy; releases the lock while the
  // engine works.
  Result<void> revert_locked(std::unique_lock<std::mutex>& lock, const std::string& id,
                             v1::RevertReason reason);
  // Both start a thread of their own for the engine call, with the fault busy.
  void prepare_scheduled_locked(const std::string& id);
  void apply_scheduled_locked(const std::string& id);
  // A revert the timer owes (expiry, retry), on a thread of its own; the fault busy.
  void revert_due_locked(const std::string& id);
  // The end of a scheduled apply (under the lock).
  void finish_scheduled(const std::string& id, const Result<void>& r);
  // Runs `work` on a thread of its own; joined by the timer once done, or at the end.
  void spawn_locked(std::function<void()> work);
  void reap_locked();
  // Tells the fault applied, with its effect times (under the lock).
  void announce(const std::string& id, ManagedFault& f);
  void wait_not_busy(std::unique_lock<std::mutex>& lock, const std::string& id);
  void record_ended(v1::FaultReverted rec);
  void emit(v1::Event event);

  std::vector<std::unique_ptr<FaultEngine>> engines_;
  EventSink* events_;
  std::shared_ptr<journal::Journal> journal_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, ManagedFault> faults_;
  std::deque<v1::FaultReverted> ended_;
  std::function<void(const v1::FaultReverted&)> on_revert_;
  bool stopping_ = false;
  struct Worker {
    std::thread thread;
    bool done = false;
  };
  std::list<Worker> workers_;
  std::thread timer_;
};

// Faults a previous run of the agent held when it died (journal::kFaultHeld entries):
// each entry is ended, and each fault that owes no other undo (a thaw, boot hooks:
// their recovery tells those) is told as ended with REVERT_AGENT_RESTART, as an event
// and in the returned list. Run before the other recoveries.
std::vector<v1::FaultReverted> close_faults_held_by_a_dead_agent(journal::Journal& journal, EventSink* events);

}  // namespace firedrill::agent
