#include "agent/net/rules.h"

#include <cmath>

namespace firedrill::agent::net {
namespace {

constexpr size_t kMaxPortRanges = 8;  // NF_MAX_PORT_RANGES

Result<uint8_t> protocol_number(int value, std::string_view where) {
  switch (value) {
    case v1::L4_ANY:
    case v1::L4_ICMP:
    case v1::L4_TCP:
    case v1::L4_UDP:
    case v1::L4_ICMPV6:
    case v1::L4_SCTP:
      return static_cast<uint8_t>(value);
    default:
      return make_error("{}: protocol {} is not one of L4_ANY, L4_ICMP, L4_TCP, L4_UDP, L4_ICMPV6, L4_SCTP",
                        where, value);
  }
}

bool has_ports(uint8_t protocol) {
  return protocol == v1::L4_ANY || protocol == v1::L4_TCP || protocol == v1::L4_UDP ||
         protocol == v1::L4_SCTP;
}


std::vector<Dir> directions(v1::Direction d) {
  switch (d) {
    case v1::DIRECTION_INGRESS: return {Dir::kIngress};
    case v1::DIRECTION_EGRESS: return {Dir::kEgress};
    default: return {Dir::kIngress, Dir::kEgress};
  }
}

Result<void> check_direction(int d, std::string_view where) {
  if (d < v1::DIRECTION_UNSPECIFIED || d > v1::DIRECTION_BOTH) {
    return make_error("{}: direction {} is not one of DIRECTION_INGRESS, DIRECTION_EGRESS, DIRECTION_BOTH", where, d);
  }
  return ok();
}

// The rules of a fault that acts on the packets of a TrafficMatch (drop, corrupt,
// duplicate, delay): `base` is the rule every expansion starts from (its action and
// parameters), `k` the fault's field name in errors.
Result<void> compile_match(const v1::TrafficMatch& m, double percent, const Rule& base, const std::string& k,
                           size_t max_rules, CompiledFault& out) {
  if (!(percent >= 0 && percent <= 100)) {
    return make_error("{}.percent {} is not between 0 and 100", k, percent);
  }
  FD_TRY(check_direction(m.direction(), k + ".match.direction"), "{}", k);
  FD_ASSIGN(protocol, protocol_number(m.protocol(), k + ".match.protocol"), "{}", k);
  FD_ASSIGN(srcs, cidrs(m.src_cidrs(), k + ".match.src_cidrs"), "{}", k);
  FD_ASSIGN(dsts, cidrs(m.dst_cidrs(), k + ".match.dst_cidrs"), "{}", k);
  FD_ASSIGN(sports, port_spans(m.src_ports(), k + ".match.src_ports"), "{}", k);
  FD_ASSIGN(dports, port_spans(m.dst_ports(), k + ".match.dst_ports"), "{}", k);
  if ((!sports.empty() || !dports.empty()) && !has_ports(protocol)) {
    return make_error("{}.match: ports given with protocol {}, which has none (use L4_TCP, L4_UDP or L4_SCTP)",
                      k, v1::L4Protocol_Name(static_cast<v1::L4Protocol>(protocol)));
  }

  std::vector<std::optional<Cidr>> src_list(srcs.begin(), srcs.end()), dst_list(dsts.begin(), dsts.end());
  if (src_list.empty()) src_list.push_back(std::nullopt);
  if (dst_list.empty()) dst_list.push_back(std::nullopt);
  // Counted before building, so that a huge cross product is refused without
  // allocating it.
  size_t dirs = directions(m.direction()).size();
  size_t fams = (srcs.empty() && dsts.empty()) ? 2 : 1;
  size_t estimate = dirs * fams * src_list.size() * dst_list.size();
  if (estimate > max_rules) {
    return make_error("{} expands to {} rules (src_cidrs {} x dst_cidrs {} x directions {}), at most {}",
                      k, estimate, srcs.size(), dsts.size(), dirs, max_rules);
  }

  for (Dir dir : directions(m.direction())) {
    for (auto& s : src_list) {
      for (auto& d : dst_list) {
        std::vector<uint8_t> families;
        if (s && d) {
          if (s->family != d->family) continue;  // an IPv4 source never meets an IPv6 destination
          families = {s->family};
        } else if (s || d) {
          families = {(s ? s : d)->family};
        } else {
          families = {4, 6};
        }
        for (uint8_t fam : families) {
          uint8_t proto = protocol;
          // L4_ICMP means the ICMP of the packet's family, so "drop ICMP" stops ping
          // and ping6 alike; L4_ICMPV6 exists only in IPv6.
          if (proto == v1::L4_ICMP && fam == 6) proto = v1::L4_ICMPV6;
          if (proto == v1::L4_ICMPV6 && fam == 4) continue;
          Rule r = base;
          r.dir = dir;
          r.family = fam;
          const auto& remote = dir == Dir::kEgress ? d : s;
          const auto& local = dir == Dir::kEgress ? s : d;
          r.remote = remote ? *remote : Cidr::any(fam);
          if (local && local->len > 0) r.local = local;
          r.protocol = proto;
          r.remote_ports = dir == Dir::kEgress ? dports : sports;
          r.local_ports = dir == Dir::kEgress ? sports : dports;
          r.percent = percent;
          out.rules.push_back(std::move(r));
        }
      }
    }
  }
  if (out.rules.empty()) {
    return make_error("{}.match matches nothing: every src/dst pair mixes IPv4 and IPv6, or L4_ICMPV6 is "
                      "asked of IPv4 addresses", k);
  }
  return ok();
}

Result<void> compile_drop(const v1::NetDrop& drop, size_t max_rules, CompiledFault& out) {
  double percent = drop.percent();
  if (!drop.percent_set() && percent == 0) percent = 100;
  return compile_match(drop.match(), percent, Rule{}, "drop", max_rules, out);
}

// Their values (probabilities above 0, delays in range) are checked by
// fault_value_problems() (common/fault_values.h) before a fault is compiled.
Result<void> compile_corrupt(const v1::NetCorrupt& c, size_t max_rules, CompiledFault& out) {
  Rule proto;
  proto.action = Action::kCorrupt;
  proto.fix_checksums = c.fix_checksums();
  return compile_match(c.match(), c.percent(), proto, "corrupt", max_rules, out);
}

Result<void> compile_duplicate(const v1::NetDuplicate& d, size_t max_rules, CompiledFault& out) {
  Rule proto;
  proto.action = Action::kDuplicate;
  return compile_match(d.match(), d.percent(), proto, "duplicate", max_rules, out);
}

Result<void> compile_delay(const v1::NetDelay& d, size_t max_rules, CompiledFault& out) {
  if (d.match().direction() != v1::DIRECTION_EGRESS) {
    return make_error("delay.match.direction must be DIRECTION_EGRESS (a departure time holds on egress only)");
  }
  Rule proto;
  proto.action = Action::kDelay;
  proto.delay_ns = uint64_t(d.delay_us()) * 1000;
  proto.jitter_ns = uint64_t(d.jitter_us()) * 1000;
  return compile_match(d.match(), 100, proto, "delay", max_rules, out);
}

void compile_blackhole(CompiledFault& out) {
  for (Dir dir : {Dir::kIngress, Dir::kEgress}) {
    for (uint8_t fam : {4, 6}) {
      Rule r;
      r.dir = dir;
      r.family = fam;
      r.remote = Cidr::any(fam);
      out.rules.push_back(r);
    }
    Rule nonip;  // ARP and every other non-IP frame
    nonip.dir = dir;
    nonip.family = 0;
    out.rules.push_back(nonip);
  }
}

Result<void> compile_partition(const v1::NetPartition& p, size_t max_rules, CompiledFault& out) {
  if (p.peer_cidrs().empty()) return make_error("partition.peer_cidrs is empty (name the peers to cut off)");
  FD_TRY(check_direction(p.direction(), "partition.direction"), "partition");
  FD_ASSIGN(peers, cidrs(p.peer_cidrs(), "partition.peer_cidrs"), "partition");
  auto dirs = directions(p.direction());
  if (peers.size() * dirs.size() > max_rules) {
    return make_error("partition expands to {} rules, at most {}", peers.size() * dirs.size(), max_rules);
  }
  for (Dir dir : dirs) {
    for (auto& peer : peers) {
      Rule r;
      r.dir = dir;
      r.family = peer.family;
      r.remote = peer;
      out.rules.push_back(r);
    }
  }
  return ok();
}

}  // namespace

Result<PortSpan> port_span(const v1::PortRange& r, std::string_view where) {
  uint32_t first = r.first(), last = r.last() == 0 ? r.first() : r.last();
  if (first == 0 && last == 0) return make_error("{}: port range 0-0 (give first, and last for a range)", where);
  if (first > 65535 || last > 65535) return make_error("{}: port {} is above 65535", where, std::max(first, last));
  if (last < first) return make_error("{}: port range {}-{} is reversed", where, first, last);
  return PortSpan{static_cast<uint16_t>(first), static_cast<uint16_t>(last)};
}

Result<std::vector<PortSpan>> port_spans(const google::protobuf::RepeatedPtrField<v1::PortRange>& list,
                                         std::string_view where) {
  if (list.size() > static_cast<int>(kMaxPortRanges)) {
    return make_error("{}: {} port ranges (at most {})", where, list.size(), kMaxPortRanges);
  }
  std::vector<PortSpan> out;
  for (int i = 0; i < list.size(); ++i) {
    FD_ASSIGN(s, port_span(list[i], fmt::format("{}[{}]", where, i)), "ports");
    out.push_back(s);
  }
  return out;
}

Result<std::vector<Cidr>> cidrs(const google::protobuf::RepeatedPtrField<std::string>& list,
                                std::string_view where) {
  std::vector<Cidr> out;
  for (int i = 0; i < list.size(); ++i) {
    auto c = Cidr::parse(list[i]);
    if (!c) return c.error().context(fmt::format("{}[{}]", where, i));
    out.push_back(*c);
  }
  return out;
}

uint32_t drop_threshold(double percent) {
  if (percent <= 0) return 0;
  if (percent >= 100) return 0xffffffffu;
  return static_cast<uint32_t>(std::llround(percent / 100.0 * 4294967296.0));
}

Result<AllowRule> compile_allow(const v1::AllowEntry& entry, std::string_view where) {
  AllowRule a;
  auto peer = Cidr::parse(entry.peer_cidr());
  if (!peer) return peer.error().context(fmt::format("{}: peer_cidr", where));
  a.peer = *peer;
  FD_ASSIGN(proto, protocol_number(entry.protocol(), where), "allow");
  a.protocol = proto;
  if (entry.has_peer_ports() && (entry.peer_ports().first() != 0 || entry.peer_ports().last() != 0)) {
    if (!has_ports(proto)) {
      return make_error("{}: peer_ports given with protocol {}, which has none", where,
                        v1::L4Protocol_Name(static_cast<v1::L4Protocol>(proto)));
    }
    FD_ASSIGN(span, port_span(entry.peer_ports(), fmt::format("{}: peer_ports", where)), "allow");
    a.ports = span;
  }
  return a;
}

Result<CompiledFault> compile_network_fault(const v1::NetworkFault& fault, size_t max_rules) {
  CompiledFault out;
  switch (fault.kind_case()) {
    case v1::NetworkFault::kDrop:
      FD_TRY(compile_drop(fault.drop(), max_rules, out), "network");
      break;
    case v1::NetworkFault::kBlackhole:
      compile_blackhole(out);
      break;
    case v1::NetworkFault::kPartition:
      FD_TRY(compile_partition(fault.partition(), max_rules, out), "network");
      break;
    case v1::NetworkFault::kCorrupt:
      FD_TRY(compile_corrupt(fault.corrupt(), max_rules, out), "network");
      break;
    case v1::NetworkFault::kDuplicate:
      FD_TRY(compile_duplicate(fault.duplicate(), max_rules, out), "network");
      break;
    case v1::NetworkFault::kDelay:
      FD_TRY(compile_delay(fault.delay(), max_rules, out), "network");
      break;
    default:
      return make_error("network: unknown fault kind (none of drop, blackhole, partition, corrupt, duplicate, "
                        "delay is set)");
  }
  for (int i = 0; i < fault.allow_size(); ++i) {
    FD_ASSIGN(a, compile_allow(fault.allow(i), fmt::format("network.allow[{}]", i)), "network");
    out.allow.push_back(a);
  }
  for (auto& r : out.rules) {
    (r.dir == Dir::kIngress ? out.needs_ingress : out.needs_egress) = true;
  }
  return out;
}

std::string describe(const Rule& r) {
  std::string s = fmt::format("{} {}", r.dir == Dir::kEgress ? "egress" : "ingress",
                              r.family == 0 ? "non-ip" : "remote " + r.remote.str());
  if (r.local) s += " local " + r.local->str();
  if (r.protocol) s += fmt::format(" proto {}", r.protocol);
  for (auto& p : r.remote_ports) s += fmt::format(" rport {}-{}", p.first, p.last);
  for (auto& p : r.local_ports) s += fmt::format(" lport {}-{}", p.first, p.last);
  if (r.percent < 100) s += fmt::format(" {}%", r.percent);
  switch (r.action) {
    case Action::kDrop: break;
    case Action::kCorrupt: s += r.fix_checksums ? " corrupt (checksums fixed)" : " corrupt"; break;
    case Action::kDuplicate: s += " duplicate"; break;
    case Action::kDelay: s += fmt::format(" delay {}us+{}us", r.delay_ns / 1000, r.jitter_ns / 1000); break;
  }
  return s;
}

}  // namespace firedrill::agent::net
