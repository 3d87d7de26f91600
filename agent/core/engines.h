// Builds the fault engines this agent runs, from its configuration. The one place that
// knows every engine; the manager and the session only see FaultEngine.
#pragma once

#include <memory>
#include <vector>

#include "agent/core/config.h"
#include "agent/core/event_sink.h"
#include "agent/core/fault_engine.h"

namespace firedrill::agent {

Result<std::vector<std::unique_ptr<FaultEngine>>> make_engines(const AgentConfig& config,
                                                               EventSink* events);

}  // namespace firedrill::agent
