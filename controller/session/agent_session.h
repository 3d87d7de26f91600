// One agent's stream as the fleet sees it: where to send commands, which commands
// await an answer, and when the agent was last heard. The stream itself (a gRPC
// reactor in agent_service.cpp, or a fake in unit tests) sits behind SessionTransport.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/time.h"
#include "controller/session/fleet.h"
#include "firedrill/v1/agent.pb.h"

namespace firedrill::controller {

class SessionTransport {
 public:
  virtual ~SessionTransport() = default;
  // Queues a message for the agent; false when the stream is closing or the agent
  // does not read (its queue is full).
  virtual bool send(const v1::ControllerMessage& message) = 0;
  // Ends the stream with a gRPC status code and message (idempotent).
  virtual void close(int grpc_code, const std::string& why) = 0;
};

// Many targets' answers to one fan-out; see Fleet::apply.
struct CommandBatch {
  enum Phase : uint8_t { kAwaitAck, kAwaitEffect, kDone };
  CommandBatch(size_t n, bool effective) : results(n), phase(n, kAwaitAck), open(n), open_ack(n), wait_effective(effective) {}

  // Called with mu held.
  void finish(size_t i);
  void acked(size_t i);  // leaves kAwaitAck

  std::mutex mu;
  std::condition_variable cv;
  std::vector<TargetResult> results;
  std::vector<Phase> phase;
  size_t open;
  size_t open_ack;
  bool wait_effective;
};

class AgentSession {
 public:
  AgentSession(SessionTransport* transport, std::string peer) : transport_(transport), peer_(std::move(peer)) {
    connected_at_ = last_seen_ = WallClock::now();
  }

  const std::string& peer() const { return peer_; }
  std::string id() const {
    std::lock_guard lock(mu_);
    return id_;
  }

  bool send(const v1::ControllerMessage& message);
  void close(int grpc_code, const std::string& why);
  // The transport is gone (its stream ended); later sends fail.
  void detach();

  // Awaits the answer to `command_id` (and, with a fault id, the fault's applied event).
  void expect(uint64_t command_id, std::shared_ptr<CommandBatch> batch, size_t index, const std::string& effect_fault);
  // Stops awaiting (timeout, send failure).
  void forget(uint64_t command_id, const std::string& effect_fault);
  // A command whose answer is only logged (stale fault reverts at registration).
  void expect_untracked(uint64_t command_id, std::string what);

  WallTime last_seen() const {
    std::lock_guard lock(mu_);
    return last_seen_;
  }
  WallTime connected_at() const { return connected_at_; }

 private:
  friend class Fleet;
  struct Waiter {
    std::shared_ptr<CommandBatch> batch;
    size_t index = 0;
    std::string what;  // for untracked commands
  };

  // The agent's clock minus ours.
  WallTime to_controller_clock(WallTime agent_time) const {
    return agent_time - std::chrono::duration_cast<WallClock::duration>(clock_offset_);
  }

  mutable std::mutex mu_;
  SessionTransport* transport_;
  std::string peer_;
  std::string id_;  // set at registration
  bool registered_ = false;
  bool ended_ = false;
  WallTime connected_at_;
  WallTime last_seen_;
  WallTime next_lease_{};
  WallClock::duration renew_every_{0};  // set at registration
  std::chrono::nanoseconds clock_offset_{0};
  std::unordered_map<uint64_t, Waiter> pending_;
  std::unordered_map<std::string, Waiter> effect_waiters_;
  // What is persisted of this agent's process-kill events: a token bucket, so that an
  // exec loop on a host does not grow the store without bound.
  double kill_event_tokens_ = 100;
  SteadyClock::time_point kill_event_refill_{};
  uint64_t kill_events_limited_ = 0;
};

}  // namespace firedrill::controller
