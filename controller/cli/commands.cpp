// Every verb of `firedrill`, in the order --help lists them. A subsystem adds its verbs
// here and links its library in controller/cli/CMakeLists.txt.
#include "controller/cli/cli.h"
#include "controller/cli/verbs.h"
#include "controller/session/certs.h"
#include "controller/cli/evidence_verbs.h"
#include "controller/experiment/commands.h"
#include "controller/cli/run_cli.h"

namespace firedrill::controller {

const std::vector<Subcommand>& subcommands() {
  static const std::vector<Subcommand> table = {
      {"serve", "run the controller daemon", serve_main},
      {"agents", "list the agents of the fleet, by selector", agents_main},
      {"plan", "dry run: which hosts a selection hits, and the guard's verdict", plan_main},
      {"inject", "an ad hoc fault on a selection for a duration, through the guard", inject_main},
      {"revert", "end an ad hoc run before its lease ends", revert_main},
      {"halt", "revert every fault in the fleet and refuse new runs", halt_main},
      {"release", "lift a halt", release_main},
      {"runs", "recent runs, or one run with its targets", runs_main},
      {"certs", "make the fleet's mutual TLS material (CA, controller, agents, clients, people)", certs_verbs_main},
      {"tokens", "join tokens for enrolling hosts: tokens create|list|revoke", tokens_main},
      {"validate", "check experiment files and report every error at once", experiment::validate_main},
      {"run", "start an experiment and follow it live to its verdict", runner::run_main},
      {"show", "an experiment run in full (steps, faults, timeline, SLOs), or the recent ones", runner::show_main},
      {"approve", "approve (or reject) a run that waits for approval", runner::approve_main},
      {"abort", "stop an experiment run; its faults are reverted", runner::abort_main},
      {"schedule", "continuous chaos: schedule add|list|pause|resume|remove", runner::schedule_main},
      {"report", "render a run's evidence report (json, html) or verify one", report_main},
      {"finding", "record findings of a run and close them after a retest", finding_main},
      {"keys", "export the controller's evidence public key", keys_main},
      {"web", "the dashboard: web login --as NAME prints a one-time login link", web_main},
  };
  return table;
}

}  // namespace firedrill::controller
