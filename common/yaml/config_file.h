// Configuration files beneath the command line. A daemon's flags are described once
// (Boost.Program_options); its file is a proto schema (proto/firedrill/v1/config.proto)
// whose every field stands for one flag. The file is read with the experiment files'
// loader (yaml_proto.h): every unknown key or bad value at once, as FILE:LINE:COL:
// field: what. Its values then go through the same option parsing and validation as
// flags, so there is one way to check a setting; a flag given on the command line
// replaces the file's value (a repeated flag replaces the whole list).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <boost/program_options.hpp>
#include <google/protobuf/descriptor.h>

#include "common/result.h"

namespace firedrill {

struct ConfigSchema {
  const google::protobuf::Descriptor* message;  // firedrill.v1.AgentConfigFile, ...
  std::string_view what;                        // "agent configuration"
};

// --config FILE and --print-config, added to a daemon's options.
void add_config_options(boost::program_options::options_description& desc);

// The flag a schema field stands for: its `flag` option, else its path with '.' and
// '_' written '-' ("tls.ca" -> "tls-ca").
std::string flag_of(const google::protobuf::FieldDescriptor* field, const std::string& path);

// Loads `file` against the schema and stores its values in vm beneath what the
// command line already put there, then notifies vm. Every diagnostic of the file is
// in the error, one per line.
Result<void> merge_config_file(const std::string& file, const ConfigSchema& schema,
                               const boost::program_options::options_description& desc,
                               boost::program_options::variables_map& vm);

// What vm holds (flags, then the file, then defaults), as a YAML document in the
// schema's shape: the input of --config that gives this configuration.
std::string effective_config_yaml(const ConfigSchema& schema, const boost::program_options::variables_map& vm);

// parse_options (common/cli.h), then --config FILE beneath the flags. true: --help
// or --print-config was asked and answered on stdout.
Result<bool> parse_options_with_config(int argc, char** argv, const boost::program_options::options_description& desc,
                                       boost::program_options::variables_map& vm, const ConfigSchema& schema);

// The same for a verb (parse_verb_options' shape): bad usage or a bad file is told on
// stderr and gives 2; --help and --print-config give 0; nullopt: go on.
std::optional<int> parse_verb_options_with_config(int argc, char** argv,
                                                  const boost::program_options::options_description& desc,
                                                  boost::program_options::variables_map& vm, std::string_view prog,
                                                  const ConfigSchema& schema);

}  // namespace firedrill
