// Every verb of `firedrill`, in the order --help lists them. A subsystem adds its verbs
// here and links its library in controller/cli/CMakeLists.txt.
#include "controller/cli/cli.h"

namespace firedrill::controller {

const std::vector<Subcommand>& subcommands() {
  static const std::vector<Subcommand> table = {
  };
  return table;
}

}  // namespace firedrill::controller
