#include "agent/net/net_fault_engine.h"

#include <net/if.h>

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
  }
}

NetFaultEngine::~NetFaultEngine() {
  std::lock_guard lock(mu_);
  // Links detach as their fds close; the maps go with the skeleton.
  attachments_.clear();
}

bool NetFaultEngine::tcx() const { return config_.tcx.value_or(bpf::features().tcx); }
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
  FD_ASSIGN(c, compile_network_fault(nf), "network fault");
  FD_ASSIGN(ifaces, interfaces_of(nf, false), "network fault");
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

Result<void> NetFaultEngine::acquire(const Iface& iface, bool ingress, bool egress) {
  auto& a = attachments_[iface.ifindex];
  a.name = iface.name;
  if (ingress && a.ingress_users == 0) {
    Program p = tcx() ? Program::kIngress : Program::kXdp;
    auto link = dataplane_->attach(p, iface.ifindex);
    if (!link) {
      if (!a.ingress && !a.egress) attachments_.erase(iface.ifindex);
      return link.error().context(fmt::format("interface {}", iface.name));
    }
    a.ingress = std::move(*link);
  }
  if (egress && a.egress_users == 0) {
    auto link = dataplane_->attach(Program::kEgress, iface.ifindex);
    if (!link) {
      if (ingress && a.ingress_users == 0) a.ingress.reset();
      if (!a.ingress && !a.egress) attachments_.erase(iface.ifindex);
      return link.error().context(fmt::format("interface {}", iface.name));
    }
    a.egress = std::move(*link);
  }
  if (ingress) ++a.ingress_users;
  if (egress) ++a.egress_users;
  return ok();
}

void NetFaultEngine::release(uint32_t ifindex, bool ingress, bool egress) {
  auto it = attachments_.find(ifindex);
  if (it == attachments_.end()) return;
  auto& a = it->second;
  if (ingress && --a.ingress_users == 0) a.ingress.reset();
  if (egress && --a.egress_users == 0) a.egress.reset();
  if (a.ingress_users == 0 && a.egress_users == 0) attachments_.erase(it);
}

Result<void> NetFaultEngine::apply(const std::string& fault_id, const v1::FaultSpec& spec) {
  std::lock_guard lock(mu_);
  if (auto it = active_.find(fault_id); it != active_.end()) {
    if (it->second.spec.SerializeAsString() == spec.SerializeAsString()) return ok();
    return make_error("network fault {} is already in effect with a different spec", fault_id);
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
  for (auto& i : ifaces) FD_TRY(dataplane_->set_iface_slot(i.ifindex, i.slot), "apply {}", fault_id);

  // Rules before links: the classifier drops from the moment it is attached.
  FD_TRY(dataplane_->install(fault_id, compiled, mask), "apply {}", fault_id);
  Active a{spec, {}, compiled.needs_ingress, compiled.needs_egress};
  for (auto& i : ifaces) {
    if (auto r = acquire(i, a.ingress, a.egress); !r) {
      for (auto idx : a.ifindexes) release(idx, a.ingress, a.egress);
      if (auto undo = dataplane_->remove(fault_id); !undo) {
        log()->error("undoing fault {}: {}", fault_id, undo.error().describe());
      }
      return r.error().context(fmt::format("apply {}", fault_id));
    }
    a.ifindexes.push_back(i.ifindex);
  }
  std::vector<std::string> names;
  for (auto& i : ifaces) names.push_back(i.name);
  log()->info("fault {}: {} rules on {} ({}{}{})", fault_id, compiled.rules.size(), join(names),
              a.ingress ? "ingress" : "", a.ingress && a.egress ? "+" : "", a.egress ? "egress" : "");
  active_.emplace(fault_id, std::move(a));
  return ok();
}

Result<void> NetFaultEngine::revert(const std::string& fault_id) {
  std::lock_guard lock(mu_);
  auto it = active_.find(fault_id);
  if (it == active_.end()) return ok();
  auto r = dataplane_->remove(fault_id);
  // Links go even if a map write failed: remove() has made the fault's rules dead, and
  // an unused attachment has no reason to stay.
  for (auto idx : it->second.ifindexes) release(idx, it->second.ingress, it->second.egress);
  active_.erase(it);
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
  for (auto& [idx, a] : attachments_) out.push_back(a.name);
  return out;
}

}  // namespace firedrill::agent::net
