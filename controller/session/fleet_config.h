// What the controller's fleet is configured with (serve's options): the agents'
// leases and liveness, the stream limits, the clock bound for coordinated faults and
// the guard's policy.
#pragma once

#include <chrono>
#include <cstddef>

#include "controller/guard/guard.h"

namespace firedrill::controller {

struct FleetConfig {
  // Agents revert everything when the controller is silent this long; renewals go out
  // every third of it.
  std::chrono::nanoseconds lease_grace = std::chrono::seconds(5);
  // How often agents send heartbeats (told to them in every LeaseRenewal).
  std::chrono::nanoseconds heartbeat_interval = std::chrono::seconds(1);
  // How often an agent that holds no fault heartbeats, for agents whose lease is
  // renewed by heartbeat (LeaseRenewal in proto/firedrill/v1/agent.proto): what an
  // idle fleet costs the controller, and how late an idle agent that vanished without
  // a word (no TCP reset) is taken for lost (three of these).
  std::chrono::nanoseconds idle_heartbeat_interval = std::chrono::seconds(30);
  // An agent silent this long is dropped as lost; 0: the larger of 3 heartbeats and
  // the lease grace. An agent renewed by heartbeat is lost after the larger of this
  // and 3 of the heartbeat intervals it announced.
  std::chrono::nanoseconds lost_after{0};
  // mTLS: a stream's Hello must carry the id of its certificate's common name.
  bool require_certificate_id = true;
  // Messages from agents above this size close the stream (logged, never parsed
  // further); gRPC refuses anything above 4x this outright.
  size_t max_message_bytes = 1u << 20;
  // An agent whose clock is further than this from ours (measured at Hello and on
  // every heartbeat) is refused for faults with a common start: its kernel would
  // start them at another instant than the rest of the fleet.
  std::chrono::nanoseconds max_clock_offset = std::chrono::seconds(1);
  GuardPolicy guard;

  std::chrono::nanoseconds lost_after_or_default() const {
    return lost_after.count() > 0 ? lost_after : std::max(heartbeat_interval * 3, lease_grace);
  }
};

}  // namespace firedrill::controller
