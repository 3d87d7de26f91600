// Turns one ControllerMessage into what the agent does and answers. The controller
// session and the local control socket both go through here, and so does the fuzzer:
// whatever arrives, the answer is an Ack (applied, scheduled or refused with the
// reason) or a Heartbeat, never a crash.
#pragma once

#include <functional>
#include <map>
#include <string>

#include "agent/core/fault_manager.h"
#include "firedrill/v1/agent.pb.h"

namespace firedrill::agent {

class CommandHandler {
 public:
  explicit CommandHandler(FaultManager& faults) : faults_(faults) {}

  // The reply to send back (Ack or Heartbeat).
  v1::AgentMessage handle(const v1::ControllerMessage& message, v1::RevertReason revert_reason);

  // Called with the grace of each LeaseRenewal (the session renews its dead-man timer).
  void on_lease(std::function<void(std::chrono::nanoseconds)> callback) { on_lease_ = std::move(callback); }

  v1::Heartbeat heartbeat() const;

 private:
  FaultManager& faults_;
  std::function<void(std::chrono::nanoseconds)> on_lease_;
};

}  // namespace firedrill::agent
