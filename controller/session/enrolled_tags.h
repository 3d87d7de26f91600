// The tags each enrolled agent's join token was limited to (`firedrill tokens create
// --tags`), held to at every Hello of the agent's stream, not only at enrollment: an
// agent that enrolled with a token for dc=pangyo,env=staging and later claims
// env=production (or another rack) is refused until it enrolls again with a token for
// its tags. Keyed by agent id, so a renewed certificate keeps it, and the last
// enrollment of an id replaces the one before. An agent with no enrollment (a
// certificate made with `firedrill certs agent`) is not held to any. The store keeps the
// rows (controller/store, agent_enrollments) so that they hold after a restart; this is
// their copy in memory.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "controller/store/enrollment_records.h"

namespace firedrill::controller {

class EnrolledTags {
 public:
  void load(const std::vector<AgentEnrollmentRow>& rows) {
    std::lock_guard lock(mu_);
    for (auto& r : rows) enrolled_[r.agent_id] = r;
  }
  void put(const AgentEnrollmentRow& row) {
    std::lock_guard lock(mu_);
    enrolled_[row.agent_id] = row;
  }
  // Why agent `agent_id` claiming `claimed` is refused: "agent p1-h1 claims rack=p2;
  // it enrolled with a token for rack=p1: enroll again with a token for its tags".
  // None: it fits, or it never enrolled.
  std::optional<std::string> refusal(const std::string& agent_id,
                                     const std::map<std::string, std::string>& claimed) const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, AgentEnrollmentRow> enrolled_;
};

}  // namespace firedrill::controller
