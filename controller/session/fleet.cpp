#include "controller/session/fleet.h"

#include <grpcpp/support/status_code_enum.h>

#include <algorithm>
#include <random>

#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "common/fault_kind.h"
#include "common/log.h"
#include "controller/session/agent_session.h"

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
// Sends run on the caller's CPU time like everything else: more threads than cores
// only add hand-offs with the threads that read the acks.
const size_t kMaxSendThreads = std::clamp<size_t>(std::thread::hardware_concurrency(), 1, 4);

template <typename T>
std::string seconds_text(T d) {
  return format_duration(std::chrono::duration_cast<std::chrono::nanoseconds>(d));
}

}  // namespace

// ---------------------------------------------------------------- ids

std::string make_run_id() {
  static std::atomic<uint32_t> counter{0};
  std::random_device rd;
  auto now = WallClock::now();
  auto t = WallClock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%S", &tm);
  uint32_t salt = (rd() ^ (counter.fetch_add(1) * 0x9e3779b9u)) & 0xffffffu;
  return fmt::format("r-{}-{:06x}", stamp, salt);
}

std::string make_fault_id(const std::string& run_id, int step) { return fmt::format("{}.{}", run_id, step); }

std::string run_of_fault(const std::string& fault_id) {
  if (!fault_id.starts_with("r-")) return "";
  auto dot = fault_id.rfind('.');
  if (dot == std::string::npos) return "";
  return fault_id.substr(0, dot);
}

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

// ---------------------------------------------------------------- results

bool FanoutResult::all_ok() const {
  return std::all_of(targets.begin(), targets.end(), [](auto& t) { return t.ok(); });
}

std::vector<std::string> FanoutResult::failed() const {
  std::vector<std::string> out;
  for (auto& t : targets) {
    if (!t.ok()) {
      out.push_back(fmt::format("{}: {}", t.agent_id,
                                t.error.empty() ? v1::AckStatus_Name(t.status) : t.error));
    }
  }
  return out;
}

std::chrono::nanoseconds FanoutResult::ack_spread() const {
  return first_ack && last_ack ? *last_ack - *first_ack : std::chrono::nanoseconds(0);
}
std::chrono::nanoseconds FanoutResult::effect_spread() const {
  return first_effect && last_effect ? *last_effect - *first_effect : std::chrono::nanoseconds(0);
}
std::chrono::nanoseconds FanoutResult::dispatch_to_last_ack() const {
  return last_ack ? *last_ack - sent_at : std::chrono::nanoseconds(0);
}

void CommandBatch::acked(size_t i) {
  if (phase[i] == kAwaitAck) {
    phase[i] = kAwaitEffect;
    if (--open_ack == 0) cv.notify_all();
  }
}

void CommandBatch::finish(size_t i) {
  if (phase[i] == kDone) return;
  acked(i);
  phase[i] = kDone;
  if (--open == 0) cv.notify_all();
}

// ---------------------------------------------------------------- session

bool AgentSession::send(const v1::ControllerMessage& message) {
  std::lock_guard lock(mu_);
  if (!transport_ || ended_) return false;
  if (!transport_->send(message)) return false;
  // Whatever the agent hears from us renews its lease: no renewal in the middle of a
  // fan-out's acks. Half an interval to a whole one later, spread by stream, so that a
  // fan-out to the whole fleet does not line every renewal up into one burst.
  if (renew_every_.count() > 0) {
    auto spread = renew_every_ / 2 * static_cast<int64_t>(std::hash<std::string>{}(peer_) % 1024) / 1024;
    next_lease_ = std::max(next_lease_, WallClock::now() + renew_every_ / 2 + spread);
  }
  return true;
}

void AgentSession::close(int code, const std::string& why) {
  std::lock_guard lock(mu_);
  if (transport_) transport_->close(code, why);
}

void AgentSession::detach() {
  std::lock_guard lock(mu_);
  transport_ = nullptr;
}

void AgentSession::expect(uint64_t command_id, std::shared_ptr<CommandBatch> batch, size_t index,
                          const std::string& effect_fault) {
  std::lock_guard lock(mu_);
  if (!effect_fault.empty()) effect_waiters_[effect_fault] = Waiter{batch, index, {}};
  pending_[command_id] = Waiter{std::move(batch), index, {}};
}

