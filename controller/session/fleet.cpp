#include "controller/session/fleet.h"

#include <algorithm>
#include <thread>

#include <fmt/ranges.h>

#include "common/fault_kind.h"
#include "common/log.h"
#include "controller/session/agent_session.h"

namespace firedrill::controller {
namespace {

auto log() {
  static auto l = logger("controller.fleet");
  return l;
}

template <typename T>
std::string seconds_text(T d) {
  return format_duration(std::chrono::duration_cast<std::chrono::nanoseconds>(d));
}

}  // namespace

Fleet::Fleet(FleetConfig config, Store* store, RunOfFault run_of_fault)
    : config_(std::move(config)),
      run_of_fault_(std::move(run_of_fault)),
      streams_(config_, store,
               {.registered = [this](auto& s, auto& hello) { reconcile(s, hello); },
                .ended = [this](AgentSession& s, const std::string& why) { fanout_.abandon(s, why); }}),
      admission_(config_.guard, streams_.inventory(), store) {}

Fleet::~Fleet() { stop(); }

Result<Resolution> Fleet::resolve(const v1::Targets& targets) const {
  return controller::resolve(inventory().live_hosts(), targets);
}

std::vector<std::string> Fleet::incapable(const std::vector<std::string>& hosts, const v1::FaultSpec& spec) const {
  std::vector<std::string> out;
  std::string kind = fault_kind(spec);
  for (auto& h : hosts) {
    auto a = inventory().get(h);
    auto s = streams_.session(h);
    if (!a || !a->live || !s) {
      out.push_back(h + ": not connected");
    } else if (!Inventory::offers(*a, kind)) {
      std::string kinds;
      for (auto& k : a->capabilities.fault_kinds()) kinds += (kinds.empty() ? "" : ", ") + k;
      out.push_back(fmt::format("{}: offers {} but not {}", h, kinds, kind));
    } else if (auto why = streams_.clock_refusal(*s); !why.empty()) {
      out.push_back(fmt::format("{}: {}", h, why));
    }
  }
  return out;
}

FanoutResult Fleet::apply(const ApplyRequest& req) {
  v1::ControllerMessage m;
  auto* a = m.mutable_apply();
  a->set_fault_id(req.fault_id);
  *a->mutable_spec() = req.spec;
  const bool common_start = req.not_before.time_since_epoch().count() != 0;
  if (common_start) *a->mutable_not_before() = to_proto(req.not_before);
  *a->mutable_expires_at() = to_proto(req.expires_at);
  auto now = WallClock::now();
  auto start = std::max(now, req.not_before);
  auto deadline = now + req.ack_timeout;
  log()->info("run {}: apply {} ({}) on {} agent(s), not before {}, expires {}", req.run_id, req.fault_id,
              fault_kind(req.spec), req.hosts.size(), format_utc(start), format_utc(req.expires_at));

  auto sessions = streams_.sessions(req.hosts);
  // A fault with a common start is not sent to an agent whose clock would start it
  // elsewhere in time.
  std::vector<std::pair<size_t, std::string>> clock_refused;
  if (common_start) {
    for (size_t i = 0; i < sessions.size(); ++i) {
      if (!sessions[i]) continue;
      if (auto why = streams_.clock_refusal(*sessions[i]); !why.empty()) {
        clock_refused.emplace_back(i, std::move(why));
        sessions[i] = nullptr;
      }
    }
  }
  std::string refusal;
  auto gate = admission_.open_for(req.run_id, &refusal);
  if (!refusal.empty()) {
    gate.unlock();
    log()->warn("not sent to {} agent(s): {}", req.hosts.size(), refusal);
    return Fanout::refuse_all(req.hosts, refusal);
  }
  auto dispatch = fanout_.send(req.hosts, sessions, m, req.wait_effective ? req.fault_id : std::string());
  gate.unlock();
  auto out = fanout_.wait(std::move(dispatch), deadline, start + req.effect_timeout);
  for (auto& [i, why] : clock_refused) {
    out.targets[i].status = v1::ACK_REFUSED;
    out.targets[i].error = why;
  }
  log()->info("run {}: {} of {} target(s) took {}; sent to all in {}, last ack {} after dispatch, ack spread {}, "
              "effect spread {}",
              req.run_id, std::count_if(out.targets.begin(), out.targets.end(), [](auto& t) { return t.ok(); }),
              out.targets.size(), req.fault_id, seconds_text(out.all_sent - out.sent_at),
              seconds_text(out.dispatch_to_last_ack()), seconds_text(out.ack_spread()), seconds_text(out.effect_spread()));
  fanned_out("apply", out);
  return out;
}

FanoutResult Fleet::revert(const std::string& fault_id, const std::vector<std::string>& hosts,
                           std::chrono::milliseconds timeout) {
  v1::ControllerMessage m;
  m.mutable_revert()->set_fault_id(fault_id);
  auto now = WallClock::now();
  auto out = fanout_.wait(fanout_.send(hosts, streams_.sessions(hosts), m, ""), now + timeout, now + timeout);
  log()->info("revert {} on {} agent(s): {} confirmed", fault_id, hosts.size(),
              std::count_if(out.targets.begin(), out.targets.end(), [](auto& t) { return t.ok(); }));
  fanned_out("revert", out);
  return out;
}

HaltResult Fleet::halt(const std::string& reason, const std::string& by, std::chrono::milliseconds timeout) {
  HaltResult out;
  HaltState state = admission_.halt(reason, by, &out.aborted_runs);
  std::vector<HaltCallback> callbacks;
  {
    std::lock_guard lock(halt_callbacks_mu_);
    callbacks = halt_callbacks_;
  }
  // Every stream connected after the halt was set hears of it at registration.
  auto hosts = streams_.connected();
  out.halted_at = state.at;
  log()->warn("HALT by {}: {}; reverting every fault on {} live agent(s), aborting {} run(s)", by, reason,
              hosts.size(), out.aborted_runs.size());
  // The agents' RevertAll goes out first; the record of the halt (durable, and the
  // runs it aborted) is written meanwhile. No run can start in between: the halt is
  // already set, under the gate every apply holds.
  std::thread record([&] {
    if (auto saved = admission_.persist_halt(true); !saved) out.persist_error = saved.error().describe();
    streams_.record_events({{0, "", state.at, "", "halt", fmt::format("by {}: {}", by, reason)}});
    for (auto& cb : callbacks) cb(state);
  });
  v1::ControllerMessage m;
  m.mutable_revert_all()->set_reason("halt: " + reason);
  auto now = WallClock::now();
  out.agents = fanout_.wait(fanout_.send(hosts, streams_.sessions(hosts), m, ""), now + timeout, now + timeout);
  record.join();
  for (auto& t : out.agents.targets) {
    if (t.status != v1::ACK_APPLIED) out.unconfirmed.push_back(t.agent_id);
  }
  log()->warn("HALT: {} of {} agent(s) confirmed, the last {} after the halt{}",
              hosts.size() - out.unconfirmed.size(), hosts.size(), seconds_text(out.agents.dispatch_to_last_ack()),
              out.unconfirmed.empty() ? "" : fmt::format("; unconfirmed: {}", fmt::join(out.unconfirmed, ", ")));
  fanned_out("halt", out.agents);
  return out;
}

void Fleet::on_fanout(FanoutCallback cb) {
  std::lock_guard lock(halt_callbacks_mu_);
  fanout_callbacks_.push_back(std::move(cb));
}

void Fleet::fanned_out(std::string_view command, const FanoutResult& result) {
  std::vector<FanoutCallback> callbacks;
  {
    std::lock_guard lock(halt_callbacks_mu_);
    callbacks = fanout_callbacks_;
  }
  for (auto& cb : callbacks) cb(command, result);
}

bool Fleet::release(const std::string& by) {
  bool was = admission_.release();
  (void)admission_.persist_halt();  // logged there; a release that is not saved leaves the fleet halted after a restart
  log()->warn("released by {}{}", by, was ? "; runs may start again" : " (the fleet was not halted)");
  streams_.record_events({{0, "", WallClock::now(), "", "release", fmt::format("by {}", by)}});
  return was;
}

void Fleet::on_halt(HaltCallback cb) {
  std::lock_guard lock(halt_callbacks_mu_);
  halt_callbacks_.push_back(std::move(cb));
}

EventRow Fleet::reverted_while_away(const std::string& id, const v1::FaultReverted& r) {
  auto at = r.has_at() ? from_proto(r.at()) : WallClock::now();
  log()->warn("agent {} reverted {} on its own while away: {}", id, r.fault_id(), v1::RevertReason_Name(r.reason()));
  v1::Event ev;
  *ev.mutable_at() = to_proto(at);
  *ev.mutable_reverted() = r;
  streams_.notify_event(id, ev);
  return {0, run_of_fault_(r.fault_id()), at, id, "fault.reverted_while_away",
          fmt::format("{} reverted {}", r.fault_id(), v1::RevertReason_Name(r.reason()))};
}

void Fleet::reconcile(const std::shared_ptr<AgentSession>& s, const v1::Hello& hello) {
  const std::string& id = hello.agent_id();
  std::vector<EventRow> rows;
  // What the agent undid on its own while away is part of its runs' records.
  for (auto& r : hello.reverted_while_away()) rows.push_back(reverted_while_away(id, r));
  if (admission_.halted()) {
    if (hello.active_faults_size() > 0) {
      v1::ControllerMessage m;
      m.mutable_revert_all()->set_reason("the fleet is halted");
      fanout_.send_untracked(*s, m, "revert all (fleet halted)");
      log()->warn("agent {} holds {} fault(s) while the fleet is halted: reverting all", id, hello.active_faults_size());
      rows.push_back({0, "", WallClock::now(), id, "fault.revert_on_register", "revert all: the fleet is halted"});
    }
  } else {
    for (auto& f : hello.active_faults()) {
      std::string run = run_of_fault_(f.fault_id());
      if (run.empty()) continue;  // a local fault (firedrill-agent ctl), not ours
      bool in_flight = admission_.in_flight(run);
      if (in_flight && (!adopt_ || adopt_(hello, f))) continue;
      std::string why = in_flight ? "it is not what its run's record holds" : "its run is not in flight";
      v1::ControllerMessage m;
      m.mutable_revert()->set_fault_id(f.fault_id());
      fanout_.send_untracked(*s, m, "revert " + f.fault_id() + " (" + why + ")");
      log()->warn("agent {} holds {} of run {}: {}: reverting it", id, f.fault_id(), run, why);
      rows.push_back({0, run, WallClock::now(), id, "fault.revert_on_register", fmt::format("{}: {}", f.fault_id(), why)});
    }
  }
  if (hello_seen_) hello_seen_(hello);
  streams_.record_events(std::move(rows));
}

void Fleet::on_message(const std::shared_ptr<AgentSession>& s, const v1::AgentMessage& msg) {
  std::string id = streams_.heard(*s);
  switch (msg.msg_case()) {
    case v1::AgentMessage::kHeartbeat:
      streams_.heartbeat(*s, msg.heartbeat());
      return;
    case v1::AgentMessage::kAck: {
      const auto& ack = msg.ack();
      auto now = WallClock::now();
      if (auto what = fanout_.on_ack(*s, ack, now)) {
        log()->info("agent {}: {}: {}{}", id, *what, v1::AckStatus_Name(ack.status()),
                    ack.error().empty() ? "" : " (" + ack.error() + ")");
        streams_.record_events({{0, run_of_fault_(ack.fault_id()), now, id, "fault.revert_on_register.ack",
                                 fmt::format("{}: {}", *what, v1::AckStatus_Name(ack.status()))}});
      }
      return;
    }
    case v1::AgentMessage::kEvent:
      // What the journal finished after the Hello went out (recovery runs once the
      // agent can be reached) comes as an event; it is recorded like the Hello's list.
      if (msg.event().has_reverted() && msg.event().reverted().reason() == v1::REVERT_RECOVERED) {
        streams_.record_events({reverted_while_away(id, msg.event().reverted())});
        return;
      }
      fanout_.on_fault_event(*s, msg.event(), WallClock::now());
      if (msg.event().has_killed() && !s->admit_kill_event()) {
        if (auto n = s->kill_events_limited(); n % 1000 == 1) {
          log()->warn("agent {}: kill events over 10/s are not recorded ({} so far)", id, n);
        }
        return;
      }
      streams_.notify_event(id, msg.event());
      return;
    case v1::AgentMessage::kHello:
      // Handled (and refused a second time) by the stream layer.
      return;
    default:
      log()->debug("agent {}: message of unknown kind {} ignored", id, static_cast<int>(msg.msg_case()));
      return;
  }
}

bool Fleet::disconnect(const std::string& id, int grpc_code, const std::string& why) {
  auto s = streams_.session(id);
  if (!s) return false;
  s->close(grpc_code, why);
  return true;
}

}  // namespace firedrill::controller
