// Command-line parsing shared by firedrill's binaries and verbs: one place that turns
// Boost.Program_options' exceptions into a Result, and one shape for what a verb says
// on bad usage ("PROG: what (see PROG --help)", exit 2) and on --help (exit 0).
#pragma once

#include <optional>
#include <string_view>

#include <boost/program_options.hpp>

#include "common/result.h"

namespace firedrill {

// Fills vm from argv (positional words per pos, when given). true: --help was asked
// (desc has a "help" option); an error names the bad option and why.
Result<bool> parse_options(int argc, char** argv, const boost::program_options::options_description& desc,
                           boost::program_options::variables_map& vm,
                           const boost::program_options::positional_options_description* pos = nullptr);

// parse_options for a verb named prog ("firedrill run", "firedrill-agent ctl"): bad
// usage is told on stderr and gives 2, --help prints desc and gives 0; nullopt: go on.
std::optional<int> parse_verb_options(int argc, char** argv, const boost::program_options::options_description& desc,
                                      boost::program_options::variables_map& vm, std::string_view prog,
                                      const boost::program_options::positional_options_description* pos = nullptr);

// "prog: what" on stderr; returns code, so that a verb can `return usage_error(...)`.
int usage_error(std::string_view prog, std::string_view what, int code = 2);

}  // namespace firedrill
