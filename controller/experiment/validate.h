// The rules an experiment must keep beyond its schema: required fields, ranges, names
// that refer to probes that exist, probes that have something to probe, selectors that
// are not empty, schedules that parse. Each broken rule is a Diagnostic pointing at the
// field (or, for a missing field, at the mapping that should hold it).
#pragma once

#include <string>
#include <vector>

#include "common/yaml/diagnostic.h"
#include "firedrill/v1/experiment.pb.h"

namespace firedrill::experiment {

std::vector<Diagnostic> check_experiment(const v1::Experiment& e, const SourceMap& source,
                                         const std::string& file);

// The probes an objective or phase judges: the named ones, or when none are named
// every probe that is not a data probe.
std::vector<std::string> judged_probes(const v1::Experiment& e,
                                       const google::protobuf::RepeatedPtrField<std::string>& named);

// "http", "tcp", "command", "prometheus", "data", or "" when none is set.
std::string probe_kind(const v1::Probe& p);

}  // namespace firedrill::experiment
