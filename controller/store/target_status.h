// The per-target status of a fault (v1::TargetStatus, run.proto) in words: how the CLI
// and the evidence say it, and how firedrill before schema 4 stored it (text in field
// 4 of FaultRecord), which the store and the 0.1.0 import turn into the enum.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"
#include "firedrill/v1/run.pb.h"

namespace firedrill::controller {

// "applied", "scheduled", "reverted", "no answer", ...; "" for UNSPECIFIED.
std::string target_status_name(v1::TargetStatus status);
// The enum of a word target_status_name gives (and "lost", an older word for no
// answer); nullopt for a word it does not know.
std::optional<v1::TargetStatus> target_status_of(std::string_view name);

// Applied as far as the run is concerned: in effect, or staged to start at not_before.
inline bool target_holds_fault(v1::TargetStatus s) {
  return s == v1::TARGET_STATUS_APPLIED || s == v1::TARGET_STATUS_SCHEDULED;
}

// A run record as an older firedrill wrote it (each fault's status as text, field 4),
// in this version's form; true when it changed anything. A word it does not know is
// an error naming the run, the fault and the word.
Result<bool> upgrade_run_record(v1::RunRecord& run);

}  // namespace firedrill::controller
