// The `firedrill` verbs of the experiment subsystem (listed in controller/cli/commands.cpp).
#pragma once

namespace firedrill::experiment {

// firedrill validate FILE...: exit 0 when every file is valid, 2 otherwise.
int validate_main(int argc, char** argv);

}  // namespace firedrill::experiment
