#include "controller/api/runs.h"

#include <fmt/ranges.h>
#include <google/protobuf/text_format.h>

#include "common/log.h"
#include "controller/runner/run_ids.h"

namespace firedrill::controller {
namespace {

auto log() {
  static auto l = logger("controller.runs");
  return l;
}

// How long after a fault's expiry the run is closed: the agents revert on their own
// timers; this leaves their revert events time to arrive.
constexpr auto kCloseAfterExpiry = std::chrono::seconds(2);
constexpr auto kMaxDuration = std::chrono::hours(24);
constexpr auto kMaxStartDelay = std::chrono::hours(1);

std::string status_text(const TargetResult& t) {
  switch (t.status) {
    case v1::ACK_APPLIED: return "applied";
    case v1::ACK_SCHEDULED: return "scheduled";
    case v1::ACK_REFUSED: return "refused";
    case v1::ACK_FAILED: return "failed";
    default: return t.error.starts_with("agent lost") ? "lost" : "no answer";
  }
}

}  // namespace

namespace {

// Rows for the answers to a revert: a confirmed revert is "reverted" at its ack time.
std::vector<TargetRow> revert_rows(const std::string& run_id, const std::string& fault_id, const FanoutResult& r) {
  auto rows = target_rows(run_id, fault_id, r);
  for (auto& row : rows) {
    if (row.status == "applied") {
      row.status = "reverted";
      row.reverted_at = row.acked_at;
    } else {
      row.status = "revert " + row.status;
    }
    row.acked_at.reset();
    row.effective_at.reset();
  }
  return rows;
}

}  // namespace

std::vector<TargetRow> target_rows(const std::string& run_id, const std::string& fault_id, const FanoutResult& r) {
  std::vector<TargetRow> rows;
  rows.reserve(r.targets.size());
  for (auto& t : r.targets) {
    rows.push_back({run_id, t.agent_id, fault_id, status_text(t), t.error, t.acked_at, t.effective_at, {}});
  }
  return rows;
}

void fill_outcomes(const std::string& fault_id, const FanoutResult& r,
                   google::protobuf::RepeatedPtrField<v1::TargetOutcome>* out) {
  for (auto& t : r.targets) {
    auto* o = out->Add();
    o->set_agent_id(t.agent_id);
    o->set_fault_id(fault_id);
    o->set_status(t.status);
    o->set_error(t.error);
    if (t.acked_at) *o->mutable_acked_at() = to_proto(*t.acked_at);
    if (t.effective_at) *o->mutable_effective_at() = to_proto(*t.effective_at);
  }
}

Result<std::vector<std::string>> abort_runs_in_flight(Store& store, const std::string& why) {
  FD_ASSIGN(runs, store.runs_in_flight(), "restart recovery");
  std::vector<std::string> ids;
  auto now = WallClock::now();
  std::vector<EventRow> events;
  for (auto& r : runs) {
    FD_ASSIGN(ended, store.end_run(r.id, kRunAborted, why, now), "restart recovery of run {}", r.id);
    if (!ended) continue;
    ids.push_back(r.id);
    events.push_back({0, r.id, now, "", "run.aborted", why});
    log()->warn("run {} ({}, started {}) was in flight: recorded aborted; its faults are reverted as agents register",
                r.id, r.kind, format_utc(r.created_at));
  }
  if (!events.empty()) FD_TRY(store.append_events(std::move(events)), "restart recovery");
  return ids;
}

InjectRuns::InjectRuns(Fleet& fleet, Store& store) : fleet_(fleet), store_(store) {
  fleet_.on_event([this](const std::string& id, const v1::Event& ev) { on_event(id, ev); });
  fleet_.on_agent_lost([this](const std::string& id, const std::string& why) { on_lost(id, why); });
  fleet_.on_halt([this](const HaltState& s) { on_halt(s); });
  timer_ = std::thread([this] { timer_loop(); });
}

InjectRuns::~InjectRuns() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (timer_.joinable()) timer_.join();
  flush();
}

void InjectRuns::on_event(const std::string& agent_id, const v1::Event& ev) {
  std::string fault_id, kind, detail;
  std::optional<WallTime> reverted_at;
  WallTime at = ev.has_at() ? from_proto(ev.at()) : WallClock::now();
  switch (ev.kind_case()) {
    case v1::Event::kApplied:
      fault_id = ev.applied().fault_id();
      kind = "fault.applied";
      break;
    case v1::Event::kReverted:
      fault_id = ev.reverted().fault_id();
      kind = "fault.reverted";
      detail = v1::RevertReason_Name(ev.reverted().reason());
      reverted_at = at;
      if (ev.reverted().has_counters()) detail += " " + ev.reverted().counters().ShortDebugString();
      break;
    case v1::Event::kKilled:
      fault_id = ev.killed().fault_id();
      kind = "process.killed";
      detail = fmt::format("pid {} {} {}", ev.killed().pid(), ev.killed().comm(), ev.killed().at_exec() ? "at exec" : "");
      break;
    case v1::Event::kError:
      fault_id = ev.error().fault_id();
      kind = "fault.error";
      detail = ev.error().message();
      break;
    default:
      return;
  }
  std::string run = runner::run_of_fault(fault_id);
  if (run.empty()) return;
  std::lock_guard lock(mu_);
  pending_events_.push_back({0, run, at, agent_id, kind, detail.empty() ? fault_id : fault_id + " " + detail});
  if (reverted_at) pending_targets_.push_back({run, agent_id, fault_id, "reverted", "", {}, {}, reverted_at});
  cv_.notify_all();
}

