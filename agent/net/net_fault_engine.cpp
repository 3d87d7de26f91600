#include "agent/net/net_fault_engine.h"

#include <net/if.h>

#include "common/fault_values.h"
#include "common/log.h"

namespace firedrill::agent::net {
namespace {

auto log() {
  static auto l = logger("agent.net");
  return l;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

}  // namespace

NetFaultEngine::NetFaultEngine(NetEngineConfig config) : config_(std::move(config)) {
  auto dp = NetDataplane::load();
  if (!dp) {
    load_error_ = dp.error();
    log()->error("network engine unavailable: {}", dp.error().describe());
    return;
  }
  dataplane_ = std::move(*dp);
  std::vector<AllowRule> allow;
  for (size_t i = 0; i < config_.allow.size(); ++i) {
    auto a = compile_allow(config_.allow[i], fmt::format("--allow {}", config_.allow[i].peer_cidr()));
    if (!a) {
      load_error_ = a.error();
      dataplane_.reset();
      return;
    }
    allow.push_back(*a);
  }
  if (auto r = dataplane_->set_global_allow(allow); !r) {
    load_error_ = r.error();
    dataplane_.reset();
    return;
  }
  if (config_.interfaces.size() > NF_MAX_IFACES) {
    load_error_ = make_error("{} interfaces given (at most {})", config_.interfaces.size(), NF_MAX_IFACES);
    dataplane_.reset();
    return;
  }
  if (config_.interfaces.empty()) return;
  // Interfaces that are not there yet are attached when a fault first needs them.
  v1::NetworkFault all;
  all.mutable_blackhole();
  auto ifaces = interfaces_of(all, false);
  for (auto& i : *ifaces) {
    i.ifindex = if_nametoindex(i.name.c_str());
    if (i.ifindex == 0) {
      log()->warn("interface {} does not exist yet; the classifier is attached when a fault needs it", i.name);
      continue;
    }
    if (auto r = ensure_attached(i); !r) log()->warn("{}", r.error().describe());
  }
}

NetFaultEngine::~NetFaultEngine() {
  std::lock_guard lock(mu_);
  // Links detach as their fds close; the maps go with the skeleton.
  attachments_.clear();
}

bool NetFaultEngine::tcx() const { return config_.tcx.value_or(bpf::features().tcx); }
bool NetFaultEngine::sch_fq() const { return config_.sch_fq.value_or(bpf::features().sch_fq); }
bool NetFaultEngine::xdp_link() const { return config_.xdp_link.value_or(bpf::features().xdp_link); }

Result<std::vector<NetFaultEngine::Iface>> NetFaultEngine::interfaces_of(const v1::NetworkFault& fault,
                                                                         bool resolve) const {
  if (config_.interfaces.empty()) {
    return make_error("this agent manages no interface (start it with --interface NAME)");
  }
  std::vector<std::string> names(fault.interfaces().begin(), fault.interfaces().end());
  if (names.empty()) names = config_.interfaces;
  std::vector<Iface> out;
  for (auto& name : names) {
    auto pos = std::find(config_.interfaces.begin(), config_.interfaces.end(), name);
    if (pos == config_.interfaces.end()) {
      return make_error("interface '{}' is not managed by this agent (--interface: {})", name,
                        join(config_.interfaces));
    }
    Iface i{name, 0, static_cast<uint32_t>(pos - config_.interfaces.begin())};
    if (std::any_of(out.begin(), out.end(), [&](auto& o) { return o.name == name; })) continue;
    if (resolve) {
      i.ifindex = if_nametoindex(name.c_str());
      if (i.ifindex == 0) return sys_error(errno, "interface '{}' does not exist here", name);
    }
    out.push_back(i);
  }
  return out;
}

Result<void> NetFaultEngine::check_locked(const v1::FaultSpec& spec, CompiledFault* compiled) const {
  if (!spec.has_network()) return make_error("not a network fault");
  if (!dataplane_) {
    return load_error_->context("the network engine is unavailable (its eBPF classifier did not load)");
  }
  const auto& nf = spec.network();
  if (auto p = first_fault_value_problem(spec); !p.empty()) return make_error("network fault: {}", p);
  FD_ASSIGN(c, compile_network_fault(nf), "network fault");
  FD_ASSIGN(ifaces, interfaces_of(nf, false), "network fault");
  bool alters = nf.has_corrupt() || nf.has_duplicate() || nf.has_delay();
  if (alters && !tcx()) {
    return bpf::features().missing("tcx").context(
        "network fault: corrupt, duplicate and delay rewrite, copy or time packets in tc (tcx); XDP only drops");
  }
  if (nf.has_delay() && !sch_fq()) {
    return bpf::features().missing("sch_fq").context(
        "network fault: delay sets departure times, which only the fq qdisc honours");
  }
  if (c.needs_egress && !tcx()) {
    return bpf::features().missing("tcx").context(
        "network fault: egress filtering needs tcx (XDP sees ingress only)");
  }
  if (c.needs_ingress && !tcx() && !xdp_link()) {
    return bpf::features().missing("tcx").context(fmt::format(
        "network fault: ingress filtering needs tcx or xdp_link, and {}",
        bpf::features().missing("xdp_link").message));
  }
  if (compiled) *compiled = std::move(c);
  return ok();
}

Result<void> NetFaultEngine::check(const v1::FaultSpec& spec) const {
  std::lock_guard lock(mu_);
  return check_locked(spec, nullptr);
}

Result<void> NetFaultEngine::ensure_attached(const Iface& iface) {
  auto it = attachments_.find(iface.name);
  bool want_egress = tcx();
  if (it != attachments_.end() && it->second.ifindex == iface.ifindex && it->second.ingress &&
      (it->second.egress || !want_egress)) {
    return ok();
  }
  Attachment a;
  a.ifindex = iface.ifindex;
  FD_ASSIGN(in, dataplane_->attach(tcx() ? Program::kIngress : Program::kXdp, iface.ifindex), "interface {}",
            iface.name);
  a.ingress = std::move(in);
  if (want_egress) {
    FD_ASSIGN(out, dataplane_->attach(Program::kEgress, iface.ifindex), "interface {}", iface.name);
    a.egress = std::move(out);
  }
  log()->info("classifier attached to {} (ifindex {}, {})", iface.name, iface.ifindex,
              want_egress ? "tcx ingress+egress" : "XDP ingress");
  attachments_[iface.name] = std::move(a);
  return ok();
}

Result<void> NetFaultEngine::apply(const std::string& fault_id, const v1::FaultSpec& spec) {
  return apply_at(fault_id, spec, WallTime{});
}

Result<void> NetFaultEngine::apply_at(const std::string& fault_id, const v1::FaultSpec& spec, WallTime start) {
  std::lock_guard lock(mu_);
  auto in_effect = active_.find(fault_id);
  if (auto done = already_in_effect(name(), fault_id, in_effect == active_.end() ? nullptr : &in_effect->second, spec)) {
    return *done;
  }
  CompiledFault compiled;
  FD_TRY(check_locked(spec, &compiled), "apply {}", fault_id);
  FD_ASSIGN(ifaces, interfaces_of(spec.network(), true), "apply {}", fault_id);

  // A fault on every managed interface needs no per-packet interface test.
  uint64_t mask = NF_IFACES_ALL;
  if (ifaces.size() < config_.interfaces.size()) {
    mask = 0;
    for (auto& i : ifaces) mask |= 1ull << i.slot;
  }
  for (auto& i : ifaces) {
    FD_TRY(ensure_attached(i), "apply {}", fault_id);
    FD_TRY(dataplane_->set_iface_slot(i.ifindex, i.slot), "apply {}", fault_id);
  }
  // The fault takes effect here, whole, by map updates; or, staged, when the kernel's
  // clock reaches its start (the wall-clock start mapped onto CLOCK_MONOTONIC now).
  uint64_t start_ns = 0;
  auto now = WallClock::now();
  if (start > now) start_ns = mono_ns_of_wall(start);
  FD_TRY(dataplane_->install(fault_id, compiled, mask, start_ns), "apply {}", fault_id);
  starts_[fault_id] = start > now ? start : now;
  std::vector<std::string> names;
  for (auto& i : ifaces) names.push_back(i.name);
  log()->info("fault {}: {} rules on {} ({}{}{})", fault_id, compiled.rules.size(), join(names),
              compiled.needs_ingress ? "ingress" : "", compiled.needs_ingress && compiled.needs_egress ? "+" : "",
              compiled.needs_egress ? "egress" : "");
  active_.emplace(fault_id, spec);
  return ok();
}

Result<void> NetFaultEngine::revert(const std::string& fault_id) {
  std::lock_guard lock(mu_);
  auto it = active_.find(fault_id);
  if (it == active_.end()) return ok();
  // Even when a map write fails, remove() has made the fault's rules dead first: the
  // fault drops nothing more, so it is no longer held.
  auto r = dataplane_->remove(fault_id);
  active_.erase(it);
  starts_.erase(fault_id);
  if (!r) return r.error().context(fmt::format("revert {}", fault_id));
  return ok();
}

v1::FaultCounters NetFaultEngine::counters(const std::string& fault_id) const {
  std::lock_guard lock(mu_);
  if (!dataplane_) return {};
  return dataplane_->counters(fault_id);
}

std::vector<std::string> NetFaultEngine::attached() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (auto& [name, a] : attachments_) out.push_back(name);
  return out;
}

std::vector<v1::FaultEffect> NetFaultEngine::effects(const std::string& fault_id) const {
  std::lock_guard lock(mu_);
  std::vector<v1::FaultEffect> out;
  auto it = starts_.find(fault_id);
  if (it == starts_.end() || !dataplane_) return out;
  v1::FaultEffect e;
  e.set_part("network cut");
  if (uint64_t first = dataplane_->first_drop_ns(fault_id)) {
    *e.mutable_at() = to_proto(wall_of_mono_ns(first));
    e.set_source("kernel: first dropped packet");
  } else {
    *e.mutable_at() = to_proto(it->second);
    e.set_source("agent: rules in effect from (no packet dropped yet)");
  }
  out.push_back(std::move(e));
  return out;
}

}  // namespace firedrill::agent::net
