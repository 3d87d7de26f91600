// The network fault engine: drop, blackhole and partition with the eBPF classifier of
// ebpf/net_fault.bpf.c, on the interfaces the agent was given (--interface) and no
// others, sparing its allow list (--allow) always.
//
// The classifier is attached to an interface (tcx ingress/egress, or an XDP link for
// ingress where tcx is missing) while at least one fault uses it, through bpf_links
// this process owns and never pins: when the agent dies the kernel detaches them, and
// the traffic flows again.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "agent/bpf/features.h"
#include "agent/core/fault_engine.h"
#include "agent/net/dataplane.h"

namespace firedrill::agent::net {

struct NetEngineConfig {
  std::vector<std::string> interfaces;   // the only interfaces faults may act on
  std::vector<v1::AllowEntry> allow;     // never dropped, by any fault
  // What the kernel offers; unset: the agent's probe (bpf::features()). Tests set it
  // to exercise the XDP fallback and the refusals.
  std::optional<bool> tcx, xdp_link;
};

class NetFaultEngine : public FaultEngine {
 public:
  // Loads the classifier now; if that fails, every fault is refused with the reason.
  explicit NetFaultEngine(NetEngineConfig config);
  ~NetFaultEngine() override;

  std::string_view name() const override { return "network"; }
  bool handles(const v1::FaultSpec& spec) const override { return spec.has_network(); }
  Result<void> check(const v1::FaultSpec& spec) const override;
  Result<void> apply(const std::string& fault_id, const v1::FaultSpec& spec) override;
  Result<void> revert(const std::string& fault_id) override;
  v1::FaultCounters counters(const std::string& fault_id) const override;

  // Interfaces with the classifier attached now (for tests and status).
  std::vector<std::string> attached() const;
  // The loaded classifier, or null with load_error() saying why.
  NetDataplane* dataplane() { return dataplane_.get(); }
  const std::optional<Error>& load_error() const { return load_error_; }

 private:
  struct Iface {
    std::string name;
    uint32_t ifindex = 0;
    uint32_t slot = 0;  // position in the --interface list: its bit in rules' iface_mask
  };
  struct Attachment {
    std::string name;
    bpf::UniqueFd ingress, egress;
    int ingress_users = 0, egress_users = 0;
  };
  struct Active {
    v1::FaultSpec spec;
    std::vector<uint32_t> ifindexes;
    bool ingress = false, egress = false;
  };

  // The interfaces a fault acts on, validated against the agent's list; ifindexes
  // are resolved when `resolve` is set (at apply: an interface may come and go).
  Result<std::vector<Iface>> interfaces_of(const v1::NetworkFault& fault, bool resolve) const;
  Result<void> check_locked(const v1::FaultSpec& spec, CompiledFault* compiled) const;
  Result<void> acquire(const Iface& iface, bool ingress, bool egress);
  void release(uint32_t ifindex, bool ingress, bool egress);
  bool tcx() const;
  bool xdp_link() const;

  NetEngineConfig config_;
  std::unique_ptr<NetDataplane> dataplane_;
  std::optional<Error> load_error_;
  mutable std::mutex mu_;
  std::map<uint32_t, Attachment> attachments_;  // by ifindex
  std::map<std::string, Active> active_;
};

}  // namespace firedrill::agent::net
