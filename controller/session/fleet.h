// Fleet: the controller's one handle on its agents, for the API, the runner and the
// tests. It puts three parts together and adds what needs more than one of them:
//
//   AgentStreams (agent_streams.h)  the live streams, their leases and liveness, the
//                                   inventory, clock offsets
//   Admission (admission.h)         the guard's fleet-wide ledger and the halt state
//   Fanout (fanout.h)               commands to many agents and their answers
//
//   apply(request)    ApplyFault to many agents with one common not_before, only for an
//                     admitted run while the fleet is not halted; blocks until every
//                     target acked and (by default) the fault took effect, or timed out
//   revert(fault, hosts)              RevertFault, same shape
//   halt(reason) / release()          RevertAll everywhere, refuse runs until released
//   reconciliation at registration    an agent holding a fault of a run not in flight
//                                      (a controller restart, a run that ended while it
//                                      was away), or any fault while halted, is told to
//                                      revert it
//
// Run and fault ids are the runner's (controller/runner/run_ids.h); the fleet only asks
// which run a fault belongs to, through the RunOfFault it is given.
//
// Every method is thread-safe. apply/revert/halt block the caller (the runner's
// thread), never the agents' streams.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/time.h"
#include "controller/inventory/inventory.h"
#include "controller/session/admission.h"
#include "controller/session/agent_streams.h"
#include "controller/session/fanout.h"
#include "controller/session/fleet_config.h"
#include "controller/store/store.h"
#include "controller/targeting/targets.h"
#include "firedrill/v1/agent.pb.h"
#include "firedrill/v1/targeting.pb.h"

namespace firedrill::controller {

class AgentSession;

// The run a fault id belongs to, "" for a fault of no run (a local one).
using RunOfFault = std::function<std::string(const std::string& fault_id)>;

// After a takeover, whether an agent's fault of a run in flight is the one the run's
// record holds (the runner re-adopts it); told every registering agent's Hello, also
// one that holds none of the run's faults (it reverted them while away). A fault of a
// run in flight that it does not keep is reverted as any orphan is.
using AdoptFault = std::function<bool(const v1::Hello& hello, const v1::ActiveFault& fault)>;
using HelloSeen = std::function<void(const v1::Hello& hello)>;

struct ApplyRequest {
  std::string run_id;
  std::string fault_id;
  v1::FaultSpec spec;
  std::vector<std::string> hosts;
  WallTime not_before{};  // the common start; epoch: as soon as each agent has it
  WallTime expires_at{};  // required
  std::chrono::milliseconds ack_timeout = std::chrono::seconds(10);
  // Also wait until each target reports the fault in effect, up to not_before plus this.
  bool wait_effective = true;
  std::chrono::milliseconds effect_timeout = std::chrono::seconds(5);
};

struct HaltResult {
  WallTime halted_at{};
  FanoutResult agents;                       // RevertAll to every live agent
  std::vector<std::string> unconfirmed;      // live agents that did not confirm
  std::vector<std::string> aborted_runs;     // runs that were in flight
  // Why the halt could not be saved ("": saved durably). It is in force all the same,
  // but would not survive a restart of the controller.
  std::string persist_error;
};

class Fleet {
 public:
  // `store` may be null (tests); it must outlive the fleet.
  Fleet(FleetConfig config, Store* store, RunOfFault run_of_fault);
  ~Fleet();
  Fleet(const Fleet&) = delete;
  Fleet& operator=(const Fleet&) = delete;

  const FleetConfig& config() const { return config_; }

  // ---- inventory
  std::vector<AgentRecord> agents(bool include_lost = false) const { return inventory().snapshot(include_lost); }
  std::optional<AgentRecord> agent(const std::string& id) const { return inventory().get(id); }
  std::vector<Host> live_hosts() const { return inventory().live_hosts(); }
  size_t live_count() const { return inventory().live_count(); }