void InjectRuns::on_lost(const std::string& agent_id, const std::string& why) {
  std::lock_guard lock(mu_);
  for (auto& [run, a] : active_) {
    if (std::find(a.hosts.begin(), a.hosts.end(), agent_id) != a.hosts.end()) {
      // Its lease reverts the fault on the agent; the record says when we lost sight.
      pending_events_.push_back({0, run, WallClock::now(), agent_id, "agent.lost", why});
    }
  }
}

void InjectRuns::on_halt(const HaltState& state) {
  std::map<std::string, Active> aborted;
  {
    std::lock_guard lock(mu_);
    aborted.swap(active_);
  }
  for (auto& [run, a] : aborted) {
    (void)store_.end_run(run, kRunAborted, fmt::format("halted by {}: {}", state.by, state.reason), state.at);
    log()->warn("run {} aborted by the halt", run);
  }
}

void InjectRuns::flush() {
  std::vector<TargetRow> targets;
  std::vector<EventRow> events;
  {
    std::lock_guard lock(mu_);
    targets.swap(pending_targets_);
    events.swap(pending_events_);
  }
  if (!targets.empty()) {
    if (auto r = store_.put_targets(targets); !r) log()->error("{}", r.error().describe());
  }
  if (!events.empty()) {
    if (auto r = store_.append_events(std::move(events)); !r) log()->error("{}", r.error().describe());
  }
}

void InjectRuns::timer_loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    auto now = WallClock::now();
    auto next = now + std::chrono::milliseconds(200);
    std::vector<std::pair<std::string, Active>> due;
    for (auto it = active_.begin(); it != active_.end();) {
      if (it->second.expires_at + kCloseAfterExpiry <= now) {
        due.emplace_back(it->first, std::move(it->second));
        it = active_.erase(it);
      } else {
        next = std::min(next, it->second.expires_at + kCloseAfterExpiry);
        ++it;
      }
    }
    lock.unlock();
    flush();
    for (auto& [run, a] : due) {
      fleet_.end_run(run);
      auto r = store_.end_run(run, kRunCompleted, "the fault's lease ended; agents reverted it on their own timers",
                              WallClock::now());
      if (!r) log()->error("{}", r.error().describe());
      log()->info("run {} completed: lease of {} ended", run, a.fault_id);
    }
    lock.lock();
    cv_.wait_until(lock, next);
  }
}

