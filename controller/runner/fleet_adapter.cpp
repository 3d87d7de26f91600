#include "controller/runner/fleet_adapter.h"

#include "controller/runner/run_ids.h"

namespace firedrill::runner {

namespace {

FanoutOutcome convert(const controller::FanoutResult& r, bool revert) {
  FanoutOutcome out;
  for (const auto& t : r.targets) {
    HostOutcome h;
    h.agent_id = t.agent_id;
    h.ok = t.ok();
    h.error = t.error;
    h.acked_at = t.acked_at;
    h.effective_at = t.effective_at;
    h.effects = t.effects;
    h.clock = t.clock;
    switch (t.status) {
      case v1::ACK_APPLIED: h.status = revert ? v1::TARGET_STATUS_REVERTED : v1::TARGET_STATUS_APPLIED; break;
      case v1::ACK_SCHEDULED: h.status = t.effective_at ? v1::TARGET_STATUS_APPLIED : v1::TARGET_STATUS_SCHEDULED; break;
      case v1::ACK_REFUSED: h.status = v1::TARGET_STATUS_REFUSED; break;
      case v1::ACK_FAILED: h.status = v1::TARGET_STATUS_FAILED; break;
      case v1::ACK_NOT_IN_EFFECT: h.status = v1::TARGET_STATUS_NOT_IN_EFFECT; break;
      default: h.status = v1::TARGET_STATUS_NO_ANSWER; break;
    }
    out.hosts.push_back(std::move(h));
  }
  out.ack_spread = r.ack_spread();
  out.dispatch_to_last_ack = r.dispatch_to_last_ack();
  return out;
}

}  // namespace

Result<std::vector<controller::Host>> FleetAdapter::resolve(const v1::Targets& targets) {
  FD_ASSIGN(res, fleet_.resolve(targets), "targets");
  std::vector<controller::Host> out;
  for (const auto& id : res.targets) {
    auto a = fleet_.agent(id);
    out.push_back(controller::Host{id, a ? a->tags : controller::Tags{}, a ? a->version : std::string()});
  }
  return out;
}

v1::GuardVerdict FleetAdapter::admit(const std::string& run_id, const std::vector<std::string>& hosts,
                                     const v1::BlastRadius& radius) {
  return fleet_.admit(run_id, hosts, radius);
}

v1::GuardVerdict FleetAdapter::check(const std::string& run_id, const std::vector<std::string>& hosts,
                                     const v1::BlastRadius& radius) {
  return fleet_.check(run_id, hosts, radius);
}

void FleetAdapter::set_run_hosts(const std::string& run_id, const std::vector<std::string>& hosts) {
  fleet_.set_run_hosts(run_id, hosts);
}

void FleetAdapter::end_run(const std::string& run_id) { fleet_.end_run(run_id); }

std::vector<std::string> FleetAdapter::not_ready(const std::vector<std::string>& hosts, const v1::FaultSpec& spec) {
  return fleet_.incapable(hosts, spec);
}

std::string FleetAdapter::fault_id(const std::string& run_id, int step) { return make_fault_id(run_id, step); }

FanoutOutcome FleetAdapter::apply(const std::string& run_id, const std::string& fault_id, const v1::FaultSpec& spec,
                                  const std::vector<std::string>& hosts, WallTime not_before, WallTime expires_at) {
  controller::ApplyRequest req;
  req.run_id = run_id;
  req.fault_id = fault_id;
  req.spec = spec;
  req.hosts = hosts;
  req.not_before = not_before;
  req.expires_at = expires_at;
  req.wait_effective = true;
  return convert(fleet_.apply(req), false);
}

FanoutOutcome FleetAdapter::revert(const std::string& fault_id, const std::vector<std::string>& hosts) {
  return convert(fleet_.revert(fault_id, hosts), true);
}

std::vector<std::string> FleetAdapter::lost(const std::vector<std::string>& hosts) {
  std::vector<std::string> out;
  for (const auto& h : hosts) {
    auto a = fleet_.agent(h);
    if (!a || !a->live) out.push_back(h);
  }
  return out;
}

namespace {

std::string why_ended(const v1::FaultReverted& r) {
  switch (r.reason()) {
    case v1::REVERT_EXPIRED: return "its lease expired by the agent's clock";
    case v1::REVERT_LEASE_LOST: return "the agent's dead-man switch (the controller was silent past the lease grace)";
    case v1::REVERT_AGENT_SHUTDOWN: return "the agent shut down";
    case v1::REVERT_RECOVERED: return "the agent finished it from its journal after a crash";
    case v1::REVERT_LOCAL: return "reverted on the host (the agent's local socket)";
    case v1::REVERT_AGENT_RESTART: return "the agent restarted";
    case v1::REVERT_APPLY_FAILED: return "its apply at not_before failed" + (r.error().empty() ? "" : ": " + r.error());
    default: return "ended by the agent (" + v1::RevertReason_Name(r.reason()) + ")";
  }
}

}  // namespace

std::vector<HostEnded> FleetAdapter::ended_early(const std::string& fault_id, const std::vector<std::string>& hosts) {
  std::vector<HostEnded> out;
  for (const auto& h : hosts) {
    auto a = fleet_.agent(h);
    if (!a) continue;
    bool found = false;
    for (const auto& r : a->ended) {
      // A revert the controller asked for is the run's own (or a halt's, told apart
      // by the halt itself).
      if (r.fault_id() != fault_id || r.reason() == v1::REVERT_REQUESTED) continue;
      out.push_back({h, why_ended(r), r.has_at() ? std::optional(from_proto(r.at())) : std::nullopt, false});
      found = true;
    }
    if (found) continue;
    for (const auto& f : a->active_faults) {
      if (f.fault_id() != fault_id || f.revert_error().empty()) continue;
      out.push_back({h, "revert failing: " + f.revert_error(),
                     f.has_revert_failing_since() ? std::optional(from_proto(f.revert_failing_since())) : std::nullopt,
                     true});
    }
  }
  return out;
}

bool FleetAdapter::halted(std::string* reason) {
  auto s = fleet_.halt_state();
  if (s.halted && reason) *reason = s.reason.empty() ? "halted" : s.reason;
  return s.halted;
}

}  // namespace firedrill::runner
