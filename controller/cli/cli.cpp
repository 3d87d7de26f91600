#include "controller/cli/cli.h"

#include <cstring>
#include <iostream>

namespace firedrill::controller {

namespace {

void usage(std::ostream& out) {
  out << "firedrill - chaos engineering for fleets of Linux hosts\n\n"
         "SYNOPSIS\n  firedrill COMMAND [OPTIONS]     (firedrill COMMAND --help for each)\n\n"
         "COMMANDS\n";
  for (auto& c : subcommands()) out << "  " << c.name << std::string(12 - std::min<size_t>(11, std::strlen(c.name)), ' ') << c.summary << "\n";
}

}  // namespace

int cli_main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "help")) {
    usage(std::cout);
    return argc < 2 ? 2 : 0;
  }
  if (!std::strcmp(argv[1], "--version")) {
    std::cout << "firedrill " << FIREDRILL_VERSION << "\n";
    return 0;
  }
  for (auto& c : subcommands()) {
    if (!std::strcmp(argv[1], c.name)) return c.main(argc - 1, argv + 1);
  }
  std::cerr << "firedrill: unknown command '" << argv[1] << "'\n\n";
  usage(std::cerr);
  return 2;
}

}  // namespace firedrill::controller
