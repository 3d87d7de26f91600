// Ad hoc runs (`firedrill inject`): one fault on a selection for a duration, through
// the guard, recorded in the store from the guard's verdict to the last revert. Also
// records, for runs of any kind, what agents report about their faults (applied,
// reverted, lost), so the runner's experiment runs get the same per-target rows.
#pragma once

#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "controller/session/fleet.h"
#include "controller/store/store.h"
#include "firedrill/v1/controller.pb.h"

namespace firedrill::controller {

// Startup recovery: runs the store has in flight belonged to a controller that died.
// Each is recorded aborted; the fleet reverts their faults on every agent as it
// registers (their runs are not in flight any more). Returns the run ids.
Result<std::vector<std::string>> abort_runs_in_flight(Store& store, const std::string& why);

class InjectRuns {
 public:
  InjectRuns(Fleet& fleet, Store& store);
  ~InjectRuns();

  // Errors (bad request, nothing matches) come back as an Error; a guard refusal or
  // a failed apply is a response with the verdict or error, and is recorded.
  Result<v1::InjectResponse> inject(const v1::InjectRequest& request);
  Result<v1::RevertRunResponse> revert(const std::string& run_id, const std::string& by);
  // Graceful stop: reverts what is in flight and records it aborted.
  void shutdown(const std::string& why);

 private:
  struct Active {
    std::string fault_id;
    std::vector<std::string> hosts;
    WallTime expires_at;
  };

  void timer_loop();
  void on_event(const std::string& agent_id, const v1::Event& event);
  void on_lost(const std::string& agent_id, const std::string& why);
  void on_halt(const HaltState& state);
  void flush();

  Fleet& fleet_;
  Store& store_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Active> active_;
  bool stopping_ = false;
  std::vector<TargetRow> pending_targets_;
  std::vector<EventRow> pending_events_;
  std::thread timer_;
};

// Store rows for a fan-out's outcome: "applied", "scheduled", "refused", "failed",
// "no answer".
std::vector<TargetRow> target_rows(const std::string& run_id, const std::string& fault_id, const FanoutResult& result);
void fill_outcomes(const std::string& fault_id, const FanoutResult& result,
                   google::protobuf::RepeatedPtrField<v1::TargetOutcome>* out);

}  // namespace firedrill::controller
