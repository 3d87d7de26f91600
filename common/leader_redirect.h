// How a follower controller points an agent at the leader. A controller that does not
// lead refuses every agent stream with FAILED_PRECONDITION, a message for people ("not
// the leader; the leader is X at ADDR") and, for the agent, the leader's agent address
// in the trailing metadata under kLeaderAddressKey. The agent goes there at once when
// the address is in its --controller list, or when the fleet's CA vouches for it (the
// TLS handshake checks the controller's certificate against that CA); else it goes on
// to the next controller of its list.
#pragma once

namespace firedrill {

inline constexpr const char* kLeaderAddressKey = "firedrill-leader-address";

}  // namespace firedrill
