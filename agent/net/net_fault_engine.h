// The network fault engine: drop, blackhole and partition with the eBPF classifier of
// ebpf/net_fault.bpf.c, on the interfaces the agent was given (--interface) and no
// others, sparing its allow list (--allow) always.
//
// The classifier is attached to every managed interface (tcx ingress and egress, or an
// XDP link for ingress where tcx is missing) when the engine starts, or when an
// interface that was missing first carries a fault, and stays attached: with no rule
// installed it passes every packet on (TCX_NEXT) after one lookup. Attaching costs
// milliseconds (the kernel flips static keys and waits for RCU), a map update
// microseconds, so faults take effect by map updates alone. The links are owned by this
// process and never pinned: when the agent dies the kernel detaches them, and the
// traffic flows again.
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
  std::optional<bool> sch_fq;  // replaces the probe (tests of the delay fault)
};

class NetFaultEngine : public FaultEngine {
 public:
  // Loads the classifier and attaches it to the managed interfaces that exist; if the
  // classifier does not load, every fault is refused with the reason.
  explicit NetFaultEngine(NetEngineConfig config);
  ~NetFaultEngine() override;

  std::string_view name() const override { return "network"; }
  bool handles(const v1::FaultSpec& spec) const override { return spec.has_network(); }
  Result<void> check(const v1::FaultSpec& spec) const override;
  Result<void> apply(const std::string& fault_id, const v1::FaultSpec& spec) override;
  Result<void> revert(const std::string& fault_id) override;
  v1::FaultCounters counters(const std::string& fault_id) const override;

  // Staged: the rules are installed ahead with their start time, and the classifier
  // starts them by the kernel's clock (net_fault.h, nf_rule.start_ns).
  std::chrono::milliseconds stage_ahead() const override { return kStageAhead; }
  Result<void> apply_at(const std::string& fault_id, const v1::FaultSpec& spec, WallTime start) override;
  // "network cut": the kernel's time of the first dropped packet, or the staged start
  // while none was dropped.
  std::vector<v1::FaultEffect> effects(const std::string& fault_id) const override;

  static constexpr std::chrono::milliseconds kStageAhead{200};

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
    uint32_t ifindex = 0;
    bpf::UniqueFd ingress, egress;  // egress stays empty without tcx
  };

  // The interfaces a fault acts on, validated against the agent's list; ifindexes
  // are resolved when `resolve` is set (at apply: an interface may come and go).
  Result<std::vector<Iface>> interfaces_of(const v1::NetworkFault& fault, bool resolve) const;
  Result<void> check_locked(const v1::FaultSpec& spec, CompiledFault* compiled) const;
  // Attaches to the interface unless already attached at its current ifindex (an
  // interface deleted and made again has a new one; the kernel dropped the old links).
  Result<void> ensure_attached(const Iface& iface);
  bool tcx() const;
  bool sch_fq() const;
  bool xdp_link() const;

  NetEngineConfig config_;
  std::unique_ptr<NetDataplane> dataplane_;
  std::optional<Error> load_error_;
  mutable std::mutex mu_;
  std::map<std::string, Attachment> attachments_;  // by interface name
  std::map<std::string, v1::FaultSpec> active_;
  std::map<std::string, WallTime> starts_;  // staged start times, by fault
};

}  // namespace firedrill::agent::net