void AgentSession::forget(uint64_t command_id, const std::string& effect_fault) {
  std::lock_guard lock(mu_);
  pending_.erase(command_id);
  if (!effect_fault.empty()) effect_waiters_.erase(effect_fault);
}

void AgentSession::expect_untracked(uint64_t command_id, std::string what) {
  std::lock_guard lock(mu_);
  pending_[command_id] = Waiter{nullptr, 0, std::move(what)};
}

// ---------------------------------------------------------------- fleet

Fleet::Fleet(FleetConfig config, Store* store) : config_(std::move(config)), store_(store) {
  if (store_) {
    auto saved = store_->setting("halt");
    if (!saved) {
      log()->error("reading the halt state: {}", saved.error().describe());
    } else if (saved->has_value()) {
      auto j = nlohmann::json::parse(**saved, nullptr, false);
      if (j.is_object() && j.value("halted", false)) {
        halt_.halted = true;
        halt_.reason = j.value("reason", "");
        halt_.by = j.value("by", "");
        halt_.at = WallTime(std::chrono::duration_cast<WallClock::duration>(
            std::chrono::microseconds(j.value("at_us", int64_t{0}))));
        halted_ = true;
        log()->warn("the fleet is HALTED since {} ({}, by {}): runs are refused until `firedrill release`",
                    format_utc(halt_.at), halt_.reason, halt_.by);
      }
    }
  }
  ticker_ = std::thread([this] { ticker(); });
}

Fleet::~Fleet() { stop(); }

