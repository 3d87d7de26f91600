// What `firedrill run` changes in an experiment file from the command line, applied to
// the file's YAML before it is converted and checked, so that an override is typed and
// validated exactly as the same value written in the file would be:
//
//   --set PATH=VALUE  PATH names a field by its keys and list indexes, '.'-separated
//                     ("steps.0.duration", "steps.1.targets.selector", "probes.0.interval");
//                     VALUE is YAML as the file would hold it ("30s", "3", "{count: 2}").
//                     Mappings on the way that the file lacks are created; a list index
//                     must exist. Applied in the order given.
//   -l SELECTOR       after every --set: the selector of the experiment's targets and of
//                     every step that has targets of its own (their from_command or
//                     hosts dropped; their mode kept). Taken as text, never as YAML.
//
// A diagnostic about an overridden field (or anything below it) names the override
// instead of a file position: "--set steps.0.duration=3x: steps[0].duration: bad
// duration ...". The run records the overrides as given (RunRecord.overrides).
#pragma once

#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "common/yaml/diagnostic.h"

namespace firedrill::experiment {

struct Overrides {
  std::vector<std::string> set;  // "PATH=VALUE", in order
  std::string selector;          // -l; "" none

  bool empty() const { return set.empty() && selector.empty(); }
  // As recorded and shown: "--set PATH=VALUE", ..., then "-l SELECTOR".
  std::vector<std::string> describe() const;
};

// One override as applied: the field path it wrote (as diagnostics name fields,
// "steps[0].duration") and how it was given ("--set steps.0.duration=30s").
struct AppliedOverride {
  std::string field;
  std::string given;
};

// Writes the overrides into `root` (the file's document, a mapping). A PATH or VALUE
// that cannot be applied is a diagnostic naming the override; what was applied is
// appended to `applied`.
std::vector<Diagnostic> apply_overrides(YAML::Node& root, const Overrides& overrides,
                                        std::vector<AppliedOverride>* applied);

// Points each diagnostic at or below an applied field at its override (the last one
// that wrote it) instead of a position in the file.
void attribute_to_overrides(std::vector<Diagnostic>& diagnostics, const std::vector<AppliedOverride>& applied);

}  // namespace firedrill::experiment
