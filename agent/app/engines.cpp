#include "agent/core/engines.h"

#include "agent/journal/journal.h"
#include "agent/net/net_fault_engine.h"
#include "agent/power/power_engine.h"
#include "agent/proc/proc_engine.h"
#include "agent/resource/resource_engine.h"
#include "agent/sockfault/sock_fault_engine.h"
#include "common/log.h"

namespace firedrill::agent {

Result<std::vector<std::unique_ptr<FaultEngine>>> make_engines(const AgentConfig& config,
                                                               EventSink* events) {
  std::vector<std::unique_ptr<FaultEngine>> engines;
  net::NetEngineConfig net_config;
  net_config.interfaces = config.interfaces;
  net_config.allow = config.allow;
  engines.push_back(std::make_unique<net::NetFaultEngine>(std::move(net_config)));
  FaultEngine& net_engine = *engines.back();
  FD_ASSIGN(journal, journal::Journal::shared(config.state_dir), "agent state directory");
  auto proc = std::make_unique<proc::ProcFaultEngine>(journal, events, config.workload_cgroup);
  if (!config.workload_cgroup.empty()) {
    // A host that can lose power loads its keep-down now, so that a staged power loss
    // only attaches it (a failure here is the first keep-down's to report).
    if (auto r = proc->preload(); !r) {
      logger("agent")->warn("keep-down not loaded ahead: {}", r.error().describe());
    }
  }
  engines.push_back(std::move(proc));
  FaultEngine& proc_engine = *engines.back();
  engines.push_back(std::make_unique<resource::ResourceEngine>(journal, config.workload_cgroup));
  engines.push_back(std::make_unique<sockfault::SockFaultEngine>(config.workload_cgroup));
  // Power loss composes the two above through FaultEngine only. First in the list, so
  // that it is destroyed (reverting what it still holds) before the engines it uses.
  engines.insert(engines.begin(),
                 std::make_unique<power::PowerLossEngine>(net_engine, proc_engine, config, journal, events));
  return engines;
}

}  // namespace firedrill::agent
