// Holds the faults in effect on this host and enforces their lifetimes: a fault takes
// effect at its not_before and is reverted at its expires_at by the agent's own timer,
// whatever the controller does. Engines do the work; the manager decides when.
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "agent/core/event_sink.h"
#include "agent/core/fault_engine.h"
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
};

class FaultManager {
 public:
  // Engines are tried in order; the first that handles() a spec owns it.
  FaultManager(std::vector<std::unique_ptr<FaultEngine>> engines, EventSink* events);
  ~FaultManager();  // reverts everything (REVERT_AGENT_SHUTDOWN)
  FaultManager(const FaultManager&) = delete;
  FaultManager& operator=(const FaultManager&) = delete;

  // Validates and applies now, or schedules for not_before. Returns the status
  // (ACK_APPLIED or ACK_SCHEDULED) or an error saying why it was refused.
  Result<v1::AckStatus> apply(const v1::ApplyFault& command);

  // Reverts one fault (idempotent: an unknown id succeeds).
  Result<void> revert(const std::string& fault_id, v1::RevertReason reason);

  // Reverts every fault; returns how many were reverted. Errors are logged and
  // emitted as events, and never stop the others from being reverted.
  size_t revert_all(v1::RevertReason reason);

  std::vector<v1::ActiveFault> active() const;
  bool empty() const;

  // The engine names and the fault kinds the engines accept here.
  const std::vector<std::unique_ptr<FaultEngine>>& engines() const { return engines_; }

  // Called after every revert with the record; used by the session to report reverts
  // that happened while the controller was away.
  void on_revert(std::function<void(const v1::FaultReverted&)> callback);

 private:
  void timer_loop();
  Result<void> revert_locked(std::unique_lock<std::mutex>& lock, const std::string& id,
                             v1::RevertReason reason);
  void emit(v1::Event event);

  std::vector<std::unique_ptr<FaultEngine>> engines_;
  EventSink* events_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, ManagedFault> faults_;
  std::function<void(const v1::FaultReverted&)> on_revert_;
  bool stopping_ = false;
  std::thread timer_;
};

}  // namespace firedrill::agent
