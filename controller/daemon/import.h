// What a state directory of an older release keeps outside the database, moved in at
// start. firedrill 0.1.0 kept each experiment run as a file, STATE_DIR/runs/<id>.run (a
// serialized firedrill.v1.RunRecord, samples included), and each schedule as
// STATE_DIR/schedules/<id>.schedule; the store's own migration (controller/store) has
// already turned its ad hoc runs into records.
#pragma once

#include <string>

#include "common/result.h"
#include "controller/store/store.h"

namespace firedrill::controller {

// Imports STATE_DIR/runs/*.run (each record, then its samples) and
// STATE_DIR/schedules/*.schedule into `store`, then renames each directory to
// NAME.imported-0.1.0 so that the next start does not look again. A file that does
// not parse stops the start with its name: nothing is lost. Returns how many records
// it imported.
Result<size_t> import_files(const std::string& state_dir, Store& store);

}  // namespace firedrill::controller
