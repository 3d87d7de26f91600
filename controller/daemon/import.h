// What a state directory of an older release keeps outside the database, moved in at
// start. firedrill 0.1.0 kept each experiment run as a file, STATE_DIR/runs/<id>.run (a
// serialized firedrill.v1.RunRecord, samples included); the store's own migration
// (controller/store) has already turned its ad hoc runs into records.
#pragma once

#include <string>

#include "common/result.h"
#include "controller/store/store.h"

namespace firedrill::controller {

// Imports STATE_DIR/runs/*.run into `store` (each record, then its samples), then
// renames the directory to runs.imported-0.1.0 so that the next start does not look
// again. A file that does not parse stops the start with its name: nothing is lost.
// Returns how many runs it imported.
Result<size_t> import_run_files(const std::string& state_dir, Store& store);

}  // namespace firedrill::controller
