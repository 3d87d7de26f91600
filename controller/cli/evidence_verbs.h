// The evidence verbs of `firedrill` (listed in controller/cli/commands.cpp): clients of
// the controller's EvidenceService, but `report verify FILE`, which runs offline.
#pragma once

namespace firedrill::controller {

int report_main(int argc, char** argv);   // report RUN | list | verify
int keys_main(int argc, char** argv);     // keys export | show
int finding_main(int argc, char** argv);  // finding add | close | list

}  // namespace firedrill::controller