Result<v1::InjectResponse> InjectRuns::inject(const v1::InjectRequest& req) {
  if (!req.has_spec() || req.spec().kind_case() == v1::FaultSpec::KIND_NOT_SET) {
    return make_error("inject: unknown fault kind (the spec is empty or of a kind this controller does not know)");
  }
  if (!req.has_duration()) return make_error("inject: a duration is required (every fault has a lease)");
  auto duration = from_proto(req.duration());
  if (duration <= std::chrono::nanoseconds::zero() || duration > kMaxDuration) {
    return make_error("inject: duration {} is outside (0, 24h]", format_duration(duration));
  }
  auto delay = req.has_start_delay() ? from_proto(req.start_delay()) : std::chrono::nanoseconds(0);
  if (delay < std::chrono::nanoseconds::zero() || delay > kMaxStartDelay) {
    return make_error("inject: start delay {} is outside [0, 1h]", format_duration(delay));
  }
  FD_ASSIGN(resolution, fleet_.resolve(req.targets()), "inject");
  const auto& hosts = resolution.targets;

  v1::InjectResponse resp;
  const std::string run_id = runner::make_run_id();
  const std::string fault_id = runner::make_fault_id(run_id, 1);
  resp.set_run_id(run_id);
  std::string spec_text;
  google::protobuf::TextFormat::PrintToString(req.spec(), &spec_text);
  auto now = WallClock::now();
  RunRow row{run_id, "inject", kRunActive, "inject", req.description(), req.requested_by(),
             fmt::format("selector: {} mode: {} for: {} spec: {}", req.targets().selector(),
                         format_mode(req.targets().mode()), format_duration(duration), spec_text),
             "", now, {}};

  auto incapable = fleet_.incapable(hosts, req.spec());
  auto verdict = incapable.empty() ? fleet_.admit(run_id, hosts, req.blast_radius())
                                   : fleet_.check(run_id, hosts, req.blast_radius());
  *resp.mutable_verdict() = verdict;
  if (!verdict.allowed() || !incapable.empty()) {
    row.status = kRunRefused;
    row.state = kRunRefused;
    row.reason = !verdict.allowed() ? describe(verdict)
                                    : fmt::format("targets cannot apply it: {}", fmt::join(incapable, "; "));
    row.ended_at = now;
    FD_TRY(store_.create_run(row), "inject");
    FD_TRY(store_.append_events({{0, run_id, now, "", "run.refused", row.reason}}), "inject");
    resp.set_error(row.reason);
    log()->warn("run {} refused: {}", run_id, row.reason);
    return resp;
  }
  if (auto r = store_.create_run(row); !r) {
    fleet_.end_run(run_id);
    return r.error().context("inject");
  }
  FD_TRY(store_.append_events({{0, run_id, now, "", "run.admitted",
                                fmt::format("{} target(s): {}", hosts.size(), fmt::join(hosts, ", "))}}),
         "inject");

  ApplyRequest apply;
  apply.run_id = run_id;
  apply.fault_id = fault_id;
  apply.spec = req.spec();
  apply.hosts = hosts;
  apply.not_before = now + std::chrono::duration_cast<WallClock::duration>(delay);
  apply.expires_at = apply.not_before + std::chrono::duration_cast<WallClock::duration>(duration);
  *resp.mutable_not_before() = to_proto(apply.not_before);
  *resp.mutable_expires_at() = to_proto(apply.expires_at);
  {
    std::lock_guard lock(mu_);
    active_[run_id] = {fault_id, hosts, apply.expires_at};
  }
  auto result = fleet_.apply(apply);
  if (auto r = store_.put_targets(target_rows(run_id, fault_id, result)); !r) log()->error("{}", r.error().describe());
  fill_outcomes(fault_id, result, resp.mutable_targets());
  *resp.mutable_dispatch_to_last_ack() = to_proto_duration(result.dispatch_to_last_ack());
  *resp.mutable_ack_spread() = to_proto_duration(result.ack_spread());
  *resp.mutable_effect_spread() = to_proto_duration(result.effect_spread());

  if (!result.all_ok() && !req.allow_partial()) {
    // Never half a fault: whoever applied it reverts it, and the run is failed.
    std::vector<std::string> applied;
    for (auto& t : result.targets) {
      if (t.ok()) applied.push_back(t.agent_id);
    }
    auto failed = result.failed();
    std::string why = fmt::format("{} of {} target(s) did not apply it: {}", failed.size(), hosts.size(),
                                  fmt::join(failed, "; "));
    if (!applied.empty()) {
      auto rev = fleet_.revert(fault_id, applied);
      (void)store_.put_targets(revert_rows(run_id, fault_id, rev));
    }
    {
      std::lock_guard lock(mu_);
      active_.erase(run_id);
    }
    fleet_.end_run(run_id);
    (void)store_.end_run(run_id, kRunFailed, why, WallClock::now());
    resp.set_error(why);
    log()->warn("run {} failed: {}", run_id, why);
    return resp;
  }
  resp.set_applied(true);
  return resp;
}

Result<v1::RevertRunResponse> InjectRuns::revert(const std::string& run_id, const std::string& by) {
  Active a;
  {
    std::lock_guard lock(mu_);
    auto it = active_.find(run_id);
    if (it == active_.end()) {
      return make_error("run {} is not an ad hoc run in flight (see `firedrill runs`)", run_id);
    }
    a = it->second;
    active_.erase(it);
  }
  auto result = fleet_.revert(a.fault_id, a.hosts);
  v1::RevertRunResponse resp;
  fill_outcomes(a.fault_id, result, resp.mutable_targets());
  (void)store_.put_targets(revert_rows(run_id, a.fault_id, result));
  fleet_.end_run(run_id);
  auto failed = result.failed();
  (void)store_.end_run(run_id, kRunCompleted,
                       failed.empty() ? fmt::format("reverted by {}", by)
                                      : fmt::format("reverted by {}; unconfirmed: {}", by, fmt::join(failed, "; ")),
                       WallClock::now());
  return resp;
}

void InjectRuns::shutdown(const std::string& why) {
  std::map<std::string, Active> all;
  {
    std::lock_guard lock(mu_);
    all.swap(active_);
  }
  for (auto& [run, a] : all) {
    auto result = fleet_.revert(a.fault_id, a.hosts, std::chrono::seconds(3));
    (void)store_.put_targets(revert_rows(run, a.fault_id, result));
    fleet_.end_run(run);
    (void)store_.end_run(run, kRunAborted, why, WallClock::now());
    log()->warn("run {} aborted: {}", run, why);
  }
  flush();
}

}  // namespace firedrill::controller
