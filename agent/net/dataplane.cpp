#include "agent/net/dataplane.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <map>

#include "common/log.h"
#include "net_fault.skel.h"

namespace firedrill::agent::net {
namespace {

auto log() {
  static auto l = logger("agent.net");
  return l;
}

constexpr uint64_t kGlobalOwner = 0;

uint32_t scope(Dir dir, uint8_t family) { return NF_SCOPE(static_cast<uint32_t>(dir), family); }

PrefixKey key_of(Dir dir, const Cidr& c) { return PrefixKey{scope(dir, c.family), c.addr, c.len}; }

nf_lpm_key lpm_key(const PrefixKey& k) {
  nf_lpm_key key{};
  key.prefixlen = 32 + k.len;
  key.scope = k.scope;
  std::memcpy(key.addr, k.addr.data(), sizeof key.addr);
  return key;
}

void fill_ports(const std::vector<PortSpan>& spans, nf_port_range* out, uint8_t* n) {
  *n = static_cast<uint8_t>(std::min<size_t>(spans.size(), NF_MAX_PORT_RANGES));
  for (size_t i = 0; i < *n; ++i) out[i] = {spans[i].first, spans[i].last};
}

}  // namespace

struct NetDataplane::SkelOps {
  static net_fault* open() { return net_fault__open(); }
  static int load(net_fault* s) { return net_fault__load(s); }
  static void destroy(net_fault* s) { net_fault__destroy(s); }
};

nf_rule to_nf_rule(const Rule& r, uint32_t slot, uint64_t iface_mask, uint64_t start_ns) {
  nf_rule out{};
  out.flags = NF_RULE_LIVE;
  out.start_ns = start_ns;
  out.slot = slot;
  out.iface_mask = iface_mask;
  out.direction = static_cast<uint8_t>(r.dir);
  out.family = r.family;
  out.protocol = r.protocol;
  if (r.percent >= 100) out.flags |= NF_RULE_ALWAYS;
  out.drop_threshold = drop_threshold(r.percent);
  out.action = static_cast<uint8_t>(r.action);
  out.action_flags = r.fix_checksums ? NF_ACT_F_FIX_CSUM : 0;
  out.delay_ns = r.delay_ns;
  out.jitter_ns = r.jitter_ns;
  if (r.local) {
    out.flags |= NF_RULE_LOCAL;
    std::array<uint8_t, 16> mask{};
    mask.fill(0xff);
    mask_bytes(mask, r.local->len);
    std::memcpy(out.local_addr, r.local->addr.data(), 16);
    std::memcpy(out.local_mask, mask.data(), 16);
  }
  if (!r.remote_ports.empty()) {
    out.flags |= NF_RULE_REMOTE_PORTS;
    fill_ports(r.remote_ports, out.remote_ports, &out.n_remote_ports);
  }
  if (!r.local_ports.empty()) {
    out.flags |= NF_RULE_LOCAL_PORTS;
    fill_ports(r.local_ports, out.local_ports, &out.n_local_ports);
  }
  return out;
}

Result<std::unique_ptr<NetDataplane>> NetDataplane::load() {
  std::unique_ptr<NetDataplane> dp(new NetDataplane());
  FD_ASSIGN(skel, (bpf::BpfSkeleton<net_fault, SkelOps>::open("net_fault")), "network classifier");
  FD_TRY(skel.load("net_fault"), "network classifier");
  dp->skel_ = std::make_unique<bpf::BpfSkeleton<net_fault, SkelOps>>(std::move(skel));
  auto* s = dp->skel_->get();
  dp->rules_fd_ = bpf_map__fd(s->maps.nf_rules);
  dp->counters_fd_ = bpf_map__fd(s->maps.nf_counters);
  dp->index_fd_ = bpf_map__fd(s->maps.nf_index);
  dp->hashed_fd_ = bpf_map__fd(s->maps.nf_hashed);
  dp->scopes_fd_ = bpf_map__fd(s->maps.nf_scopes);
  dp->allow_fd_ = bpf_map__fd(s->maps.nf_allow);
  dp->nonip_fd_ = bpf_map__fd(s->maps.nf_nonip);
  dp->ifaces_fd_ = bpf_map__fd(s->maps.nf_ifaces);
  int n = libbpf_num_possible_cpus();
  if (n <= 0) return sys_error(-n, "count possible CPUs");
  dp->ncpus_ = static_cast<size_t>(n);
  dp->free_ids_.reserve(NF_MAX_RULES);
  for (uint32_t id = NF_MAX_RULES; id > 0; --id) dp->free_ids_.push_back(id - 1);
  for (uint32_t s = 0; s < NF_MAX_SLOTS; ++s) dp->free_slots_.insert(s);
  // Every scope probes its host length from the start, whatever is installed: the
  // per-packet cost is the same with no rule as with many.
  for (uint32_t dir : {NF_DIR_INGRESS, NF_DIR_EGRESS}) {
    for (uint8_t fam : {NF_FAMILY_V4, NF_FAMILY_V6}) {
      uint32_t sc = NF_SCOPE(dir, fam);
      dp->hashed_[sc] = dp->hashed_lengths(sc);
      FD_TRY(dp->write_scope(sc, dp->hashed_[sc]), "network classifier");
    }
  }
  return dp;
}

NetDataplane::~NetDataplane() = default;

int NetDataplane::prog_fd(Program p) const {
  auto* s = skel_->get();
  switch (p) {
    case Program::kIngress: return bpf_program__fd(s->progs.net_fault_ingress);
    case Program::kEgress: return bpf_program__fd(s->progs.net_fault_egress);
    case Program::kXdp: return bpf_program__fd(s->progs.net_fault_xdp);
  }
  return -1;
}

Result<bpf::UniqueFd> NetDataplane::attach(Program p, uint32_t ifindex) const {
  int type = p == Program::kIngress ? bpf::kAttachTcxIngress
             : p == Program::kEgress ? bpf::kAttachTcxEgress
                                     : static_cast<int>(BPF_XDP);
  int fd = bpf_link_create(prog_fd(p), static_cast<int>(ifindex), static_cast<bpf_attach_type>(type), nullptr);
  if (fd < 0) {
    return sys_error(errno, "attach {} classifier to ifindex {}",
                     p == Program::kIngress ? "tcx ingress" : p == Program::kEgress ? "tcx egress" : "XDP",
                     ifindex);
  }
  return bpf::UniqueFd(fd);
}

Result<void> NetDataplane::set_iface_slot(uint32_t ifindex, uint32_t slot) {
  return bpf::update_map(ifaces_fd_, "nf_ifaces", ifindex, slot);
}

Result<void> NetDataplane::write_rule(uint32_t id, const nf_rule& rule) {
  return bpf::update_map(rules_fd_, "nf_rules", id, rule);
}

Result<void> NetDataplane::zero_counters(uint32_t id) {
  std::vector<nf_counter> zeros(ncpus_);
  if (bpf_map_update_elem(counters_fd_, &id, zeros.data(), BPF_ANY) != 0) {
    return sys_error(errno, "reset counters of rule {}", id);
  }
  return ok();
}

std::vector<uint8_t> NetDataplane::hashed_lengths(uint32_t scope) const {
  uint8_t host = (scope & 0xff) == NF_FAMILY_V4 ? 32 : 128;
  std::vector<std::pair<size_t, uint8_t>> busiest;  // (prefixes, length)
  for (auto [len, count] : index_.lengths(scope)) {
    if (len != host) busiest.push_back({count, len});
  }
  std::sort(busiest.begin(), busiest.end(), std::greater<>());
  std::vector<uint8_t> out = {host};
  for (size_t i = 0; i < busiest.size() && out.size() < NF_MAX_HASHED_LENS; ++i) out.push_back(busiest[i].second);
  std::sort(out.begin(), out.end(), std::greater<>());  // probed longest first
  return out;
}

Result<void> NetDataplane::write_scope(uint32_t scope, const std::vector<uint8_t>& hashed) {
  nf_scope_info info{};
  info.n_hashed = static_cast<uint8_t>(hashed.size());
  std::copy(hashed.begin(), hashed.end(), info.hashed);
  for (auto [len, count] : index_.lengths(scope)) {
    if (std::find(hashed.begin(), hashed.end(), len) != hashed.end()) continue;
    info.has_trie = 1;
    info.max_trie = std::max(info.max_trie, len);
  }
  uint32_t k = NF_SCOPE_INDEX(scope >> 8, scope & 0xff);
  return bpf::update_map(scopes_fd_, "nf_scopes", k, info);
}

Result<void> NetDataplane::write_entry(const PrefixKey& key, const std::vector<uint32_t>& items, bool hashed) {
  nf_candidates v{};
  v.n = static_cast<uint32_t>(items.size());
  v.len = key.len;
  std::copy(items.begin(), items.end(), v.ids);
  auto k = lpm_key(key);
  FD_TRY(bpf::update_map(hashed ? hashed_fd_ : index_fd_, hashed ? "nf_hashed" : "nf_index", k, v), "index {}",
         PrefixIndex<uint32_t>::describe(key));
  return ok();
}

Result<void> NetDataplane::delete_entry(const PrefixKey& key, bool hashed) {
  auto k = lpm_key(key);
  FD_TRY(bpf::delete_map(hashed ? hashed_fd_ : index_fd_, hashed ? "nf_hashed" : "nf_index", k), "index {}",
         PrefixIndex<uint32_t>::describe(key));
  return ok();
}

// Writes what changed, and moves whole lengths between the hash and the trie when the
// busiest lengths of a scope change. Order keeps every lookup complete in between:
// entries are written where the old and the new probing would look for them, then the
// scope's probing switches, then what neither looks at any more is deleted.
Result<void> NetDataplane::write_index(const std::vector<PrefixIndex<uint32_t>::Change>& changes) {
  std::map<uint32_t, std::vector<uint8_t>> next;
  std::set<uint32_t> scopes;
  for (auto& c : changes) scopes.insert(c.key.scope);
  for (auto sc : scopes) next[sc] = hashed_lengths(sc);
  auto in = [](const std::vector<uint8_t>& v, uint8_t len) { return std::find(v.begin(), v.end(), len) != v.end(); };

  for (auto& c : changes) {
    if (!c.items) continue;
    bool was = in(hashed_[c.key.scope], c.key.len), will = in(next[c.key.scope], c.key.len);
    FD_TRY(write_entry(c.key, *c.items, will), "write");
    if (was != will) FD_TRY(write_entry(c.key, *c.items, was), "write");
  }
  // Lengths that change sides move with every prefix they hold.
  std::vector<std::pair<uint32_t, uint8_t>> moved;
  for (auto sc : scopes) {
    for (auto [len, count] : index_.lengths(sc)) {
      if (in(hashed_[sc], len) != in(next[sc], len)) moved.push_back({sc, len});
    }
  }
  std::set<PrefixKey> changed;
  for (auto& c : changes) changed.insert(c.key);
  for (auto [sc, len] : moved) {
    for (auto& [k, items] : index_.installed()) {
      if (k.scope == sc && k.len == len && !changed.count(k)) FD_TRY(write_entry(k, items, in(next[sc], len)), "move");
    }
  }
  for (auto sc : scopes) FD_TRY(write_scope(sc, next[sc]), "scope");
  auto old = hashed_;
  for (auto sc : scopes) hashed_[sc] = next[sc];
  for (auto [sc, len] : moved) {
    for (auto& [k, items] : index_.installed()) {
      if (k.scope == sc && k.len == len) FD_TRY(delete_entry(k, in(old[sc], len)), "move");
    }
  }
  for (auto& c : changes) {
    if (c.items) continue;
    bool was = in(old[c.key.scope], c.key.len), will = in(hashed_[c.key.scope], c.key.len);
    FD_TRY(delete_entry(c.key, was), "delete");
    if (was != will) FD_TRY(delete_entry(c.key, will), "delete");
  }
  return ok();
}

Result<void> NetDataplane::write_allow(const std::vector<PrefixIndex<AllowItem>::Change>& changes) {
  for (auto& c : changes) {
    auto key = lpm_key(c.key);
    if (c.items) {
      nf_allow_list v{};
      v.n = static_cast<uint32_t>(c.items->size());
      for (size_t i = 0; i < c.items->size(); ++i) {
        auto& it = (*c.items)[i];
        v.e[i].protocol = it.protocol;
        v.e[i].port_first = it.ports.first;
        v.e[i].port_last = it.ports.last;
        v.e[i].slot = it.slot;
      }
      FD_TRY(bpf::update_map(allow_fd_, "nf_allow", key, v), "allow {}", PrefixIndex<AllowItem>::describe(c.key));
    } else {
      FD_TRY(bpf::delete_map(allow_fd_, "nf_allow", key), "allow {}", PrefixIndex<AllowItem>::describe(c.key));
    }
  }
  return ok();
}

Result<void> NetDataplane::write_nonip(uint8_t dir) {
  nf_candidates v{};
  v.n = static_cast<uint32_t>(nonip_[dir].size());
  std::copy(nonip_[dir].begin(), nonip_[dir].end(), v.ids);
  uint32_t k = dir;
  return bpf::update_map(nonip_fd_, "nf_nonip", k, v);
}

void NetDataplane::add_allow_items(const std::vector<AllowRule>& allow, uint32_t slot,
                                   std::vector<std::pair<PrefixKey, AllowItem>>& out) const {
  for (auto& a : allow) {
    for (Dir dir : {Dir::kIngress, Dir::kEgress}) {
      uint8_t proto = a.protocol;
      if (proto == 1 && a.peer.family == 6) proto = 58;  // ICMP of the peer's family
      out.push_back({key_of(dir, a.peer), AllowItem{proto, a.ports, slot}});
    }
  }
}

Result<void> NetDataplane::set_global_allow(const std::vector<AllowRule>& allow) {
  std::vector<std::pair<PrefixKey, AllowItem>> items;
  add_allow_items(allow, NF_SLOT_GLOBAL, items);
  auto undo = allow_.remove(kGlobalOwner);
  FD_ASSIGN(changes, allow_.add(kGlobalOwner, items), "agent allow list");
  // Write the removal and addition as one net change.
  std::map<PrefixKey, std::optional<std::vector<AllowItem>>> net;
  for (auto& c : undo) net[c.key] = c.items;
  for (auto& c : changes) net[c.key] = c.items;
  std::vector<PrefixIndex<AllowItem>::Change> all;
  for (auto& [k, v] : net) {
    auto it = allow_.installed().find(k);
    all.push_back({k, it == allow_.installed().end() ? std::nullopt : std::optional(it->second)});
  }
  return write_allow(all);
}

Result<void> NetDataplane::install(const std::string& key, const CompiledFault& fault, uint64_t iface_mask,
                                   uint64_t start_ns) {
  if (faults_.count(key)) return make_error("network fault {} is already installed", key);
  if (fault.rules.size() > free_ids_.size()) {
    return make_error("rule table full: {} of {} rules in use, this fault needs {}", rules_in_use(),
                      NF_MAX_RULES, fault.rules.size());
  }
  Fault f;
  f.owner = next_owner_++;
  if (!fault.allow.empty()) {
    if (free_slots_.empty()) {
      return make_error("{} faults with allow entries of their own are in effect (at most {})", NF_MAX_SLOTS,
                        NF_MAX_SLOTS);
    }
    f.slot = *free_slots_.begin();
  }

  // Ids and index contents first, all in userspace, so that a refusal changes nothing.
  std::vector<std::pair<PrefixKey, uint32_t>> index_items;
  size_t nonip_add[2] = {0, 0};
  for (size_t i = 0; i < fault.rules.size(); ++i) {
    uint32_t id = free_ids_[free_ids_.size() - 1 - i];
    f.ids.push_back(id);
    auto& r = fault.rules[i];
    if (r.family == 0) {
      f.nonip_dirs.push_back(static_cast<uint8_t>(r.dir) + 1);
      ++nonip_add[static_cast<int>(r.dir)];
    } else {
      f.nonip_dirs.push_back(0);
      index_items.push_back({key_of(r.dir, r.remote), id});
    }
  }
  for (int d = 0; d < 2; ++d) {
    if (nonip_[d].size() + nonip_add[d] > NF_MAX_CANDIDATES) {
      return make_error("{} blackholes at once on {} (at most {})", nonip_[d].size() + nonip_add[d],
                        d ? "egress" : "ingress", NF_MAX_CANDIDATES);
    }
  }
  std::vector<std::pair<PrefixKey, AllowItem>> allow_items;
  add_allow_items(fault.allow, f.slot, allow_items);
  FD_ASSIGN(allow_changes, allow_.add(f.owner, allow_items), "fault {}", key);
  auto index_changes = index_.add(f.owner, index_items);
  if (!index_changes) {
    (void)allow_.remove(f.owner);  // nothing was written yet
    return index_changes.error().context(fmt::format("fault {}", key));
  }
  free_ids_.resize(free_ids_.size() - f.ids.size());
  if (f.slot != NF_SLOT_NONE) free_slots_.erase(f.slot);
  for (size_t i = 0; i < f.ids.size(); ++i) {
    if (f.nonip_dirs[i]) nonip_[f.nonip_dirs[i] - 1].push_back(f.ids[i]);
  }
  faults_.emplace(key, f);

  auto write = [&]() -> Result<void> {
    for (size_t i = 0; i < f.ids.size(); ++i) {
      FD_TRY(zero_counters(f.ids[i]), "fault {}", key);
      FD_TRY(write_rule(f.ids[i], to_nf_rule(fault.rules[i], f.slot, iface_mask, start_ns)), "fault {}", key);
    }
    FD_TRY(write_allow(allow_changes), "fault {}", key);
    FD_TRY(write_index(*index_changes), "fault {}", key);
    for (uint8_t d = 0; d < 2; ++d) {
      if (nonip_add[d]) FD_TRY(write_nonip(d), "fault {}", key);
    }
    return ok();
  };
  if (auto r = write(); !r) {
    if (auto undo = remove(key); !undo) log()->error("undoing fault {}: {}", key, undo.error().describe());
    return r;
  }
  log()->debug("fault {}: {} rules, {} allow entries, index holds {} prefixes", key, f.ids.size(),
               fault.allow.size(), index_.prefixes());
  return ok();
}

Result<void> NetDataplane::remove(const std::string& key) {
  auto it = faults_.find(key);
  if (it == faults_.end()) return ok();
  Fault f = std::move(it->second);
  faults_.erase(it);
  Result<void> first = ok();
  auto keep = [&first](Result<void> r) {
    if (!r && first.ok()) first = r.error();
  };

  // Dead rules first: from here on the fault drops nothing, whatever fails below.
  nf_rule dead{};
  for (uint32_t id : f.ids) keep(write_rule(id, dead));
  bool index_ok = true;
  auto index_changes = index_.remove(f.owner);
  if (auto r = write_index(index_changes); !r) {
    index_ok = false;
    keep(r);
  }
  bool nonip_changed[2] = {false, false};
  for (size_t i = 0; i < f.ids.size(); ++i) {
    if (!f.nonip_dirs[i]) continue;
    auto& list = nonip_[f.nonip_dirs[i] - 1];
    list.erase(std::remove(list.begin(), list.end(), f.ids[i]), list.end());
    nonip_changed[f.nonip_dirs[i] - 1] = true;
  }
  for (uint8_t d = 0; d < 2; ++d) {
    if (!nonip_changed[d]) continue;
    if (auto r = write_nonip(d); !r) {
      index_ok = false;
      keep(r);
    }
  }
  keep(write_allow(allow_.remove(f.owner)));
  if (index_ok) {
    // Pushed so that the lowest ids come back on top.
    for (auto id = f.ids.rbegin(); id != f.ids.rend(); ++id) free_ids_.push_back(*id);
  } else {
    // An index entry may still name these ids: they stay dead and are never reused.
    quarantined_ += f.ids.size();
    log()->error("fault {}: {} rule ids quarantined after a failed index update", key, f.ids.size());
  }
  if (f.slot != NF_SLOT_NONE) free_slots_.insert(f.slot);
  if (!first) return first.error().context(fmt::format("remove network fault {}", key));
  return ok();
}

v1::FaultCounters NetDataplane::counters(const std::string& key) const {
  v1::FaultCounters out;
  auto it = faults_.find(key);
  if (it == faults_.end()) return out;
  std::vector<nf_counter> per_cpu(ncpus_);
  for (uint32_t id : it->second.ids) {
    if (bpf_map_lookup_elem(counters_fd_, &id, per_cpu.data()) != 0) continue;
    for (auto& c : per_cpu) {
      out.set_packets_matched(out.packets_matched() + c.packets_matched);
      out.set_bytes_matched(out.bytes_matched() + c.bytes_matched);
      out.set_packets_dropped(out.packets_dropped() + c.packets_dropped);
      out.set_bytes_dropped(out.bytes_dropped() + c.bytes_dropped);
      out.set_packets_altered(out.packets_altered() + c.packets_altered);
    }
  }
  return out;
}

uint64_t NetDataplane::first_drop_ns(const std::string& key) const {
  auto it = faults_.find(key);
  if (it == faults_.end()) return 0;
  uint64_t first = 0;
  std::vector<nf_counter> per_cpu(ncpus_);
  for (uint32_t id : it->second.ids) {
    if (bpf_map_lookup_elem(counters_fd_, &id, per_cpu.data()) != 0) continue;
    for (auto& c : per_cpu) {
      if (c.first_drop_ns && (!first || c.first_drop_ns < first)) first = c.first_drop_ns;
    }
  }
  return first;
}

}  // namespace firedrill::agent::net
