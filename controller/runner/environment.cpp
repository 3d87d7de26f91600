#include "controller/runner/environment.h"

#include <map>

#include <fmt/ranges.h>

namespace firedrill::runner {
namespace {

// Tagged hosts by the environment they report.
std::map<std::string, std::vector<std::string>> by_environment(const std::vector<controller::Host>& hosts) {
  std::map<std::string, std::vector<std::string>> out;
  for (const auto& h : hosts) {
    auto it = h.tags.find(kEnvironmentTag);
    if (it != h.tags.end()) out[it->second].push_back(h.id);
  }
  return out;
}

std::string describe(const std::map<std::string, std::vector<std::string>>& envs) {
  std::vector<std::string> parts;
  for (const auto& [env, ids] : envs) parts.push_back(fmt::format("{}={} ({})", kEnvironmentTag, env, fmt::join(ids, ", ")));
  return fmt::format("{}", fmt::join(parts, "; "));
}

}  // namespace

Result<std::string> settle_environment(const std::string& claimed, const std::vector<controller::Host>& hosts) {
  auto envs = by_environment(hosts);
  if (envs.size() > 1) {
    return make_error("its targets are in several environments: {}; the approval policy applies per environment, "
                      "so target one environment per run", describe(envs));
  }
  if (envs.empty()) return claimed;
  const std::string& found = envs.begin()->first;
  if (!claimed.empty() && claimed != found) {
    return make_error("the experiment says environment '{}' but its targets report {}: the approval policy follows "
                      "the targets", claimed, describe(envs));
  }
  return found;
}

Result<void> check_environment(const std::string& environment, const std::vector<controller::Host>& hosts) {
  auto envs = by_environment(hosts);
  envs.erase(environment);
  if (envs.empty()) return {};
  return make_error("the run was placed in environment '{}' (its approvals are that environment's) but targets "
                    "report {}", environment.empty() ? "(none)" : environment, describe(envs));
}

}  // namespace firedrill::runner
