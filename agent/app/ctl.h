#pragma once

namespace firedrill::agent {

// `firedrill-agent ctl SUBCOMMAND ...`: drives a running agent through its local
// control socket.
int ctl_main(int argc, char** argv);

}  // namespace firedrill::agent
