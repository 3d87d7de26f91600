#include "agent/core/fault_manager.h"

#include <sys/timex.h>

#include <algorithm>

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

// Ended faults kept for heartbeats and for "was not in effect" answers.
constexpr size_t kMaxEnded = 64;
constexpr auto kEndedFor = std::chrono::minutes(10);

}  // namespace

namespace {
journal::Entry held_entry(const std::string& id, const v1::FaultSpec& spec) {
  return {id, journal::kFaultHeld, "", fault_kind(spec), {}};
}
}  // namespace

FaultManager::FaultManager(std::vector<std::unique_ptr<FaultEngine>> engines, EventSink* events,
                           std::shared_ptr<journal::Journal> journal)
    : engines_(std::move(engines)), events_(events), journal_(std::move(journal)) {
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
  // Their engine calls are over (revert_all waited for every busy fault): what is left
  // of each is its return.
  for (auto& w : workers_) w.thread.join();
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
  wait_not_busy(lock, id);
  if (auto it = faults_.find(id); it != faults_.end()) {
    // Idempotent re-apply: same spec is fine (lease may be extended), another is not.
    if (!same_spec(it->second.spec, command.spec())) {
      return make_error("fault {}: already held with a different spec", id);
    }
    if (it->second.revert_reason) {
      return make_error("fault {}: being reverted{}", id,
                        it->second.revert_error.empty() ? "" : " (revert failing: " + it->second.revert_error + ")");
    }
    it->second.expires_at = std::max(it->second.expires_at, expires);
    cv_.notify_all();
    return it->second.in_effect ? v1::ACK_APPLIED : v1::ACK_SCHEDULED;
  }

  if (journal_) {
    // Held from here: a restart that loses it is told to the controller.
    FD_TRY(journal_->begin(held_entry(id, command.spec())), "fault {}: cannot journal it", id);
  }
  ManagedFault fault;
  fault.id = id;
  fault.spec = command.spec();
  fault.engine = engine;
  fault.not_before = not_before;
  fault.expires_at = expires;
  if (not_before > now) {
    faults_.emplace(id, std::move(fault));
    cv_.notify_all();
    log()->info("fault {} ({}) scheduled for {}, expires {}", id, kind, format_utc(not_before),
                format_utc(expires));
    return v1::ACK_SCHEDULED;
  }
  // Held (busy) while the engine works without the lock: a second apply or a revert
  // of the same id waits for it, everything else goes on.
  fault.busy = true;
  faults_.emplace(id, std::move(fault));
  lock.unlock();
  auto r = engine->apply(id, command.spec());
  lock.lock();
  auto it = faults_.find(id);
  it->second.busy = false;
  cv_.notify_all();
  if (!r) {
    faults_.erase(it);
    if (journal_) (void)journal_->end(held_entry(id, command.spec()));  // a failure only over-reports
    return r.error().context(fmt::format("fault {} ({})", id, kind));
  }
  it->second.in_effect = true;
  it->second.applied_at = WallClock::now();
  log()->info("fault {} ({}) applied, expires {}", id, kind, format_utc(it->second.expires_at));
  emit(applied_event(id, *engine));
  return v1::ACK_APPLIED;
}

void FaultManager::wait_not_busy(std::unique_lock<std::mutex>& lock, const std::string& id) {
  cv_.wait(lock, [&] {
    auto it = faults_.find(id);
    return it == faults_.end() || !it->second.busy;
  });
}

Result<RevertOutcome> FaultManager::revert(const std::string& fault_id, v1::RevertReason reason) {
  std::unique_lock lock(mu_);
  wait_not_busy(lock, fault_id);
  if (faults_.find(fault_id) == faults_.end()) {
    // Nothing was reverted by this call: say so, and what became of it.
    for (auto it = ended_.rbegin(); it != ended_.rend(); ++it) {
      if (it->fault_id() != fault_id) continue;
      return RevertOutcome{false, fmt::format("fault {} was not in effect: it ended at {} ({})", fault_id,
                                              format_utc(from_proto(it->at())), v1::RevertReason_Name(it->reason()))};
    }
    return RevertOutcome{false, fmt::format("fault {} was not in effect (not held by this agent)", fault_id)};
  }
  FD_TRY(revert_locked(lock, fault_id, reason), "revert");
  return RevertOutcome{};
}

