// Fleet: the controller's one handle on its agents, for the API, the runner and the
// tests. It owns the live agent streams (AgentService.Connect, see agent_service.h),
// keeps their leases renewed, and offers:
//
//   inventory    agents(), live_hosts(), agent(id)
//   targeting    resolve(targets)              selector + mode -> hosts
//   guard        admit(run, hosts, radius)     checks every rule and, if allowed,
//                                              registers the run's hosts in the
//                                              fleet-wide budget, atomically
//                check(run, hosts, radius)     the same without registering (plans,
//                                              and before each step)
//                end_run(run)                  releases the run's hosts
//   commands     apply(request)                ApplyFault to many agents with one
//                                              common not_before; blocks until every
//                                              target acked and (by default) the fault
//                                              took effect, or timed out; per-target
//                                              ack and effect times, and the spreads
//                revert(fault, hosts)          RevertFault, same shape
//   halt         halt(reason) / release()      RevertAll everywhere, refuse runs until
//                                              released; durable across restarts
//   notices      on_agent_lost, on_event, on_halt
//
// Fault ids: make_fault_id(run_id, step) ties a fault to its run. When an agent
// registers holding a fault of a run this controller does not have in flight (a
// controller restart, a run that ended while the agent was away), or while the fleet is
// halted, the fleet reverts it on that agent.
//
// Every method is thread-safe. apply/revert/halt block the caller (the runner's
// thread), never the agents' streams.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/result.h"
#include "common/time.h"
#include "controller/guard/guard.h"
#include "controller/inventory/inventory.h"
#include "controller/store/store.h"
#include "controller/targeting/targets.h"
#include "firedrill/v1/agent.pb.h"
#include "firedrill/v1/targeting.pb.h"

namespace firedrill::controller {

class AgentSession;

struct FleetConfig {
  // Agents revert everything when the controller is silent this long; renewals go out
  // every third of it.
  std::chrono::nanoseconds lease_grace = std::chrono::seconds(5);
  // How often agents send heartbeats (told to them in every LeaseRenewal).
  std::chrono::nanoseconds heartbeat_interval = std::chrono::seconds(1);
  // An agent silent this long is dropped as lost; 0: the larger of 3 heartbeats and
  // the lease grace.
  std::chrono::nanoseconds lost_after{0};
  // mTLS: a stream's Hello must carry the id of its certificate's common name.
  bool require_certificate_id = true;
  // Messages from agents above this size close the stream (logged, never parsed
  // further); gRPC refuses anything above 4x this outright.
  size_t max_message_bytes = 1u << 20;
  GuardPolicy guard;
};

// What one target did with one command.
struct TargetResult {
  std::string agent_id;
  v1::AckStatus status = v1::ACK_STATUS_UNSPECIFIED;  // UNSPECIFIED: no answer
  std::string error;                                  // refusal, "not connected", timeout, lost
  std::optional<WallTime> acked_at;                   // controller clock
  std::optional<WallTime> effective_at;               // controller clock (agent time minus offset)

  // Applied, or scheduled (and, when waited for, took effect), or reverted.
  bool ok() const { return status == v1::ACK_APPLIED || status == v1::ACK_SCHEDULED; }
};

struct FanoutResult {
  WallTime sent_at{};
  WallTime all_sent{};                // when the last command was handed to its stream
  std::vector<TargetResult> targets;  // in the order of the request's hosts
  std::optional<WallTime> first_ack, last_ack, first_effect, last_effect;

  bool all_ok() const;
  std::vector<std::string> failed() const;  // "host: why"
  std::chrono::nanoseconds ack_spread() const;
  std::chrono::nanoseconds effect_spread() const;
  std::chrono::nanoseconds dispatch_to_last_ack() const;
};

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

struct HaltState {
  bool halted = false;
  std::string reason;
  std::string by;
  WallTime at{};
};

struct HaltResult {
  WallTime halted_at{};
  FanoutResult agents;                       // RevertAll to every live agent
  std::vector<std::string> unconfirmed;      // live agents that did not confirm
  std::vector<std::string> aborted_runs;     // runs that were in flight
};

// A run id, unique and sortable: "r-20261121T090000-3f9a1c".
std::string make_run_id();
// "<run_id>.<step>"; run_of_fault() gives the run back ("" for faults of no run).
std::string make_fault_id(const std::string& run_id, int step);
std::string run_of_fault(const std::string& fault_id);

// An agent id: 1-64 of letters, digits, '.', '_', '-'.
Result<void> validate_agent_id(const std::string& id);

class Fleet {
 public:
  // `store` may be null (tests); it must outlive the fleet.
  Fleet(FleetConfig config, Store* store);
  ~Fleet();
  Fleet(const Fleet&) = delete;
  Fleet& operator=(const Fleet&) = delete;

  const FleetConfig& config() const { return config_; }

