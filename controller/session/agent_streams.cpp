#include "controller/session/agent_streams.h"

#include <grpcpp/support/status_code_enum.h>

#include <algorithm>

#include <fmt/format.h>

#include "common/log.h"

namespace firedrill::controller {
namespace {

auto log() {
  static auto l = logger("controller.fleet");
  return l;
}

constexpr auto kTick = std::chrono::milliseconds(100);
// Leases and silence are checked every few ticks: a scan touches every stream.
constexpr int kScanEvery = 3;
// A stream that has not said Hello by then is closed: idle streams cost the
// controller memory and hold nothing.
constexpr auto kHelloTimeout = std::chrono::seconds(10);

template <typename T>
std::string seconds_text(T d) {
  return format_duration(std::chrono::duration_cast<std::chrono::nanoseconds>(d));
}

// A renewal in answer to a message the agent stamped `agent_clock`: our clock `now`
// and its own, for its next Heartbeat.exchange (a round trip of clocks).
v1::ControllerMessage stamped(const v1::ControllerMessage& lease, const google::protobuf::Timestamp& agent_clock,
                              WallTime now) {
  v1::ControllerMessage m = lease;
  *m.mutable_lease()->mutable_controller_clock() = to_proto(now);
  *m.mutable_lease()->mutable_echo() = agent_clock;
  return m;
}

}  // namespace

Result<void> validate_agent_id(const std::string& id) {
  if (id.empty()) return make_error("agent id is empty");
  if (id.size() > 64) return make_error("agent id is {} characters long (at most 64)", id.size());
  for (char c : id) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
      return make_error("agent id '{}' holds '{}' (letters, digits, '.', '_', '-' only)", id, c);
    }
  }
  return ok();
}

AgentStreams::AgentStreams(const FleetConfig& config, Store* store, Hooks hooks)
    : config_(config), store_(store), hooks_(std::move(hooks)), renewal_by_heartbeat_(lease_message(true)) {
  ticker_ = std::thread([this] { ticker(); });
}

AgentStreams::~AgentStreams() { stop(); }

