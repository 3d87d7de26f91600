// From a selection (selector + mode) and the live fleet to the hosts a fault goes to.
// Pure logic over ids and tags, so the plan, the guard and the runner agree on it and
// unit tests need no agents.
#pragma once

#include <string>
#include <vector>

#include "common/result.h"
#include "controller/targeting/selector.h"
#include "firedrill/v1/targeting.pb.h"

namespace firedrill::controller {

struct Host {
  std::string id;
  Tags tags;
  std::string agent_version;  // as the agent registered it; "" when unknown
};

struct Resolution {
  std::vector<std::string> matched;  // every host the selector matches, by id
  std::vector<std::string> targets;  // the ones the mode chose, by id
};

// "all", "count(3)", "percent(25)", "one-per(rack)" (as the CLI and logs write it).
Result<v1::TargetMode> parse_mode(std::string_view text);
std::string format_mode(const v1::TargetMode& mode);

// Chooses targets among `fleet`. Errors: a malformed selector (with its position), a
// mode that cannot be met (count(5) with 3 matching hosts, percent outside (0,100]),
// and a selection that matches nothing.
Result<Resolution> resolve(const std::vector<Host>& fleet, const v1::Targets& targets);

}  // namespace firedrill::controller
