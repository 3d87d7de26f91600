// The agent's /metrics: what it holds and what its faults did, read from the fault
// manager, the controller session and the journal when a scrape comes, so that every
// number is the agent's own state at that moment.
//
// Per-fault counters (packets and bytes dropped from the classifier's per-rule maps,
// processes killed, keep-down kills under kind="process.keep_down") exist while the
// fault is held; its totals at the end go to the controller in FaultReverted.
#pragma once

#include "agent/core/fault_manager.h"
#include "agent/journal/journal.h"
#include "common/metrics/registry.h"

namespace firedrill::agent {

class ControllerSession;

// `session` may be null (local control only): then no controller_connected sample.
void register_agent_metrics(metrics::Registry& registry, const FaultManager& faults,
                            const ControllerSession* session, const journal::Journal& journal);

}  // namespace firedrill::agent
