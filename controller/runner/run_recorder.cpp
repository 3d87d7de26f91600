#include "controller/runner/run_recorder.h"

#include <unistd.h>

#include <cmath>

#include "common/log.h"
#include "controller/experiment/validate.h"
#include "controller/runner/target_command.h"
#include "controller/slo/slo.h"
#include "controller/store/target_status.h"
#include "controller/targeting/targets.h"

namespace firedrill::evidence {

namespace {

WallTime time_or(const google::protobuf::Timestamp& t, WallTime fallback) {
  return t.seconds() == 0 && t.nanos() == 0 ? fallback : from_proto(t);
}

int64_t ms_of(const google::protobuf::Duration& d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(from_proto(d)).count();
}

// The name of the member a oneof holds ("power_loss", "http"), or "".
std::string oneof_name(const google::protobuf::Message& m) {
  const auto* desc = m.GetDescriptor();
  if (desc->oneof_decl_count() == 0) return "";
  const auto* field = m.GetReflection()->GetOneofFieldDescriptor(m, desc->oneof_decl(0));
  return field ? field->name() : "";
}

std::string join(const google::protobuf::RepeatedPtrField<std::string>& v, const char* sep) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

std::string probe_target(const v1::Probe& p) {
  if (p.has_http()) return (p.http().method().empty() ? "GET " : p.http().method() + " ") + p.http().url();
  if (p.has_tcp()) return p.tcp().address();
  if (p.has_command()) return join(p.command().argv(), " ");
  if (p.has_prometheus()) return p.prometheus().url() + " " + p.prometheus().query();
  if (p.has_data()) return "write: " + join(p.data().write(), " ") + "; read: " + join(p.data().read(), " ");
  return "";
}

std::vector<std::string> radius_words(const v1::BlastRadius& r) {
  std::vector<std::string> out;
  if (r.max_hosts()) out.push_back(fmt::format("at most {} hosts", r.max_hosts()));
  if (r.max_percent() > 0) out.push_back(fmt::format("at most {}% of the live fleet", r.max_percent()));
  if (r.has_max_domains() && !r.max_domains().key().empty()) {
    out.push_back(fmt::format("at most {} value(s) of {} (max_domains)", r.max_domains().count(), r.max_domains().key()));
  }
  for (const auto& p : r.protected_selectors()) out.push_back(fmt::format("never targets {} (protected)", p));
  if (r.has_keep_untouched() && !r.keep_untouched().key().empty()) {
    out.push_back(fmt::format("at least {} value(s) of {} untouched (keep_untouched)", r.keep_untouched().min(),
                              r.keep_untouched().key()));
  }
  out.push_back("the controller's fleet-wide rules (protected selectors, shared budget, its own failure domain)");
  return out;
}

TestType test_type_of(v1::TestType t) {
  switch (t) {
    case v1::TEST_TYPE_GAME_DAY: return TestType::kGameDay;
    case v1::TEST_TYPE_CONTINUOUS: return TestType::kContinuous;
    default: return TestType::kAdHoc;
  }
}

std::string outcome_word(v1::RunOutcome o) {
  switch (o) {
    case v1::RUN_OUTCOME_PASSED: return "pass";
    case v1::RUN_OUTCOME_FAILED: return "fail";
    case v1::RUN_OUTCOME_ABORTED: return "aborted";
    case v1::RUN_OUTCOME_REFUSED: return "refused";
    default: return "incomplete";
  }
}

std::string host_name(const controller::Host& h) {
  auto it = h.tags.find("host");
  return it != h.tags.end() && !it->second.empty() ? it->second : h.id;
}

std::string tag_of(const controller::Host& h, const char* key) {
  auto it = h.tags.find(key);
  return it == h.tags.end() ? "" : it->second;
}

class Forwarder : public runner::RunObserver {
 public:
  explicit Forwarder(runner::RunObserver* to) : to_(to) {}
  void on_created(const v1::RunRecord& r) override { to_->on_created(r); }
  void on_approval(const v1::RunRecord& r, const v1::Approval& a, bool rejected) override {
    to_->on_approval(r, a, rejected);
  }
  void on_phase(const v1::RunRecord& r, const std::string& d) override { to_->on_phase(r, d); }
  void on_targets(const v1::RunRecord& r, int step, const std::vector<controller::Host>& h) override {
    to_->on_targets(r, step, h);
  }
  void on_guard(const v1::RunRecord& r, const std::string& when, const v1::GuardVerdict& v) override {
    to_->on_guard(r, when, v);
  }
  void on_fault(const v1::RunRecord& r, const v1::FaultRecord& f, bool reverted) override {
    to_->on_fault(r, f, reverted);
  }
  void on_samples(const v1::RunRecord& r, const std::string& p, const std::vector<slo::Sample>& s) override {
    to_->on_samples(r, p, s);
  }
  void on_data_check(const v1::RunRecord& r, const v1::DataReadBack& d) override { to_->on_data_check(r, d); }
  void on_milestone(const v1::RunRecord& r, const std::string& n, WallTime at, const std::string& d) override {
    to_->on_milestone(r, n, at, d);
  }
  void on_abort(const v1::RunRecord& r, const std::string& reason, const std::string& by) override {
    to_->on_abort(r, reason, by);
  }
  void on_handover(const v1::RunRecord& r, const runner::Takeover& t, WallTime from, WallTime to) override {
    to_->on_handover(r, t, from, to);
  }
  void on_verdict(const v1::RunRecord& r) override { to_->on_verdict(r); }
  std::string incomplete(const std::string& run_id) const override { return to_->incomplete(run_id); }

