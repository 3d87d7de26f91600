// The agents' streams: who is connected (and the inventory of everyone seen), the
// Hello rules, liveness and lease renewal on the steady clock, each agent's clock
// offset (measured at Hello and again on every heartbeat), and the store rows of
// connections and losses, written in batches by the ticker. What the streams carry
// besides heartbeats (answers, events) is routed by the Fleet.
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/result.h"
#include "controller/inventory/inventory.h"
#include "controller/session/agent_session.h"
#include "controller/session/fleet_config.h"
#include "controller/store/store.h"
#include "firedrill/v1/agent.pb.h"

namespace firedrill::controller {

// An agent id: 1-64 of letters, digits, '.', '_', '-'.
Result<void> validate_agent_id(const std::string& id);

class AgentStreams {
 public:
  struct Hooks {
    // A stream registered (after the lease went out): reconcile what it holds.
    std::function<void(const std::shared_ptr<AgentSession>&, const v1::Hello&)> registered;
    // A stream ended: fail what it owes (before it is dropped from the live set).
    std::function<void(AgentSession&, const std::string& why)> ended;
  };
  using LostCallback = std::function<void(const std::string& agent_id, const std::string& why)>;
  using EventCallback = std::function<void(const std::string& agent_id, const v1::Event& event)>;

  // `store` may be null (tests); it must outlive this. Starts the ticker.
  AgentStreams(const FleetConfig& config, Store* store, Hooks hooks);
  ~AgentStreams();

  const Inventory& inventory() const { return inventory_; }

  Result<void> register_session(const std::shared_ptr<AgentSession>& session, const v1::Hello& hello,
                                const std::string& certificate_id);
  void session_started(const std::shared_ptr<AgentSession>& session);
  void session_ended(const std::shared_ptr<AgentSession>& session, const std::string& why);
  // Any message: the agent is alive. Returns its id.
  std::string heard(AgentSession& session);
  void heartbeat(AgentSession& session, const v1::Heartbeat& heartbeat);

  std::shared_ptr<AgentSession> session(const std::string& id) const;
  // hosts[i]'s stream, or null when it is not connected.
  std::vector<std::shared_ptr<AgentSession>> sessions(const std::vector<std::string>& hosts) const;
  std::vector<std::string> connected() const;  // sorted
  // Why `session`'s agent cannot take a fault with a common start, or "".
  std::string clock_refusal(const AgentSession& session) const;

  void on_agent_lost(LostCallback cb);
  void on_event(EventCallback cb);
  void notify_event(const std::string& agent_id, const v1::Event& event);

  void record_events(std::vector<EventRow> rows);
  // Closes every stream, stops the ticker and writes what is pending to the store.
  void stop();

 private:
  void ticker();
  void flush_store();
  v1::ControllerMessage lease_message(bool by_heartbeat) const;

  const FleetConfig& config_;
  Store* store_;
  Hooks hooks_;
  Inventory inventory_;
  // The answer to every heartbeat of an agent renewed by heartbeat, built once.
  const v1::ControllerMessage renewal_by_heartbeat_;

  mutable std::mutex mu_;  // sessions_, handshaking_, callbacks
  std::unordered_map<std::string, std::shared_ptr<AgentSession>> sessions_;
  std::vector<std::weak_ptr<AgentSession>> handshaking_;  // streams before their Hello
  std::vector<LostCallback> lost_callbacks_;
  std::vector<EventCallback> event_callbacks_;

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
