#pragma once

#include "agent/core/config.h"

namespace firedrill::agent {

// Parses the command line into a validated config; prints --help and exits on request.
// Returns the exit code on anything but "run".
Result<AgentConfig> parse_agent_options(int argc, char** argv, bool* exit_now);

int agent_main(int argc, char** argv);
int features_main();

}  // namespace firedrill::agent
