// The kernel half of the network engine: the loaded classifier (ebpf/net_fault.bpf.c),
// its maps, and the bookkeeping that keeps them equal to the faults installed. Knows
// nothing of specs or interfaces by name; the engine (net_fault_engine.h) does.
//
// Install order makes a fault take effect whole: counters zeroed and rules written
// first, then allow entries, then the index that makes rules reachable. Removal runs
// the other way, and marks the fault's rules dead before anything else, so a failed
// map write can never leave a drop in effect (rule ids whose index entries could not
// be removed are never reused).
#pragma once

#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "agent/bpf/features.h"
#include "agent/bpf/skeleton.h"
#include "agent/net/prefix_index.h"
#include "agent/net/rules.h"
#include "firedrill/v1/agent.pb.h"
#include "net_fault.h"

struct net_fault;

namespace firedrill::agent::net {

struct AllowItem {
  uint8_t protocol = 0;
  PortSpan ports;
  uint32_t slot = 0;
  bool operator==(const AllowItem&) const = default;
};

enum class Program { kIngress, kEgress, kXdp };

class NetDataplane {
 public:
  // Opens, loads and verifies the classifier. Nothing is attached.
  static Result<std::unique_ptr<NetDataplane>> load();
  ~NetDataplane();
  NetDataplane(const NetDataplane&) = delete;
  NetDataplane& operator=(const NetDataplane&) = delete;

  // The agent's own allow list (--allow): exempts from every rule, set once.
  Result<void> set_global_allow(const std::vector<AllowRule>& allow);

  // Installs a fault under `key`; iface_mask restricts it to interfaces whose slot
  // bits are set (NF_IFACES_ALL: wherever the classifier is attached); start_ns, when
  // not 0, is the CLOCK_MONOTONIC time from which the kernel lets its rules match (it
  // is staged until then). On error nothing of it is left.
  Result<void> install(const std::string& key, const CompiledFault& fault, uint64_t iface_mask,
                       uint64_t start_ns = 0);
  // Removes a fault; a key not installed succeeds.
  Result<void> remove(const std::string& key);
  bool installed(const std::string& key) const { return faults_.count(key) > 0; }

  // The sum of the fault's per-rule, per-CPU counters.
  v1::FaultCounters counters(const std::string& key) const;
  // The kernel's time (CLOCK_MONOTONIC ns) of the fault's first dropped packet, 0 when
  // none was dropped yet: when the fault took effect, as the kernel saw it.
  uint64_t first_drop_ns(const std::string& key) const;

  // Maps an interface to its bit in rules' iface_mask.
  Result<void> set_iface_slot(uint32_t ifindex, uint32_t slot);

  int prog_fd(Program p) const;
  size_t rules_in_use() const { return NF_MAX_RULES - free_ids_.size() - quarantined_; }
  size_t index_prefixes() const { return index_.prefixes(); }

  // Attaches a program through a bpf_link (tcx for kIngress/kEgress, XDP link for
  // kXdp); closing the fd detaches, and so does the death of this process.
  Result<bpf::UniqueFd> attach(Program p, uint32_t ifindex) const;

 private:
  struct Fault {
    uint64_t owner = 0;
    std::vector<uint32_t> ids;
    std::vector<uint8_t> nonip_dirs;  // per id: direction + 1 for non-IP rules, else 0
    uint32_t slot = NF_SLOT_NONE;
  };

  NetDataplane() = default;
  Result<void> write_index(const std::vector<PrefixIndex<uint32_t>::Change>& changes);
  // The lengths a scope probes in the hash: the host length, and the busiest others.
  std::vector<uint8_t> hashed_lengths(uint32_t scope) const;
  Result<void> write_scope(uint32_t scope, const std::vector<uint8_t>& hashed);
  Result<void> write_entry(const PrefixKey& key, const std::vector<uint32_t>& items, bool hashed);
  Result<void> delete_entry(const PrefixKey& key, bool hashed);
  Result<void> write_allow(const std::vector<PrefixIndex<AllowItem>::Change>& changes);
  Result<void> write_nonip(uint8_t dir);
  Result<void> write_rule(uint32_t id, const nf_rule& rule);
  Result<void> zero_counters(uint32_t id);
  void add_allow_items(const std::vector<AllowRule>& allow, uint32_t slot,
                       std::vector<std::pair<PrefixKey, AllowItem>>& out) const;

  struct SkelOps;
  std::unique_ptr<bpf::BpfSkeleton<net_fault, SkelOps>> skel_;
  int rules_fd_ = -1, counters_fd_ = -1, index_fd_ = -1, hashed_fd_ = -1, scopes_fd_ = -1, allow_fd_ = -1,
      nonip_fd_ = -1, ifaces_fd_ = -1;
  size_t ncpus_ = 1;

  PrefixIndex<uint32_t> index_{NF_MAX_CANDIDATES, NF_MAX_PREFIXES, "rule index"};
  PrefixIndex<AllowItem> allow_{NF_MAX_ALLOW, NF_MAX_ALLOW_PREFIXES, "allow list"};
  std::vector<uint32_t> nonip_[2];
  std::map<uint32_t, std::vector<uint8_t>> hashed_;  // scope -> hashed lengths, as the kernel has them
  std::vector<uint32_t> free_ids_;      // a stack; low ids on top
  size_t quarantined_ = 0;
  std::set<uint32_t> free_slots_;
  uint64_t next_owner_ = 1;
  std::unordered_map<std::string, Fault> faults_;
};

// The kernel-side rule for an internal rule.
nf_rule to_nf_rule(const Rule& r, uint32_t slot, uint64_t iface_mask, uint64_t start_ns = 0);

}  // namespace firedrill::agent::net
