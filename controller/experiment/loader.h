// Experiment files: read, converted to firedrill.v1.Experiment (yaml_proto.h) and
// checked (validate.h), with every error of the file collected in one pass.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/yaml/diagnostic.h"
#include "controller/experiment/overrides.h"
#include "firedrill/v1/experiment.pb.h"

namespace firedrill::experiment {

struct LoadedExperiment {
  std::string file;    // the path as given
  std::string text;    // the file's bytes as read
  std::string sha256;  // hex SHA-256 of `text`: names the exact file a run used
  std::vector<std::string> overrides;  // Overrides::describe() of what was applied
  v1::Experiment experiment;           // the file with the overrides applied
  SourceMap source;
  std::vector<Diagnostic> diagnostics;  // sorted by position; empty: the file is valid

  bool ok() const { return diagnostics.empty(); }
};

// Reads and checks a file, with `overrides` (overrides.h) applied. A file that cannot
// be read is one diagnostic without a line.
LoadedExperiment load_experiment_file(const std::string& path, const Overrides& overrides = {});

// Checks text as if read from `file` (used by the loader, tests and the API).
LoadedExperiment parse_experiment(std::string_view text, const std::string& file, const Overrides& overrides = {});

std::string sha256_hex(std::string_view bytes);

}  // namespace firedrill::experiment
