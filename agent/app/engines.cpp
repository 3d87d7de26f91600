#include "agent/core/engines.h"

namespace firedrill::agent {

Result<std::vector<std::unique_ptr<FaultEngine>>> make_engines(const AgentConfig& config,
                                                               EventSink* events) {
  std::vector<std::unique_ptr<FaultEngine>> engines;
  return engines;
}

}  // namespace firedrill::agent
