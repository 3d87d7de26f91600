// The `firedrill` command: one binary, one subcommand per verb. Each subsystem offers
// its verbs as functions `int NAME_main(int argc, char** argv)` (argv[0] is the verb)
// and the table in commands.cpp lists them.
#pragma once

#include <string>
#include <vector>

namespace firedrill::controller {

struct Subcommand {
  const char* name;
  const char* summary;
  int (*main)(int argc, char** argv);
};

const std::vector<Subcommand>& subcommands();

int cli_main(int argc, char** argv);

}  // namespace firedrill::controller
