// Turns a NetworkFault (drop, blackhole, partition, corrupt, duplicate, delay) into the engine's internal rules:
// each of one direction and one family, keyed by its REMOTE prefix (the destination
// on egress, the source on ingress), so that the kernel finds a packet's candidate
// rules with one lookup. Pure logic: no kernel, unit tested.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "agent/net/cidr.h"
#include "common/result.h"
#include "firedrill/v1/fault.pb.h"

namespace firedrill::agent::net {

enum class Dir : uint8_t { kIngress = 0, kEgress = 1 };  // NF_DIR_* in ebpf/net_fault.h

struct PortSpan {
  uint16_t first = 0;
  uint16_t last = 65535;
  bool operator==(const PortSpan&) const = default;
};

// What a matching packet undergoes (NF_ACT_* in ebpf/net_fault.h).
enum class Action : uint8_t { kDrop = 0, kCorrupt = 1, kDuplicate = 2, kDelay = 3 };

struct Rule {
  Dir dir = Dir::kEgress;
  uint8_t family = 4;           // 4, 6, or 0: matches frames that are neither (ARP, ...)
  Cidr remote;                  // the index key (unused when family is 0)
  std::optional<Cidr> local;    // none: any local address
  uint8_t protocol = 0;         // IANA number; 0: any
  std::vector<PortSpan> remote_ports, local_ports;  // empty: any (and port-less packets)
  double percent = 100;         // probability of the action
  Action action = Action::kDrop;
  bool fix_checksums = false;   // corrupt
  uint64_t delay_ns = 0;        // delay
  uint64_t jitter_ns = 0;
};

// Traffic never dropped: the peer (remote) address, protocol and the peer's ports.
// Holds in both directions.
struct AllowRule {
  Cidr peer;
  uint8_t protocol = 0;
  PortSpan ports;  // 0-65535: any
};

struct CompiledFault {
  std::vector<Rule> rules;
  std::vector<AllowRule> allow;  // the fault's own allow entries
  bool needs_ingress = false;
  bool needs_egress = false;
};

// A fault that expands (cidrs x cidrs x directions x families) to more rules than
// this is refused: it would crowd out every other fault.
inline constexpr size_t kMaxRulesPerFault = 32768;

Result<CompiledFault> compile_network_fault(const v1::NetworkFault& fault,
                                            size_t max_rules = kMaxRulesPerFault);

// Port ranges (at most NF_MAX_PORT_RANGES) and CIDRs of a TrafficMatch; errors name
// `where` and the entry ("dst_ports[1]").
Result<std::vector<PortSpan>> port_spans(const google::protobuf::RepeatedPtrField<v1::PortRange>& list,
                                         std::string_view where);
Result<std::vector<Cidr>> cidrs(const google::protobuf::RepeatedPtrField<std::string>& list, std::string_view where);

// `where` names the source in errors ("--allow", "fault allow entry 2").
Result<AllowRule> compile_allow(const v1::AllowEntry& entry, std::string_view where);

// The u32 threshold under which bpf_get_prandom_u32() drops; 100% is flagged apart.
uint32_t drop_threshold(double percent);

std::string describe(const Rule& rule);

}  // namespace firedrill::agent::net
