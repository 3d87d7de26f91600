// The `firedrill` verbs of the controller area (listed in controller/cli/commands.cpp).
// Each takes argv[0] = the verb and prints --help like a man page.
#pragma once

namespace firedrill::controller {

int serve_main(int argc, char** argv);    // the daemon
int agents_main(int argc, char** argv);   // live agents, by selector
int plan_main(int argc, char** argv);     // dry run: targets and the guard's verdict
int inject_main(int argc, char** argv);   // an ad hoc fault through the guard
int revert_main(int argc, char** argv);   // end an ad hoc run early
int halt_main(int argc, char** argv);     // revert everything, block new runs
int release_main(int argc, char** argv);  // lift a halt
int runs_main(int argc, char** argv);     // recent runs, or one run with its targets
int tokens_main(int argc, char** argv);   // join tokens (enroll_verbs.cpp)
int agents_revoke_main(int argc, char** argv);   // agents revoke ID
int agents_revoked_main(int argc, char** argv);  // agents revoked
int web_main(int argc, char** argv);          // web login (web_verbs.cpp)
int certs_verbs_main(int argc, char** argv);  // certs user, and certs_main's commands

}  // namespace firedrill::controller