 private:
  runner::RunObserver* to_;
};

}  // namespace

std::unique_ptr<runner::RunObserver> RunRecorder::for_run() { return std::make_unique<Forwarder>(this); }

Result<std::unique_ptr<ControllerEvidence>> ControllerEvidence::open(const std::filesystem::path& state_dir,
                                                                     controller::EvidenceRecords& store) {
  FD_ASSIGN(key, SigningKey::load_or_create(state_dir), "controller evidence");
  auto out = std::make_unique<ControllerEvidence>(ControllerEvidence{store, std::move(key), nullptr});
  out->recorder = std::make_unique<RunRecorder>(out->store, out->key);
  logger("controller.evidence")->info("evidence key {} in {}", out->key.fingerprint(), state_dir.string());
  return out;
}

RunRecorder::RunRecorder(controller::EvidenceRecords& store, const SigningKey& key, EvidenceLog::Clock clock,
                         size_t samples_per_batch)
    : store_(store), key_(key), clock_(std::move(clock)), batch_(std::max<size_t>(1, samples_per_batch)) {
  if (!clock_) clock_ = [] { return WallClock::now(); };
}

RunCreated RunRecorder::created_from(const v1::RunRecord& run) {
  const v1::Experiment& e = run.experiment();
  RunCreated c;
  c.experiment_name = e.name();
  c.experiment_version = e.version();
  c.experiment_sha256 = run.experiment_sha256();
  c.experiment_file = run.experiment_file();
  c.scenario = e.description();
  c.hypothesis = e.hypothesis();
  c.test_type = test_type_of(e.test_type());
  c.environment = e.environment();
  c.controller_version = std::string("firedrill ") + FIREDRILL_VERSION;
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) == 0) c.controller_host = host;
  c.owner = e.owner().empty() ? run.started_by() : e.owner();
  for (const auto& p : run.participants()) c.participants.push_back({p.name(), p.role()});
  if (c.participants.empty()) {
    for (const auto& p : e.participants()) c.participants.push_back({p.name(), p.role()});
  }
  c.required_approvals = static_cast<int>(e.approvals().required());
  c.selector = e.targets().selector().empty() ? runner::targets_words(e.targets()) : e.targets().selector();
  c.mode = controller::format_mode(e.targets().mode());
  c.overrides.assign(run.overrides().begin(), run.overrides().end());
  c.blast_radius = radius_words(e.blast_radius());
  for (int i = 0; i < e.steps_size(); ++i) {
    const auto& s = e.steps(i);
    c.steps.push_back(StepPlan{i + 1, s.name(), s.fault().ShortDebugString(),
                               s.has_targets() ? runner::targets_words(s.targets()) : c.selector, ms_of(s.duration())});
  }
  for (const auto& p : e.probes()) {
    c.probes.push_back(ProbePlan{p.name(), oneof_name(p), probe_target(p),
                                 p.has_interval() ? ms_of(p.interval()) : 1000, "controller"});
  }
  // The rows the SLO engine will judge, with its own target words: evaluated over no
  // samples they name every objective and probe.
  for (const auto& row : slo::evaluate(e, {}, slo::Window{}, {})) {
    SloTarget t;
    t.name = row.objective + " " + row.probe;
    t.kind = row.objective;
    t.probe = row.probe;
    t.comparator = row.target.substr(0, row.target.find(' '));
    t.unit = row.unit;
    t.objective = row.term;
    t.target_text = row.target;
    c.slos.push_back(std::move(t));
  }
  c.abort_unavailability_ms = e.abort().has_unavailability_over() ? ms_of(e.abort().unavailability_over()) : 0;
  if (e.report().has_user_notice_threshold()) c.user_notice_threshold_ms = ms_of(e.report().user_notice_threshold());
  if (e.slo().failover_time().consecutive() > 0) c.sustain_samples = static_cast<int>(e.slo().failover_time().consecutive());
  return c;
}

