// The SLO table (controller/slo) and the evidence report's milestones judge the same
// samples by one set of definitions: fed the same samples, both give the same
// failover, recovery and latency percentiles, to the millisecond.
#include <gtest/gtest.h>

#include "controller/evidence/report_model.h"
#include "controller/slo/slo.h"

namespace firedrill::evidence {
namespace {

using namespace std::chrono_literals;

const WallTime t0 = WallTime(std::chrono::seconds(1'800'000'000));
WallTime at_ms(int64_t ms) { return t0 + std::chrono::milliseconds(ms); }

struct Series {
  std::vector<ProbeSample> samples;
  void add(int64_t at, bool ok, int64_t latency_ms = 20) {
    samples.push_back(ProbeSample{at_ms(at), ok, latency_ms * 1000, ok ? "" : "refused"});
  }
};

Json event(EventKind kind, WallTime at, Json data) {
  return Json{{"kind", std::string(to_string(kind))}, {"at", format_time(at)}, {"run", "r-1"}, {"data", std::move(data)}};
}

// One run with one probe: fault applied at +10s, lifted at +30s, verdict at +40s.
const WallTime kApplied = at_ms(10'000), kLifted = at_ms(30'000), kEnd = at_ms(40'000);

Json evidence_of(const Series& s, int k) {
  RunCreated c;
  c.experiment_name = "same-numbers";
  c.sustain_samples = k;
  c.probes = {ProbePlan{"web", "http", "http://x", 500, ""}};
  FaultApplied a;
  a.host = "h1";
  a.step = 1;
  a.fault_id = "r-1.1";
  a.applied_at = kApplied;
  FaultReverted r;
  r.host = "h1";
  r.step = 1;
  r.fault_id = "r-1.1";
  r.reverted_at = kLifted;
  ProbeSamples p;
  p.probe = "web";
  p.samples = s.samples;
  Verdict v;
  v.outcome = "pass";
  Json events = Json::array({event(EventKind::kRunCreated, t0, c), event(EventKind::kFaultApplied, kApplied, a),
                             event(EventKind::kProbeSamples, kEnd, p), event(EventKind::kFaultReverted, kLifted, r),
                             event(EventKind::kVerdict, kEnd, v)});
  return Json{{"events", events}};
}

std::vector<slo::Sample> slo_samples(const Series& s) {
  std::vector<slo::Sample> out;
  for (auto& x : s.samples) {
    slo::Sample y;
    y.start = x.at;
    y.ok = x.ok;
    y.duration = std::chrono::microseconds(x.latency_us);
    out.push_back(y);
  }
  return out;
}

int64_t ms(std::chrono::nanoseconds d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); }

TEST(ReportAndSlo, SameSamplesGiveTheSameFailoverRecoveryAndPercentiles) {
  // Every 500 ms. Down from +10.5s; the sample started at +14.5s blocked 1.9 s and then
  // succeeded, and so did the rest until the lift; down again at +30s and +30.5s, up
  // from +31s. Latencies spread so that p50 and p99 differ.
  Series s;
  for (int64_t t = 0; t < 40'000; t += 500) {
    bool ok = !(t >= 10'500 && t < 14'500) && !(t >= 30'000 && t < 31'000);
    s.add(t, ok, t == 14'500 ? 1900 : 10 + (t / 500) % 37);
  }
  auto model = build_model(evidence_of(s, 3));
  ASSERT_TRUE(model) << model.error().message;
  const auto& m = model->timeline.milestones;
  auto v = slo_samples(s);
  slo::Window w{kApplied, kLifted, kEnd};
  auto failover = slo::failover_time(v, w, 3);
  auto recovery = slo::recovery_time(v, w, 3);
  ASSERT_EQ(failover.kind, slo::Span::Kind::kValue);
  ASSERT_EQ(recovery.kind, slo::Span::Kind::kValue);
  EXPECT_EQ(m.failover_ms, ms(failover.value));
  EXPECT_EQ(m.failover_started_ms, ms(*failover.from_start));
  EXPECT_EQ(m.failover_ms, 6400);          // observed at +16.4s
  EXPECT_EQ(m.failover_started_ms, 4500);  // the success started at +14.5s
  EXPECT_EQ(m.recovery_ms, ms(recovery.value));
  EXPECT_EQ(m.recovery_started_ms, ms(*recovery.from_start));
  ASSERT_EQ(model->probes.size(), 1u);
  auto p50 = slo::latency_percentile(v, t0, kEnd + 1s, 50);
  auto p99 = slo::latency_percentile(v, t0, kEnd + 1s, 99);
  EXPECT_EQ(model->probes[0].latency_p50_us, std::chrono::duration_cast<std::chrono::microseconds>(p50.value).count());
  EXPECT_EQ(model->probes[0].latency_p99_us, std::chrono::duration_cast<std::chrono::microseconds>(p99.value).count());
}

TEST(ReportAndSlo, SuccessesCutShortByTheLiftAreNoFailoverInEither) {
  // Down from +10.5s, up only at +29.5s: one success before the lift, the other two of
  // K = 3 after it. Neither the SLO nor the report may call that a failover.
  Series s;
  for (int64_t t = 0; t < 40'000; t += 500) s.add(t, !(t >= 10'500 && t < 29'500));
  auto model = build_model(evidence_of(s, 3));
  ASSERT_TRUE(model) << model.error().message;
  auto failover = slo::failover_time(slo_samples(s), slo::Window{kApplied, kLifted, kEnd}, 3);
  EXPECT_EQ(failover.kind, slo::Span::Kind::kNever);
  EXPECT_EQ(model->timeline.milestones.failover_ms, -1);
  EXPECT_EQ(model->timeline.milestones.failover, "");
}

TEST(ReportAndSlo, ARunOfSuccessesCutShortByTheEndIsNoRecovery) {
  // Back only for the last two samples: K = 3 is not reached, in either.
  Series s;
  for (int64_t t = 0; t < 40'000; t += 500) s.add(t, t < 10'500 || t >= 39'000);
  auto model = build_model(evidence_of(s, 3));
  ASSERT_TRUE(model) << model.error().message;
  auto recovery = slo::recovery_time(slo_samples(s), slo::Window{kApplied, kLifted, kEnd}, 3);
  EXPECT_EQ(recovery.kind, slo::Span::Kind::kNever);
  EXPECT_EQ(model->timeline.milestones.recovery_ms, -1);
}

}  // namespace
}  // namespace firedrill::evidence