  // ---- targeting and admission
  Result<Resolution> resolve(const v1::Targets& targets) const;
  v1::GuardVerdict check(const std::string& run_id, const std::vector<std::string>& hosts,
                         const v1::BlastRadius& radius) const {
    return admission_.check(run_id, hosts, radius);
  }
  v1::GuardVerdict admit(const std::string& run_id, const std::vector<std::string>& hosts,
                         const v1::BlastRadius& radius) {
    return admission_.admit(run_id, hosts, radius);
  }
  // A run's hosts change between steps (admit again, or this after a check).
  void set_run_hosts(const std::string& run_id, const std::vector<std::string>& hosts) {
    admission_.set_run_hosts(run_id, hosts);
  }
  void end_run(const std::string& run_id) { admission_.end_run(run_id); }
  std::vector<std::string> active_runs() const { return admission_.active_runs(); }
  // Targets that cannot take the spec's fault at a common start: "host: not connected",
  // "host: offers ... but not ...", "host: clock offset ... exceeds the bound ...".
  std::vector<std::string> incapable(const std::vector<std::string>& hosts, const v1::FaultSpec& spec) const;

  // ---- commands
  // Refused on every target (nothing sent) when the run is not admitted (admit() or
  // set_run_hosts()) or the fleet is halted; with a common start, refused on a target
  // whose clock is off by more than the bound.
  FanoutResult apply(const ApplyRequest& request);
  FanoutResult revert(const std::string& fault_id, const std::vector<std::string>& hosts,
                      std::chrono::milliseconds timeout = std::chrono::seconds(10));

  // ---- halt (durable across restarts)
  HaltResult halt(const std::string& reason, const std::string& by,
                  std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // Returns whether the fleet was halted.
  bool release(const std::string& by);
  HaltState halt_state() const { return admission_.halt_state(); }
  bool halted() const { return admission_.halted(); }

  // ---- notices (called on gRPC threads: return quickly)
  using LostCallback = AgentStreams::LostCallback;
  using EventCallback = AgentStreams::EventCallback;
  using HaltCallback = std::function<void(const HaltState& state)>;
  void on_agent_lost(LostCallback cb) { streams_.on_agent_lost(std::move(cb)); }
  void on_event(EventCallback cb) { streams_.on_event(std::move(cb)); }
  void on_halt(HaltCallback cb);
  // After every fan-out that went out (apply, revert, halt), with its answers: the
  // controller's metrics time them here.
  using FanoutCallback = std::function<void(std::string_view command, const FanoutResult& result)>;
  void on_fanout(FanoutCallback cb);
  // Set before the agent server starts (the daemon does, for runs continued after a
  // takeover).
  void set_adoption(AdoptFault adopt, HelloSeen seen) {
    adopt_ = std::move(adopt);
    hello_seen_ = std::move(seen);
  }

  // ---- for the stream layer (agent_service.cpp)
  Result<void> register_session(const std::shared_ptr<AgentSession>& session, const v1::Hello& hello,
                                const std::string& certificate_id) {
    return streams_.register_session(session, hello, certificate_id);
  }
  void on_message(const std::shared_ptr<AgentSession>& session, const v1::AgentMessage& message);
  void session_started(const std::shared_ptr<AgentSession>& session) { streams_.session_started(session); }
  void session_ended(const std::shared_ptr<AgentSession>& session, const std::string& why) {
    streams_.session_ended(session, why);
  }
  // Closes agent `id`'s live stream with a status (revocation); whether it had one.
  bool disconnect(const std::string& id, int grpc_code, const std::string& why);
  // Closes every stream and writes what is pending to the store (the destructor does).
  void stop() { streams_.stop(); }

 private:
  const Inventory& inventory() const { return streams_.inventory(); }
  void reconcile(const std::shared_ptr<AgentSession>& session, const v1::Hello& hello);
  // What agent `id` undid on its own while away (told in its Hello, or after it when its
  // journal's recovery ends later): logged, passed to the runs, and the row to record.
  EventRow reverted_while_away(const std::string& id, const v1::FaultReverted& reverted);

  FleetConfig config_;
  RunOfFault run_of_fault_;
  AdoptFault adopt_;
  HelloSeen hello_seen_;
  Fanout fanout_;
  std::mutex halt_callbacks_mu_;
  std::vector<HaltCallback> halt_callbacks_;
  std::vector<FanoutCallback> fanout_callbacks_;  // under halt_callbacks_mu_
  void fanned_out(std::string_view command, const FanoutResult& result);
  // The streams call into the fan-out and (through reconcile) admission; ~Fleet stops
  // them first. Admission reads the streams' inventory.
  AgentStreams streams_;
  Admission admission_;
};

}  // namespace firedrill::controller
