// targets.from_command (targeting.proto): a selection known only when the run starts
// (the rack that holds the current primary). At preflight the runner runs the command
// through common/spawn (/bin/sh -c, no stdin, its own process group, bounded in time and
// output, as the controller's user: what a command probe gets) and reads its output:
//
//   host ids, one a line, every one a live agent     -> targets.hosts
//   else one line that parses as a label selector    -> targets.selector
//
// The declared mode and seed are kept. A command that fails, times out, prints nothing,
// prints more than the cap, or prints neither of the above chooses nothing: the run is
// refused with what it printed.
#pragma once

#include <string>

#include "common/result.h"
#include "common/time.h"
#include "controller/runner/fleet_driver.h"
#include "firedrill/v1/run.pb.h"

namespace firedrill::runner {

// Runs `declared.from_command` for the targets at `field` ("targets", "steps[1].targets")
// and returns the targets it chose; `record` gets the command, its output and the choice
// (or the error) either way.
Result<v1::Targets> targets_from_command(const v1::Targets& declared, const std::string& field, FleetDriver& fleet,
                                         WallTime now, v1::TargetCommandRecord* record);

// "selector rack=p1", "hosts p1-h1,p1-h2" or "from_command <command>".
std::string targets_words(const v1::Targets& t);

}  // namespace firedrill::runner
