#include "controller/runner/run.h"

#include <algorithm>
#include <cmath>
#include <set>

#include <fmt/format.h>

#include "common/log.h"
#include "controller/experiment/validate.h"
#include "controller/guard/guard.h"
#include "controller/runner/environment.h"
#include "controller/runner/target_command.h"
#include "controller/store/target_status.h"

namespace firedrill::runner {

using std::chrono::nanoseconds;

namespace {

constexpr auto kApprovalPoll = std::chrono::seconds(1);

nanoseconds dur_or(bool has, const google::protobuf::Duration& d, nanoseconds fallback) {
  return has ? from_proto(d) : fallback;
}

WallTime plus(WallTime t, nanoseconds d) { return t + std::chrono::duration_cast<WallClock::duration>(d); }

std::vector<std::string> ids(const std::vector<controller::Host>& hosts) {
  std::vector<std::string> out;
  for (const auto& h : hosts) out.push_back(h.id);
  return out;
}

v1::ProbeSample to_proto_sample(const std::string& probe, const slo::Sample& s) {
  v1::ProbeSample p;
  p.set_probe(probe);
  *p.mutable_start() = to_proto(s.start);
  *p.mutable_duration() = to_proto_duration(s.duration);
  p.set_ok(s.ok);
  p.set_detail(s.detail);
  p.set_marker(s.marker);
  return p;
}

slo::Sample from_proto_sample(const v1::ProbeSample& p) {
  slo::Sample s;
  s.start = from_proto(p.start());
  s.duration = from_proto(p.duration());
  s.ok = p.ok();
  s.detail = p.detail();
  s.marker = p.marker();
  return s;
}

std::string host_list(const std::vector<std::string>& hosts, size_t max = 8) {
  std::vector<std::string> head(hosts.begin(), hosts.begin() + static_cast<long>(std::min(max, hosts.size())));
  std::string s = fmt::format("{}", fmt::join(head, ", "));
  if (hosts.size() > max) s += fmt::format(" and {} more", hosts.size() - max);
  return s;
}

}  // namespace

std::string phase_name(v1::RunPhase phase) {
  switch (phase) {
    case v1::RUN_PHASE_PENDING_APPROVAL: return "pending_approval";
    case v1::RUN_PHASE_PREFLIGHT: return "preflight";
    case v1::RUN_PHASE_STEADY_STATE: return "steady_state";
    case v1::RUN_PHASE_INJECT: return "inject";
    case v1::RUN_PHASE_OBSERVE: return "observe";
    case v1::RUN_PHASE_REVERT: return "revert";
    case v1::RUN_PHASE_RECOVER: return "recover";
    case v1::RUN_PHASE_VERDICT: return "verdict";
    case v1::RUN_PHASE_DONE: return "done";
    default: return "new";
  }
}

std::string outcome_name(v1::RunOutcome outcome) {
  switch (outcome) {
    case v1::RUN_OUTCOME_PASSED: return "passed";
    case v1::RUN_OUTCOME_FAILED: return "failed";
    case v1::RUN_OUTCOME_ABORTED: return "aborted";
    case v1::RUN_OUTCOME_REFUSED: return "refused";
    default: return "running";
  }
}

v1::RunRecord new_run_record(const experiment::LoadedExperiment& file, const std::string& id,
                             const std::string& started_by, WallTime now) {
  v1::RunRecord r;
  r.set_id(id);
  r.set_kind("experiment");
  r.set_experiment_file(file.file);
  r.set_experiment_yaml(file.text);
  r.set_experiment_sha256(file.sha256);
  *r.mutable_experiment() = file.experiment;
  for (const auto& o : file.overrides) r.add_overrides(o);
  r.set_started_by(started_by);
  *r.mutable_participants() = file.experiment.participants();
  *r.mutable_created_at() = to_proto(now);
  return r;
}

Run::Run(v1::RunRecord record, Clock* clock, FleetDriver* fleet, std::unique_ptr<probes::ProbeSource> probes,
         controller::Store* store, RunObserver* observer, RunnerOptions options)
    : clock_(clock),
      fleet_(fleet),
      probes_(std::move(probes)),
      store_(store),
      observer_(observer),
      options_(options),
      record_(std::move(record)) {
  for (const auto& s : record_.samples()) sets_[s.probe()].push_back(from_proto_sample(s));
}

Run::~Run() {
  if (probes_ && probes_started_) probes_->stop();
}

std::string Run::id() const {
  std::lock_guard lock(mu_);
  return record_.id();
}

bool Run::finished() const {
  std::lock_guard lock(mu_);
  return record_.phase() == v1::RUN_PHASE_DONE;
}

v1::RunRecord Run::snapshot(bool with_samples) const {
  std::lock_guard lock(mu_);
  if (with_samples) return record_;
  v1::RunRecord s = summary(record_);
  // Events are the timeline the terminal shows; keep them.
  *s.mutable_events() = record_.events();
  return s;
}

v1::RunUpdate Run::update() const {
  std::lock_guard lock(mu_);
  v1::RunUpdate u;
  *u.mutable_run() = summary(record_);
  *u.mutable_run()->mutable_events() = record_.events();
  WallTime now = clock_->now();
  for (const auto& p : record_.experiment().probes()) {
    auto* st = u.add_probes();
    st->set_name(p.name());
    st->set_kind(experiment::probe_kind(p));
    auto it = sets_.find(p.name());
    if (it == sets_.end() || it->second.empty()) continue;
    const auto& v = it->second;
    const slo::Sample& last = v.back();
    st->set_last_ok(last.ok);
    st->set_last_detail(last.detail);
    *st->mutable_last_start() = to_proto(last.start);
    *st->mutable_last_duration() = to_proto_duration(last.duration);
    st->set_samples(v.size());
    st->set_failures(static_cast<uint64_t>(std::count_if(v.begin(), v.end(), [](const slo::Sample& s) { return !s.ok; })));
    *st->mutable_failing_for() = to_proto_duration(slo::current_unavailability(v, now));
  }
  return u;
}

uint64_t Run::wait_change(uint64_t version, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  changed_.wait_for(lock, timeout, [&] { return version_ != version; });
  return version_;
}

void Run::touch() {
  ++version_;
  changed_.notify_all();
}

void Run::event(const std::string& kind, const std::string& message) {
  std::lock_guard lock(mu_);
  auto* e = record_.add_events();
  *e->mutable_at() = to_proto(clock_->now());
  e->set_phase(record_.phase());
  e->set_kind(kind);
  e->set_message(message);
  touch();
  logger("controller.runner")->info("run {}: {}: {}", record_.id(), kind, message);
}

void Run::set_phase(v1::RunPhase phase, const std::string& detail, int step) {
  v1::RunRecord copy;
  {
    std::lock_guard lock(mu_);
    record_.set_phase(phase);
    if (step >= 0) record_.set_step(static_cast<uint32_t>(step));
    *record_.mutable_phase_started_at() = to_proto(clock_->now());
    touch();
  }
  event("phase", detail.empty() ? phase_name(phase) : phase_name(phase) + ": " + detail);
  {
    std::lock_guard lock(mu_);
    copy = summary(record_);
  }
  if (observer_) observer_->on_phase(copy, detail);
  persist(true);
}

v1::RunRecord summary(const v1::RunRecord& run) {
  v1::RunRecord s;
  s.CopyFrom(run);
  s.clear_samples();
  s.clear_events();
  s.clear_experiment_yaml();
  return s;
}

v1::RunRecord Run::without_samples() const {
  std::lock_guard lock(mu_);
  v1::RunRecord copy = summary(record_);
  *copy.mutable_events() = record_.events();
  copy.set_experiment_yaml(record_.experiment_yaml());
  return copy;
}

// The record without its samples: those went to the store as they came (pump()), so
// what is written here does not grow with the run's length.
void Run::persist(bool force) {
  if (!store_) return;
  std::lock_guard plock(persist_mu_);
  WallTime now = clock_->now();
  if (!force && now - last_persist_ < options_.persist_every) return;
  last_persist_ = now;
  v1::RunRecord copy = without_samples();
  if (auto r = store_->put_run(copy); !r) {
    logger("controller.runner")->error("run {}: cannot save: {}", copy.id(), r.error().describe());
  }
}

void Run::pump() {
  if (!probes_ || !probes_started_) return;
  auto fresh = probes_->take_new();
  if (fresh.empty()) return;
  std::map<std::string, std::vector<slo::Sample>> by_probe;
  std::vector<v1::ProbeSample> rows;
  std::string id;
  {
    std::lock_guard lock(mu_);
    id = record_.id();
    for (auto& [probe, s] : fresh) {
      rows.push_back(to_proto_sample(probe, s));
      *record_.add_samples() = rows.back();
      sets_[probe].push_back(s);
      by_probe[probe].push_back(std::move(s));
    }
    touch();
  }
  if (store_) {
    if (auto r = store_->append_samples(id, rows); !r) {
      logger("controller.runner")->error("run {}: cannot store samples: {}", id, r.error().describe());
    }
  }
  if (observer_) {
    v1::RunRecord copy = snapshot(false);
    for (const auto& [probe, v] : by_probe) observer_->on_samples(copy, probe, v);
  }
}

v1::ApproveResponse Run::approve(const std::string& approver, const std::string& comment, bool reject) {
  v1::ApproveResponse out;
  v1::Approval a;
  v1::RunRecord copy;
  {
    std::lock_guard lock(mu_);
    const auto& req = record_.experiment().approvals();
    out.set_required(req.required());
    std::set<std::string> distinct;
    for (const auto& x : record_.approvals()) distinct.insert(x.approver());
    out.set_approvals(static_cast<uint32_t>(distinct.size()));
    if (approver.empty()) {
      out.set_error("an approver's name is required (--as NAME)");
      return out;
    }
    if (record_.phase() != v1::RUN_PHASE_PENDING_APPROVAL) {
      out.set_error(record_.phase() == v1::RUN_PHASE_DONE
                        ? fmt::format("run {} is not waiting for approval (it is {})", record_.id(), outcome_name(record_.outcome()))
                        : fmt::format("run {} is not waiting for approval (it is in {})", record_.id(), phase_name(record_.phase())));
      return out;
    }
    if (approver == record_.started_by()) {
      out.set_error(fmt::format("{} started run {} and may not approve it; approvals come from someone else", approver,
                                record_.id()));
      return out;
    }
    if (!req.approvers().empty() && std::find(req.approvers().begin(), req.approvers().end(), approver) == req.approvers().end()) {
      out.set_error(fmt::format("{} may not approve this run (approvers: {})", approver, fmt::join(req.approvers(), ", ")));
      return out;
    }
    if (distinct.count(approver)) {
      out.set_error(fmt::format("{} has already approved run {}; approvals must come from distinct people", approver, record_.id()));
      return out;
    }
    a.set_approver(approver);
    *a.mutable_at() = to_proto(clock_->now());
    a.set_comment(comment);
    if (reject) {
      rejection_ = fmt::format("rejected by {}{}", approver, comment.empty() ? "" : ": " + comment);
    } else {
      *record_.add_approvals() = a;
      out.set_approvals(out.approvals() + 1);
    }
    touch();
    copy = summary(record_);
  }
  event("approval", reject ? fmt::format("{} rejected the run{}", approver, comment.empty() ? "" : ": " + comment)
                           : fmt::format("{} approved ({} of {})", approver, out.approvals(), out.required()));
  if (observer_) observer_->on_approval(copy, a, reject);
  persist(true);
  clock_->wake();
  return out;
}

void Run::abort(const std::string& reason, const std::string& by) {
  {
    std::lock_guard lock(mu_);
    if (!abort_reason_.empty() || record_.phase() == v1::RUN_PHASE_DONE) return;
    abort_reason_ = reason.empty() ? "aborted by an operator" : reason;
    abort_by_ = by;
    record_.set_abort_requested(abort_reason_);
    touch();
  }
  clock_->wake();
}

void Run::shutdown(const std::string& why) {
  {
    std::lock_guard lock(mu_);
    if (record_.phase() == v1::RUN_PHASE_DONE) return;
    if (record_.phase() == v1::RUN_PHASE_PENDING_APPROVAL || record_.phase() == v1::RUN_PHASE_UNSPECIFIED) {
      suspended_ = true;
    } else if (abort_reason_.empty()) {
      abort_reason_ = why;
      abort_by_ = "controller";
      record_.set_abort_requested(why);
    }
    touch();
  }
  clock_->wake();
}

std::pair<std::string, std::string> Run::should_abort(bool faults_on) {
  {
    std::lock_guard lock(mu_);
    if (!abort_reason_.empty()) return {abort_reason_, abort_by_.empty() ? "operator" : abort_by_};
    if (suspended_) return {"the controller is shutting down", "controller"};
  }
  std::string why;
  if (fleet_->halted(&why)) return {fmt::format("the fleet was halted: {}", why), "halt"};
  if (!faults_on) return {};
  std::vector<std::string> hosts;
  for (const auto& a : active_) hosts.insert(hosts.end(), a.hosts.begin(), a.hosts.end());
  auto lost = fleet_->lost(hosts);
  if (!lost.empty()) return {fmt::format("agent(s) lost while their fault was on: {}", host_list(lost)),
                             "lost agent " + lost.front()};
  if (auto ended = faults_ended(); !ended.first.empty()) return ended;
  const auto& e = record_.experiment();  // only this thread changes the experiment
  WallTime now = clock_->now();
  if (e.abort().has_unavailability_over()) {
    auto limit = from_proto(e.abort().unavailability_over());
    std::lock_guard lock(mu_);
    for (const auto& p : experiment::judged_probes(e, e.abort().probes())) {
      auto it = sets_.find(p);
      if (it == sets_.end()) continue;
      auto down = slo::current_unavailability(it->second, now);
      if (down > limit) {
        return {fmt::format("probe {} unavailable for {} (abort.unavailability_over {})", p,
                            format_duration(std::chrono::duration_cast<std::chrono::milliseconds>(down)),
                            format_duration(limit)),
                "abort condition: " + p};
      }
    }
  }
  std::optional<WallTime> fault_start;
  {
    std::lock_guard lock(mu_);
    if (record_.has_fault_start()) fault_start = from_proto(record_.fault_start());
  }
  if (e.abort().has_max_run_time() && fault_start) {
    auto limit = from_proto(e.abort().max_run_time());
    if (now - *fault_start > limit) {
      return {fmt::format("the run exceeded abort.max_run_time {}", format_duration(limit)), "abort condition: max_run_time"};
    }
  }
  return {};
}

std::pair<std::string, std::string> Run::faults_ended() {
  const bool go_on = record_.experiment().abort().continue_when_fault_ends();
  std::pair<std::string, std::string> abort;
  for (const auto& a : active_) {
    for (const auto& e : fleet_->ended_early(a.fault_id, a.hosts)) {
      if (!ended_seen_.insert(a.fault_id + "@" + e.agent_id).second) continue;
      WallTime at = e.at.value_or(clock_->now());
      std::string what = fmt::format("fault {} ended early on {} at {}: {}", a.fault_id, e.agent_id, format_utc(at), e.why);
      std::vector<v1::FaultRecord> changed;
      {
        std::lock_guard lock(mu_);
        for (auto& f : *record_.mutable_steps(a.step)->mutable_faults()) {
          if (f.agent_id() != e.agent_id || f.fault_id() != a.fault_id) continue;
          f.set_status(e.still_in_effect ? v1::TARGET_STATUS_REVERT_FAILING : v1::TARGET_STATUS_ENDED_EARLY);
          f.set_error(what);
          if (!e.still_in_effect) *f.mutable_reverted_at() = to_proto(at);
          changed.push_back(f);
        }
        touch();
      }
      event("fault", what + (go_on ? " (the run goes on: abort.continue_when_fault_ends)" : ""));
      if (observer_) {
        v1::RunRecord copy = snapshot(false);
        for (const auto& f : changed) observer_->on_fault(copy, f, true);
      }
      if (!go_on && abort.first.empty()) {
        abort = {fmt::format("step {} is broken on {}: {}", a.step + 1, e.agent_id, what), "fault ended on " + e.agent_id};
      }
    }
  }
  return abort;
}

void Run::sleep_tick(WallTime limit) {
  WallTime now = clock_->now();
  WallTime next = plus(now, options_.tick);
  clock_->sleep_until(std::min(next, limit));
}

Run::Step Run::wait_for_approvals() {
  set_phase(v1::RUN_PHASE_PENDING_APPROVAL,
            fmt::format("waiting for {} approval(s)", record_.experiment().approvals().required()));
  while (true) {
    {
      std::unique_lock lock(mu_);
      std::set<std::string> distinct;
      for (const auto& a : record_.approvals()) distinct.insert(a.approver());
      if (suspended_) return Step::kStop;  // stays pending on disk
      if (distinct.size() >= record_.experiment().approvals().required()) break;
      if (!rejection_.empty()) {
        std::string why = rejection_;
        lock.unlock();
        end_refused(why);
        return Step::kStop;
      }
      if (!abort_reason_.empty()) {
        std::string why = abort_reason_, by = abort_by_;
        lock.unlock();
        end_aborted(why, by.empty() ? "operator" : by);
        return Step::kStop;
      }
    }
    clock_->sleep_until(plus(clock_->now(), kApprovalPoll));
  }
  return Step::kGo;
}

Run::Step Run::preflight() {
  set_phase(v1::RUN_PHASE_PREFLIGHT, "");
  const v1::Experiment& e = record_.experiment();
  std::string why;
  if (fleet_->halted(&why)) {
    end_refused(fmt::format("the fleet is halted ({}); `firedrill release` first", why));
    return Step::kStop;
  }
  if (auto [reason, by] = should_abort(false); !reason.empty()) {
    end_aborted(reason, by);
    return Step::kStop;
  }
  step_hosts_.clear();
  std::vector<std::string> held;
  std::set<std::string> all;
  std::map<std::string, v1::Targets> from_command;  // field -> what its command chose
  for (int i = 0; i < e.steps_size(); ++i) {
    const v1::Step& s = e.steps(i);
    const std::string field = s.has_targets() ? fmt::format("steps[{}].targets", i) : "targets";
    v1::Targets t = s.has_targets() ? s.targets() : e.targets();
    if (!t.from_command().empty()) {
      auto known = from_command.find(field);
      if (known == from_command.end()) {
        auto chosen = choose_by_command(t, field);
        if (!chosen) {
          if (observer_) observer_->on_targets(snapshot(false), i, {});
          end_refused(fmt::format("step {} targets: {}", i + 1, chosen.error().message));
          return Step::kStop;
        }
        known = from_command.emplace(field, *chosen).first;
      }
      t = known->second;
    }
    auto hosts = fleet_->resolve(t);
    if (!hosts) {
      end_refused(fmt::format("step {} targets ({}): {}", i + 1, t.hosts_size() > 0 ? targets_words(t) : t.selector(),
                              hosts.error().describe()));
      return Step::kStop;
    }
    if (auto placed = check_environment(e.environment(), *hosts); !placed) {
      end_refused(fmt::format("step {}: {}", i + 1, placed.error().message));
      return Step::kStop;
    }
    step_hosts_.push_back(*hosts);
    {
      std::lock_guard lock(mu_);
      auto* sr = record_.add_steps();
      sr->set_index(static_cast<uint32_t>(i));
      sr->set_name(s.name().empty() ? fmt::format("step-{}", i + 1) : s.name());
      for (const auto& h : *hosts) {
        auto* rt = sr->add_targets();
        rt->set_agent_id(h.id);
        rt->mutable_tags()->insert(h.tags.begin(), h.tags.end());
      }
    }
    if (observer_) observer_->on_targets(snapshot(false), i, *hosts);
    event("targets", fmt::format("step {}: {} host(s): {}", i + 1, hosts->size(), host_list(ids(*hosts))));
    // What is under fault while step i runs: its hosts and the held ones before it.
    std::vector<std::string> during = held;
    for (const auto& h : ids(*hosts)) {
      if (std::find(during.begin(), during.end(), h) == during.end()) during.push_back(h);
    }
    v1::GuardVerdict v = fleet_->check(record_.id(), during, e.blast_radius());
    {
      std::lock_guard lock(mu_);
      *record_.mutable_steps(i)->mutable_guard() = v;
    }
    if (observer_) observer_->on_guard(snapshot(false), fmt::format("preflight step {}", i + 1), v);
    if (!v.allowed()) {
      end_refused(fmt::format("step {}: {}", i + 1, controller::describe(v)));
      return Step::kStop;
    }
    auto not_ready = fleet_->not_ready(ids(*hosts), s.fault());
    if (!not_ready.empty()) {
      end_refused(fmt::format("step {}: target(s) not live or not capable: {}", i + 1, fmt::join(not_ready, "; ")));
      return Step::kStop;
    }
    if (s.hold()) held = during;
    all.insert(during.begin(), during.end());
  }
  // The first step's hosts are what the run holds from the start; admitting registers
  // them in the fleet-wide budget.
  std::vector<std::string> first = ids(step_hosts_.empty() ? std::vector<controller::Host>{} : step_hosts_[0]);
  v1::GuardVerdict v = fleet_->admit(record_.id(), first, e.blast_radius());
  if (observer_) observer_->on_guard(snapshot(false), "admit", v);
  if (!v.allowed()) {
    end_refused(controller::describe(v));
    return Step::kStop;
  }
  admitted_ = true;
  event("guard", fmt::format("admitted: {} host(s) over {} step(s)", all.size(), e.steps_size()));
  return Step::kGo;
}

Result<v1::Targets> Run::choose_by_command(const v1::Targets& declared, const std::string& field) {
  event("targets", fmt::format("{}: running from_command: {}", field, declared.from_command()));
  v1::TargetCommandRecord rec;
  auto chosen = targets_from_command(declared, field, *fleet_, clock_->now(), &rec);
  {
    std::lock_guard lock(mu_);
    *record_.add_target_commands() = rec;
    touch();
  }
  if (chosen) {
    event("targets", fmt::format("{}: the command ({}) chose {}", field, rec.status(), targets_words(*chosen)));
  }
  return chosen;
}

bool Run::holds(const std::vector<std::string>& probes, WallTime since, nanoseconds hold, WallTime* held_since,
                std::string* failing) {
  WallTime now = clock_->now();
  WallTime latest = since;
  std::lock_guard lock(mu_);
  for (const auto& p : probes) {
    auto it = sets_.find(p);
    const std::vector<slo::Sample> none;
    const auto& v = it == sets_.end() ? none : it->second;
    auto ok_since = slo::success_since(v, since);
    if (!ok_since) {
      std::string last;
      for (auto s = v.rbegin(); s != v.rend(); ++s) {
        if (s->start >= since) {
          last = s->detail;
          break;
        }
      }
      *failing = last.empty() ? fmt::format("{}: no sample yet", p) : fmt::format("{}: {}", p, last);
      return false;
    }
    if (now - *ok_since < hold) {
      *failing = fmt::format("{}: up for {} of {}", p,
                             format_duration(std::chrono::duration_cast<std::chrono::milliseconds>(now - *ok_since)),
                             format_duration(hold));
      return false;
    }
    latest = std::max(latest, *ok_since);
  }
  *held_since = latest;
  return true;
}

Run::Step Run::steady_state() {
  const v1::Experiment& e = record_.experiment();
  nanoseconds hold = dur_or(e.steady_state().has_hold(), e.steady_state().hold(), options_.default_steady_hold);
  nanoseconds timeout = dur_or(e.steady_state().has_timeout(), e.steady_state().timeout(), hold + std::chrono::minutes(1));
  set_phase(v1::RUN_PHASE_STEADY_STATE, fmt::format("probes must hold for {}", format_duration(hold)));
  if (probes_ && !probes_started_) {
    probes_->start();
    probes_started_ = true;
  }
  auto judged = experiment::judged_probes(e, e.steady_state().probes());
  WallTime start = clock_->now();
  WallTime deadline = plus(start, timeout);
  std::string failing;
  while (true) {
    pump();
    auto [reason, by] = should_abort(false);
    if (!reason.empty()) {
      end_aborted(reason, by);
      return Step::kStop;
    }
    WallTime since;
    if (judged.empty() || holds(judged, start, hold, &since, &failing)) {
      if (judged.empty()) since = clock_->now();
      std::lock_guard lock(mu_);
      *record_.mutable_steady_since() = to_proto(since);
      break;
    }
    if (clock_->now() >= deadline) {
      end_aborted(fmt::format("steady state not reached within {} ({})", format_duration(timeout), failing),
                  "steady state");
      return Step::kStop;
    }
    sleep_tick(deadline);
  }
  event("steady", judged.empty() ? "no probe to hold" : fmt::format("every probe held for {}", format_duration(hold)));
  return Step::kGo;
}

Run::Step Run::inject(int i) {
  const v1::Experiment& e = record_.experiment();
  const v1::Step& s = e.steps(i);
  set_phase(v1::RUN_PHASE_INJECT, fmt::format("step {} of {}", i + 1, e.steps_size()), i);
  auto [reason, by] = should_abort(!active_.empty());
  if (!reason.empty()) {
    end_aborted(reason, by);
    return Step::kStop;
  }
  std::vector<std::string> hosts = ids(step_hosts_[static_cast<size_t>(i)]);
  std::vector<std::string> during;
  auto add = [&](const std::string& h) {
    if (std::find(during.begin(), during.end(), h) == during.end()) during.push_back(h);
  };
  for (const auto& a : active_) {
    for (const auto& h : a.hosts) add(h);
  }
  for (const auto& h : hosts) add(h);
  v1::GuardVerdict v = fleet_->check(record_.id(), during, e.blast_radius());
  if (observer_) observer_->on_guard(snapshot(false), fmt::format("step {}", i + 1), v);
  if (!v.allowed()) {
    end_aborted(fmt::format("guard refused step {}: {}", i + 1, controller::describe(v)), "guard");
    return Step::kStop;
  }
  fleet_->set_run_hosts(record_.id(), during);

  WallTime now = clock_->now();
  nanoseconds delay = record_.has_start_delay() ? from_proto(record_.start_delay()) : options_.start_delay;
  WallTime not_before = plus(now, delay);
  nanoseconds planned = from_proto(s.duration());
  if (s.hold()) {
    // Held until the last step ends: its lease covers the steps after it as well.
    for (int j = i + 1; j < e.steps_size(); ++j) planned += from_proto(e.steps(j).duration()) + delay;
  }
  WallTime expires = plus(not_before, planned + options_.lease_margin);
  std::string fid = fleet_->fault_id(record_.id(), i);
  {
    // Written before the command goes out: a controller that dies during the apply
    // finds on restart what to revert.
    std::lock_guard lock(mu_);
    auto* sr = record_.mutable_steps(i);
    *sr->mutable_guard() = v;
    *sr->mutable_started_at() = to_proto(not_before);
    for (const auto& h : hosts) {
      auto* f = sr->add_faults();
      f->set_fault_id(fid);
      f->set_agent_id(h);
      f->set_step(static_cast<uint32_t>(i));
      f->set_status(v1::TARGET_STATUS_SENDING);
      *f->mutable_not_before() = to_proto(not_before);
      *f->mutable_expires_at() = to_proto(expires);
    }
    touch();
  }
  persist(true);
  active_.push_back(Active{i, fid, hosts, s.hold()});
  FanoutOutcome out = fleet_->apply(record_.id(), fid, s.fault(), hosts, not_before, expires);
  std::vector<v1::FaultRecord> changed;
  std::optional<WallTime> first_effect, last_effect;
  {
    std::lock_guard lock(mu_);
    auto* sr = record_.mutable_steps(i);
    for (const auto& h : out.hosts) {
      for (auto& f : *sr->mutable_faults()) {
        if (f.agent_id() != h.agent_id) continue;
        f.set_status(h.status != v1::TARGET_STATUS_UNSPECIFIED ? h.status
                     : h.ok                                  ? v1::TARGET_STATUS_APPLIED
                                                             : v1::TARGET_STATUS_FAILED);
        f.set_error(h.error);
        if (h.acked_at) *f.mutable_acked_at() = to_proto(*h.acked_at);
        for (const auto& e : h.effects) *f.add_effects() = e;
        if (h.clock) *f.mutable_clock() = *h.clock;
        if (h.effective_at) {
          // The SLO window starts at the earliest part on the earliest host.
          *f.mutable_effective_at() = to_proto(*h.effective_at);
          first_effect = first_effect ? std::min(*first_effect, *h.effective_at) : *h.effective_at;
          last_effect = last_effect ? std::max(*last_effect, *h.effective_at) : *h.effective_at;
        }
        changed.push_back(f);
      }
    }
    if (first_effect && last_effect) *sr->mutable_effect_spread() = to_proto_duration(*last_effect - *first_effect);
    *sr->mutable_ack_spread() = to_proto_duration(out.ack_spread);
    *sr->mutable_dispatch_to_last_ack() = to_proto_duration(out.dispatch_to_last_ack);
    if (!record_.has_fault_start()) *record_.mutable_fault_start() = to_proto(first_effect ? *first_effect : not_before);
    touch();
  }
  if (observer_) {
    v1::RunRecord copy = snapshot(false);
    for (const auto& f : changed) observer_->on_fault(copy, f, false);
  }
  if (!out.all_ok()) {
    // A halt or an abort that came during the fan-out is why: the agents refused or
    // reverted the fault because of it (a halt reverts everything as it is applied).
    auto [reason, by] = should_abort(false);
    if (!reason.empty()) {
      end_aborted(fmt::format("{} (step {}: the fault was not applied on {})", reason, i + 1,
                              fmt::join(out.failures(), "; ")),
                  by);
      return Step::kStop;
    }
    end_aborted(fmt::format("step {}: the fault was not applied on {}", i + 1, fmt::join(out.failures(), "; ")),
                "fault refused");
    return Step::kStop;
  }
  event("fault", fmt::format("step {}: {} applied on {} host(s){}", i + 1, s.name().empty() ? "fault" : s.name(),
                             hosts.size(),
                             first_effect && last_effect
                                 ? fmt::format(", effect spread {}", format_duration(std::chrono::duration_cast<std::chrono::milliseconds>(*last_effect - *first_effect)))
                                 : ""));
  return Step::kGo;
}

Run::Step Run::observe(int i) {
  const v1::Experiment& e = record_.experiment();
  const v1::Step& s = e.steps(i);
  set_phase(v1::RUN_PHASE_OBSERVE, fmt::format("step {} of {} for {}", i + 1, e.steps_size(), format_duration(from_proto(s.duration()))), i);
  WallTime end;
  {
    std::lock_guard lock(mu_);
    end = plus(from_proto(record_.steps(i).started_at()), from_proto(s.duration()));
  }
  while (clock_->now() < end) {
    pump();
    auto [reason, by] = should_abort(true);
    if (!reason.empty()) {
      end_aborted(reason, by);
      return Step::kStop;
    }
    persist(false);
    sleep_tick(end);
  }
  pump();
  {
    std::lock_guard lock(mu_);
    *record_.mutable_steps(i)->mutable_ended_at() = to_proto(clock_->now());
  }
  if (!s.hold()) {
    for (size_t k = 0; k < active_.size(); ++k) {
      if (active_[k].step == i) {
        revert_entry(k, fmt::format("step {} ended", i + 1));
        active_.erase(active_.begin() + static_cast<long>(k));
        break;
      }
    }
  }
  return Step::kGo;
}

void Run::revert_entry(size_t index, const std::string& why) {
  const Active& a = active_[index];
  FanoutOutcome out = fleet_->revert(a.fault_id, a.hosts);
  WallTime now = clock_->now();
  WallTime lifted = now;
  std::vector<v1::FaultRecord> changed;
  std::vector<std::string> failed;
  {
    std::lock_guard lock(mu_);
    for (const auto& h : out.hosts) {
      for (auto& f : *record_.mutable_steps(a.step)->mutable_faults()) {
        if (f.agent_id() != h.agent_id || f.fault_id() != a.fault_id) continue;
        if (f.status() == v1::TARGET_STATUS_ENDED_EARLY) continue;  // the agent ended it; nothing left to revert there
        if (h.ok) {
          f.set_status(v1::TARGET_STATUS_REVERTED);
          WallTime at = h.acked_at.value_or(now);
          *f.mutable_reverted_at() = to_proto(at);
          lifted = std::max(lifted, at);
        } else {
          // The agent's own lease and expiry still end it; record that we could not.
          f.set_error(h.error.empty() ? "revert not confirmed" : "revert: " + h.error);
          failed.push_back(h.agent_id + ": " + (h.error.empty() ? controller::target_status_name(h.status) : h.error));
        }
        changed.push_back(f);
      }
    }
    *record_.mutable_fault_end() = to_proto(lifted);
    touch();
  }
  if (observer_) {
    v1::RunRecord copy = snapshot(false);
    for (const auto& f : changed) observer_->on_fault(copy, f, true);
  }
  event("fault", fmt::format("step {} reverted on {} host(s) ({}){}", a.step + 1, a.hosts.size() - failed.size(), why,
                             failed.empty() ? "" : fmt::format("; not confirmed by {}", fmt::join(failed, "; "))));
}

void Run::revert_all(const std::string& why) {
  set_phase(v1::RUN_PHASE_REVERT, why);
  for (size_t k = active_.size(); k-- > 0;) revert_entry(k, why);
  active_.clear();
  std::vector<std::string> none;
  if (admitted_) fleet_->set_run_hosts(record_.id(), none);
  bool lifted = false;
  WallTime at;
  v1::RunRecord copy;
  {
    std::lock_guard lock(mu_);
    lifted = record_.has_fault_end();
    if (lifted) {
      at = from_proto(record_.fault_end());
      copy = summary(record_);
    }
  }
  if (observer_ && lifted) observer_->on_milestone(copy, "fault_lifted", at, why);
}

void Run::recover() {
  const v1::Experiment& e = record_.experiment();
  nanoseconds hold = dur_or(e.recovery().has_hold(), e.recovery().hold(),
                            dur_or(e.steady_state().has_hold(), e.steady_state().hold(), options_.default_steady_hold));
  nanoseconds timeout = dur_or(e.recovery().has_timeout(), e.recovery().timeout(), options_.default_recovery_timeout);
  set_phase(v1::RUN_PHASE_RECOVER, fmt::format("probes must hold again for {}", format_duration(hold)));
  WallTime lifted;
  {
    std::lock_guard lock(mu_);
    lifted = record_.has_fault_end() ? from_proto(record_.fault_end()) : clock_->now();
  }
  auto judged = experiment::judged_probes(e, e.steady_state().probes());
  WallTime deadline = plus(lifted, timeout);
  std::string failing;
  while (true) {
    pump();
    WallTime since;
    if (judged.empty() || holds(judged, lifted, hold, &since, &failing)) {
      std::lock_guard lock(mu_);
      *record_.mutable_recovered_at() = to_proto(judged.empty() ? clock_->now() : since);
      break;
    }
    {
      std::lock_guard lock(mu_);
      if (!abort_reason_.empty()) break;  // faults are off already: stop waiting
    }
    if (clock_->now() >= deadline) {
      event("recover", fmt::format("not recovered within {} ({})", format_duration(timeout), failing));
      break;
    }
    persist(false);
    sleep_tick(deadline);
  }
  if (record_.has_recovered_at()) {
    event("recover", fmt::format("recovered: every probe held again for {}", format_duration(hold)));
    if (observer_) observer_->on_milestone(snapshot(false), "recovery", from_proto(record_.recovered_at()), "");
  }
  read_back_data();
  pump();
  std::lock_guard lock(mu_);
  *record_.mutable_window_end() = to_proto(clock_->now());
}

// The data probes read their markers back: what was acknowledged and is gone. Also
// after an abort, once the faults are off: a run cut short may have lost data too.
void Run::read_back_data() {
  if (!probes_ || !probes_started_) return;
  auto checks = probes_->read_back();
  // The writes in flight finished before the read: their samples go in first, so the
  // check and the SLO row count the same acknowledged markers.
  pump();
  for (const auto& [probe, check] : checks) {
    std::vector<slo::Sample> writes;
    {
      std::lock_guard lock(mu_);
      writes = sets_[probe];
    }
    slo::DataLoss loss = slo::data_loss(writes, check);
    v1::DataReadBack d;
    d.set_probe(probe);
    d.set_ok(check.read_ok);
    d.set_error(check.error);
    d.set_acknowledged(loss.acknowledged);
    d.set_read(check.read.size());
    for (auto m : loss.lost) d.add_lost(m);
    *d.mutable_lost_span() = to_proto_duration(loss.span);
    {
      std::lock_guard lock(mu_);
      *record_.add_data() = d;
      data_checks_[probe] = check;
    }
    event("data", check.read_ok ? fmt::format("{}: {} of {} acknowledged markers lost", probe, loss.lost.size(), loss.acknowledged)
                                : fmt::format("{}: read-back failed: {}", probe, check.error));
    if (observer_) observer_->on_data_check(snapshot(false), d);
  }
}

void Run::compute_slos(WallTime window_end) {
  std::lock_guard lock(mu_);
  if (!record_.has_fault_start()) return;
  slo::Window w{from_proto(record_.fault_start()),
                record_.has_fault_end() ? from_proto(record_.fault_end()) : window_end, window_end};
  auto rows = slo::evaluate(record_.experiment(), sets_, w, data_checks_);
  record_.clear_slo();
  for (const auto& r : rows) {
    auto* row = record_.add_slo();
    row->set_objective(r.objective);
    row->set_probe(r.probe);
    row->set_target(r.target);
    row->set_measured(r.measured);
    row->set_pass(r.pass);
    row->set_detail(r.detail);
    row->set_value(r.value);
    row->set_unit(r.unit);
    row->set_term(r.term);
  }
  touch();
}

void Run::verdict() {
  set_phase(v1::RUN_PHASE_VERDICT, "");
  WallTime window_end;
  {
    std::lock_guard lock(mu_);
    window_end = from_proto(record_.window_end());
  }
  compute_slos(window_end);
  std::vector<std::string> failed;
  v1::RunRecord copy;
  {
    std::lock_guard lock(mu_);
    for (const auto& r : record_.slo()) {
      if (!r.pass()) failed.push_back(fmt::format("{} of {} {} (target {})", r.objective(), r.probe(), r.measured(), r.target()));
    }
    if (!abort_reason_.empty()) {
      // An operator stopped it during recovery: the faults ran their course, but the
      // run did not finish.
      record_.set_outcome(v1::RUN_OUTCOME_ABORTED);
      record_.set_reason(abort_reason_);
    } else if (failed.empty()) {
      record_.set_outcome(v1::RUN_OUTCOME_PASSED);
      record_.set_reason(record_.slo().empty() ? "no SLO declared; every step ran" : "every SLO was met");
    } else {
      record_.set_outcome(v1::RUN_OUTCOME_FAILED);
      record_.set_reason(fmt::format("SLO missed: {}", fmt::join(failed, "; ")));
    }
    copy = summary(record_);
  }
  if (observer_) {
    // Milestones the SLOs define, for the timeline.
    slo::Window w{from_proto(copy.fault_start()), from_proto(copy.fault_end()), window_end};
    for (const auto& p : experiment::judged_probes(copy.experiment(), {})) {
      std::vector<slo::Sample> v;
      {
        std::lock_guard lock(mu_);
        v = sets_[p];
      }
      auto d = slo::time_to_detect(v, w);
      if (d.kind == slo::Span::Kind::kValue) observer_->on_milestone(copy, "detection", plus(w.fault_start, d.value), p);
      unsigned k = copy.experiment().slo().failover_time().consecutive();
      auto f = slo::failover_time(v, w, k);
      if (f.kind == slo::Span::Kind::kValue && f.note.empty()) {
        observer_->on_milestone(copy, "failover", plus(w.fault_start, f.value), p);
      }
    }
  }
  finish();
}

void Run::end_refused(const std::string& reason) {
  {
    std::lock_guard lock(mu_);
    record_.set_outcome(v1::RUN_OUTCOME_REFUSED);
    record_.set_reason(reason);
  }
  event("refused", reason);
  finish();
}

void Run::end_aborted(const std::string& reason, const std::string& by) {
  {
    std::lock_guard lock(mu_);
    record_.set_outcome(v1::RUN_OUTCOME_ABORTED);
    record_.set_reason(reason);
  }
  event("abort", fmt::format("{} (by {})", reason, by));
  if (observer_) observer_->on_abort(snapshot(false), reason, by);
  bool injected = !active_.empty();
  {
    std::lock_guard lock(mu_);
    injected = injected || record_.has_fault_start();
  }
  if (!active_.empty()) revert_all("abort: " + reason);
  if (injected) {
    read_back_data();
    pump();
    compute_slos(clock_->now());
    std::lock_guard lock(mu_);
    *record_.mutable_window_end() = to_proto(clock_->now());
  }
  finish();
}

void Run::finish() {
  if (probes_ && probes_started_) {
    probes_->stop();
    probes_started_ = false;
    pump();
  }
  if (admitted_) fleet_->end_run(record_.id());
  v1::RunRecord copy;
  std::string gap = observer_ ? observer_->incomplete(record_.id()) : "";
  {
    std::lock_guard lock(mu_);
    if (!gap.empty()) {
      // What passed cannot be shown to have passed.
      if (record_.outcome() == v1::RUN_OUTCOME_PASSED) record_.set_outcome(v1::RUN_OUTCOME_FAILED);
      record_.set_reason("evidence incomplete: " + gap + (record_.reason().empty() ? "" : "; " + record_.reason()));
    }
    record_.set_phase(v1::RUN_PHASE_DONE);
    *record_.mutable_ended_at() = to_proto(clock_->now());
    *record_.mutable_phase_started_at() = record_.ended_at();
    touch();
  }
  event("verdict", fmt::format("{}: {}", outcome_name(record_.outcome()), record_.reason()));
  persist(true);
  copy = snapshot(false);
  if (observer_) observer_->on_verdict(copy);
}

void Run::continue_after(const Takeover& takeover, const Readoption* readoption) {
  takeover_ = takeover;
  readoption_ = readoption;
}

void Run::mark_probe_gap(WallTime from, WallTime to) {
  if (to <= from) return;
  std::vector<v1::ProbeSample> rows;
  std::map<std::string, std::vector<slo::Sample>> by_probe;
  std::string id;
  {
    std::lock_guard lock(mu_);
    id = record_.id();
    for (const auto& p : record_.experiment().probes()) {
      slo::Sample gap{from, std::chrono::duration_cast<nanoseconds>(to - from), false, kUnmeasured, 0};
      rows.push_back(to_proto_sample(p.name(), gap));
      *record_.add_samples() = rows.back();
      sets_[p.name()].push_back(gap);
      by_probe[p.name()].push_back(gap);
    }
    touch();
  }
  if (store_ && !rows.empty()) {
    if (auto r = store_->append_samples(id, rows); !r) {
      logger("controller.runner")->error("run {}: cannot store the probe gap: {}", id, r.error().describe());
    }
  }
  if (observer_) {
    v1::RunRecord copy = snapshot(false);
    for (const auto& [probe, v] : by_probe) observer_->on_samples(copy, probe, v);
  }
}

Run::Step Run::readopt() {
  if (active_.empty() || !readoption_) return Step::kGo;
  WallTime deadline = plus(clock_->now(), takeover_->grace);
  while (true) {
    auto st = readoption_->state(record_.id());
    if (!st.missing.empty()) {
      end_aborted(fmt::format("after the takeover by {}: {}", takeover_->to, fmt::join(st.missing, "; ")), "takeover");
      return Step::kStop;
    }
    if (st.waiting.empty()) {
      event("takeover", fmt::format("{} fault(s) re-adopted: {} report them as the run's record holds them",
                                    st.adopted.size(), host_list(st.adopted)));
      return Step::kGo;
    }
    if (clock_->now() >= deadline) {
      end_aborted(fmt::format("after the takeover by {}, not reported again by their agents within the lease grace {}: {}",
                              takeover_->to, format_duration(takeover_->grace), fmt::join(st.waiting, "; ")),
                  "takeover");
      return Step::kStop;
    }
    pump();
    if (auto [reason, by] = should_abort(false); !reason.empty()) {
      end_aborted(reason, by);
      return Step::kStop;
    }
    sleep_tick(deadline);
  }
}

// The run as the lost controller left it in the store: its phase, step, targets and
// faults, its samples. What its thread alone held (the hosts of each step, the faults
// in effect) is read back from the record.
v1::RunRecord Run::continue_run() {
  const v1::Experiment& e = record_.experiment();
  const Takeover t = *takeover_;
  v1::RunPhase phase;
  int step = 0;
  WallTime last_sample{};
  {
    std::lock_guard lock(mu_);
    phase = record_.phase();
    step = static_cast<int>(record_.step());
    for (const auto& s : record_.samples()) {
      last_sample = std::max(last_sample, plus(from_proto(s.start()), from_proto(s.duration())));
    }
    step_hosts_.clear();
    active_.clear();
    for (const auto& sr : record_.steps()) {
      std::vector<controller::Host> hosts;
      for (const auto& rt : sr.targets()) {
        controller::Host h{rt.agent_id(), {}, ""};
        for (const auto& [k, v] : rt.tags()) h.tags[k] = v;
        hosts.push_back(std::move(h));
      }
      step_hosts_.push_back(std::move(hosts));
      std::map<std::string, std::vector<std::string>> by_fault;
      for (const auto& f : sr.faults()) {
        if (held_by_agent(f.status())) by_fault[f.fault_id()].push_back(f.agent_id());
      }
      int i = static_cast<int>(sr.index());
      for (auto& [fid, on] : by_fault) active_.push_back(Active{i, fid, on, i < e.steps_size() && e.steps(i).hold()});
    }
  }
  WallTime now = clock_->now();
  WallTime gap_from = std::min(now, std::max(t.lost_at, last_sample));
  event("takeover", fmt::format("controller {} lost at {} (its last lease renewal); {} leads from {} with epoch {}, "
                                "{} later; probe gap {} .. {}",
                                t.from.empty() ? "(unknown)" : t.from, format_utc(t.lost_at), t.to, format_utc(t.led_at),
                                t.epoch, format_duration(std::chrono::duration_cast<std::chrono::milliseconds>(t.led_at - t.lost_at)),
                                format_utc(gap_from), format_utc(now)));
  bool measured = phase == v1::RUN_PHASE_STEADY_STATE || phase == v1::RUN_PHASE_INJECT ||
                  phase == v1::RUN_PHASE_OBSERVE || phase == v1::RUN_PHASE_REVERT || phase == v1::RUN_PHASE_RECOVER;
  if (measured) mark_probe_gap(gap_from, now);
  if (observer_) observer_->on_handover(snapshot(false), t, gap_from, now);
  bool injected = !active_.empty() || record_.has_fault_start();
  if (!injected && (phase == v1::RUN_PHASE_PREFLIGHT || phase == v1::RUN_PHASE_STEADY_STATE)) {
    // Nothing was applied yet: the run starts again from its preflight.
    {
      std::lock_guard lock(mu_);
      record_.clear_steps();
    }
    fleet_->end_run(record_.id());
    takeover_.reset();
    return execute();
  }
  admitted_ = true;  // the run manager put its held hosts back in the fleet's ledger
  if (!t.within_grace()) {
    end_aborted(fmt::format("the takeover came {} after controller {} was lost, later than the agents' lease grace {}: "
                            "the agents reverted the run's faults on their own",
                            format_duration(std::chrono::duration_cast<std::chrono::milliseconds>(t.led_at - t.lost_at)),
                            t.from, format_duration(t.grace)),
                "takeover");
    return snapshot(true);
  }
  if (measured && probes_ && !probes_started_) {
    probes_->start();
    probes_started_ = true;
  }
  if (record_.outcome() == v1::RUN_OUTCOME_ABORTED) {
    // The lost controller was ending the run: this one ends it the same way.
    std::string reason;
    {
      std::lock_guard lock(mu_);
      reason = record_.reason();
    }
    end_aborted(reason, "takeover");
    return snapshot(true);
  }
  switch (phase) {
    case v1::RUN_PHASE_INJECT:
    case v1::RUN_PHASE_OBSERVE: {
      if (readopt() == Step::kStop) return snapshot(true);
      {
        std::lock_guard lock(mu_);
        for (auto& f : *record_.mutable_steps(step)->mutable_faults()) {
          if (f.status() == v1::TARGET_STATUS_SENDING || f.status() == v1::TARGET_STATUS_SCHEDULED) {
            f.set_status(v1::TARGET_STATUS_APPLIED);  // its agent holds it (re-adopted)
          }
        }
        if (!record_.has_fault_start()) *record_.mutable_fault_start() = record_.steps(step).started_at();
        touch();
      }
      persist(true);
      for (int i = step; i < e.steps_size(); ++i) {
        if (i > step && inject(i) == Step::kStop) return snapshot(true);
        if (observe(i) == Step::kStop) return snapshot(true);
      }
      revert_all("every step ran");
      recover();
      verdict();
      break;
    }
    case v1::RUN_PHASE_REVERT:
      revert_all("every step ran");
      recover();
      verdict();
      break;
    case v1::RUN_PHASE_RECOVER:
      if (!active_.empty()) revert_all("every step ran");
      recover();
      verdict();
      break;
    case v1::RUN_PHASE_VERDICT:
      verdict();
      break;
    default:
      end_aborted(fmt::format("cannot continue a run in {} after a takeover", phase_name(phase)), "takeover");
      break;
  }
  return snapshot(true);
}

v1::RunRecord Run::execute() {
  if (record_.phase() == v1::RUN_PHASE_DONE) return snapshot(true);
  if (takeover_ && record_.phase() != v1::RUN_PHASE_PENDING_APPROVAL && record_.phase() != v1::RUN_PHASE_UNSPECIFIED) {
    return continue_run();
  }
  if (record_.phase() == v1::RUN_PHASE_UNSPECIFIED && observer_) observer_->on_created(snapshot(false));
  const v1::Experiment& e = record_.experiment();
  if (e.approvals().required() > 0 && wait_for_approvals() == Step::kStop) return snapshot(true);
  if (preflight() == Step::kStop) return snapshot(true);
  if (steady_state() == Step::kStop) return snapshot(true);
  for (int i = 0; i < e.steps_size(); ++i) {
    if (inject(i) == Step::kStop) return snapshot(true);
    if (observe(i) == Step::kStop) return snapshot(true);
  }
  revert_all("every step ran");
  recover();
  verdict();
  return snapshot(true);
}

}  // namespace firedrill::runner
