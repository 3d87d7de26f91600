// `firedrill validate FILE...`: every error of every file at once, or "valid".
#include <cstring>
#include <iostream>

#include "controller/experiment/commands.h"
#include "controller/experiment/loader.h"

namespace firedrill::experiment {

namespace {

constexpr const char* kUsage = R"(firedrill validate - check experiment files without running them

SYNOPSIS
  firedrill validate FILE...

DESCRIPTION
  Reads each experiment file (YAML, schema firedrill.v1.Experiment in
  proto/firedrill/v1/experiment.proto) and reports every error it finds, each as
  FILE:LINE:COLUMN: FIELD: MESSAGE: unknown or misspelled fields, values of the wrong
  type, bad durations, empty selectors, probes without a target, names that refer to
  nothing, schedules that do not parse.

EXIT STATUS
  0  every file is valid
  2  at least one file is not (or bad usage)
)";

}  // namespace

int validate_main(int argc, char** argv) {
  std::vector<std::string> files;
  bool quiet = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "-h")) {
      std::cout << kUsage;
      return 0;
    }
    if (!std::strcmp(argv[i], "-q") || !std::strcmp(argv[i], "--quiet")) {
      quiet = true;
      continue;
    }
    if (argv[i][0] == '-' && argv[i][1] != '\0') {
      std::cerr << "firedrill validate: unknown option " << argv[i] << " (see firedrill validate --help)\n";
      return 2;
    }
    files.emplace_back(argv[i]);
  }
  if (files.empty()) {
    std::cerr << "firedrill validate: no file given (see firedrill validate --help)\n";
    return 2;
  }
  bool all_ok = true;
  for (const auto& f : files) {
    LoadedExperiment loaded = load_experiment_file(f);
    if (loaded.ok()) {
      if (!quiet) {
        std::cout << f << ": valid (" << loaded.experiment.name() << ": " << loaded.experiment.steps_size()
                  << " step(s), " << loaded.experiment.probes_size() << " probe(s))\n";
      }
      continue;
    }
    all_ok = false;
    for (const auto& d : loaded.diagnostics) std::cerr << d.to_string() << "\n";
    std::cerr << f << ": " << loaded.diagnostics.size() << " error(s)\n";
  }
  return all_ok ? 0 : 2;
}

}  // namespace firedrill::experiment
