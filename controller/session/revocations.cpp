#include "controller/session/revocations.h"

#include <fmt/format.h>

namespace firedrill::controller {

std::string Revocations::refusal(const AgentRevocationRow& row) {
  return fmt::format("agent {}'s certificate was revoked at {} by {}{}", row.agent_id, format_utc(row.revoked_at),
                     row.revoked_by, row.reason.empty() ? "" : ": " + row.reason);
}

}  // namespace firedrill::controller
