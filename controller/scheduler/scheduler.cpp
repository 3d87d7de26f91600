#include "controller/scheduler/scheduler.h"

#include <optional>

#include <unistd.h>

#include <random>

#include "common/log.h"
#include "controller/experiment/proto_file.h"

namespace firedrill::scheduler {

namespace {

constexpr size_t kHistory = 50;
constexpr const char* kClaimed = "claimed";
constexpr auto kOnTime = std::chrono::minutes(1);
constexpr int kMaxCatchUp = 100000;  // occurrences walked over after a long absence

uint64_t fresh_seed() {
  static std::mt19937_64 rng{std::random_device{}()};
  uint64_t s = 0;
  while (s == 0) s = rng();
  return s;
}

}  // namespace

Scheduler::Scheduler(controller::Store* store, Launcher* launcher) : store_(store), launcher_(launcher) {}

Result<void> Scheduler::persist(const v1::ScheduleRecord& r) { return store_->put_schedule(r); }

Result<void> Scheduler::open() {
  FD_ASSIGN(records, store_->schedules(), "schedules");
  std::lock_guard lock(mu_);
  for (auto& r : records) {
    auto cal = calendar::Calendar::compile(r.experiment().schedule());
    if (!cal) {
      logger("controller.scheduler")->error("schedule {}: {}", r.id(), cal.error().describe());
      continue;
    }
    entries_.emplace(r.id(), Entry{std::move(r), std::move(*cal)});
  }
  return ok();
}

void Scheduler::refresh_next(Entry* e, WallTime now) {
  WallTime base = e->record.has_last_due() ? from_proto(e->record.last_due()) : from_proto(e->record.created_at());
  auto next = e->calendar.next_after(std::max(base, now - kOnTime));
  if (next) {
    *e->record.mutable_next_due() = to_proto(*next);
  } else {
    e->record.clear_next_due();
  }
}

Result<v1::ScheduleRecord> Scheduler::add(v1::ScheduleRecord draft, WallTime now) {
  if (!draft.experiment().has_schedule()) return make_error("experiment '{}' has no schedule", draft.experiment().name());
  FD_ASSIGN(cal, calendar::Calendar::compile(draft.experiment().schedule()), "experiment '{}'", draft.experiment().name());
  if (draft.id().empty()) draft.set_id(experiment::new_record_id("s"));
  *draft.mutable_created_at() = to_proto(now);
  draft.set_paused(draft.experiment().schedule().paused());
  // Counting starts now: nothing before the schedule existed is due.
  *draft.mutable_last_due() = to_proto(now);
  Entry e{std::move(draft), std::move(cal)};
  refresh_next(&e, now);
  std::lock_guard lock(mu_);
  if (entries_.count(e.record.id())) return make_error("schedule {} exists", e.record.id());
  FD_TRY(persist(e.record), "add schedule");
  auto [it, _] = entries_.emplace(e.record.id(), std::move(e));
  return it->second.record;
}

std::vector<v1::ScheduleRecord> Scheduler::list() const {
  std::lock_guard lock(mu_);
  std::vector<v1::ScheduleRecord> out;
  for (const auto& [id, e] : entries_) out.push_back(e.record);
  return out;
}

Result<v1::ScheduleRecord> Scheduler::get(const std::string& id) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find(id);
  if (it == entries_.end()) return make_error("no schedule {}", id);
  return it->second.record;
}

Result<v1::ScheduleRecord> Scheduler::pause(const std::string& id, WallTime now) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(id);
  if (it == entries_.end()) return make_error("no schedule {}", id);
  it->second.record.set_paused(true);
  FD_TRY(persist(it->second.record), "pause schedule {}", id);
  return it->second.record;
}

Result<v1::ScheduleRecord> Scheduler::resume(const std::string& id, WallTime now) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(id);
  if (it == entries_.end()) return make_error("no schedule {}", id);
  Entry& e = it->second;
  if (e.record.paused()) {
    e.record.set_paused(false);
    *e.record.mutable_last_due() = to_proto(now);
    refresh_next(&e, now);
  }
  FD_TRY(persist(e.record), "resume schedule {}", id);
  return e.record;
}

Result<v1::ScheduleRecord> Scheduler::remove(const std::string& id) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(id);
  if (it == entries_.end()) return make_error("no schedule {}", id);
  FD_TRY(store_->remove_schedule(id), "remove schedule {}", id);
  v1::ScheduleRecord r = std::move(it->second.record);
  entries_.erase(it);
  return r;
}

void Scheduler::note(v1::ScheduleRecord* r, WallTime due, WallTime now, std::string outcome, std::string run_id) {
  // What became of a claimed occurrence replaces its claim.
  bool claimed = r->history_size() > 0 && r->history(r->history_size() - 1).outcome() == kClaimed &&
                 from_proto(r->history(r->history_size() - 1).due()) == due;
  auto* h = claimed ? r->mutable_history(r->history_size() - 1) : r->add_history();
  *h->mutable_due() = to_proto(due);
  *h->mutable_handled_at() = to_proto(now);
  h->set_outcome(std::move(outcome));
  h->set_run_id(std::move(run_id));
  if (static_cast<size_t>(r->history_size()) > kHistory) {
    r->mutable_history()->DeleteSubrange(0, r->history_size() - static_cast<int>(kHistory));
  }
}

