#include "controller/session/fanout.h"

#include <algorithm>
#include <thread>

#include <fmt/format.h>

#include "common/log.h"

namespace firedrill::controller {
namespace {

auto log() {
  static auto l = logger("controller.fleet");
  return l;
}

// Sends run on the caller's CPU time like everything else: more threads than cores
// only add hand-offs with the threads that read the acks.
const size_t kMaxSendThreads = std::clamp<size_t>(std::thread::hardware_concurrency(), 1, 4);

// An agent's time on our clock, within what we saw: not before we sent the command,
// not after its answer reached us.
WallTime observed(const AgentSession& s, const google::protobuf::Timestamp* at, WallTime sent, WallTime received) {
  if (!at) return received;
  return std::clamp(s.to_controller_clock(from_proto(*at)), std::min(sent, received), received);
}

}  // namespace

bool FanoutResult::all_ok() const {
  return std::all_of(targets.begin(), targets.end(), [](auto& t) { return t.ok(); });
}

std::vector<std::string> FanoutResult::failed() const {
  std::vector<std::string> out;
  for (auto& t : targets) {
    if (!t.ok()) {
      out.push_back(fmt::format("{}: {}", t.agent_id, t.error.empty() ? v1::AckStatus_Name(t.status) : t.error));
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

Fanout::Dispatch Fanout::send(const std::vector<std::string>& hosts,
                              const std::vector<std::shared_ptr<AgentSession>>& sessions,
                              const v1::ControllerMessage& prototype, const std::string& effect_fault) {
  Dispatch d;
  d.batch = std::make_shared<CommandBatch>(hosts.size(), !effect_fault.empty());
  d.effect_key = effect_fault;
  auto& batch = d.batch;
  for (size_t i = 0; i < hosts.size(); ++i) batch->results[i].agent_id = hosts[i];
  std::vector<uint64_t> command_ids(hosts.size(), 0);  // 0: not sent
  // Each send is a write on its own connection (TLS record, syscall): spread them over
  // a few threads so that ten thousand targets are not one core's serial work.
  auto send_range = [&](size_t from, size_t to) {
    v1::ControllerMessage message = prototype;
    for (size_t i = from; i < to; ++i) {
      auto& s = sessions[i];
      if (!s) {
        std::lock_guard lock(batch->mu);
        batch->results[i].error = "not connected";
        batch->finish(i);
        continue;
      }
      uint64_t id = next_command_.fetch_add(1);
      message.set_command_id(id);
      // Written before the waiter is registered under the session's lock, which the
      // answer's reader takes too.
      batch->sent[i] = WallClock::now();
      {
        std::lock_guard lock(s->mu_);
        if (!d.effect_key.empty()) s->effect_waiters_[d.effect_key] = AgentSession::Waiter{batch, i, {}};
        s->pending_[id] = AgentSession::Waiter{batch, i, {}};
      }
      if (!s->send(message)) {
        {
          std::lock_guard lock(s->mu_);
          s->pending_.erase(id);
          if (!d.effect_key.empty()) s->effect_waiters_.erase(d.effect_key);
        }
        std::lock_guard lock(batch->mu);
        batch->results[i].error = "stream closed before the command could be sent";
        batch->finish(i);
        continue;
      }
      command_ids[i] = id;
    }
  };
  d.result.sent_at = WallClock::now();
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
  d.sent.reserve(hosts.size());
  for (size_t i = 0; i < hosts.size(); ++i) {
    if (command_ids[i] != 0) d.sent.emplace_back(sessions[i], command_ids[i]);
  }
  d.result.all_sent = WallClock::now();
  return d;
}

FanoutResult Fanout::wait(Dispatch d, WallTime deadline, WallTime effect_deadline) {
  FanoutResult out = std::move(d.result);
  auto& batch = d.batch;
  const size_t n = batch->results.size();
  {
    std::unique_lock lock(batch->mu);
    batch->cv.wait_until(lock, deadline, [&] { return batch->open_ack == 0; });
    for (size_t i = 0; i < n; ++i) {
      if (batch->phase[i] == CommandBatch::kAwaitAck) {
        batch->results[i].error = fmt::format(
            "no answer within {}",
            format_duration(std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - out.sent_at)));
        batch->finish(i);
      }
    }
    if (batch->wait_effective) {
      batch->cv.wait_until(lock, std::max(deadline, effect_deadline), [&] { return batch->open == 0; });
      for (size_t i = 0; i < n; ++i) {
        if (batch->phase[i] == CommandBatch::kAwaitEffect) {
          batch->results[i].status = v1::ACK_STATUS_UNSPECIFIED;
          batch->results[i].error = fmt::format("scheduled, but not reported in effect by {}", format_utc(effect_deadline));
          batch->finish(i);
        }
      }
    }
    out.targets = batch->results;
  }
  for (auto& [s, id] : d.sent) {
    std::lock_guard lock(s->mu_);
    s->pending_.erase(id);
    if (!d.effect_key.empty()) {
      // Only this batch's waiter: a later command for the same fault may own the key now.
      auto it = s->effect_waiters_.find(d.effect_key);
      if (it != s->effect_waiters_.end() && it->second.batch == batch) s->effect_waiters_.erase(it);
    }
  }
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

FanoutResult Fanout::refuse_all(const std::vector<std::string>& hosts, const std::string& why) {
  FanoutResult out;
  out.sent_at = out.all_sent = WallClock::now();
  for (auto& h : hosts) {
    TargetResult t;
    t.agent_id = h;
    t.status = v1::ACK_REFUSED;
    t.error = why;
    out.targets.push_back(std::move(t));
  }
  return out;
}

bool Fanout::send_untracked(AgentSession& s, v1::ControllerMessage message, std::string what) {
  uint64_t id = next_command_.fetch_add(1);
  message.set_command_id(id);
  {
    std::lock_guard lock(s.mu_);
    s.pending_[id] = AgentSession::Waiter{nullptr, 0, std::move(what)};
  }
  return s.send(message);
}

std::optional<std::string> Fanout::on_ack(AgentSession& s, const v1::Ack& ack, WallTime now) {
  AgentSession::Waiter w;
  std::string id;
  {
    std::lock_guard lock(s.mu_);
    id = s.id_;
    auto it = s.pending_.find(ack.command_id());
    if (it == s.pending_.end()) {
      if (ack.status() == v1::ACK_REFUSED) {
        log()->warn("agent {} refused command {}: {}", id, ack.command_id(), ack.error());
      } else {
        log()->debug("agent {}: answer to command {} that nobody awaits ({})", id, ack.command_id(),
                     v1::AckStatus_Name(ack.status()));
      }
      return std::nullopt;
    }
    w = std::move(it->second);
    s.pending_.erase(it);
  }
  if (!w.batch) return w.what;
  std::lock_guard lock(w.batch->mu);
  auto i = w.index;
  if (w.batch->phase[i] != CommandBatch::kAwaitAck) return std::nullopt;
  auto& r = w.batch->results[i];
  r.status = ack.status();
  r.error = ack.error();
  r.acked_at = now;
  if (ack.status() == v1::ACK_APPLIED) {
    if (!r.effective_at) r.effective_at = observed(s, ack.has_at() ? &ack.at() : nullptr, w.batch->sent[i], now);
    w.batch->finish(i);
  } else if (ack.status() == v1::ACK_SCHEDULED && w.batch->wait_effective && !r.effective_at) {
    w.batch->acked(i);
  } else {
    w.batch->finish(i);
  }
  return std::nullopt;
}

void Fanout::on_fault_event(AgentSession& s, const v1::Event& ev, WallTime now) {
  const std::string& fault_id = ev.has_applied() ? ev.applied().fault_id() : ev.error().fault_id();
  if (fault_id.empty() || !(ev.has_applied() || ev.has_error())) return;
  AgentSession::Waiter w;
  {
    std::lock_guard lock(s.mu_);
    auto it = s.effect_waiters_.find(fault_id);
    if (it == s.effect_waiters_.end()) return;
    w = std::move(it->second);
    s.effect_waiters_.erase(it);
  }
  if (!w.batch) return;
  std::lock_guard lock(w.batch->mu);
  auto& r = w.batch->results[w.index];
  if (ev.has_applied()) {
    // The fault took effect with its earliest part (a power loss's network cut, before
    // its freeze and kill), not when the agent reported the last one.
    const google::protobuf::Timestamp* at = ev.has_at() ? &ev.at() : nullptr;
    for (const auto& e : ev.applied().effects()) {
      if (e.has_at() && (!at || from_proto(e.at()) < from_proto(*at))) at = &e.at();
    }
    r.effective_at = observed(s, at, w.batch->sent[w.index], now);
    r.effects.assign(ev.applied().effects().begin(), ev.applied().effects().end());
    if (ev.applied().has_clock()) r.clock = ev.applied().clock();
    if (w.batch->phase[w.index] == CommandBatch::kAwaitEffect) w.batch->finish(w.index);
  } else if (w.batch->phase[w.index] == CommandBatch::kAwaitEffect) {
    // A scheduled fault that failed at not_before.
    r.status = v1::ACK_FAILED;
    r.error = ev.error().message();
    w.batch->finish(w.index);
  }
}

void Fanout::abandon(AgentSession& s, const std::string& why) {
  std::unordered_map<uint64_t, AgentSession::Waiter> pending;
  std::unordered_map<std::string, AgentSession::Waiter> effects;
  {
    std::lock_guard lock(s.mu_);
    pending.swap(s.pending_);
    effects.swap(s.effect_waiters_);
  }
  for (auto& [cmd, w] : pending) {
    if (!w.batch) continue;
    std::lock_guard lock(w.batch->mu);
    if (w.batch->phase[w.index] == CommandBatch::kDone) continue;
    w.batch->results[w.index].error = "agent lost: " + why;
    w.batch->finish(w.index);
  }
  for (auto& [fid, w] : effects) {
    std::lock_guard lock(w.batch->mu);
    if (w.batch->phase[w.index] != CommandBatch::kAwaitEffect) continue;
    w.batch->results[w.index].status = v1::ACK_STATUS_UNSPECIFIED;
    w.batch->results[w.index].error = "agent lost before the fault took effect: " + why;
    w.batch->finish(w.index);
  }
}

}  // namespace firedrill::controller
