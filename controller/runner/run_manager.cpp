#include "controller/runner/run_manager.h"
#include <algorithm>

#include "controller/runner/environment.h"
#include "controller/runner/run_ids.h"
#include "controller/store/target_status.h"

#include "common/log.h"
#include <google/protobuf/text_format.h>

#include "controller/experiment/proto_file.h"

namespace firedrill::runner {

namespace {

// Hands every event to several observers in order.
class FanOut : public RunObserver {
 public:
  explicit FanOut(std::vector<RunObserver*> to) : to_(std::move(to)) {}
  void on_created(const v1::RunRecord& r) override {
    for (auto* o : to_) o->on_created(r);
  }
  void on_approval(const v1::RunRecord& r, const v1::Approval& a, bool rejected) override {
    for (auto* o : to_) o->on_approval(r, a, rejected);
  }
  void on_phase(const v1::RunRecord& r, const std::string& d) override {
    for (auto* o : to_) o->on_phase(r, d);
  }
  void on_targets(const v1::RunRecord& r, int step, const std::vector<controller::Host>& h) override {
    for (auto* o : to_) o->on_targets(r, step, h);
  }
  void on_guard(const v1::RunRecord& r, const std::string& when, const v1::GuardVerdict& v) override {
    for (auto* o : to_) o->on_guard(r, when, v);
  }
  void on_fault(const v1::RunRecord& r, const v1::FaultRecord& f, bool reverted) override {
    for (auto* o : to_) o->on_fault(r, f, reverted);
  }
  void on_samples(const v1::RunRecord& r, const std::string& p, const std::vector<slo::Sample>& s) override {
    for (auto* o : to_) o->on_samples(r, p, s);
  }
  void on_data_check(const v1::RunRecord& r, const v1::DataReadBack& d) override {
    for (auto* o : to_) o->on_data_check(r, d);
  }
  void on_milestone(const v1::RunRecord& r, const std::string& n, WallTime at, const std::string& d) override {
    for (auto* o : to_) o->on_milestone(r, n, at, d);
  }
  void on_abort(const v1::RunRecord& r, const std::string& reason, const std::string& by) override {
    for (auto* o : to_) o->on_abort(r, reason, by);
  }
  void on_handover(const v1::RunRecord& r, const Takeover& t, WallTime from, WallTime to) override {
    for (auto* o : to_) o->on_handover(r, t, from, to);
  }
  void on_verdict(const v1::RunRecord& r) override {
    for (auto* o : to_) o->on_verdict(r);
  }
  std::string incomplete(const std::string& run_id) const override {
    std::string out;
    for (auto* o : to_) {
      std::string gap = o->incomplete(run_id);
      if (!gap.empty()) out += (out.empty() ? "" : "; ") + gap;
    }
    return out;
  }

