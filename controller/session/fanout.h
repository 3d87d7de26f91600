// The fan-out: one command to many agents' streams and the correlation of their
// answers. A command gets an id, each target's answer (Ack) and, for faults waited
// for, its "applied" event are matched back to the batch that sent it, and the caller
// gets per-target statuses, ack and effect times, and their spreads.
//
// Times an agent reports (when a command took effect) are moved onto the controller's
// clock by the agent's measured offset and then clamped to what we observed: not
// before the command was sent, not after its answer (or event) arrived. An agent's
// clock error can widen a reported spread, never move an effect outside that window.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/time.h"
#include "controller/session/agent_session.h"
#include "firedrill/v1/agent.pb.h"

namespace firedrill::controller {

// What one target did with one command.
struct TargetResult {
  std::string agent_id;
  v1::AckStatus status = v1::ACK_STATUS_UNSPECIFIED;  // UNSPECIFIED: no answer
  std::string error;                                  // refusal, "not connected", timeout, lost
  std::optional<WallTime> acked_at;                   // controller clock
  std::optional<WallTime> effective_at;               // controller clock, within [sent, answer received]
  std::vector<v1::FaultEffect> effects;               // each part's time on the agent's clock
  std::optional<v1::ClockSync> clock;                 // the agent's clock as it reported it

  // Applied, or scheduled (and, when waited for, took effect), or reverted.
  bool ok() const { return status == v1::ACK_APPLIED || status == v1::ACK_SCHEDULED; }
};

struct FanoutResult {
  WallTime sent_at{};
  WallTime all_sent{};                // when the last command was handed to its stream
  std::vector<TargetResult> targets;  // in the order of the request's hosts
  std::optional<WallTime> first_ack, last_ack, first_effect, last_effect;

  bool all_ok() const;
  std::vector<std::string> failed() const;  // "host: why"
  std::chrono::nanoseconds ack_spread() const;
  std::chrono::nanoseconds effect_spread() const;
  std::chrono::nanoseconds dispatch_to_last_ack() const;
};

// Many targets' answers to one fan-out.
struct CommandBatch {
  enum Phase : uint8_t { kAwaitAck, kAwaitEffect, kDone };
  CommandBatch(size_t n, bool effective)
      : results(n), sent(n), phase(n, kAwaitAck), open(n), open_ack(n), wait_effective(effective) {}

  // Called with mu held.
  void finish(size_t i);
  void acked(size_t i);  // leaves kAwaitAck

  std::mutex mu;
  std::condition_variable cv;
  std::vector<TargetResult> results;
  std::vector<WallTime> sent;  // when each target's command went to its stream
  std::vector<Phase> phase;
  size_t open;
  size_t open_ack;
  bool wait_effective;
};

class Fanout {
 public:
  // One command handed to every target's stream, its answers still to come.
  struct Dispatch {
    std::shared_ptr<CommandBatch> batch;
    std::vector<std::pair<std::shared_ptr<AgentSession>, uint64_t>> sent;
    std::string effect_key;
    FanoutResult result;  // sent_at, all_sent so far
  };

  // Sends `prototype` (its command id set per target) to `sessions[i]`, the stream of
  // `hosts[i]` (null: not connected). With `effect_fault`, each target's answer is only
  // final once the fault's applied (or error) event came.
  Dispatch send(const std::vector<std::string>& hosts, const std::vector<std::shared_ptr<AgentSession>>& sessions,
                const v1::ControllerMessage& prototype, const std::string& effect_fault);
  // Waits for the answers until `deadline` (and the effects until `effect_deadline`);
  // what did not come is a timeout.
  FanoutResult wait(Dispatch dispatch, WallTime deadline, WallTime effect_deadline);
  // Every target refused with `why`, nothing sent.
  static FanoutResult refuse_all(const std::vector<std::string>& hosts, const std::string& why);
  // Sends a command whose answer is only logged; false when the stream is gone.
  bool send_untracked(AgentSession& session, v1::ControllerMessage message, std::string what);

  // From the streams. An answer to an untracked command returns what it was for.
  std::optional<std::string> on_ack(AgentSession& session, const v1::Ack& ack, WallTime now);
  void on_fault_event(AgentSession& session, const v1::Event& event, WallTime now);
  // The stream ended: every command it owes an answer fails with `why`.
  void abandon(AgentSession& session, const std::string& why);

 private:
  std::atomic<uint64_t> next_command_{1};
};

}  // namespace firedrill::controller
