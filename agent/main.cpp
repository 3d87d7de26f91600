// firedrill-agent: the per-host daemon. `firedrill-agent --help` for the daemon,
// `firedrill-agent ctl --help` for the local control client, `firedrill-agent features`
// for what this kernel offers, `firedrill-agent enroll --help` to join a fleet.
#include <csignal>
#include <cstring>
#include <iostream>

#include "agent/app/agent_app.h"
#include "agent/app/ctl.h"
#include "agent/enroll/enroll.h"

int main(int argc, char** argv) {
  if (argc >= 2 && std::strcmp(argv[1], "ctl") == 0) return firedrill::agent::ctl_main(argc - 1, argv + 1);
  if (argc >= 2 && std::strcmp(argv[1], "features") == 0) return firedrill::agent::features_main();
  if (argc >= 2 && std::strcmp(argv[1], "enroll") == 0) return firedrill::agent::enroll_main(argc - 1, argv + 1);
  return firedrill::agent::agent_main(argc, argv);
}
