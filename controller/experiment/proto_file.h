// Protobuf records kept as files: written to a temporary file, flushed and renamed over
// the old one, so that a crash leaves either the old record or the new, never half.
#pragma once

#include <string>
#include <vector>

#include <google/protobuf/message.h>

#include "common/result.h"

namespace firedrill::experiment {

Result<void> write_proto_file(const std::string& path, const google::protobuf::Message& msg);
Result<void> read_proto_file(const std::string& path, google::protobuf::Message* msg);
// Creates a directory and its parents (mode 0700: runs and schedules are the
// controller's business).
Result<void> make_dirs(const std::string& path);
// Names of regular files in `dir` ending in `suffix`, sorted.
Result<std::vector<std::string>> list_files(const std::string& dir, const std::string& suffix);

// "r-20261121-093000-4f2a": sortable by creation, unique enough for one controller.
std::string new_record_id(const std::string& prefix);

}  // namespace firedrill::experiment
