#include "agent/core/fault_manager.h"

#include <sys/timex.h>

#include "common/fault_kind.h"
#include "common/fault_values.h"
#include "common/log.h"

namespace firedrill::agent {
namespace {

auto log() {
  static auto l = logger("agent.faults");
  return l;
}

// A fault whose expiry is further away than this is refused: leases are short by
// design, and a typo of "10d" for "10m" must not leave a host broken for days.
constexpr auto kMaxLease = std::chrono::hours(24);

// The kernel's view of this host's clock: times reported to the controller are only as
// good as it.
v1::ClockSync clock_sync() {
  v1::ClockSync c;
  timex tx{};
  int state = ::adjtimex(&tx);
  c.set_synchronized(state != TIME_ERROR && !(tx.status & STA_UNSYNC));
  c.set_max_error_us(tx.maxerror);
  c.set_est_error_us(tx.esterror);
  return c;
}

v1::Event applied_event(const std::string& id, const FaultEngine& engine) {
  v1::Event ev;
  auto* a = ev.mutable_applied();
  a->set_fault_id(id);
  for (auto& e : engine.effects(id)) *a->add_effects() = e;
  *a->mutable_clock() = clock_sync();
  return ev;
}

}  // namespace

FaultManager::FaultManager(std::vector<std::unique_ptr<FaultEngine>> engines, EventSink* events)
    : engines_(std::move(engines)), events_(events) {
  timer_ = std::thread([this] { timer_loop(); });
}

FaultManager::~FaultManager() {
  revert_all(v1::REVERT_AGENT_SHUTDOWN);
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  timer_.join();
}

void FaultManager::on_revert(std::function<void(const v1::FaultReverted&)> callback) {
  std::lock_guard lock(mu_);
  on_revert_ = std::move(callback);
}

void FaultManager::emit(v1::Event event) {
  *event.mutable_at() = to_proto(WallClock::now());
  if (events_) events_->emit(event);
}

Result<v1::AckStatus> FaultManager::apply(const v1::ApplyFault& command) {
  const std::string& id = command.fault_id();
  if (id.empty()) return make_error("fault has no fault_id");
  if (id.size() > 128) return make_error("fault_id is {} bytes long (at most 128)", id.size());
  if (!command.has_spec() || command.spec().kind_case() == v1::FaultSpec::KIND_NOT_SET) {
    return make_error("fault {}: unknown fault kind (spec is empty or of a kind this agent does not know)", id);
  }
  if (!command.has_expires_at()) return make_error("fault {}: no expires_at (every fault needs a lease)", id);
  auto now = WallClock::now();
  auto expires = from_proto(command.expires_at());
  auto not_before = command.has_not_before() ? from_proto(command.not_before()) : now;
  if (expires <= now) {
    return make_error("fault {}: expires_at {} is not in the future (now {})", id,
                      format_utc(expires), format_utc(now));
  }
  if (expires <= not_before) {
    return make_error("fault {}: expires_at {} is not after not_before {}", id,
                      format_utc(expires), format_utc(not_before));
  }
  if (expires - now > kMaxLease) {
    return make_error("fault {}: expires_at {} is more than 24h away", id, format_utc(expires));
  }

  // Values beyond the schema, with the lease known (a delay longer than the fault).
  if (auto p = first_fault_value_problem(command.spec(), expires - not_before); !p.empty()) {
    return make_error("fault {}: {}", id, p);
  }

  FaultEngine* engine = nullptr;
  for (auto& e : engines_) {
    if (e->handles(command.spec())) {
      engine = e.get();
      break;
    }
  }
  std::string kind = fault_kind(command.spec());
  if (!engine) return make_error("fault {}: no engine on this agent handles {}", id, kind);
  FD_TRY(engine->check(command.spec()), "fault {} ({})", id, kind);

  std::unique_lock lock(mu_);
  if (auto it = faults_.find(id); it != faults_.end()) {
    // Idempotent re-apply: same spec is fine (lease may be extended), another is not.
    if (it->second.spec.SerializeAsString() != command.spec().SerializeAsString()) {
      return make_error("fault {}: already held with a different spec", id);
    }
    it->second.expires_at = std::max(it->second.expires_at, expires);
    cv_.notify_all();
    return it->second.in_effect ? v1::ACK_APPLIED : v1::ACK_SCHEDULED;
  }

  ManagedFault fault{id, command.spec(), engine, not_before, expires, false, {}};
  if (not_before > now) {
    faults_.emplace(id, std::move(fault));
    cv_.notify_all();
    log()->info("fault {} ({}) scheduled for {}, expires {}", id, kind, format_utc(not_before),
                format_utc(expires));
    return v1::ACK_SCHEDULED;
  }
  FD_TRY(engine->apply(id, command.spec()), "fault {} ({})", id, kind);
  fault.in_effect = true;
  fault.applied_at = WallClock::now();
  faults_.emplace(id, std::move(fault));
  cv_.notify_all();
  log()->info("fault {} ({}) applied, expires {}", id, kind, format_utc(expires));
  emit(applied_event(id, *engine));
  return v1::ACK_APPLIED;
}

Result<void> FaultManager::revert(const std::string& fault_id, v1::RevertReason reason) {
  std::unique_lock lock(mu_);
  return revert_locked(lock, fault_id, reason);
}

Result<void> FaultManager::revert_locked(std::unique_lock<std::mutex>& lock, const std::string& id,
                                         v1::RevertReason reason) {
  auto it = faults_.find(id);
  if (it == faults_.end()) return ok();
  ManagedFault fault = it->second;
  v1::FaultReverted rec;
  rec.set_fault_id(id);
  rec.set_reason(reason);
  if (fault.in_effect) {
    *rec.mutable_counters() = fault.engine->counters(id);
    auto r = fault.engine->revert(id);
    if (!r) {
      // Keep it: the timer retries, and status shows it is still in effect.
      log()->error("fault {}: revert failed: {}", id, r.error().describe());
      v1::Event ev;
      ev.mutable_error()->set_fault_id(id);
      ev.mutable_error()->set_message(r.error().describe());
      emit(ev);
      return r.error().context(fmt::format("revert fault {}", id));
    }
  }
  faults_.erase(it);
  *rec.mutable_at() = to_proto(WallClock::now());
  log()->info("fault {} ({}) reverted: {}", id, fault_kind(fault.spec), v1::RevertReason_Name(reason));
  v1::Event ev;
  *ev.mutable_reverted() = rec;
  emit(ev);
  if (on_revert_) on_revert_(rec);
  cv_.notify_all();
  return ok();
}

size_t FaultManager::revert_all(v1::RevertReason reason) {
  std::unique_lock lock(mu_);
  std::vector<std::string> ids;
  for (auto& [id, f] : faults_) ids.push_back(id);
  size_t n = 0;
  for (auto& id : ids) {
    if (revert_locked(lock, id, reason)) ++n;
  }
  return n;
}

std::vector<v1::ActiveFault> FaultManager::active() const {
  std::lock_guard lock(mu_);
  std::vector<v1::ActiveFault> out;
  for (auto& [id, f] : faults_) {
    v1::ActiveFault a;
    a.set_fault_id(id);
    *a.mutable_spec() = f.spec;
    if (f.in_effect) {
      *a.mutable_applied_at() = to_proto(f.applied_at);
      *a.mutable_counters() = f.engine->counters(id);
    }
    *a.mutable_expires_at() = to_proto(f.expires_at);
    out.push_back(std::move(a));
  }
  return out;
}

bool FaultManager::empty() const {
  std::lock_guard lock(mu_);
  return faults_.empty();
}

void FaultManager::timer_loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    auto now = WallClock::now();
    auto next = now + std::chrono::seconds(1);  // also retries failed reverts
    std::vector<std::string> due_apply, due_expire;
    for (auto& [id, f] : faults_) {
      if (f.expires_at <= now) {
        due_expire.push_back(id);
      } else if (!f.in_effect && f.not_before - f.engine->stage_ahead() <= now) {
        due_apply.push_back(id);
      } else {
        next = std::min(next, f.in_effect ? f.expires_at
                                          : std::min(f.not_before - f.engine->stage_ahead(), f.expires_at));
      }
    }
    for (auto& id : due_expire) (void)revert_locked(lock, id, v1::REVERT_EXPIRED);
    for (auto& id : due_apply) {
      auto it = faults_.find(id);
      if (it == faults_.end()) continue;
      auto& f = it->second;
      // Staged ahead where the engine can: it takes effect at not_before itself.
      auto r = f.engine->apply_at(id, f.spec, f.not_before);
      if (!r) {
        log()->error("fault {}: scheduled apply failed: {}", id, r.error().describe());
        v1::Event ev;
        ev.mutable_error()->set_fault_id(id);
        ev.mutable_error()->set_message(r.error().describe());
        emit(ev);
        faults_.erase(it);
        continue;
      }
      f.in_effect = true;
      f.applied_at = std::max(WallClock::now(), f.not_before);  // staged: in effect from not_before
      log()->info("fault {} ({}) applied at not_before, expires {}", id, fault_kind(f.spec),
                  format_utc(f.expires_at));
      emit(applied_event(id, *f.engine));
      next = std::min(next, f.expires_at);
    }
    if (!due_apply.empty() || !due_expire.empty()) continue;
    cv_.wait_until(lock, next);
  }
}

}  // namespace firedrill::agent