void AgentStreams::stop() {
  {
    std::lock_guard lock(tick_mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  tick_cv_.notify_all();
  if (ticker_.joinable()) ticker_.join();
  std::vector<std::shared_ptr<AgentSession>> all;
  {
    std::lock_guard lock(mu_);
    for (auto& [id, s] : sessions_) all.push_back(s);
  }
  for (auto& s : all) s->close(grpc::StatusCode::UNAVAILABLE, "controller shutting down");
  flush_store();
}

void AgentStreams::flush_store() {
  std::vector<AgentRow> agents;
  std::vector<EventRow> events;
  {
    std::lock_guard l(store_mu_);
    agents.swap(pending_agents_);
    events.swap(pending_events_);
  }
  if (store_ && !agents.empty()) {
    if (auto r = store_->upsert_agents(agents); !r) log()->error("store: {}", r.error().describe());
  }
  if (store_ && !events.empty()) {
    if (auto r = store_->append_events(std::move(events)); !r) log()->error("store: {}", r.error().describe());
  }
}

void AgentStreams::record_events(std::vector<EventRow> rows) {
  if (!store_) return;
  std::lock_guard lock(store_mu_);
  for (auto& r : rows) pending_events_.push_back(std::move(r));
}

void AgentStreams::session_started(const std::shared_ptr<AgentSession>& s) {
  std::lock_guard lock(mu_);
  handshaking_.push_back(s);
}

std::shared_ptr<AgentSession> AgentStreams::session(const std::string& id) const {
  std::lock_guard lock(mu_);
  auto it = sessions_.find(id);
  return it == sessions_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<AgentSession>> AgentStreams::sessions(const std::vector<std::string>& hosts) const {
  // One snapshot, so the lock is not taken once per target.
  std::vector<std::shared_ptr<AgentSession>> out(hosts.size());
  std::lock_guard lock(mu_);
  for (size_t i = 0; i < hosts.size(); ++i) {
    auto it = sessions_.find(hosts[i]);
    if (it != sessions_.end()) out[i] = it->second;
  }
  return out;
}

std::vector<std::string> AgentStreams::connected() const {
  std::vector<std::string> out;
  {
    std::lock_guard lock(mu_);
    for (auto& [id, s] : sessions_) out.push_back(id);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string AgentStreams::clock_refusal(const AgentSession& s) const {
  auto clock = s.clock();
  if (!clock.beyond(config_.max_clock_offset)) return "";
  auto offset = clock.offset();
  return fmt::format("clock offset {}{}{} from the controller's exceeds the bound of {} for faults with a common start",
                     offset.count() < 0 ? "-" : "+", seconds_text(std::chrono::abs(offset)),
                     clock.uncertainty().count() > 0 ? " (+-" + seconds_text(clock.uncertainty()) + ")" : "",
                     seconds_text(config_.max_clock_offset));
}

void AgentStreams::on_agent_lost(LostCallback cb) {
  std::lock_guard lock(mu_);
  lost_callbacks_.push_back(std::move(cb));
}

void AgentStreams::on_event(EventCallback cb) {
  std::lock_guard lock(mu_);
  event_callbacks_.push_back(std::move(cb));
}

void AgentStreams::notify_event(const std::string& agent_id, const v1::Event& event) {
  if (event.has_reverted()) {
    google::protobuf::RepeatedPtrField<v1::FaultReverted> one;
    *one.Add() = event.reverted();
    inventory_.faults_ended(agent_id, one);
  }
  std::vector<EventCallback> callbacks;
  {
    std::lock_guard lock(mu_);
    callbacks = event_callbacks_;
  }
  for (auto& cb : callbacks) cb(agent_id, event);
}

v1::ControllerMessage AgentStreams::lease_message(bool by_heartbeat) const {
  v1::ControllerMessage m;
  m.set_command_id(0);
  *m.mutable_lease()->mutable_grace() = to_proto_duration(config_.lease_grace);
  *m.mutable_lease()->mutable_heartbeat_interval() = to_proto_duration(config_.heartbeat_interval);
  if (by_heartbeat) {
    *m.mutable_lease()->mutable_idle_heartbeat_interval() =
        to_proto_duration(std::max(config_.idle_heartbeat_interval, config_.heartbeat_interval));
  }
  return m;
}

Result<void> AgentStreams::register_session(const std::shared_ptr<AgentSession>& s, const v1::Hello& hello,
                                            const std::string& certificate_id) {
  const std::string& id = hello.agent_id();
  FD_TRY(validate_agent_id(id), "hello from {}", s->peer());
  if (config_.require_certificate_id && certificate_id != id) {
    return make_error("hello from {} claims agent id '{}' but its certificate is for '{}'", s->peer(), id,
                      certificate_id.empty() ? "(no common name)" : certificate_id);
  }
  if (hello.tags_size() > 64) return make_error("hello from {} ({}): {} tags (at most 64)", s->peer(), id, hello.tags_size());
  for (auto& [k, v] : hello.tags()) {
    if (k.empty() || k.size() > 63 || v.size() > 255) {
      return make_error("hello from {} ({}): tag '{}' has a key of 1-63 and a value of at most 255 characters", s->peer(),
                        id, k.substr(0, 63));
    }
    for (char c : k) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.' && c != '/') {
        return make_error("hello from {} ({}): tag key '{}' holds '{}'", s->peer(), id, k, c);
      }
    }
  }
  auto now = WallClock::now();
  auto steady_now = SteadyClock::now();
  ClockEstimate clock;
  if (hello.has_clock()) clock.one_way(from_proto(hello.clock()), now);
  auto offset = clock.offset();

  std::shared_ptr<AgentSession> replaced;
  {
    std::lock_guard lock(mu_);
    auto& slot = sessions_[id];
    replaced = slot;
    slot = s;
    std::lock_guard slock(s->mu_);
    s->id_ = id;
    s->registered_ = true;
    s->clock_ = clock;
    s->last_seen_ = steady_now;
    s->lease_by_heartbeat_ = hello.lease_by_heartbeat();
    if (s->lease_by_heartbeat_) {
      s->renew_every_ = SteadyClock::duration::zero();  // its heartbeats are answered instead
      s->next_lease_ = SteadyClock::time_point::max();
    } else {
      s->renew_every_ = std::chrono::duration_cast<SteadyClock::duration>(config_.lease_grace / 3);
      s->next_lease_ = steady_now + s->renew_every_;
    }
  }
  if (replaced && replaced != s) {
    log()->warn("agent {}: a new stream from {} replaces the one from {}", id, s->peer(), replaced->peer());
    replaced->close(grpc::StatusCode::ABORTED, "replaced by a newer stream of the same agent");
    session_ended(replaced, "replaced by a newer stream");
  }

  AgentRecord rec;
  rec.id = id;
  rec.tags = Tags(hello.tags().begin(), hello.tags().end());
  rec.capabilities = hello.capabilities();
  rec.version = hello.version();
  rec.peer = s->peer();
  rec.connected_at = now;
  rec.last_seen = now;
  rec.clock_offset = offset;
  rec.active_faults.assign(hello.active_faults().begin(), hello.active_faults().end());
  inventory_.register_agent(rec);
  log()->info("agent {} registered from {} (version {}, {} tag(s), clock offset {}ms, {} fault(s) held, {} reverted while away)",
              id, s->peer(), hello.version(), hello.tags_size(),
              std::chrono::duration_cast<std::chrono::milliseconds>(offset).count(), hello.active_faults_size(),
              hello.reverted_while_away_size());
  if (auto why = clock_refusal(*s); !why.empty()) log()->warn("agent {}: {}", id, why);
  if (store_) {
    std::lock_guard lock(store_mu_);
    pending_agents_.push_back({id, rec.tags, rec.version, hello.capabilities().SerializeAsString(), s->peer(), now, now});
    pending_events_.push_back({0, "", now, id, "agent.connected", s->peer()});
  }
  auto lease = hello.lease_by_heartbeat() ? renewal_by_heartbeat_ : lease_message(false);
  s->send(hello.has_clock() ? stamped(lease, hello.clock(), now) : lease);
  if (hooks_.registered) hooks_.registered(s, hello);
  return ok();
}

std::string AgentStreams::heard(AgentSession& s) {
  std::lock_guard lock(s.mu_);
  s.last_seen_ = SteadyClock::now();
  return s.id_;
}

void AgentStreams::heartbeat(AgentSession& s, const v1::Heartbeat& hb) {
  auto now = WallClock::now();
  std::string id;
  std::chrono::nanoseconds offset;
  bool was_within = true, within = true;
  bool renew = false;
  {
    std::lock_guard lock(s.mu_);
    id = s.id_;
    was_within = !s.clock_.beyond(config_.max_clock_offset);
    // A round trip of clocks when the agent completed one (queueing delay widens it and
    // the fastest recent one counts); the one-way reading only until then.
    const auto& x = hb.exchange();
    bool round_trip = hb.has_exchange() && x.has_agent_sent() && x.has_controller_clock() && x.has_agent_received() &&
                      s.clock_.round_trip(from_proto(x.agent_sent()), from_proto(x.controller_clock()),
                                          from_proto(x.agent_received()));
    if (!round_trip && hb.has_clock()) s.clock_.one_way(from_proto(hb.clock()), now);
    offset = s.clock_.offset();
    within = !s.clock_.beyond(config_.max_clock_offset);
    renew = s.lease_by_heartbeat_;
    if (renew && hb.has_next_within()) {
      // Lost after three of the heartbeats it announced (bounded: a pace of minutes at
      // most), and never sooner than the fleet's own bound.
      auto pace = std::clamp<std::chrono::nanoseconds>(from_proto(hb.next_within()), std::chrono::milliseconds(100),
                                                       std::chrono::minutes(10));
      s.silent_bound_ = std::chrono::duration_cast<SteadyClock::duration>(
          std::max<std::chrono::nanoseconds>(config_.lost_after_or_default(), pace * 3));
    }
  }
  // Renewal by heartbeat: the answer is the renewal (while this controller leads, its
  // streams are open; a controller that stops answering loses every lease within the
  // grace).
  if (renew && !s.send(hb.has_clock() ? stamped(renewal_by_heartbeat_, hb.clock(), now) : renewal_by_heartbeat_)) {
    log()->debug("lease renewal to {} not sent (stream closing or agent not reading)", s.peer());
  }
  if (was_within && !within) log()->warn("agent {}: {}", id, clock_refusal(s));
  if (!was_within && within) {
    log()->info("agent {}: clock offset {} is within the bound again", id, seconds_text(std::chrono::abs(offset)));
  }
  inventory_.heartbeat(id, now, offset, {hb.active_faults().begin(), hb.active_faults().end()});
  inventory_.faults_ended(id, hb.ended());
}

void AgentStreams::session_ended(const std::shared_ptr<AgentSession>& s, const std::string& why) {
  std::string id;
  {
    std::lock_guard lock(s->mu_);
    if (s->ended_) return;
    s->ended_ = true;
    id = s->id_;
  }
  if (hooks_.ended) hooks_.ended(*s, why);
  if (id.empty()) return;  // never registered
  bool current = false;
  std::vector<LostCallback> callbacks;
  {
    std::lock_guard lock(mu_);
    auto it = sessions_.find(id);
    if (it != sessions_.end() && it->second == s) {
      sessions_.erase(it);
      current = true;
      callbacks = lost_callbacks_;
    }
  }
  if (!current) return;
  auto now = WallClock::now();
  inventory_.mark_lost(id, why, now);
  log()->warn("agent {} lost: {}", id, why);
  if (auto rec = inventory_.get(id); rec && store_) {
    std::lock_guard lock(store_mu_);
    pending_agents_.push_back({id, rec->tags, rec->version, rec->capabilities.SerializeAsString(), rec->peer,
                               rec->connected_at, now});
    pending_events_.push_back({0, "", now, id, "agent.lost", why});
  }
  for (auto& cb : callbacks) cb(id, why);
}

void AgentStreams::ticker() {
  std::unique_lock lock(tick_mu_);
  while (!stopping_) {
    tick_cv_.wait_for(lock, kTick);
    if (stopping_) break;
    lock.unlock();

    auto now = SteadyClock::now();
    std::vector<std::shared_ptr<AgentSession>> all;
    if (++ticks_ % kScanEvery == 0) {
      std::lock_guard l(mu_);
      all.reserve(sessions_.size());
      for (auto& [id, s] : sessions_) all.push_back(s);
    }
    const auto renew_every = std::chrono::duration_cast<SteadyClock::duration>(config_.lease_grace / 3);
    const auto lost = std::chrono::duration_cast<SteadyClock::duration>(config_.lost_after_or_default());
    v1::ControllerMessage lease = lease_message(false);
    for (auto& s : all) {
      bool renew = false, silent = false;
      SteadyClock::time_point seen;
      SteadyClock::duration bound = lost;
      {
        std::lock_guard l(s->mu_);
        seen = s->last_seen_;
        if (!s->lease_by_heartbeat_ && now >= s->next_lease_) {
          renew = true;
          s->next_lease_ = now + renew_every;
        }
        if (s->silent_bound_.count() > 0) bound = s->silent_bound_;
        silent = now - seen > bound;
      }
      if (silent) {
        std::string why = fmt::format("silent for {} (lost after {})", seconds_text(now - seen), seconds_text(bound));
        s->close(grpc::StatusCode::UNAVAILABLE, why);
        session_ended(s, why);
        continue;
      }
      if (renew && !s->send(lease)) {
        log()->debug("lease renewal to {} not sent (stream closing or agent not reading)", s->peer());
      }
    }

    // Streams that never said Hello.
    std::vector<std::shared_ptr<AgentSession>> idle;
    {
      std::lock_guard l(mu_);
      std::erase_if(handshaking_, [&](const std::weak_ptr<AgentSession>& w) {
        auto s = w.lock();
        if (!s) return true;
        std::lock_guard sl(s->mu_);
        if (s->registered_ || s->ended_) return true;
        if (now - s->connected_at_ > kHelloTimeout) {
          idle.push_back(s);
          return true;
        }
        return false;
      });
    }
    for (auto& s : idle) {
      log()->warn("stream from {} said no Hello within {}: closing it", s->peer(), seconds_text(kHelloTimeout));
      s->close(grpc::StatusCode::DEADLINE_EXCEEDED, "no Hello within 10s");
    }
    flush_store();
    lock.lock();
  }
  flush_store();
}

}  // namespace firedrill::controller
