#include "agent/core/engines.h"

#include "agent/net/net_fault_engine.h"

namespace firedrill::agent {

Result<std::vector<std::unique_ptr<FaultEngine>>> make_engines(const AgentConfig& config,
                                                               EventSink* events) {
  std::vector<std::unique_ptr<FaultEngine>> engines;
  net::NetEngineConfig net_config;
  net_config.interfaces = config.interfaces;
  net_config.allow = config.allow;
  engines.push_back(std::make_unique<net::NetFaultEngine>(std::move(net_config)));
  return engines;
}

}  // namespace firedrill::agent
