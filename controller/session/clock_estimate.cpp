#include "controller/session/clock_estimate.h"

namespace firedrill::controller {

void ClockEstimate::one_way(WallTime agent_clock, WallTime now) {
  if (!samples_.empty()) return;  // round trips know better
  offset_ = std::chrono::duration_cast<std::chrono::nanoseconds>(agent_clock - now);
}

bool ClockEstimate::round_trip(WallTime agent_sent, WallTime controller_clock, WallTime agent_received,
                               SteadyClock::time_point at) {
  auto delay = std::chrono::duration_cast<std::chrono::nanoseconds>(agent_received - agent_sent);
  if (delay.count() < 0 || delay > kMaxDelay) return false;
  // (agent_sent + agent_received) / 2 - controller_clock, without overflow.
  auto offset = std::chrono::duration_cast<std::chrono::nanoseconds>(agent_sent - controller_clock) + delay / 2;
  samples_.push_back({offset, delay, at});
  while (samples_.size() > kWindow) samples_.pop_front();
  choose(at);
  return true;
}

void ClockEstimate::choose(SteadyClock::time_point now) {
  // The newest sample always stays, however old: it is all we know.
  while (samples_.size() > 1 && now - samples_.front().at > kMaxAge) samples_.pop_front();
  const Sample* best = nullptr;
  for (const auto& s : samples_) {  // oldest first: a tie goes to the newer
    if (!best || s.delay / kDelayGrain <= best->delay / kDelayGrain) best = &s;
  }
  offset_ = best->offset;
  delay_ = best->delay;
}

}  // namespace firedrill::controller
