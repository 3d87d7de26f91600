#include "controller/inventory/inventory.h"

#include <algorithm>

namespace firedrill::controller {

void Inventory::register_agent(AgentRecord record) {
  std::lock_guard lock(mu_);
  record.live = true;
  record.lost_reason.clear();
  auto [it, inserted] = agents_.try_emplace(record.id);
  if (inserted || !it->second.live) ++live_;
  record.ended = std::move(it->second.ended);  // what ended before a restart still did
  it->second = std::move(record);
}

void Inventory::heartbeat(const std::string& id, WallTime at, std::chrono::nanoseconds clock_offset,
                          std::vector<v1::ActiveFault> active) {
  std::lock_guard lock(mu_);
  auto it = agents_.find(id);
  if (it == agents_.end()) return;
  it->second.last_seen = at;
  it->second.clock_offset = clock_offset;
  it->second.active_faults = std::move(active);
}

void Inventory::faults_ended(const std::string& id,
                             const google::protobuf::RepeatedPtrField<v1::FaultReverted>& ended) {
  if (ended.empty()) return;
  std::lock_guard lock(mu_);
  auto it = agents_.find(id);
  if (it == agents_.end()) return;
  auto& list = it->second.ended;
  for (const auto& e : ended) {
    auto same = std::find_if(list.begin(), list.end(), [&](const v1::FaultReverted& x) { return x.fault_id() == e.fault_id(); });
    if (same != list.end()) continue;  // the first report of an end stands
    list.push_back(e);
  }
  if (list.size() > AgentRecord::kMaxEnded) list.erase(list.begin(), list.end() - AgentRecord::kMaxEnded);
}

void Inventory::touch(const std::string& id, WallTime at) {
  std::lock_guard lock(mu_);
  auto it = agents_.find(id);
  if (it != agents_.end()) it->second.last_seen = at;
}

void Inventory::mark_lost(const std::string& id, const std::string& why, WallTime at) {
  std::lock_guard lock(mu_);
  auto it = agents_.find(id);
  if (it == agents_.end() || !it->second.live) return;
  it->second.live = false;
  it->second.lost_reason = why;
  it->second.last_seen = at;
  --live_;
}

std::optional<AgentRecord> Inventory::get(const std::string& id) const {
  std::lock_guard lock(mu_);
  auto it = agents_.find(id);
  if (it == agents_.end()) return std::nullopt;
  return it->second;
}

std::vector<AgentRecord> Inventory::snapshot(bool include_lost) const {
  std::lock_guard lock(mu_);
  std::vector<AgentRecord> out;
  out.reserve(live_);
  for (auto& [id, a] : agents_) {
    if (a.live || include_lost) out.push_back(a);
  }
  return out;
}

std::vector<Host> Inventory::live_hosts() const {
  std::lock_guard lock(mu_);
  std::vector<Host> out;
  out.reserve(live_);
  for (auto& [id, a] : agents_) {
    if (a.live) out.push_back({a.id, a.tags, a.version});
  }
  return out;
}

size_t Inventory::live_count() const {
  std::lock_guard lock(mu_);
  return live_;
}

bool Inventory::offers(const AgentRecord& agent, const std::string& kind) {
  const auto& kinds = agent.capabilities.fault_kinds();
  if (kinds.empty()) return true;
  return std::find(kinds.begin(), kinds.end(), kind) != kinds.end();
}

}  // namespace firedrill::controller
