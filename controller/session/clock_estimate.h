// An agent's clock offset (its clock minus the controller's), robust to queueing
// delay the way NTP is: from round trips of clocks (v1::ClockExchange), keeping the
// estimate of the fastest of the recent ones. A message that waited seconds in a queue
// (the controller busy with a fan-out to ten thousand agents) widens its round trip and
// loses to the others, instead of reading as seconds of clock offset.
//
// Until an agent completes a round trip (the first heartbeat after registration, or
// never for agents that predate ClockExchange), the estimate is the one-way reading of
// the latest clock it stamped: its offset minus that message's delay.
#pragma once

#include <chrono>
#include <deque>
#include <optional>

#include "common/time.h"

namespace firedrill::controller {

class ClockEstimate {
 public:
  // Round trips kept, and how long one counts: NTP's clock filter keeps eight.
  static constexpr size_t kWindow = 8;
  static constexpr auto kMaxAge = std::chrono::minutes(10);
  // Round trips this close in delay count as equally fast, and the newest of them
  // wins: a step of the agent's clock is followed at once.
  static constexpr auto kDelayGrain = std::chrono::milliseconds(10);
  // A round trip longer than this (or negative: the agent's clock stepped during it)
  // says nothing about the clocks and is ignored.
  static constexpr auto kMaxDelay = std::chrono::minutes(1);

  // The agent's clock on a message it stamped, taken at `now` (our clock).
  void one_way(WallTime agent_clock, WallTime now);
  // A completed round trip (agent's, ours, agent's clock), reported at `at`; false when
  // ignored (see kMaxDelay).
  bool round_trip(WallTime agent_sent, WallTime controller_clock, WallTime agent_received,
                  SteadyClock::time_point at = SteadyClock::now());

  std::chrono::nanoseconds offset() const { return offset_; }
  // The round trip behind offset(); its half bounds the error. Unset: one-way only.
  std::optional<std::chrono::nanoseconds> delay() const { return delay_; }
  // How far off offset() may be: half the round trip (0 for a one-way reading).
  std::chrono::nanoseconds uncertainty() const { return delay_ ? *delay_ / 2 : std::chrono::nanoseconds(0); }
  // Whether the agent's clock is known to be further than `bound` from ours: the whole
  // interval offset() +- uncertainty() lies beyond it. A round trip seconds long under
  // load bounds the offset too loosely to refuse an agent for it.
  bool beyond(std::chrono::nanoseconds bound) const {
    return std::chrono::abs(offset_) - uncertainty() > bound;
  }

 private:
  struct Sample {
    std::chrono::nanoseconds offset;
    std::chrono::nanoseconds delay;
    SteadyClock::time_point at;
  };
  void choose(SteadyClock::time_point now);

  std::deque<Sample> samples_;  // oldest first
  std::chrono::nanoseconds offset_{0};
  std::optional<std::chrono::nanoseconds> delay_;
};

}  // namespace firedrill::controller