 private:
  std::vector<RunObserver*> to_;
};

}  // namespace

RunManager::RunManager(RunManagerConfig config, Clock* clock, FleetDriver* fleet, ObserverFactory observers,
                       ProbeFactory probes)
    : config_(std::move(config)),
      clock_(clock),
      fleet_(fleet),
      observers_(std::move(observers)),
      probes_(std::move(probes)),
      store_(config_.store),
      scheduler_(config_.store, this) {
  if (!probes_) probes_ = [](const v1::Experiment& e) { return std::make_unique<probes::ProbeSet>(e); };
  if (!config_.new_run_id) config_.new_run_id = [] { return make_run_id(); };
}

RunManager::~RunManager() { stop("the controller is shutting down"); }

Result<std::vector<std::string>> RunManager::start() {
  if (!store_) return make_error("the run manager has no store");
  FD_TRY(scheduler_.open(), "schedules");
  FD_ASSIGN(in_flight, store_->runs_in_flight(), "runs in flight");
  std::vector<std::string> ended;
  for (auto& r : in_flight) {
    std::string id = r.id();
    if (r.phase() == v1::RUN_PHASE_PENDING_APPROVAL || r.phase() == v1::RUN_PHASE_UNSPECIFIED) {
      if (auto b = begin(std::move(r), true); !b) {
        logger("controller.runner")->error("run {}: cannot resume: {}", id, b.error().describe());
      } else {
        logger("controller.runner")->info("run {}: resumed, waiting for approval", id);
      }
      continue;
    }
    if (config_.takeover) {
      if (auto c = continue_run(std::move(r)); !c) {
        logger("controller.runner")->error("run {}: cannot continue after the takeover: {}", id, c.error().describe());
      }
      continue;
    }
    recover(std::move(r));
    ended.push_back(id);
  }
  scheduler_.finish_claimed(clock_->now());
  scheduler_thread_ = std::thread([this] { scheduler_loop(); });
  return ended;
}

// A run past preflight when its controller died: whatever it may have applied is
// reverted (agents away now revert it themselves: the fleet reverts faults of runs not
// in flight when their agent registers, and every lease ends), and it ends aborted,
// in its record and in its evidence, with the reason.
void RunManager::recover(v1::RunRecord r) {
  std::string reason = fmt::format("the controller restarted while the run was in {}", phase_name(r.phase()));
  std::vector<std::unique_ptr<RunObserver>> observers;
  if (observers_) observers = observers_(r, true);
  std::map<std::string, std::vector<std::string>> to_revert;
  for (const auto& s : r.steps()) {
    for (const auto& f : s.faults()) {
      if (f.status() != v1::TARGET_STATUS_REVERTED) to_revert[f.fault_id()].push_back(f.agent_id());
    }
  }
  WallTime now = clock_->now();
  for (const auto& [fid, hosts] : to_revert) {
    FanoutOutcome out = fleet_->revert(fid, hosts);
    for (auto& s : *r.mutable_steps()) {
      for (auto& f : *s.mutable_faults()) {
        if (f.fault_id() != fid) continue;
        for (const auto& h : out.hosts) {
          if (h.agent_id != f.agent_id()) continue;
          if (h.ok) {
            f.set_status(v1::TARGET_STATUS_REVERTED);
            *f.mutable_reverted_at() = to_proto(h.acked_at.value_or(now));
          } else {
            f.set_error(fmt::format("revert not confirmed at restart ({}); reverted when the agent reconnects",
                                    h.error.empty() ? controller::target_status_name(h.status) : h.error));
          }
          for (auto& o : observers) o->on_fault(r, f, true);
        }
      }
    }
  }
  auto* e = r.add_events();
  *e->mutable_at() = to_proto(now);
  e->set_phase(r.phase());
  e->set_kind("abort");
  e->set_message(reason + (to_revert.empty() ? "" : "; its faults were reverted"));
  if (r.has_fault_start() && !r.has_fault_end()) *r.mutable_fault_end() = to_proto(now);
  r.set_outcome(v1::RUN_OUTCOME_ABORTED);
  r.set_reason(reason);
  for (auto& o : observers) o->on_abort(r, reason, "controller restart");
  r.set_phase(v1::RUN_PHASE_DONE);
  *r.mutable_ended_at() = to_proto(now);
  fleet_->end_run(r.id());
  if (auto s = store_->put_run(r); !s) logger("controller.runner")->error("run {}: {}", r.id(), s.error().describe());
  for (auto& o : observers) o->on_verdict(r);
  logger("controller.runner")->warn("run {} ({}): {}", r.id(), r.kind(), reason);
}

Result<std::string> RunManager::continue_run(v1::RunRecord r) {
  const Takeover& t = *config_.takeover;
  std::vector<std::string> hosts;
  for (const auto& s : r.steps()) {
    for (const auto& f : s.faults()) {
      bool held = f.status() == v1::TARGET_STATUS_SENDING || f.status() == v1::TARGET_STATUS_SCHEDULED ||
                  f.status() == v1::TARGET_STATUS_APPLIED || f.status() == v1::TARGET_STATUS_REVERT_FAILING;
      if (!held) continue;
      if (std::find(hosts.begin(), hosts.end(), f.agent_id()) == hosts.end()) hosts.push_back(f.agent_id());
      // Slower than the grace the agents reverted on their own: nothing to re-adopt, and
      // what one still reports is reverted.
      if (config_.readoption && t.within_grace() && f.step() < static_cast<uint32_t>(r.experiment().steps_size())) {
        config_.readoption->expect(r.id(), f, r.experiment().steps(static_cast<int>(f.step())).fault());
      }
    }
  }
  // In flight before any agent registers: the fleet keeps what it re-adopts.
  fleet_->set_run_hosts(r.id(), hosts);
  logger("controller.runner")->warn("run {} ({}): continued after the takeover from {} ({} host(s) under fault)", r.id(),
                                    phase_name(r.phase()), t.from, hosts.size());
  return begin(std::move(r), true, &t);
}

void RunManager::stop(const std::string& why) {
  std::vector<std::unique_ptr<Entry>> entries;
  {
    std::lock_guard lock(mu_);
    if (stopping_ && runs_.empty() && !scheduler_thread_.joinable()) return;
    stopping_ = true;
    for (auto& [id, e] : runs_) {
      if (!e->done) e->run->shutdown(why);
    }
    cv_.notify_all();
  }
  if (scheduler_thread_.joinable()) scheduler_thread_.join();
  {
    std::lock_guard lock(mu_);
    for (auto& [id, e] : runs_) entries.push_back(std::move(e));
    runs_.clear();
  }
  for (auto& e : entries) {
    if (e->thread.joinable()) e->thread.join();
  }
}

Result<std::string> RunManager::begin(v1::RunRecord record, bool resumed, const Takeover* takeover) {
  std::string id = record.id();
  if (!resumed) {
    FD_ASSIGN(environment, place(record.experiment()), "run {} refused", id);
    record.mutable_experiment()->set_environment(environment);
  }
  // Injects too: an ad hoc fault is a run under the same policy.
  if (!resumed && config_.policy_approvals) {
    uint32_t need = config_.policy_approvals(record.experiment().environment());
    auto* approvals = record.mutable_experiment()->mutable_approvals();
    if (need > approvals->required()) approvals->set_required(need);
  }
  auto entry = std::make_unique<Entry>();
  if (observers_) entry->observers = observers_(record, resumed);
  std::vector<RunObserver*> raw;
  for (auto& o : entry->observers) raw.push_back(o.get());
  entry->fanout = std::make_unique<FanOut>(raw);
  auto probes = probes_(record.experiment());
  entry->run = std::make_shared<Run>(std::move(record), clock_, fleet_, std::move(probes), store_, entry->fanout.get(),
                                     config_.options);
  if (takeover) entry->run->continue_after(*takeover, config_.readoption);
  Entry* e = entry.get();
  {
    std::lock_guard lock(mu_);
    if (stopping_) return make_error("the controller is shutting down");
    if (runs_.count(id)) return make_error("run {} exists", id);
    runs_[id] = std::move(entry);
  }
  if (auto s = store_->put_run(e->run->snapshot(true)); !s) logger("controller.runner")->error("{}", s.error().describe());
  e->thread = std::thread([this, e] {
    e->run->execute();
    std::lock_guard lock(mu_);
    e->done = true;
  });
  reap();
  return id;
}

Result<std::string> RunManager::place(const v1::Experiment& e) {
  std::vector<controller::Host> hosts;
  for (int i = 0; i < e.steps_size(); ++i) {
    // A selection that resolves to nothing now is refused at preflight, after which
    // every step's hosts are checked against the environment placed here.
    auto resolved = fleet_->resolve(e.steps(i).has_targets() ? e.steps(i).targets() : e.targets());
    if (resolved) hosts.insert(hosts.end(), resolved->begin(), resolved->end());
  }
  return settle_environment(e.environment(), hosts);
}

void RunManager::reap() {
  std::vector<std::unique_ptr<Entry>> done;
  {
    std::lock_guard lock(mu_);
    for (auto it = runs_.begin(); it != runs_.end();) {
      if (it->second->done) {
        done.push_back(std::move(it->second));
        it = runs_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& e : done) {
    if (e->thread.joinable()) e->thread.join();
  }
}

Result<std::string> RunManager::start_run(const experiment::LoadedExperiment& file, const std::string& started_by,
                                          const std::vector<v1::Participant>& participants) {
  if (!file.ok()) return make_error("{}: {} error(s), the first: {}", file.file, file.diagnostics.size(),
                                    file.diagnostics[0].to_string());
  v1::RunRecord r = new_run_record(file, config_.new_run_id(), started_by, clock_->now());
  for (const auto& p : participants) *r.add_participants() = p;
  return begin(std::move(r), false);
}

Result<std::string> RunManager::start_inject(const v1::InjectRequest& req, const std::string& started_by) {
  constexpr auto kMaxDuration = std::chrono::hours(24);
  constexpr auto kMaxStartDelay = std::chrono::hours(1);
  if (!req.has_spec() || req.spec().kind_case() == v1::FaultSpec::KIND_NOT_SET) {
    return make_error("inject: unknown fault kind (the spec is empty or of a kind this controller does not know)");
  }
  if (!req.has_duration()) return make_error("inject: a duration is required (every fault has a lease)");
  auto duration = from_proto(req.duration());
  if (duration <= std::chrono::nanoseconds::zero() || duration > kMaxDuration) {
    return make_error("inject: duration {} is outside (0, 24h]", format_duration(duration));
  }
  if (req.has_start_delay()) {
    auto delay = from_proto(req.start_delay());
    if (delay < std::chrono::nanoseconds::zero() || delay > kMaxStartDelay) {
      return make_error("inject: start delay {} is outside [0, 1h]", format_duration(delay));
    }
  }
  // A one-step experiment without probes: the same preflight, guard, coordinated
  // start, revert, recovery and evidence as any run.
  v1::Experiment e;
  e.set_name("inject");
  e.set_description(req.description());
  *e.mutable_targets() = req.targets();
  *e.mutable_blast_radius() = req.blast_radius();
  auto* step = e.add_steps();
  step->set_name(req.spec().GetDescriptor()->FindFieldByNumber(req.spec().kind_case())->name());
  *step->mutable_fault() = req.spec();
  *step->mutable_duration() = req.duration();
  experiment::LoadedExperiment file;
  file.file = "(firedrill inject)";
  google::protobuf::TextFormat::PrintToString(e, &file.text);
  file.sha256 = experiment::sha256_hex(file.text);
  file.experiment = e;
  v1::RunRecord r = new_run_record(file, config_.new_run_id(), started_by, clock_->now());
  r.set_kind("inject");
  if (req.has_start_delay()) *r.mutable_start_delay() = req.start_delay();
  return begin(std::move(r), false);
}

std::shared_ptr<Run> RunManager::live(const std::string& id) {
  std::lock_guard lock(mu_);
  auto it = runs_.find(id);
  return it == runs_.end() ? nullptr : it->second->run;
}

Result<v1::RunRecord> RunManager::get(const std::string& id, bool with_samples) {
  if (auto r = live(id)) return r->snapshot(with_samples);
  FD_ASSIGN(r, store_->run(id, with_samples), "run {}", id);
  if (!r) return make_error("no run {}", id);
  if (!with_samples) r->clear_experiment_yaml();
  return std::move(*r);
}

Result<std::vector<v1::RunRecord>> RunManager::list(size_t limit) {
  reap();
  FD_ASSIGN(all, store_->runs(limit), "runs");
  // Live runs are fresher than their last save.
  for (auto& r : all) {
    if (auto l = live(r.id())) r = summary(l->snapshot(false));
  }
  return all;
}

v1::ApproveResponse RunManager::approve(const std::string& id, const std::string& approver, const std::string& comment,
                                        bool reject) {
  if (auto r = live(id)) return r->approve(approver, comment, reject);
  v1::ApproveResponse out;
  auto stored = store_->run(id, false);
  out.set_error(stored && *stored ? fmt::format("run {} is not waiting for approval (it is {})", id,
                                                outcome_name((*stored)->outcome()))
                                  : fmt::format("no run {}", id));
  return out;
}

Result<void> RunManager::abort(const std::string& id, const std::string& reason, const std::string& by) {
  auto r = live(id);
  if (!r || r->finished()) {
    FD_ASSIGN(stored, get(id, false), "abort");
    return make_error("run {} has ended ({})", id, outcome_name(stored.outcome()));
  }
  r->abort(reason.empty() ? fmt::format("aborted by {}", by) : reason, by);
  return ok();
}

Result<std::string> RunManager::launch(const v1::ScheduleRecord& s, const v1::Experiment& experiment, WallTime due) {
  experiment::LoadedExperiment file;
  file.file = s.experiment_file();
  file.text = s.experiment_yaml();
  file.sha256 = s.experiment_sha256();
  file.experiment = experiment;
  v1::RunRecord r = new_run_record(file, config_.new_run_id(), fmt::format("scheduler (schedule {})", s.id()), clock_->now());
  r.set_schedule_id(s.id());
  r.set_seed(experiment.targets().seed());
  return begin(std::move(r), false);
}

bool RunManager::active(const std::string& run_id) {
  std::lock_guard lock(mu_);
  auto it = runs_.find(run_id);
  return it != runs_.end() && !it->second->done && !it->second->run->finished();
}

void RunManager::scheduler_loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    lock.unlock();
    scheduler_.tick(clock_->now());
    reap();
    lock.lock();
    cv_.wait_for(lock, std::chrono::seconds(1), [&] { return stopping_; });
  }
}

}  // namespace firedrill::runner