Result<void> FaultManager::revert_locked(std::unique_lock<std::mutex>& lock, const std::string& id,
                                         v1::RevertReason reason) {
  auto it = faults_.find(id);
  if (!it->second.revert_reason) it->second.revert_reason = reason;
  reason = *it->second.revert_reason;  // the first cause is the one reported
  v1::FaultReverted rec;
  rec.set_fault_id(id);
  rec.set_reason(reason);
  // Prepared and never applied: its engine drops what it set up.
  if (it->second.in_effect || it->second.prepared) {
    FaultEngine* engine = it->second.engine;
    it->second.busy = true;
    lock.unlock();
    *rec.mutable_counters() = engine->counters(id);
    auto r = engine->revert(id);
    lock.lock();
    it = faults_.find(id);  // a busy fault is erased by its owner only
    it->second.busy = false;
    cv_.notify_all();
    if (!r) {
      // Kept: still in effect as far as anyone can tell. The timer retries after a
      // backoff; status and heartbeats show why meanwhile.
      auto& f = it->second;
      if (f.revert_attempts == 0) f.revert_failing_since = WallClock::now();
      ++f.revert_attempts;
      f.revert_error = r.error().describe();
      auto wait = std::min<std::chrono::milliseconds>(kRetryFirst * (1u << std::min<uint32_t>(f.revert_attempts - 1, 16)),
                                                      kRetryMax);
      f.next_retry = SteadyClock::now() + wait;
      log()->error("fault {}: revert failing (attempt {}, next in {}): {}", id, f.revert_attempts,
                   format_duration(wait), f.revert_error);
      v1::Event ev;
      ev.mutable_error()->set_fault_id(id);
      ev.mutable_error()->set_message("revert failing: " + f.revert_error);
      ev.mutable_error()->set_revert_failing(true);
      ev.mutable_error()->set_attempt(f.revert_attempts);
      emit(ev);
      return r.error().context(fmt::format("revert fault {}", id));
    }
  }
  ManagedFault fault = std::move(it->second);
  faults_.erase(it);
  *rec.mutable_at() = to_proto(WallClock::now());
  if (fault.revert_attempts > 0) {
    log()->info("fault {} ({}) reverted after {} failed attempt(s): {}", id, fault_kind(fault.spec),
                fault.revert_attempts, v1::RevertReason_Name(reason));
  } else {
    log()->info("fault {} ({}) reverted: {}", id, fault_kind(fault.spec), v1::RevertReason_Name(reason));
  }
  record_ended(rec);
  v1::Event ev;
  *ev.mutable_reverted() = rec;
  emit(ev);
  if (on_revert_) on_revert_(rec);
  cv_.notify_all();
  return ok();
}

void FaultManager::note_ended(const std::vector<v1::FaultReverted>& ended) {
  std::lock_guard lock(mu_);
  for (auto& e : ended) record_ended(e);
}

void FaultManager::record_ended(v1::FaultReverted rec) {
  if (journal_) {
    journal::Entry e{rec.fault_id(), journal::kFaultHeld, "", "", {}};
    if (auto r = journal_->end(e); !r) log()->error("fault {}: {}", rec.fault_id(), r.error().describe());
  }
  ended_.push_back(std::move(rec));
  auto cutoff = WallClock::now() - kEndedFor;
  while (!ended_.empty() && (ended_.size() > kMaxEnded || from_proto(ended_.front().at()) < cutoff)) {
    ended_.pop_front();
  }
}

size_t FaultManager::revert_all(v1::RevertReason reason) {
  std::unique_lock lock(mu_);
  size_t n = 0;
  // First what is not busy, so that one slow engine call does not hold up the rest;
  // then what was busy (an apply in flight), once it is done.
  std::vector<std::string> busy;
  std::vector<std::string> ids;
  for (auto& [id, f] : faults_) ids.push_back(id);
  for (auto& id : ids) {
    auto it = faults_.find(id);
    if (it == faults_.end()) continue;
    if (it->second.busy) {
      busy.push_back(id);
      continue;
    }
    if (!it->second.revert_error.empty() && SteadyClock::now() < it->second.next_retry) continue;
    if (revert_locked(lock, id, reason)) ++n;
  }
  for (auto& id : busy) {
    wait_not_busy(lock, id);
    auto it = faults_.find(id);
    if (it == faults_.end()) continue;
    if (!it->second.revert_error.empty() && SteadyClock::now() < it->second.next_retry) continue;
    if (revert_locked(lock, id, reason)) ++n;
  }
  return n;
}

