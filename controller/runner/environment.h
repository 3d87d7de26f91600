// The environment a run's approval policy applies to is where its targets are: the
// `env` tag their agents report (--tag env=production), not what the experiment says.
// A file may name its environment, and must then agree with its targets; a run whose
// targets report several environments is refused (one run, one policy). Targets
// without the tag contradict nothing: a fleet tags its agents for the policy to bind.
// The run is placed when it starts (that decides its approvals) and each step's hosts
// are checked again at preflight, after the approvals, against that environment.
#pragma once

#include <string>
#include <vector>

#include "common/result.h"
#include "controller/targeting/targets.h"

namespace firedrill::runner {

inline constexpr const char* kEnvironmentTag = "env";

// The environment of `hosts` for a run that claims `claimed` ("" for none): the one
// every tagged host reports, else the claim. Errors: the hosts report several, or one
// the claim contradicts.
Result<std::string> settle_environment(const std::string& claimed, const std::vector<controller::Host>& hosts);

// Whether `hosts` may be targeted by a run placed in `environment`: an error names
// each host whose tag says otherwise.
Result<void> check_environment(const std::string& environment, const std::vector<controller::Host>& hosts);

}  // namespace firedrill::runner
