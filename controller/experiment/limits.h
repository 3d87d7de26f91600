// Limits that agents and the controller enforce at run time, in one place, so that
// `firedrill validate` refuses what a run would be refused later (or would choke on).
#pragma once

#include <chrono>
#include <cstddef>

namespace firedrill::experiment {

// An agent refuses a fault whose lease ends more than 24 h away (agent/core/fault_manager).
inline constexpr std::chrono::hours kMaxLease{24};
// What the runner adds to a step's duration for its lease: the start delay (1 s) and
// the lease margin (30 s) of runner::RunnerOptions' defaults.
inline constexpr std::chrono::seconds kLeaseOverhead{31};
// Probes per experiment: each is sampled by the controller's shared probe pool.
inline constexpr size_t kMaxProbes = 64;
// Samples of one probe in flight at once (controller/probes/probe_set): a timeout may
// span at most this many intervals less one (100 ms sampling with a 1 s timeout fits).
inline constexpr size_t kMaxSamplesInFlight = 16;
inline constexpr std::chrono::seconds kDefaultProbeInterval{1};
// targets.from_command (runner/target_command.h): its time and output at the most.
inline constexpr std::chrono::seconds kDefaultTargetCommandTimeout{30};
inline constexpr std::chrono::minutes kMaxTargetCommandTimeout{5};
inline constexpr size_t kMaxTargetCommandOutput = 64 * 1024;

}  // namespace firedrill::experiment
