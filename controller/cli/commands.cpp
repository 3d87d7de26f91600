// Every verb of `firedrill`, in the order --help lists them. A subsystem adds its verbs
// here and links its library in controller/cli/CMakeLists.txt.
#include "controller/cli/cli.h"
#include "controller/evidence/evidence_cli.h"
#include "controller/experiment/commands.h"

namespace firedrill::controller {

const std::vector<Subcommand>& subcommands() {
  static const std::vector<Subcommand> table = {
      {"validate", "check experiment files and report every error at once", experiment::validate_main},
      {"report", "render a run's evidence report (json, html) or verify one", evidence::report_main},
      {"finding", "record findings of a run and close them after a retest", evidence::finding_main},
      {"keys", "export the controller's evidence public key", evidence::keys_main},
  };
  return table;
}

}  // namespace firedrill::controller
