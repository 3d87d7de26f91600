#include "controller/metrics/controller_metrics.h"

#include "common/fault_kind.h"
#include "common/log.h"
#include "controller/guard/guard.h"
#include "controller/runner/run_recorder.h"

namespace firedrill::controller {
namespace {

std::string tag(const AgentRecord& a, const std::string& key) {
  auto it = a.tags.find(key);
  return it == a.tags.end() ? "" : it->second;
}

double seconds(std::chrono::nanoseconds d) { return std::chrono::duration<double>(d).count(); }

// What one run contributes as it goes: its guard's refusals and its probes' samples.
class RunMetrics : public runner::RunObserver {
 public:
  explicit RunMetrics(const ControllerMetrics::Families& f) : f_(f) {}

  void on_guard(const v1::RunRecord&, const std::string&, const v1::GuardVerdict& verdict) override {
    if (verdict.allowed()) return;
    for (const auto& v : verdict.violations()) f_.guard_refusals->with({v.rule()}).inc();
  }
  void on_samples(const v1::RunRecord&, const std::string& probe, const std::vector<slo::Sample>& samples) override {
    size_t ok = 0;
    for (const auto& s : samples) ok += s.ok ? 1 : 0;
    if (ok) f_.probe_samples->with({probe, "ok"}).inc(static_cast<double>(ok));
    if (ok < samples.size()) f_.probe_samples->with({probe, "failed"}).inc(static_cast<double>(samples.size() - ok));
  }

 private:
  const ControllerMetrics::Families& f_;
};

}  // namespace

ControllerMetrics::ControllerMetrics(metrics::Registry& registry, Fleet& fleet, Store& store) {
  auto& connected = registry.gauge("firedrill_controller_agents_connected",
                                   "Agents with a live stream, by their dc and rack tags.", {"dc", "rack"});
  auto& lost = registry.gauge("firedrill_controller_agents_lost",
                              "Agents known to the controller whose stream is gone.", {"dc", "rack"});
  auto& faults = registry.gauge("firedrill_controller_fleet_faults_in_effect",
                                "Faults live agents last reported in effect, by kind.", {"kind"});
  auto& runs = registry.gauge("firedrill_controller_runs_in_flight", "Runs not yet done, by phase.", {"phase"});
  auto& halted = registry.gauge("firedrill_controller_halted", "1 while the fleet is halted, else 0.");
  auto& store_errors = registry.counter("firedrill_controller_metrics_store_errors_total",
                                        "Scrapes that could not read the runs from the store.");
  f_.fanout_seconds = &registry.histogram(
      "firedrill_controller_fanout_seconds",
      "From sending a command to every target to its last answer (to the deadline when some never answered), "
      "by command: apply, revert, halt.",
      {"command"}, metrics::latency_buckets());
  f_.fanout_unanswered = &registry.counter("firedrill_controller_fanout_unanswered_total",
                                           "Targets of a fan-out that never answered, by command.", {"command"});
  f_.guard_refusals = &registry.counter("firedrill_controller_guard_refusals_total",
                                        "Violations in the guard verdicts that refused a run or a step, by rule.",
                                        {"rule"});
  f_.probe_samples = &registry.counter("firedrill_controller_probe_samples_total",
                                       "Probe samples taken by the runs, by probe and result (ok, failed).",
                                       {"probe", "result"});
  f_.evidence_append_seconds = &registry.histogram(
      "firedrill_controller_evidence_append_seconds",
      "One write to a run's signed evidence log (one event, or a batch of samples and faults).", {},
      metrics::latency_buckets());
  f_.evidence_append_failures = &registry.counter(
      "firedrill_controller_evidence_append_failures_total",
      "Writes to the evidence log that failed after their retries (the run's verdict says it is incomplete).");
  // Known series start at zero, so that a rate or increase has a series before the first event.
  for (const char* command : {"apply", "revert", "halt"}) {
    f_.fanout_seconds->with({command});
    f_.fanout_unanswered->with({command});
  }
  for (const char* rule : kGuardRules) f_.guard_refusals->with({rule});
  f_.evidence_append_seconds->with({});
  f_.evidence_append_failures->with({});

  fleet.on_fanout([f = f_](std::string_view command, const FanoutResult& r) {
    if (r.targets.empty()) return;
    size_t unanswered = 0;
    for (const auto& t : r.targets) unanswered += t.status == v1::ACK_STATUS_UNSPECIFIED ? 1 : 0;
    auto end = unanswered ? WallClock::now() : r.last_ack.value_or(r.sent_at);
    f.fanout_seconds->with({std::string(command)}).observe(seconds(end - r.sent_at));
    if (unanswered) f.fanout_unanswered->with({std::string(command)}).inc(static_cast<double>(unanswered));
  });

  registry.on_scrape([&connected, &lost, &faults, &runs, &halted, &store_errors, &fleet, &store] {
    connected.clear();
    lost.clear();
    faults.clear();
    runs.clear();
    for (auto& a : fleet.agents(true)) {
      (a.live ? connected : lost).with({tag(a, "dc"), tag(a, "rack")}).inc();
      if (!a.live) continue;
      for (auto& f : a.active_faults) {
        if (f.has_applied_at()) faults.with({fault_kind(f.spec())}).inc();
      }
    }
    if (auto in_flight = store.runs_in_flight(); in_flight) {
      for (auto& r : *in_flight) runs.with({runner::phase_name(r.phase())}).inc();
    } else {
      store_errors.with({}).inc();
      logger("controller.metrics")->warn("metrics: {}", in_flight.error().describe());
    }
    halted.with({}).set(fleet.halted() ? 1 : 0);
  });
}

void ControllerMetrics::watch(evidence::RunRecorder& recorder) {
  recorder.on_append([f = f_](std::chrono::nanoseconds took, size_t, bool ok) {
    f.evidence_append_seconds->with({}).observe(seconds(took));
    if (!ok) f.evidence_append_failures->with({}).inc();
  });
}

std::unique_ptr<runner::RunObserver> ControllerMetrics::for_run() { return std::make_unique<RunMetrics>(f_); }

}  // namespace firedrill::controller