void RunRecorder::fail(const std::string& run_id, const Error& e, int64_t records) {
  logger("controller.evidence")->error("run {}: {} evidence record(s) not written: {}", run_id, records, e.describe());
  errors_.emplace(run_id, e);
  lost_[run_id] += records;
}

std::string RunRecorder::incomplete(const std::string& run_id) const {
  std::lock_guard lock(mu_);
  auto it = lost_.find(run_id);
  if (it == lost_.end() || it->second == 0) return "";
  return fmt::format("{} record(s) of the signed log could not be written (first: {})", it->second,
                     errors_.at(run_id).describe());
}

std::optional<Error> RunRecorder::error(const std::string& run_id) const {
  std::lock_guard lock(mu_);
  auto it = errors_.find(run_id);
  if (it == errors_.end()) return std::nullopt;
  return it->second;
}

RunRecorder::Open* RunRecorder::open(const v1::RunRecord& run, int64_t records) {
  auto it = runs_.find(run.id());
  if (it != runs_.end()) return &it->second;
  // Not open yet, or its opening failed before: tried again, and what this call
  // brought is counted as lost when it fails again.
  auto last = store_.last_evidence_event(run.id());
  if (!last) {
    fail(run.id(), last.error(), records);
    return nullptr;
  }
  Result<std::unique_ptr<EvidenceLog>> log =
      *last ? EvidenceLog::resume(store_, key_, run.id(), clock_)
            : EvidenceLog::create(store_, key_, run.id(), created_from(run), clock_);
  if (!log) {
    fail(run.id(), log.error(), records + (*last ? 0 : 1));
    return nullptr;
  }
  Open& o = runs_[run.id()];
  o.log = std::move(*log);
  for (const auto& step : run.steps()) {
    for (const auto& t : step.targets()) {
      auto h = t.tags().find("host");
      o.host_of[t.agent_id()] = h != t.tags().end() ? h->second : t.agent_id();
    }
  }
  return &o;
}

template <typename F>
auto RunRecorder::timed(size_t events, F&& write) {
  auto t0 = std::chrono::steady_clock::now();
  auto r = write();
  if (!append_timer_) return r;
  append_timer_(std::chrono::steady_clock::now() - t0, events, static_cast<bool>(r));
  return r;
}

void RunRecorder::flush(const v1::RunRecord& run, Open& o) {
  std::vector<PendingEvent> batch;
  for (auto& [probe, samples] : o.pending) {
    if (samples.empty()) continue;
    batch.push_back(PendingEvent::of(ProbeSamples{probe, std::move(samples)}));
    samples.clear();
  }
  for (auto& f : o.faults) batch.push_back(std::move(f));
  o.faults.clear();
  if (batch.empty()) return;
  // A batch that cannot be written (after the log's retries) is counted and dropped;
  // the chain goes on from its last written head, and the verdict says what is missing.
  if (auto r = timed(batch.size(), [&] { return o.log->append_all(batch); }); !r) {
    fail(run.id(), r.error(), static_cast<int64_t>(batch.size()));
  }
}

