#include "controller/session/agent_session.h"

#include <algorithm>
#include <functional>

namespace firedrill::controller {

bool AgentSession::send(const v1::ControllerMessage& message) {
  std::lock_guard lock(mu_);
  if (!transport_ || ended_) return false;
  if (!transport_->send(message)) return false;
  // Whatever the agent hears from us renews its lease: no renewal in the middle of a
  // fan-out's acks. Half an interval to a whole one later, spread by stream, so that a
  // fan-out to the whole fleet does not line every renewal up into one burst.
  if (renew_every_.count() > 0) {
    auto spread = renew_every_ / 2 * static_cast<int64_t>(std::hash<std::string>{}(peer_) % 1024) / 1024;
    next_lease_ = std::max(next_lease_, SteadyClock::now() + renew_every_ / 2 + spread);
  }
  return true;
}

void AgentSession::close(int code, const std::string& why) {
  std::lock_guard lock(mu_);
  if (transport_) transport_->close(code, why);
}

void AgentSession::detach() {
  std::lock_guard lock(mu_);
  transport_ = nullptr;
}

}  // namespace firedrill::controller
