// Who is in the fleet: every agent that registered, with its tags, capabilities,
// version, clock offset and what it last reported, and whether its stream is live.
// The session layer writes it; targeting, the guard, the API and the runner read
// snapshots. Thread-safe; snapshots are copies.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/time.h"
#include "controller/targeting/targets.h"
#include "firedrill/v1/agent.pb.h"

namespace firedrill::controller {

struct AgentRecord {
  std::string id;
  Tags tags;
  v1::Capabilities capabilities;
  std::string version;
  std::string peer;
  bool live = false;
  WallTime connected_at{};
  WallTime last_seen{};
  std::chrono::nanoseconds clock_offset{0};  // agent clock minus controller clock
  std::vector<v1::ActiveFault> active_faults;
  std::string lost_reason;                    // why it is not live
  // Faults that ended on the host by the agent's doing (expiry, dead-man switch, a
  // local revert, a failed scheduled apply, a restart), from its events and heartbeats:
  // the latest kMaxEnded, one per fault id, kept across re-registrations.
  std::vector<v1::FaultReverted> ended;
  static constexpr size_t kMaxEnded = 64;
};

class Inventory {
 public:
  // A registration (Hello): replaces what was known of the agent and marks it live.
  void register_agent(AgentRecord record);
  // A heartbeat: refreshes last_seen, the clock offset measured from it and the faults
  // it holds.
  void heartbeat(const std::string& id, WallTime at, std::chrono::nanoseconds clock_offset,
                 std::vector<v1::ActiveFault> active);
  void touch(const std::string& id, WallTime at);
  // The agent says these faults ended (an event, or a heartbeat's list).
  void faults_ended(const std::string& id, const google::protobuf::RepeatedPtrField<v1::FaultReverted>& ended);
  // The stream ended; the record stays (agents seen) but is no longer live.
  void mark_lost(const std::string& id, const std::string& why, WallTime at);

  std::optional<AgentRecord> get(const std::string& id) const;
  std::vector<AgentRecord> snapshot(bool include_lost) const;
  std::vector<Host> live_hosts() const;
  size_t live_count() const;

  // Whether the agent said it can apply faults of this kind ("network.blackhole");
  // an agent that lists no kinds is taken to offer its engines' full set.
  static bool offers(const AgentRecord& agent, const std::string& kind);

 private:
  mutable std::mutex mu_;
  std::map<std::string, AgentRecord> agents_;
  size_t live_ = 0;
};

}  // namespace firedrill::controller
