// The evidence verbs of `firedrill`: report, finding, keys (listed in
// controller/cli/commands.cpp).
#pragma once

#include <filesystem>
#include <string>

namespace firedrill::evidence {

// The controller's state directory: --state-dir, else $FIREDRILL_STATE_DIR, else
// /var/lib/firedrill. The evidence key lives there; the database defaults to
// STATE_DIR/controller.db, shared with the controller's store (controller/store).
std::filesystem::path default_state_dir();
inline constexpr const char* kDatabaseName = "controller.db";

int report_main(int argc, char** argv);
int finding_main(int argc, char** argv);
int keys_main(int argc, char** argv);

}  // namespace firedrill::evidence
