// How both stores (SQLite, PostgreSQL) turn rows into bytes and back: an agent's tags as
// JSON text, a run record without its probe samples (they are rows of their own), and
// a stored record read back, whole or as a list's summary.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "common/result.h"
#include "firedrill/v1/run.pb.h"

namespace firedrill::controller::records {

std::string tags_json(const std::map<std::string, std::string>& tags);
// Keys with string values; anything else in the text is left out.
std::map<std::string, std::string> parse_tags(std::string_view json);

// The record as stored: run.samples() are not part of it.
std::string run_bytes(const v1::RunRecord& run);
// `summary`: without events and the experiment's YAML (what lists show). The error
// names the run.
Result<v1::RunRecord> parse_run(const std::string& id, const std::string& bytes, bool summary);

}  // namespace firedrill::controller::records