v1::Experiment Scheduler::for_run(const v1::Experiment& e, uint64_t seed) {
  v1::Experiment out = e;
  uint32_t n = e.schedule().random_targets();
  if (n == 0) return out;
  auto pick = [&](v1::Targets* t) {
    t->mutable_mode()->set_count(n);
    t->set_seed(seed);
  };
  if (out.has_targets()) pick(out.mutable_targets());
  for (auto& s : *out.mutable_steps()) {
    if (s.has_targets()) pick(s.mutable_targets());
  }
  return out;
}

std::vector<std::string> Scheduler::tick_one(Entry* e, WallTime now) {
  auto log = logger("controller.scheduler");
  v1::ScheduleRecord& r = e->record;
  std::vector<std::string> started;
  if (r.paused()) return started;
  WallTime base = r.has_last_due() ? from_proto(r.last_due()) : from_proto(r.created_at());
  auto due = e->calendar.next_after(base);
  if (!due || *due > now) {
    refresh_next(e, now);
    return started;
  }
  // Walk to the latest occurrence not after now; the ones before it were missed.
  WallTime latest = *due;
  int missed = 0;
  for (int i = 0; i < kMaxCatchUp; ++i) {
    auto n = e->calendar.next_after(latest);
    if (!n || *n > now) break;
    latest = *n;
    ++missed;
  }
  if (missed > 0) {
    note(&r, *due, now, fmt::format("missed ({} occurrence(s) from {} while the controller was away)", missed,
                                    format_utc(*due)), "");
  }
  auto deadline = r.experiment().schedule().has_starting_deadline()
                      ? std::chrono::duration_cast<WallClock::duration>(from_proto(r.experiment().schedule().starting_deadline()))
                      : std::chrono::duration_cast<WallClock::duration>(kOnTime);
  *r.mutable_last_due() = to_proto(latest);
  bool late = now - latest > deadline;
  if (late) note(&r, latest, now, "missed (later than the starting deadline)", "");
  refresh_next(e, now);
  // Claimed before the run starts (fenced by the leader epoch on a shared store): a
  // restart or a takeover never starts this occurrence again, and starts it late only
  // when no run of it was recorded (finish_claimed).
  if (!late) note(&r, latest, now, kClaimed, "");
  if (auto p = persist(r); !p) {
    log->error("schedule {}: {}; not starting the run", r.id(), p.error().describe());
    return started;
  }
  if (late) return started;
  auto policy = r.experiment().schedule().concurrency();
  if (policy != v1::CONCURRENCY_ALLOW && !r.last_run_id().empty() && launcher_->active(r.last_run_id())) {
    note(&r, latest, now, fmt::format("skipped: previous run {} still active", r.last_run_id()), "");
  } else {
    launch(&r, latest, now, started);
  }
  if (auto p = persist(r); !p) log->error("schedule {}: {}", r.id(), p.error().describe());
  return started;
}

void Scheduler::launch(v1::ScheduleRecord* r, WallTime due, WallTime now, std::vector<std::string>& started) {
  auto log = logger("controller.scheduler");
  auto id = launcher_->launch(*r, for_run(r->experiment(), fresh_seed()), due);
  if (id) {
    note(r, due, now, "started", *id);
    r->set_last_run_id(*id);
    started.push_back(*id);
    log->info("schedule {} ({}): started run {} for {}", r->id(), r->experiment().name(), *id, format_utc(due));
  } else {
    note(r, due, now, "failed: " + id.error().describe(), "");
    log->warn("schedule {}: run not started: {}", r->id(), id.error().describe());
  }
}

// The occurrence a lost controller claimed (last_due written, fenced by its epoch) and
// may not have started: started now, late, unless its run is in the store (the run's
// record is written as it begins, with its schedule id). None runs twice, none is lost.
std::vector<std::string> Scheduler::finish_claimed(WallTime now) {
  std::lock_guard lock(mu_);
  std::vector<std::string> started;
  std::optional<std::vector<v1::RunRecord>> runs;
  for (auto& [id, e] : entries_) {
    v1::ScheduleRecord& r = e.record;
    if (!r.has_last_due() || r.history_size() == 0) continue;
    const auto& last = r.history(r.history_size() - 1);
    if (last.outcome() != kClaimed || from_proto(last.due()) != from_proto(r.last_due())) continue;
    if (!runs) {
      auto all = store_->runs(0);
      if (!all) {
        logger("controller.scheduler")->error("schedules: {}", all.error().describe());
        return started;
      }
      runs = std::move(*all);
    }
    WallTime claimed_at = from_proto(last.handled_at());
    std::string found;
    for (const auto& run : *runs) {
      if (run.schedule_id() == r.id() && from_proto(run.created_at()) >= claimed_at) found = run.id();
    }
    WallTime due = from_proto(last.due());
    if (!found.empty()) {
      note(&r, due, now, "started", found);
      r.set_last_run_id(found);
    } else {
      logger("controller.scheduler")->warn("schedule {}: the occurrence of {} was claimed and not started: starting it late",
                                           r.id(), format_utc(due));
      launch(&r, due, now, started);
    }
    if (auto p = persist(r); !p) logger("controller.scheduler")->error("schedule {}: {}", r.id(), p.error().describe());
  }
  return started;
}

std::vector<std::string> Scheduler::tick(WallTime now) {
  std::lock_guard lock(mu_);
  std::vector<std::string> started;
  for (auto& [id, e] : entries_) {
    auto s = tick_one(&e, now);
    started.insert(started.end(), s.begin(), s.end());
  }
  return started;
}

}  // namespace firedrill::scheduler
