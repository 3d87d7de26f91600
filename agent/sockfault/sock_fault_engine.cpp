#include "agent/sockfault/sock_fault_engine.h"

#include <unistd.h>

#include "agent/proc/selector.h"
#include "common/fault_values.h"
#include "common/log.h"

namespace firedrill::agent::sockfault {
namespace {

auto log() {
  static auto l = logger("agent.connection");
  return l;
}

}  // namespace

SockFaultEngine::SockFaultEngine(std::string workload_cgroup, const bpf::Features* features)
    : workload_cgroup_(std::move(workload_cgroup)), features_(features) {}

SockFaultEngine::~SockFaultEngine() {
  std::lock_guard lock(mu_);
  active_.clear();  // links first: no new connection reaches a proxy that is going
  proxy_.reset();
}

const bpf::Features& SockFaultEngine::features() const { return features_ ? *features_ : bpf::features(); }

// DNS queries go to port 53 unless the fault names ports.
constexpr uint16_t kDnsPort = 53;

Result<SockFaultEngine::Plan> SockFaultEngine::plan(const v1::FaultSpec& spec) const {
  const bool dns = spec.has_dns();
  const std::string field = dns ? "dns" : "connection";
  const auto& match = dns ? spec.dns().match() : spec.connection().match();
  Plan p;
  FD_ASSIGN(rules, compile_rules(match, field, dns ? kDnsPort : 0), "{}", field);
  p.rules = std::move(rules);
  v1::ProcessSelector sel;
  *sel.mutable_cgroups() = dns ? spec.dns().cgroups() : spec.connection().cgroups();
  *sel.mutable_workload_cgroups() = dns ? spec.dns().workload_cgroups() : spec.connection().workload_cgroups();
  FD_ASSIGN(expanded, proc::expand_workload_cgroups(sel, workload_cgroup_), "{}", field);
  FD_ASSIGN(resolved, proc::resolve_selector(expanded, proc::Protected::current(), features().cgroup2_mount),
            "{}", field);
  for (const auto& c : resolved.cgroups) p.cgroup_dirs.push_back(c.path);
  return p;
}

Result<void> SockFaultEngine::check(const v1::FaultSpec& spec) const {
  if (!handles(spec)) return make_error("not a connection or DNS fault");
  if (auto p = first_fault_value_problem(spec); !p.empty()) return make_error("{}", p);
  const auto& f = features();
  if (!f.cgroup_v2) return f.missing("cgroup_v2");
  if (!f.sock_hooks) return f.missing("sock_hooks");
  if (spec.has_dns() && !f.dns_hooks) return f.missing("dns_hooks");
  FD_ASSIGN(p, plan(spec), "{}", spec.has_dns() ? "dns" : "connection");
  (void)p;
  if (spec.has_dns()) {
    FD_ASSIGN(shape, DnsShape::from(spec.dns()), "dns");
    (void)shape;
  }
  return ok();
}

Result<Proxy::Ports> SockFaultEngine::serve(const std::string& id, const v1::FaultSpec& spec) {
  auto maps = maps_;
  if (spec.has_dns()) {
    FD_ASSIGN(shape, DnsShape::from(spec.dns()), "dns");
    return proxy_->add_dns(id, std::move(shape), [maps](const sockaddr_storage& client, const sockaddr_storage& proxy) {
      return maps->original_of_datagram(client, proxy);
    });
  }
  return proxy_->add(id, Shape::from(spec.connection()), [maps](const sf_addr& peer) { return maps->take(peer); });
}

Result<void> SockFaultEngine::apply(const std::string& id, const v1::FaultSpec& spec) {
  std::lock_guard lock(mu_);
  auto in_effect = active_.find(id);
  if (auto done = already_in_effect(name(), id, in_effect == active_.end() ? nullptr : &in_effect->second.spec, spec)) {
    return *done;
  }
  const char* what = spec.has_dns() ? "DNS" : "connection";
  FD_TRY(check(spec), "{} fault {}", what, id);
  FD_ASSIGN(p, plan(spec), "{} fault {}", what, id);
  if (!maps_) {
    FD_ASSIGN(maps, SteeringMaps::create(), "{} fault {}", what, id);
    maps_ = std::move(maps);
  }
  if (!proxy_) {
    FD_ASSIGN(proxy, Proxy::start(), "{} fault {}", what, id);
    proxy_ = std::move(proxy);
  }
  FD_ASSIGN(ports, serve(id, spec), "{} fault {}", what, id);
  SteeringPlan sp{p.rules, ports.v4, ports.v6, static_cast<uint32_t>(::getpid()),
                  spec.has_dns() ? SOCK_DGRAM : SOCK_STREAM};
  auto steering = Steering::attach(maps_, sp, p.cgroup_dirs);
  if (!steering) {
    proxy_->lift(id);
    return steering.error().context(fmt::format("{} fault {}", what, id));
  }
  log()->info("fault {}: {} of {} cgroup(s) steered through the proxy (127.0.0.1:{}, [::1]:{}), {} link(s)", id,
              spec.has_dns() ? "DNS queries" : "connections", p.cgroup_dirs.size(), ports.v4, ports.v6,
              (*steering)->links());
  active_.emplace(id, Active{spec, std::move(*steering)});
  return ok();
}

Result<void> SockFaultEngine::revert(const std::string& id) {
  std::lock_guard lock(mu_);
  auto it = active_.find(id);
  if (it == active_.end()) return ok();
  it->second.steering.reset();  // new connections and queries go direct from here on
  proxy_->lift(id);
  active_.erase(it);
  log()->info("fault {}: no longer steered", id);
  return ok();
}

v1::FaultCounters SockFaultEngine::counters(const std::string& id) const {
  std::lock_guard lock(mu_);
  v1::FaultCounters out;
  if (!proxy_ || !active_.count(id)) return out;
  if (active_.at(id).spec.has_dns()) {
    auto d = proxy_->dns_counters(id);
    out.set_dns_queries(d.queries);
    out.set_dns_faulted(d.faulted);
    return out;
  }
  auto c = proxy_->counters(id);
  out.set_connections_steered(c.accepted);
  out.set_connections_reset(c.reset);
  out.set_bytes_matched(c.bytes_to_server + c.bytes_to_client);
  return out;
}

}  // namespace firedrill::agent::sockfault