template <typename T>
void RunRecorder::append(const v1::RunRecord& run, const T& payload) {
  Open* o = open(run, 1);
  if (!o) return;
  flush(run, *o);
  if (auto r = timed(1, [&] { return o->log->append(payload); }); !r) fail(run.id(), r.error(), 1);
}

void RunRecorder::on_created(const v1::RunRecord& run) {
  std::lock_guard lock(mu_);
  open(run);
}

void RunRecorder::on_approval(const v1::RunRecord& run, const v1::Approval& a, bool rejected) {
  std::lock_guard lock(mu_);
  append(run, Approval{a.approver(), "", rejected ? "rejected" : "approved", a.comment(),
                       time_or(a.at(), clock_())});
}

void RunRecorder::on_phase(const v1::RunRecord& run, const std::string& detail) {
  std::lock_guard lock(mu_);
  append(run, RunState{runner::phase_name(run.phase()),
                       run.phase() == v1::RUN_PHASE_INJECT || run.phase() == v1::RUN_PHASE_OBSERVE
                           ? static_cast<int>(run.step()) + 1
                           : 0,
                       detail});
}

void RunRecorder::on_targets(const v1::RunRecord& run, int step, const std::vector<controller::Host>& hosts) {
  std::lock_guard lock(mu_);
  Open* o = open(run, 1);
  if (!o) return;
  const v1::Experiment& e = run.experiment();
  const v1::Targets& t =
      step >= 0 && step < e.steps_size() && e.steps(step).has_targets() ? e.steps(step).targets() : e.targets();
  const std::string field = step >= 0 && step < e.steps_size() && e.steps(step).has_targets()
                                ? fmt::format("steps[{}].targets", step)
                                : "targets";
  TargetsResolved tr;
  tr.selector = t.selector();
  tr.mode = controller::format_mode(t.mode());
  for (const auto& rec : run.target_commands()) {
    if (rec.field() != field) continue;
    std::string chose = rec.hosts_size() > 0 ? fmt::format("hosts {}", fmt::join(rec.hosts(), ","))
                        : rec.selector().empty() ? "" : "selector " + rec.selector();
    tr.from_command = {TargetCommand{rec.command(), rec.status(), rec.out(), rec.err(), chose, rec.error()}};
    tr.selector = chose.empty() ? runner::targets_words(t) : chose;
  }
  for (const auto& h : hosts) {
    TargetHost th{host_name(h), h.id, tag_of(h, "dc"), tag_of(h, "rack"),
                  h.agent_version.empty() ? tag_of(h, "agent_version") : h.agent_version, {}};
    for (const auto& [k, v] : h.tags) th.tags[k] = v;
    o->host_of[h.id] = th.host;
    tr.hosts.push_back(std::move(th));
  }
  append(run, tr);
}

void RunRecorder::on_guard(const v1::RunRecord& run, const std::string& when, const v1::GuardVerdict& verdict) {
  std::lock_guard lock(mu_);
  GuardVerdict g;
  g.phase = when;
  g.allowed = verdict.allowed();
  for (const auto& v : verdict.violations()) {
    g.rules.push_back(GuardRule{v.rule() + (v.limit().empty() ? "" : " (" + v.limit() + ")"), false, v.message()});
  }
  g.summary = verdict.allowed() ? "no rule broken"
                                : fmt::format("{} rule(s) broken", verdict.violations_size());
  append(run, g);
}

