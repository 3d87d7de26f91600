// One agent's stream as the fleet sees it: where to send commands, which commands
// await an answer, the agent's clock offset, and when the agent was last heard. The
// stream itself (a gRPC reactor in agent_service.cpp, or a fake in unit tests) sits
// behind SessionTransport.
//
// Liveness and lease renewal run on the steady clock: a step of the wall clock (NTP,
// an operator) neither drops every agent as silent nor starves their renewals. Wall
// times are only for records and for the agent's own clock.
#pragma once

#include <algorithm>

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "common/time.h"
#include "controller/session/clock_estimate.h"
#include "firedrill/v1/agent.pb.h"

namespace firedrill::controller {

struct CommandBatch;

class SessionTransport {
 public:
  virtual ~SessionTransport() = default;
  // Queues a message for the agent; false when the stream is closing or the agent
  // does not read (its queue is full).
  virtual bool send(const v1::ControllerMessage& message) = 0;
  // Ends the stream with a gRPC status code and message (idempotent).
  virtual void close(int grpc_code, const std::string& why) = 0;
};

class AgentSession {
 public:
  AgentSession(SessionTransport* transport, std::string peer) : transport_(transport), peer_(std::move(peer)) {
    connected_at_ = last_seen_ = SteadyClock::now();
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

  // The agent's clock minus ours: from the fastest of its recent round trips of
  // clocks, or the clock on its latest Hello or heartbeat (see ClockEstimate).
  std::chrono::nanoseconds clock_offset() const {
    std::lock_guard lock(mu_);
    return clock_.offset();
  }
  ClockEstimate clock() const {
    std::lock_guard lock(mu_);
    return clock_;
  }
  // An agent's wall time on our clock.
  WallTime to_controller_clock(WallTime agent_time) const {
    return agent_time - std::chrono::duration_cast<WallClock::duration>(clock_offset());
  }

  // Whether one more process-kill event of this agent is persisted: at most 10 a second
  // (bursts of 100), so that an exec loop on a host does not grow the store without
  // bound; the agent's counters carry every kill. Counts what it turns away.
  bool admit_kill_event() {
    constexpr double kRate = 10, kBurst = 100;
    std::lock_guard lock(mu_);
    auto t = SteadyClock::now();
    if (kill_event_refill_ != SteadyClock::time_point{}) {
      kill_event_tokens_ =
          std::min(kBurst, kill_event_tokens_ + kRate * std::chrono::duration<double>(t - kill_event_refill_).count());
    }
    kill_event_refill_ = t;
    if (kill_event_tokens_ < 1) {
      ++kill_events_limited_;
      return false;
    }
    kill_event_tokens_ -= 1;
    return true;
  }
  uint64_t kill_events_limited() const {
    std::lock_guard lock(mu_);
    return kill_events_limited_;
  }

 private:
  friend class AgentStreams;  // registration, liveness, leases
  friend class Fanout;        // command correlation

  // Who awaits the answer to a command (see fanout.h).
  struct Waiter {
    std::shared_ptr<CommandBatch> batch;
    size_t index = 0;
    std::string what;  // for untracked commands
  };

  mutable std::mutex mu_;
  SessionTransport* transport_;
  std::string peer_;
  std::string id_;  // set at registration
  bool registered_ = false;
  bool ended_ = false;
  SteadyClock::time_point connected_at_;
  SteadyClock::time_point last_seen_;
  SteadyClock::time_point next_lease_{};
  SteadyClock::duration renew_every_{0};  // set at registration; 0: renewed by heartbeat
  // The agent keeps the lease rules of renewal by heartbeat (Hello.lease_by_heartbeat):
  // each of its heartbeats is answered with a renewal, and it is lost after
  // `silent_bound_` (from the pace it announced; 0: the fleet's lost_after).
  bool lease_by_heartbeat_ = false;
  SteadyClock::duration silent_bound_{0};
  ClockEstimate clock_;
  std::unordered_map<uint64_t, Waiter> pending_;
  std::unordered_map<std::string, Waiter> effect_waiters_;
  // What is persisted of this agent's process-kill events: a token bucket, so that an
  // exec loop on a host does not grow the store without bound.
  double kill_event_tokens_ = 100;
  SteadyClock::time_point kill_event_refill_{};
  uint64_t kill_events_limited_ = 0;
};

}  // namespace firedrill::controller
