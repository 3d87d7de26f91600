// The connection fault engine (fault.proto ConnectionFault and DnsFault): the selected
// cgroups' matching TCP connections, or their DNS queries, are steered by eBPF cgroup
// hooks (steering.h) into the agent's proxy (proxy.h), which shapes them or answers
// for the resolver (dns.h). One proxy loop for every fault, made at
// the first fault; one hook object per fault, attached with bpf_links to its cgroups.
//
// Nothing here outlives the agent: the links and the proxy's sockets are the agent
// process's own, so its death detaches the hooks (new connections go direct) and cuts
// the connections inside the proxy. There is nothing to journal.
//
// Refused, changing nothing: a kernel without the hooks ("sock_hooks"; "dns_hooks" for
// DNS faults), cgroups that
// do not exist or hold the agent, values out of range (common/fault_values).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "agent/bpf/features.h"
#include "agent/core/fault_engine.h"
#include "agent/sockfault/proxy.h"
#include "agent/sockfault/steering.h"

namespace firedrill::agent::sockfault {

class SockFaultEngine : public FaultEngine {
 public:
  // `workload_cgroup`: what workload_cgroups are relative to (empty: refused).
  // `features` replaces the kernel probe (tests); null: bpf::features().
  explicit SockFaultEngine(std::string workload_cgroup, const bpf::Features* features = nullptr);
  ~SockFaultEngine() override;

  std::string_view name() const override { return "connection"; }
  bool handles(const v1::FaultSpec& spec) const override { return spec.has_connection() || spec.has_dns(); }
  Result<void> check(const v1::FaultSpec& spec) const override;
  Result<void> apply(const std::string& fault_id, const v1::FaultSpec& spec) override;
  Result<void> revert(const std::string& fault_id) override;
  v1::FaultCounters counters(const std::string& fault_id) const override;

 private:
  struct Plan {
    std::vector<sf_rule> rules;
    std::vector<std::string> cgroup_dirs;
  };
  struct Active {
    v1::FaultSpec spec;
    std::unique_ptr<Steering> steering;
  };

  const bpf::Features& features() const;
  Result<Plan> plan(const v1::FaultSpec& spec) const;
  // Serves the fault in the proxy: its loopback ports.
  Result<Proxy::Ports> serve(const std::string& fault_id, const v1::FaultSpec& spec);

  std::string workload_cgroup_;
  const bpf::Features* features_;
  mutable std::mutex mu_;
  std::shared_ptr<SteeringMaps> maps_;
  std::unique_ptr<Proxy> proxy_;
  std::map<std::string, Active> active_;
};

}  // namespace firedrill::agent::sockfault