void RunRecorder::on_fault(const v1::RunRecord& run, const v1::FaultRecord& f, bool reverted) {
  std::lock_guard lock(mu_);
  Open* o = open(run, 1);
  if (!o) return;
  auto h = o->host_of.find(f.agent_id());
  std::string host = h == o->host_of.end() ? f.agent_id() : h->second;
  int step = static_cast<int>(f.step()) + 1;
  if (!reverted) {
    std::string kind;
    if (f.step() < static_cast<uint32_t>(run.experiment().steps_size())) {
      kind = oneof_name(run.experiment().steps(static_cast<int>(f.step())).fault());
    }
    bool ok = controller::target_holds_fault(f.status());
    WallTime applied = time_or(f.effective_at(), time_or(f.acked_at(), clock_()));
    FaultApplied a{host, f.agent_id(), step, f.fault_id(), kind, time_or(f.not_before(), WallTime{}), applied,
                   time_or(f.expires_at(), WallTime{}), ok, ok ? "" : controller::target_status_name(f.status()) + ": " + f.error()};
    for (const auto& e : f.effects()) a.effects.push_back({e.part(), time_or(e.at(), WallTime{}), e.source()});
    if (f.has_clock()) {
      a.clock_synchronized = f.clock().synchronized() ? 1 : 0;
      a.clock_max_error_us = f.clock().max_error_us();
      a.clock_est_error_us = f.clock().est_error_us();
    }
    if (f.step() < static_cast<uint32_t>(run.experiment().steps_size())) {
      a.lose_unsynced = run.experiment().steps(static_cast<int>(f.step())).fault().power_loss().lose_unsynced();
    }
    o->faults.push_back(PendingEvent::of(std::move(a)));
  } else {
    bool ok = f.status() == v1::TARGET_STATUS_REVERTED;
    o->faults.push_back(PendingEvent::of(FaultReverted{host, f.agent_id(), step, f.fault_id(),
                                                       time_or(f.reverted_at(), clock_()),
                                                       ok ? "reverted" : f.status() == v1::TARGET_STATUS_ENDED_EARLY ? "ended early" : "not confirmed",
                                                       ok, f.error()}));
  }
  if (o->faults.size() >= 1000) flush(run, *o);
}

void RunRecorder::on_samples(const v1::RunRecord& run, const std::string& probe, const std::vector<slo::Sample>& s) {
  std::lock_guard lock(mu_);
  Open* o = open(run, 1);
  if (!o) return;
  auto& pending = o->pending[probe];
  for (const auto& x : s) {
    pending.push_back(ProbeSample{x.start, x.ok,
                                  std::chrono::duration_cast<std::chrono::microseconds>(x.duration).count(),
                                  x.ok ? "" : x.detail});
  }
  o->writes[probe] += static_cast<int64_t>(s.size());
  if (pending.size() >= batch_) flush(run, *o);
}

void RunRecorder::on_data_check(const v1::RunRecord& run, const v1::DataReadBack& d) {
  std::lock_guard lock(mu_);
  Open* o = open(run, 1);
  if (!o) return;
  DataCheck c;
  c.probe = d.probe();
  c.written = o->writes[d.probe()];
  c.acknowledged = static_cast<int64_t>(d.acknowledged());
  c.read_back = static_cast<int64_t>(d.read());
  c.lost = d.lost_size();
  c.lost_span_ms = ms_of(d.lost_span());
  append(run, c);
  if (!d.ok()) append(run, Note{"data probe " + d.probe(), "read-back failed: " + d.error()});
}

void RunRecorder::on_milestone(const v1::RunRecord& run, const std::string& name, WallTime at,
                               const std::string& detail) {
  std::lock_guard lock(mu_);
  append(run, Milestone{name, at, detail});
}

void RunRecorder::on_abort(const v1::RunRecord& run, const std::string& reason, const std::string& by) {
  std::lock_guard lock(mu_);
  append(run, Abort{reason, by, clock_()});
}

void RunRecorder::on_handover(const v1::RunRecord& run, const runner::Takeover& t, WallTime gap_from,
                              WallTime gap_to) {
  std::lock_guard lock(mu_);
  append(run, Handover{t.from, t.lost_at, t.to, t.epoch, t.led_at, gap_from, gap_to, t.within_grace()});
}

void RunRecorder::on_verdict(const v1::RunRecord& run) {
  std::lock_guard lock(mu_);
  for (const auto& row : run.slo()) {
    bool measured = !std::isnan(row.value());
    append(run, SloResult{row.objective() + " " + row.probe(), measured ? row.value() : 0, row.unit(), row.pass(),
                          measured, row.detail(), row.measured()});
  }
  // The runner asked incomplete() before this verdict, so its outcome and reason
  // already say what is missing; records lost since then are named here.
  std::string reason = run.reason();
  int64_t lost = lost_.count(run.id()) ? lost_[run.id()] : 0;
  if (lost > 0 && reason.find("evidence incomplete") == std::string::npos) {
    reason = fmt::format("evidence incomplete: {} record(s) could not be written; {}", lost, reason);
  }
  append(run, Verdict{outcome_word(run.outcome()), reason});
  runs_.erase(run.id());
}

}  // namespace firedrill::evidence