void Fleet::stop() {
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

void Fleet::flush_store() {
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

void Fleet::session_started(const std::shared_ptr<AgentSession>& s) {
  std::lock_guard lock(mu_);
  handshaking_.push_back(s);
}

std::chrono::nanoseconds Fleet::lost_after() const {
  if (config_.lost_after.count() > 0) return config_.lost_after;
  return std::max(config_.heartbeat_interval * 3, config_.lease_grace);
}

std::shared_ptr<AgentSession> Fleet::session(const std::string& id) const {
  std::lock_guard lock(mu_);
  auto it = sessions_.find(id);
  return it == sessions_.end() ? nullptr : it->second;
}

Result<Resolution> Fleet::resolve(const v1::Targets& targets) const {
  return controller::resolve(inventory_.live_hosts(), targets);
}

v1::GuardVerdict Fleet::check(const std::string& run_id, const std::vector<std::string>& hosts,
                              const v1::BlastRadius& radius) const {
  GuardInput in;
  in.fleet = inventory_.live_hosts();
  in.targets = hosts;
  in.radius = radius;
  std::lock_guard lock(mu_);
  for (auto& [id, busy] : runs_) {
    if (id != run_id) in.busy.insert(busy.begin(), busy.end());
  }
  in.halted = halt_.halted;
  in.halted_reason = halt_.reason;
  return check_guard(config_.guard, in);
}

v1::GuardVerdict Fleet::admit(const std::string& run_id, const std::vector<std::string>& hosts,
                              const v1::BlastRadius& radius) {
  GuardInput in;
  in.fleet = inventory_.live_hosts();
  in.targets = hosts;
  in.radius = radius;
  // Check and register under one lock: two runs racing for the last of the budget
  // cannot both pass.
  std::lock_guard lock(mu_);
  for (auto& [id, busy] : runs_) {
    if (id != run_id) in.busy.insert(busy.begin(), busy.end());
  }
  in.halted = halt_.halted;
  in.halted_reason = halt_.reason;
  auto verdict = check_guard(config_.guard, in);
  if (verdict.allowed()) runs_[run_id] = std::set<std::string>(hosts.begin(), hosts.end());
  return verdict;
}

void Fleet::set_run_hosts(const std::string& run_id, const std::vector<std::string>& hosts) {
  std::lock_guard lock(mu_);
  runs_[run_id] = std::set<std::string>(hosts.begin(), hosts.end());
}

void Fleet::end_run(const std::string& run_id) {
  std::lock_guard lock(mu_);
  runs_.erase(run_id);
}

std::vector<std::string> Fleet::active_runs() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (auto& [id, h] : runs_) out.push_back(id);
  return out;
}

std::vector<std::string> Fleet::incapable(const std::vector<std::string>& hosts, const v1::FaultSpec& spec) const {
  std::vector<std::string> out;
  std::string kind = fault_kind(spec);
  for (auto& h : hosts) {
    auto a = inventory_.get(h);
    if (!a || !a->live) {
      out.push_back(h + ": not connected");
    } else if (!Inventory::offers(*a, kind)) {
      std::string kinds;
      for (auto& k : a->capabilities.fault_kinds()) kinds += (kinds.empty() ? "" : ", ") + k;
      out.push_back(fmt::format("{}: offers {} but not {}", h, kinds, kind));
    }
  }
  return out;
}

// ---------------------------------------------------------------- commands

FanoutResult Fleet::fanout(const std::vector<std::string>& hosts,
                           const std::function<void(v1::ControllerMessage&)>& fill, const std::string& fault_id,
                           bool wait_effective, WallTime deadline, WallTime effect_deadline,
                           const std::string* admitted_run) {
  FanoutResult out;
  auto batch = std::make_shared<CommandBatch>(hosts.size(), wait_effective);
  for (size_t i = 0; i < hosts.size(); ++i) batch->results[i].agent_id = hosts[i];
  std::vector<std::pair<std::shared_ptr<AgentSession>, uint64_t>> sent;
  sent.reserve(hosts.size());

  // One snapshot of the sessions, so the lock is not taken once per target.
  std::vector<std::shared_ptr<AgentSession>> targets(hosts.size());
  {
    std::lock_guard lock(mu_);
    for (size_t i = 0; i < hosts.size(); ++i) {
      auto it = sessions_.find(hosts[i]);
      if (it != sessions_.end()) targets[i] = it->second;
    }
  }
  v1::ControllerMessage prototype;
  fill(prototype);
  const std::string effect_key = wait_effective ? fault_id : std::string();
  std::vector<uint64_t> command_ids(hosts.size(), 0);  // 0: not sent
  // Each send is a write on its own connection (TLS record, syscall): spread them over
  // a few threads so that ten thousand targets are not one core's serial work.
  auto send_range = [&](size_t from, size_t to) {
    v1::ControllerMessage message = prototype;
    for (size_t i = from; i < to; ++i) {
      auto& s = targets[i];
      if (!s) {
        std::lock_guard lock(batch->mu);
        batch->results[i].error = "not connected";
        batch->finish(i);
        continue;
      }
      uint64_t id = next_command_.fetch_add(1);
      message.set_command_id(id);
      s->expect(id, batch, i, effect_key);
      if (!s->send(message)) {
        s->forget(id, effect_key);
        std::lock_guard lock(batch->mu);
        batch->results[i].error = "stream closed before the command could be sent";
        batch->finish(i);
        continue;
      }
      command_ids[i] = id;
    }
  };
  std::shared_lock<std::shared_mutex> gate;
  if (admitted_run) {
    gate = std::shared_lock(halt_gate_);
    std::string refusal;
    {
      std::lock_guard lock(mu_);
      if (halt_.halted) {
        refusal = fmt::format("the fleet is halted ({})", halt_.reason);
      } else if (!runs_.count(*admitted_run)) {
        refusal = fmt::format("run {} is not admitted (admit() it first; a halt aborts every run)", *admitted_run);
      }
    }
    if (!refusal.empty()) {
      out.sent_at = out.all_sent = WallClock::now();
      for (size_t i = 0; i < hosts.size(); ++i) {
        batch->results[i].status = v1::ACK_REFUSED;
        batch->results[i].error = refusal;
      }
      out.targets = batch->results;
      log()->warn("not sent to {} agent(s): {}", hosts.size(), refusal);
      return out;
    }
  }
  out.sent_at = WallClock::now();
  constexpr size_t kPerThread = 1024;
  size_t workers = std::min<size_t>(kMaxSendThreads, (hosts.size() + kPerThread - 1) / kPerThread);
  if (workers <= 1) {
    send_range(0, hosts.size());
  } else {
    std::vector<std::thread> threads;
    size_t per = (hosts.size() + workers - 1) / workers;
    for (size_t w = 0; w < workers; ++w) {
      size_t from = w * per, to = std::min(hosts.size(), from + per);
      if (from < to) threads.emplace_back(send_range, from, to);
    }
    for (auto& t : threads) t.join();
  }
  for (size_t i = 0; i < hosts.size(); ++i) {
    if (command_ids[i] != 0) sent.emplace_back(targets[i], command_ids[i]);
  }
  out.all_sent = WallClock::now();
  if (gate.owns_lock()) gate.unlock();

  {
    std::unique_lock lock(batch->mu);
    batch->cv.wait_until(lock, deadline, [&] { return batch->open_ack == 0; });
    for (size_t i = 0; i < hosts.size(); ++i) {
      if (batch->phase[i] == CommandBatch::kAwaitAck) {
        batch->results[i].error = fmt::format("no answer within {}", seconds_text(deadline - out.sent_at));
        batch->finish(i);
      }
    }
    if (wait_effective) {
      batch->cv.wait_until(lock, std::max(deadline, effect_deadline), [&] { return batch->open == 0; });
      for (size_t i = 0; i < hosts.size(); ++i) {
        if (batch->phase[i] == CommandBatch::kAwaitEffect) {
          batch->results[i].status = v1::ACK_STATUS_UNSPECIFIED;
          batch->results[i].error = fmt::format("scheduled, but not reported in effect by {}", format_utc(effect_deadline));
          batch->finish(i);
        }
      }
    }
    out.targets = batch->results;
  }
  for (auto& [s, id] : sent) s->forget(id, effect_key);

  for (auto& t : out.targets) {
    if (t.acked_at) {
      if (!out.first_ack || *t.acked_at < *out.first_ack) out.first_ack = t.acked_at;
      if (!out.last_ack || *t.acked_at > *out.last_ack) out.last_ack = t.acked_at;
    }
    if (t.effective_at && t.ok()) {
      if (!out.first_effect || *t.effective_at < *out.first_effect) out.first_effect = t.effective_at;
      if (!out.last_effect || *t.effective_at > *out.last_effect) out.last_effect = t.effective_at;
    }
  }
  return out;
}

FanoutResult Fleet::apply(const ApplyRequest& req) {
  auto fill = [&](v1::ControllerMessage& m) {
    auto* a = m.mutable_apply();
    a->set_fault_id(req.fault_id);
    *a->mutable_spec() = req.spec;
    if (req.not_before.time_since_epoch().count() != 0) *a->mutable_not_before() = to_proto(req.not_before);
    *a->mutable_expires_at() = to_proto(req.expires_at);
  };
  auto now = WallClock::now();
  auto start = std::max(now, req.not_before);
  auto deadline = now + req.ack_timeout;
  log()->info("run {}: apply {} ({}) on {} agent(s), not before {}, expires {}", req.run_id, req.fault_id,
              fault_kind(req.spec), req.hosts.size(), format_utc(start), format_utc(req.expires_at));
  auto out = fanout(req.hosts, fill, req.fault_id, req.wait_effective, deadline, start + req.effect_timeout,
                    &req.run_id);
  log()->info("run {}: {} of {} target(s) took {}; sent to all in {}, last ack {} after dispatch, ack spread {}, "
              "effect spread {}",
              req.run_id, std::count_if(out.targets.begin(), out.targets.end(), [](auto& t) { return t.ok(); }),
              out.targets.size(), req.fault_id, seconds_text(out.all_sent - out.sent_at),
              seconds_text(out.dispatch_to_last_ack()), seconds_text(out.ack_spread()), seconds_text(out.effect_spread()));
  return out;
}

FanoutResult Fleet::revert(const std::string& fault_id, const std::vector<std::string>& hosts,
                           std::chrono::milliseconds timeout) {
  auto fill = [&](v1::ControllerMessage& m) { m.mutable_revert()->set_fault_id(fault_id); };
  auto now = WallClock::now();
  auto out = fanout(hosts, fill, "", false, now + timeout, now + timeout);
  log()->info("revert {} on {} agent(s): {} confirmed", fault_id, hosts.size(),
              std::count_if(out.targets.begin(), out.targets.end(), [](auto& t) { return t.ok(); }));
  return out;
}

// ---------------------------------------------------------------- halt

void Fleet::persist_halt() {
  if (!store_) return;
  HaltState h;
  {
    std::lock_guard lock(mu_);
    h = halt_;
  }
  nlohmann::json j = {{"halted", h.halted}, {"reason", h.reason}, {"by", h.by},
                      {"at_us", std::chrono::duration_cast<std::chrono::microseconds>(h.at.time_since_epoch()).count()}};
  if (auto r = store_->set_setting("halt", j.dump()); !r) log()->error("saving the halt state: {}", r.error().describe());
}

HaltResult Fleet::halt(const std::string& reason, const std::string& by, std::chrono::milliseconds timeout) {
  HaltResult out;
  HaltState state;
  std::vector<HaltCallback> callbacks;
  std::vector<std::string> hosts;
  {
    std::unique_lock gate(halt_gate_);
    std::lock_guard lock(mu_);
    halted_ = true;
    halt_ = {true, reason, by, WallClock::now()};
    state = halt_;
    for (auto& [id, h] : runs_) out.aborted_runs.push_back(id);
    runs_.clear();
    callbacks = halt_callbacks_;
    for (auto& [id, s] : sessions_) hosts.push_back(id);
  }
  out.halted_at = state.at;
  std::sort(hosts.begin(), hosts.end());
  log()->warn("HALT by {}: {}; reverting every fault on {} live agent(s), aborting {} run(s)", by, reason,
              hosts.size(), out.aborted_runs.size());
  // The agents' RevertAll goes out first; the record of the halt (durable, and the
  // runs it aborted) is written meanwhile. No run can start in between: halted_ is
  // already set, under the gate every apply holds.
  std::thread record([&] {
    persist_halt();
    record_events({{0, "", state.at, "", "halt", fmt::format("by {}: {}", by, reason)}});
    for (auto& cb : callbacks) cb(state);
  });
  auto fill = [&](v1::ControllerMessage& m) { m.mutable_revert_all()->set_reason("halt: " + reason); };
  auto now = WallClock::now();
  out.agents = fanout(hosts, fill, "", false, now + timeout, now + timeout);
  record.join();
  for (auto& t : out.agents.targets) {
    if (t.status != v1::ACK_APPLIED) out.unconfirmed.push_back(t.agent_id);
  }
  log()->warn("HALT: {} of {} agent(s) confirmed, the last {} after the halt{}",
              hosts.size() - out.unconfirmed.size(), hosts.size(), seconds_text(out.agents.dispatch_to_last_ack()),
              out.unconfirmed.empty() ? "" : fmt::format("; unconfirmed: {}", fmt::join(out.unconfirmed, ", ")));
  return out;
}

bool Fleet::release(const std::string& by) {
  bool was;
  {
    std::lock_guard lock(mu_);
    was = halt_.halted;
    halt_ = {};
    halted_ = false;
  }
  persist_halt();
  log()->warn("released by {}{}", by, was ? "; runs may start again" : " (the fleet was not halted)");
  record_events({{0, "", WallClock::now(), "", "release", fmt::format("by {}", by)}});
  return was;
}

HaltState Fleet::halt_state() const {
  std::lock_guard lock(mu_);
  return halt_;
}

void Fleet::on_agent_lost(LostCallback cb) {
  std::lock_guard lock(mu_);
  lost_callbacks_.push_back(std::move(cb));
}
void Fleet::on_event(EventCallback cb) {
  std::lock_guard lock(mu_);
  event_callbacks_.push_back(std::move(cb));
}
void Fleet::on_halt(HaltCallback cb) {
  std::lock_guard lock(mu_);
  halt_callbacks_.push_back(std::move(cb));
}

// ---------------------------------------------------------------- streams

v1::ControllerMessage Fleet::lease_message() const {
  v1::ControllerMessage m;
  m.set_command_id(0);
  *m.mutable_lease()->mutable_grace() = to_proto_duration(config_.lease_grace);
  *m.mutable_lease()->mutable_heartbeat_interval() = to_proto_duration(config_.heartbeat_interval);
  return m;
}

Result<void> Fleet::register_session(const std::shared_ptr<AgentSession>& s, const v1::Hello& hello,
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
  auto agent_clock = hello.has_clock() ? from_proto(hello.clock()) : now;
  auto offset = std::chrono::duration_cast<std::chrono::nanoseconds>(agent_clock - now);

  std::shared_ptr<AgentSession> replaced;
  {
    std::lock_guard lock(mu_);
    auto& slot = sessions_[id];
    replaced = slot;
    slot = s;
    std::lock_guard slock(s->mu_);
    s->id_ = id;
    s->registered_ = true;
    s->clock_offset_ = offset;
    s->last_seen_ = now;
    s->renew_every_ = std::chrono::duration_cast<WallClock::duration>(config_.lease_grace / 3);
    s->next_lease_ = now + s->renew_every_;
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
  {
    std::lock_guard lock(store_mu_);
    pending_agents_.push_back({id, rec.tags, rec.version, hello.capabilities().SerializeAsString(), s->peer(), now, now});
    pending_events_.push_back({0, "", now, id, "agent.connected", s->peer()});
  }
  s->send(lease_message());
  reconcile(s, hello);
  return ok();
}

void Fleet::reconcile(const std::shared_ptr<AgentSession>& s, const v1::Hello& hello) {
  const std::string& id = hello.agent_id();
  std::vector<EventRow> rows;
  std::vector<EventCallback> callbacks;
  {
    std::lock_guard lock(mu_);
    callbacks = event_callbacks_;
  }
  // What the agent undid on its own while away is part of its runs' records.
  for (auto& r : hello.reverted_while_away()) {
    auto at = r.has_at() ? from_proto(r.at()) : WallClock::now();
    rows.push_back({0, run_of_fault(r.fault_id()), at, id, "fault.reverted_while_away",
                    fmt::format("{} reverted {}", r.fault_id(), v1::RevertReason_Name(r.reason()))});
    log()->warn("agent {} reverted {} on its own while away: {}", id, r.fault_id(), v1::RevertReason_Name(r.reason()));
    v1::Event ev;
    *ev.mutable_at() = to_proto(at);
    *ev.mutable_reverted() = r;
    for (auto& cb : callbacks) cb(id, ev);
  }
  if (halted_) {
    if (hello.active_faults_size() > 0) {
      v1::ControllerMessage m;
      m.set_command_id(next_command_.fetch_add(1));
      m.mutable_revert_all()->set_reason("the fleet is halted");
      s->expect_untracked(m.command_id(), "revert all (fleet halted)");
      s->send(m);
      log()->warn("agent {} holds {} fault(s) while the fleet is halted: reverting all", id, hello.active_faults_size());
      rows.push_back({0, "", WallClock::now(), id, "fault.revert_on_register", "revert all: the fleet is halted"});
    }
  } else {
    for (auto& f : hello.active_faults()) {
      std::string run = run_of_fault(f.fault_id());
      if (run.empty()) continue;  // a local fault (firedrill-agent ctl), not ours
      bool live;
      {
        std::lock_guard lock(mu_);
        live = runs_.count(run) > 0;
      }
      if (live) continue;
      v1::ControllerMessage m;
      m.set_command_id(next_command_.fetch_add(1));
      m.mutable_revert()->set_fault_id(f.fault_id());
      s->expect_untracked(m.command_id(), "revert " + f.fault_id() + " (its run is not in flight)");
      s->send(m);
      log()->warn("agent {} holds {} of run {}, which is not in flight: reverting it", id, f.fault_id(), run);
      rows.push_back({0, run, WallClock::now(), id, "fault.revert_on_register",
                      fmt::format("{}: its run is not in flight", f.fault_id())});
    }
  }
  record_events(std::move(rows));
}

void Fleet::on_message(const std::shared_ptr<AgentSession>& s, const v1::AgentMessage& msg) {
  auto now = WallClock::now();
  std::string id;
  {
    std::lock_guard lock(s->mu_);
    s->last_seen_ = now;
    id = s->id_;
  }
  switch (msg.msg_case()) {
    case v1::AgentMessage::kHeartbeat:
      inventory_.heartbeat(id, now, {msg.heartbeat().active_faults().begin(), msg.heartbeat().active_faults().end()});
      return;
    case v1::AgentMessage::kAck: {
      const auto& ack = msg.ack();
      AgentSession::Waiter w;
      bool found = false;
      {
        std::lock_guard lock(s->mu_);
        auto it = s->pending_.find(ack.command_id());
        if (it != s->pending_.end()) {
          w = std::move(it->second);
          s->pending_.erase(it);
          found = true;
        }
      }
      if (!found) {
        if (ack.status() == v1::ACK_REFUSED) {
          log()->warn("agent {} refused command {}: {}", id, ack.command_id(), ack.error());
        } else {
          log()->debug("agent {}: answer to command {} that nobody awaits ({})", id, ack.command_id(),
                       v1::AckStatus_Name(ack.status()));
        }
        return;
      }
      if (!w.batch) {
        log()->info("agent {}: {}: {}{}", id, w.what, v1::AckStatus_Name(ack.status()),
                    ack.error().empty() ? "" : " (" + ack.error() + ")");
        record_events({{0, run_of_fault(ack.fault_id()), now, id, "fault.revert_on_register.ack",
                        fmt::format("{}: {}", w.what, v1::AckStatus_Name(ack.status()))}});
        return;
      }
      auto agent_at = ack.has_at() ? s->to_controller_clock(from_proto(ack.at())) : now;
      std::lock_guard lock(w.batch->mu);
      auto i = w.index;
      if (w.batch->phase[i] != CommandBatch::kAwaitAck) return;
      auto& r = w.batch->results[i];
      r.status = ack.status();
      r.error = ack.error();
      r.acked_at = now;
      if (ack.status() == v1::ACK_APPLIED) {
        if (!r.effective_at) r.effective_at = agent_at;
        w.batch->finish(i);
      } else if (ack.status() == v1::ACK_SCHEDULED && w.batch->wait_effective && !r.effective_at) {
        w.batch->acked(i);
      } else {
        w.batch->finish(i);
      }
      return;
    }
    case v1::AgentMessage::kEvent: {
      const auto& ev = msg.event();
      std::string fault_id = ev.has_applied() ? ev.applied().fault_id() : ev.has_error() ? ev.error().fault_id() : "";
      if (!fault_id.empty()) {
        AgentSession::Waiter w;
        {
          std::lock_guard lock(s->mu_);
          auto it = s->effect_waiters_.find(fault_id);
          if (it != s->effect_waiters_.end()) {
            w = std::move(it->second);
            s->effect_waiters_.erase(it);
          }
        }
        if (w.batch) {
          auto agent_at = ev.has_at() ? s->to_controller_clock(from_proto(ev.at())) : now;
          std::lock_guard lock(w.batch->mu);
          auto& r = w.batch->results[w.index];
          if (ev.has_applied()) {
            r.effective_at = agent_at;
            if (w.batch->phase[w.index] == CommandBatch::kAwaitEffect) w.batch->finish(w.index);
          } else if (w.batch->phase[w.index] == CommandBatch::kAwaitEffect) {
            // A scheduled fault that failed at not_before.
            r.status = v1::ACK_FAILED;
            r.error = ev.error().message();
            w.batch->finish(w.index);
          }
        }
      }
      if (ev.has_killed()) {
        // At most 10 kill events a second per agent (bursts of 100) are passed on to be
        // persisted; the rest are counted (the agent's counters carry every kill).
        constexpr double kRate = 10, kBurst = 100;
        std::lock_guard lock(s->mu_);
        auto t = SteadyClock::now();
        if (s->kill_event_refill_ != SteadyClock::time_point{}) {
          s->kill_event_tokens_ = std::min(
              kBurst, s->kill_event_tokens_ + kRate * std::chrono::duration<double>(t - s->kill_event_refill_).count());
        }
        s->kill_event_refill_ = t;
        if (s->kill_event_tokens_ < 1) {
          if (s->kill_events_limited_++ % 1000 == 0) {
            log()->warn("agent {}: kill events over {}/s are not recorded ({} so far)", id, kRate,
                        s->kill_events_limited_);
          }
          return;
        }
        s->kill_event_tokens_ -= 1;
      }
      std::vector<EventCallback> callbacks;
      {
        std::lock_guard lock(mu_);
        callbacks = event_callbacks_;
      }
      for (auto& cb : callbacks) cb(id, ev);
      return;
    }
    case v1::AgentMessage::kHello:
      // Handled (and refused a second time) by the stream layer.
      return;
    default:
      log()->debug("agent {}: message of unknown kind {} ignored", id, static_cast<int>(msg.msg_case()));
      return;
  }
}

void Fleet::session_ended(const std::shared_ptr<AgentSession>& s, const std::string& why) {
  std::string id;
  std::unordered_map<uint64_t, AgentSession::Waiter> pending;
  std::unordered_map<std::string, AgentSession::Waiter> effects;
  {
    std::lock_guard lock(s->mu_);
    if (s->ended_) return;
    s->ended_ = true;
    id = s->id_;
    pending.swap(s->pending_);
    effects.swap(s->effect_waiters_);
  }
  for (auto* m : {&pending}) {
    for (auto& [cmd, w] : *m) {
      if (!w.batch) continue;
      std::lock_guard lock(w.batch->mu);
      if (w.batch->phase[w.index] == CommandBatch::kDone) continue;
      w.batch->results[w.index].error = "agent lost: " + why;
      w.batch->finish(w.index);
    }
  }
  for (auto& [fid, w] : effects) {
    std::lock_guard lock(w.batch->mu);
    if (w.batch->phase[w.index] != CommandBatch::kAwaitEffect) continue;
    w.batch->results[w.index].status = v1::ACK_STATUS_UNSPECIFIED;
    w.batch->results[w.index].error = "agent lost before the fault took effect: " + why;
    w.batch->finish(w.index);
  }
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
  if (auto rec = inventory_.get(id)) {
    std::lock_guard lock(store_mu_);
    pending_agents_.push_back({id, rec->tags, rec->version, rec->capabilities.SerializeAsString(), rec->peer,
                               rec->connected_at, now});
    pending_events_.push_back({0, "", now, id, "agent.lost", why});
  }
  for (auto& cb : callbacks) cb(id, why);
}

void Fleet::record_events(std::vector<EventRow> rows) {
  std::lock_guard lock(store_mu_);
  for (auto& r : rows) pending_events_.push_back(std::move(r));
  if (!store_) {
    pending_events_.clear();
    pending_agents_.clear();
  }
}

void Fleet::ticker() {
  std::unique_lock lock(tick_mu_);
  while (!stopping_) {
    tick_cv_.wait_for(lock, kTick);
    if (stopping_) break;
    lock.unlock();

    auto now = WallClock::now();
    std::vector<std::shared_ptr<AgentSession>> all;
    if (++ticks_ % kScanEvery == 0) {
      std::lock_guard l(mu_);
      all.reserve(sessions_.size());
      for (auto& [id, s] : sessions_) all.push_back(s);
    }
    const auto renew_every = std::chrono::duration_cast<WallClock::duration>(config_.lease_grace / 3);
    const auto lost = std::chrono::duration_cast<WallClock::duration>(lost_after());
    v1::ControllerMessage lease = lease_message();
    for (auto& s : all) {
      bool renew = false, silent = false;
      WallTime seen;
      {
        std::lock_guard l(s->mu_);
        seen = s->last_seen_;
        if (now >= s->next_lease_) {
          renew = true;
          s->next_lease_ = now + renew_every;
        }
        silent = now - seen > lost;
      }
      if (silent) {
        std::string why = fmt::format("silent for {} (lost after {})", seconds_text(now - seen), seconds_text(lost));
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
