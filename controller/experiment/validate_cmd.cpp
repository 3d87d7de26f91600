// `firedrill validate FILE...`: every error of every file at once, or "valid".
#include <iostream>

#include <boost/program_options.hpp>

#include "common/cli.h"
#include "controller/experiment/commands.h"
#include "controller/experiment/loader.h"

namespace firedrill::experiment {

namespace po = boost::program_options;

int validate_main(int argc, char** argv) {
  std::vector<std::string> files;
  Overrides overrides;
  bool quiet = false;
  po::options_description desc(R"(firedrill validate - check experiment files without running them

SYNOPSIS
  firedrill validate FILE... [--set PATH=VALUE]... [-l SELECTOR]

DESCRIPTION
  Reads each experiment file (YAML, schema firedrill.v1.Experiment in
  proto/firedrill/v1/experiment.proto) and reports every error it finds, each as
  FILE:LINE:COLUMN: FIELD: MESSAGE: unknown or misspelled fields, values of the wrong
  type, bad durations, empty selectors, probes without a target, names that refer to
  nothing, schedules that do not parse. --set and -l are applied as `firedrill run`
  applies them (see firedrill run --help); an error they cause names them.

EXIT STATUS
  0  every file is valid
  2  at least one file is not (or bad usage)

OPTIONS)");
  desc.add_options()
    ("help,h", "print this help")
    ("file", po::value(&files)->composing(), "an experiment file (repeatable)")
    ("set", po::value(&overrides.set)->composing(), "PATH=VALUE: change a field as `run --set` does (repeatable)")
    ("selector,l", po::value(&overrides.selector), "the selector of every targets, as `run -l` sets it")
    ("quiet,q", po::bool_switch(&quiet), "say nothing of valid files");
  po::positional_options_description pos;
  pos.add("file", -1);
  po::variables_map vm;
  if (auto done = parse_verb_options(argc, argv, desc, vm, "firedrill validate", &pos)) return *done;
  if (files.empty()) return usage_error("firedrill validate", "no file given (see firedrill validate --help)");
  bool all_ok = true;
  for (const auto& f : files) {
    LoadedExperiment loaded = load_experiment_file(f, overrides);
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
