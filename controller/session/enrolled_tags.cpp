#include "controller/session/enrolled_tags.h"

#include <fmt/format.h>

#include "common/join_token.h"

namespace firedrill::controller {

std::optional<std::string> EnrolledTags::refusal(const std::string& agent_id,
                                                 const std::map<std::string, std::string>& claimed) const {
  std::map<std::string, std::string> required;
  {
    std::lock_guard lock(mu_);
    auto it = enrolled_.find(agent_id);
    if (it == enrolled_.end()) return std::nullopt;
    required = it->second.tags;
  }
  auto misfits = tag_misfits(required, claimed);
  if (misfits.empty()) return std::nullopt;
  std::string claims;
  for (auto& m : misfits) claims += (claims.empty() ? "" : ", ") + m.claim();
  return fmt::format("agent {} claims {}; it enrolled with a token for {}: enroll again with a token for its tags",
                     agent_id, claims, format_tag_list(required));
}

}  // namespace firedrill::controller
