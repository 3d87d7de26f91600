// Agents whose certificates the controller refuses (`firedrill agents revoke ID`).
//
// Revocation is by agent id, not by certificate serial: every certificate whose common
// name is that id is refused, those issued before (by `firedrill certs agent`, by
// enrollment, by renewal) and after alike, so a host that renewed its certificate
// since, or holds a copy made by hand, is refused just the same. The store keeps the
// list (controller/store, agent_revocations) so that it holds after a restart; this
// is its copy in memory, read on every stream's Hello.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "controller/store/enrollment_records.h"

namespace firedrill::controller {

class Revocations {
 public:
  void load(const std::vector<AgentRevocationRow>& rows) {
    std::lock_guard lock(mu_);
    for (auto& r : rows) revoked_.emplace(r.agent_id, r);
  }
  void add(const AgentRevocationRow& row) {
    std::lock_guard lock(mu_);
    revoked_.emplace(row.agent_id, row);
  }
  std::optional<AgentRevocationRow> find(const std::string& agent_id) const {
    std::lock_guard lock(mu_);
    auto it = revoked_.find(agent_id);
    if (it == revoked_.end()) return std::nullopt;
    return it->second;
  }
  // "agent p1-h1's certificate was revoked at ... by ...: reason"
  static std::string refusal(const AgentRevocationRow& row);

 private:
  mutable std::mutex mu_;
  std::map<std::string, AgentRevocationRow> revoked_;
};

}  // namespace firedrill::controller