std::vector<v1::ActiveFault> FaultManager::active() const {
  std::vector<std::pair<v1::ActiveFault, FaultEngine*>> out;
  {
    std::lock_guard lock(mu_);
    for (auto& [id, f] : faults_) {
      v1::ActiveFault a;
      a.set_fault_id(id);
      *a.mutable_spec() = f.spec;
      if (f.in_effect) *a.mutable_applied_at() = to_proto(f.applied_at);
      *a.mutable_expires_at() = to_proto(f.expires_at);
      if (f.revert_attempts > 0) {
        a.set_revert_error(f.revert_error);
        a.set_revert_attempts(f.revert_attempts);
        *a.mutable_revert_failing_since() = to_proto(f.revert_failing_since);
      }
      out.emplace_back(std::move(a), f.in_effect ? f.engine : nullptr);
    }
  }
  // Counters come from the engines, which are never asked under the manager's lock.
  std::vector<v1::ActiveFault> result;
  for (auto& [a, engine] : out) {
    if (engine) *a.mutable_counters() = engine->counters(a.fault_id());
    result.push_back(std::move(a));
  }
  return result;
}

std::vector<v1::FaultReverted> FaultManager::ended() const {
  std::lock_guard lock(mu_);
  auto cutoff = WallClock::now() - kEndedFor;
  std::vector<v1::FaultReverted> out;
  for (auto& e : ended_) {
    if (from_proto(e.at()) >= cutoff) out.push_back(e);
  }
  return out;
}

bool FaultManager::empty() const {
  std::lock_guard lock(mu_);
  return faults_.empty();
}

bool FaultManager::any_revertible() const {
  std::lock_guard lock(mu_);
  auto now = SteadyClock::now();
  return std::any_of(faults_.begin(), faults_.end(), [&](auto& kv) {
    return kv.second.revert_error.empty() || now >= kv.second.next_retry;
  });
}

void FaultManager::spawn_locked(std::function<void()> work) {
  auto& w = workers_.emplace_back();
  // The list keeps its element in place; the thread marks it done under the lock, which
  // this caller holds until `w.thread` is set.
  w.thread = std::thread([this, self = &w, work = std::move(work)] {
    work();
    std::lock_guard lock(mu_);
    self->done = true;
    cv_.notify_all();
  });
}

void FaultManager::reap_locked() {
  for (auto it = workers_.begin(); it != workers_.end();) {
    if (!it->done) {
      ++it;
      continue;
    }
    it->thread.join();  // it has let go of the lock: only its return is left
    it = workers_.erase(it);
  }
}

void FaultManager::prepare_scheduled_locked(const std::string& id) {
  auto& f = faults_.at(id);
  // Not busy: staging does not wait for it (it prepares what is missing itself, and
  // fails there if it must), nor does a revert (the engine drops what it prepared, also
  // when the preparation ends after the revert).
  f.prepared = true;
  spawn_locked([id, engine = f.engine, spec = f.spec] {
    if (auto r = engine->prepare(id, spec); !r) {
      log()->warn("fault {}: preparing ahead failed: {}", id, r.error().describe());
    }
  });
}

void FaultManager::apply_scheduled_locked(const std::string& id) {
  auto& f = faults_.at(id);
  f.busy = true;
  // Staged ahead where the engine can: it takes effect at not_before by itself, and
  // this thread may be parked until then.
  spawn_locked([this, id, engine = f.engine, spec = f.spec, not_before = f.not_before] {
    auto r = engine->apply_at(id, spec, not_before);
    std::lock_guard lock(mu_);
    finish_scheduled(id, r);
  });
}

void FaultManager::revert_due_locked(const std::string& id) {
  // Busy from here: the worker's. Nothing else reverts it meanwhile (a revert asked
  // for waits for it, then finds it gone or failing), nor does the timer pick it again.
  faults_.at(id).busy = true;
  spawn_locked([this, id] {
    std::unique_lock lock(mu_);
    faults_.at(id).busy = false;  // a busy fault is erased by its owner only
    (void)revert_locked(lock, id, v1::REVERT_EXPIRED);  // a failure is logged, evented and retried
  });
}