  // ---- inventory
  std::vector<AgentRecord> agents(bool include_lost = false) const { return inventory_.snapshot(include_lost); }
  std::optional<AgentRecord> agent(const std::string& id) const { return inventory_.get(id); }
  std::vector<Host> live_hosts() const { return inventory_.live_hosts(); }
  size_t live_count() const { return inventory_.live_count(); }

  // ---- targeting and the guard
  Result<Resolution> resolve(const v1::Targets& targets) const;
  v1::GuardVerdict check(const std::string& run_id, const std::vector<std::string>& hosts,
                         const v1::BlastRadius& radius) const;
  v1::GuardVerdict admit(const std::string& run_id, const std::vector<std::string>& hosts,
                         const v1::BlastRadius& radius);
  // A run's hosts change between steps (admit again, or this after a check).
  void set_run_hosts(const std::string& run_id, const std::vector<std::string>& hosts);
  void end_run(const std::string& run_id);
  std::vector<std::string> active_runs() const;
  // Targets that do not offer the spec's fault kind: "host: agent offers ...".
  std::vector<std::string> incapable(const std::vector<std::string>& hosts, const v1::FaultSpec& spec) const;

  // ---- commands
  // Refused on every target (nothing sent) when the run is not admitted (admit() or
  // set_run_hosts()) or the fleet is halted.
  FanoutResult apply(const ApplyRequest& request);
  FanoutResult revert(const std::string& fault_id, const std::vector<std::string>& hosts,
                      std::chrono::milliseconds timeout = std::chrono::seconds(10));

  // ---- halt
  HaltResult halt(const std::string& reason, const std::string& by,
                  std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // Returns whether the fleet was halted.
  bool release(const std::string& by);
  HaltState halt_state() const;
  bool halted() const { return halted_.load(); }

  // ---- notices (called on gRPC threads: return quickly)
  using LostCallback = std::function<void(const std::string& agent_id, const std::string& why)>;
  using EventCallback = std::function<void(const std::string& agent_id, const v1::Event& event)>;
  using HaltCallback = std::function<void(const HaltState& state)>;
  void on_agent_lost(LostCallback cb);
  void on_event(EventCallback cb);
  void on_halt(HaltCallback cb);

  // ---- for the stream layer (agent_service.cpp)
  Result<void> register_session(const std::shared_ptr<AgentSession>& session, const v1::Hello& hello,
                                const std::string& certificate_id);
  void on_message(const std::shared_ptr<AgentSession>& session, const v1::AgentMessage& message);
  void session_started(const std::shared_ptr<AgentSession>& session);
  void session_ended(const std::shared_ptr<AgentSession>& session, const std::string& why);
  // Closes every stream and writes what is pending to the store (the destructor does).
  void stop();

 private:
  struct Batch;
  struct Pending;
  friend class AgentSession;

  std::shared_ptr<AgentSession> session(const std::string& id) const;
  // `admitted_run`: a fault of this run; refused unless the run is admitted and the
  // fleet is not halted, checked under the halt gate so no fault slips in after a
  // halt's RevertAll.
  FanoutResult fanout(const std::vector<std::string>& hosts, const std::function<void(v1::ControllerMessage&)>& fill,
                      const std::string& fault_id, bool wait_effective, WallTime deadline, WallTime effect_deadline,
                      const std::string* admitted_run = nullptr);
  void ticker();
  void reconcile(const std::shared_ptr<AgentSession>& session, const v1::Hello& hello);
  void record_events(std::vector<EventRow> rows);
  void persist_halt();
  void flush_store();
  v1::ControllerMessage lease_message() const;
  std::chrono::nanoseconds lost_after() const;

  FleetConfig config_;
  Store* store_;
  Inventory inventory_;
  std::atomic<uint64_t> next_command_{1};
  std::atomic<bool> halted_{false};

  // Applies hold it shared while they hand commands to streams; a halt takes it
  // exclusively to flip halted_, so every stream gets its RevertAll after any apply.
  std::shared_mutex halt_gate_;
  mutable std::mutex mu_;  // sessions_, runs_, halt_, callbacks
  std::unordered_map<std::string, std::shared_ptr<AgentSession>> sessions_;
  std::vector<std::weak_ptr<AgentSession>> handshaking_;  // streams before their Hello
  std::map<std::string, std::set<std::string>> runs_;  // run id -> hosts under its fault
  HaltState halt_;
  std::vector<LostCallback> lost_callbacks_;
  std::vector<EventCallback> event_callbacks_;
  std::vector<HaltCallback> halt_callbacks_;

  // Store writes from stream threads are batched by the ticker.
  std::mutex store_mu_;
  std::vector<AgentRow> pending_agents_;
  std::vector<EventRow> pending_events_;

  std::mutex tick_mu_;
  std::condition_variable tick_cv_;
  bool stopping_ = false;
  uint64_t ticks_ = 0;
  std::thread ticker_;
};

}  // namespace firedrill::controller