void FaultManager::finish_scheduled(const std::string& id, const Result<void>& r) {
  auto it = faults_.find(id);
  it->second.busy = false;
  cv_.notify_all();
  if (!r) {
    log()->error("fault {}: scheduled apply failed: {}", id, r.error().describe());
    v1::Event ev;
    ev.mutable_error()->set_fault_id(id);
    ev.mutable_error()->set_message(r.error().describe());
    emit(ev);
    // It never took effect: told as a fault that ended, with why.
    v1::FaultReverted rec;
    rec.set_fault_id(id);
    rec.set_reason(v1::REVERT_APPLY_FAILED);
    rec.set_error(r.error().describe());
    *rec.mutable_at() = to_proto(WallClock::now());
    faults_.erase(it);
    record_ended(rec);
    v1::Event ended;
    *ended.mutable_reverted() = rec;
    emit(ended);
    if (on_revert_) on_revert_(rec);
    return;
  }
  auto& f = it->second;
  f.in_effect = true;
  f.applied_at = std::max(WallClock::now(), f.not_before);  // staged: in effect from not_before
  if (WallClock::now() < f.not_before) {
    // Staged: the kernel starts it at not_before; the timer tells it then.
    f.announce_at = f.not_before;
    return;
  }
  announce(id, f);
}

void FaultManager::announce(const std::string& id, ManagedFault& f) {
  f.announce_at = WallTime{};
  log()->info("fault {} ({}) applied at not_before, expires {}", id, fault_kind(f.spec), format_utc(f.expires_at));
  emit(applied_event(id, *f.engine));
}

void FaultManager::timer_loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    reap_locked();
    // One due action at a time: a revert releases the lock, and the map may change.
    auto now = WallClock::now();
    auto steady = SteadyClock::now();
    auto next = now + std::chrono::seconds(1);
    std::string due;
    bool due_prepare = false, due_apply = false, due_announce = false;
    for (auto& [id, f] : faults_) {
      if (f.busy) continue;
      if (f.revert_reason) {
        if (steady >= f.next_retry) {
          due = id;
          break;
        }
        next = std::min(next, now + std::chrono::duration_cast<WallClock::duration>(f.next_retry - steady));
      } else if (f.expires_at <= now) {
        due = id;
        break;
      } else if (f.in_effect && f.announce_at != WallTime{}) {
        if (f.announce_at <= now) {
          due = id;
          due_announce = true;
          break;
        }
        next = std::min(next, f.announce_at);
      } else if (!f.in_effect) {
        auto stage_at = f.not_before - f.engine->stage_ahead();
        auto ahead = f.engine->prepare_ahead();
        bool prepare = !f.prepared && ahead > std::chrono::milliseconds(0);
        if (stage_at <= now) {
          due = id;
          due_apply = true;
          break;
        }
        if (prepare && f.not_before - ahead <= now) {
          due = id;
          due_prepare = true;
          break;
        }
        next = std::min({next, prepare ? f.not_before - ahead : stage_at, f.expires_at});
      } else {
        next = std::min(next, f.expires_at);
      }
    }
    if (!due.empty()) {
      if (due_announce) {
        announce(due, faults_.at(due));
      } else if (due_prepare) {
        prepare_scheduled_locked(due);
      } else if (due_apply) {
        apply_scheduled_locked(due);
      } else {
        revert_due_locked(due);
      }
      continue;
    }
    cv_.wait_until(lock, next);
  }
}

std::vector<v1::FaultReverted> close_faults_held_by_a_dead_agent(journal::Journal& journal, EventSink* events) {
  std::vector<v1::FaultReverted> out;
  auto owed = journal.owed();
  for (auto& e : owed) {
    if (e.kind != journal::kFaultHeld) continue;
    // A fault that also owes an undo (a thaw, boot hooks) is told by that recovery.
    bool undo_owed = std::any_of(owed.begin(), owed.end(), [&](const journal::Entry& o) {
      return o.fault_id == e.fault_id && o.kind != journal::kFaultHeld;
    });
    if (auto r = journal.end(e); !r) log()->error("fault {}: {}", e.fault_id, r.error().describe());
    if (undo_owed) continue;
    log()->warn("fault {} ({}) was held when the agent died: it ended then", e.fault_id, e.detail);
    v1::FaultReverted rec;
    rec.set_fault_id(e.fault_id);
    rec.set_reason(v1::REVERT_AGENT_RESTART);
    *rec.mutable_at() = to_proto(WallClock::now());
    if (events) {
      v1::Event ev;
      *ev.mutable_at() = rec.at();
      *ev.mutable_reverted() = rec;
      events->emit(ev);
    }
    out.push_back(std::move(rec));
  }
  return out;
}

}  // namespace firedrill::agent
