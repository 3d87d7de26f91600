// SLO computations on synthetic sample series, edge cases included. A series is a
// string: '+' a success, '-' a failure, one sample per second from t0.
#include <gtest/gtest.h>

#include <cmath>

#include "controller/experiment/loader.h"
#include "controller/slo/slo.h"

namespace firedrill::slo {
namespace {

using namespace std::chrono_literals;

const WallTime t0 = WallTime(std::chrono::seconds(1'800'000'000));

std::vector<Sample> series(std::string_view s, WallTime start = t0, Nanos step = 1s, Nanos latency = 10ms) {
  std::vector<Sample> out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == ' ') continue;  // a gap: no sample
    Sample x;
    x.start = start + std::chrono::duration_cast<WallClock::duration>(step * static_cast<int64_t>(i));
    x.ok = s[i] == '+';
    x.duration = latency;
    out.push_back(x);
  }
  return out;
}

WallTime at(int seconds) { return t0 + std::chrono::seconds(seconds); }

Window window(int fault_start, int fault_end, int end) { return Window{at(fault_start), at(fault_end), at(end)}; }

TEST(Slo, AvailabilityCountsSamplesInTheWindowOnly) {
  auto s = series("----++-+++----");  // failures before 4 and from 10 are outside [4, 10)
  Availability a = availability(s, at(4), at(10));
  EXPECT_EQ(a.total, 6u);
  EXPECT_EQ(a.ok, 5u);
  EXPECT_NEAR(a.ratio(), 5.0 / 6.0, 1e-12);
  EXPECT_EQ(availability(s, at(100), at(200)).total, 0u);
}

TEST(Slo, MaxUnavailabilityIsTheLongestFailedRun) {
  // Runs of failures: [2,4) = 2s, [6,11) = 5s, [13, end=15) = 2s (to the window end).
  auto s = series("++--++-----++--");
  Span m = max_unavailability(s, at(0), at(15));
  ASSERT_EQ(m.kind, Span::Kind::kValue);
  EXPECT_EQ(m.value, 5s);
  // A failure run that reaches the window end counts to the end, not to the last sample.
  Span tail = max_unavailability(series("++-"), at(0), at(10));
  EXPECT_EQ(tail.value, 8s);
  EXPECT_EQ(max_unavailability(series("++++"), at(0), at(4)).value, 0s);
  EXPECT_EQ(max_unavailability({}, at(0), at(4)).kind, Span::Kind::kNotMeasured);
}

TEST(Slo, TimeToDetectIsTheFirstFailureAfterFaultStart) {
  auto s = series("+-+++++---+++");  // a failure at 1 is before the fault (5) and ignored
  Span d = time_to_detect(s, window(5, 10, 13));
  ASSERT_EQ(d.kind, Span::Kind::kValue);
  EXPECT_EQ(d.value, 2s);
  Span none = time_to_detect(series("+++++++"), window(2, 5, 7));
  EXPECT_EQ(none.kind, Span::Kind::kNone);
}

TEST(Slo, FailoverTimeIsTheFirstOfKSuccessesAfterFailures) {
  // fault on [2, 12): fails at 3..5, a lone success at 6 does not count (K=3),
  // fails at 7, then successes 8, 9, 10: failover when the success at 8 was observed
  // (its 10 ms later), 6.01s; from its start, 6s.
  auto s = series("+++---+-+++++++");
  Span f = failover_time(s, window(2, 12, 15), 3);
  ASSERT_EQ(f.kind, Span::Kind::kValue) << f.to_string();
  EXPECT_EQ(f.value, 6s + 10ms);
  ASSERT_TRUE(f.from_start);
  EXPECT_EQ(*f.from_start, 6s);
  EXPECT_EQ(f.to_string(), "6.01s (observed; its sample started at 6s)");
  // With K = 1 the lone success at 6 is the failover.
  EXPECT_EQ(failover_time(s, window(2, 12, 15), 1).value, 4s + 10ms);
  // K = 0 means the default, 3.
  EXPECT_EQ(failover_time(s, window(2, 12, 15), 0).value, 6s + 10ms);
}

TEST(Slo, FailoverNeverWhenTheSuccessesComeAfterTheFaultEnded) {
  // fault on [1, 8): down from 2; up again at 7, 8, 9, but 8 and 9 start after the end.
  auto s = series("+-----++++");
  Span f = failover_time(s, window(1, 8, 10), 3);
  EXPECT_EQ(f.kind, Span::Kind::kNever);
  EXPECT_EQ(f.to_string(), "never (no 3 consecutive successes before the fault ended)");
  // Exactly K successes, all started before the end: counts.
  Span just = failover_time(s, window(1, 9, 10), 3);
  ASSERT_EQ(just.kind, Span::Kind::kValue);
  EXPECT_EQ(just.value, 5s + 10ms);
}

TEST(Slo, FailoverZeroWithoutFailureAndUnmeasuredWithoutSamples) {
  Span f = failover_time(series("++++++"), window(1, 5, 6), 3);
  ASSERT_EQ(f.kind, Span::Kind::kValue);
  EXPECT_EQ(f.value, 0s);
  EXPECT_EQ(f.note, "no failure");
  EXPECT_EQ(failover_time(series("++"), window(5, 8, 9), 3).kind, Span::Kind::kNotMeasured);
}

TEST(Slo, RecoveryTimeAfterTheLift) {
  // lift at 5; down at the lift; back from 8 on: 3s.
  auto s = series("++---" "---+++++");
  Span r = recovery_time(s, window(2, 5, 13), 3);
  ASSERT_EQ(r.kind, Span::Kind::kValue);
  EXPECT_EQ(r.value, 3s + 10ms);
  EXPECT_EQ(*r.from_start, 3s);
  // Up at the lift and staying up: 0.
  Span up = recovery_time(series("++++++++"), window(2, 5, 8), 3);
  EXPECT_EQ(up.value, 0s);
  EXPECT_EQ(up.note, "up at the lift");
  // Down at the lift but the first sample after it succeeds: the gap to that sample.
  EXPECT_EQ(recovery_time(series("+++--" "+++"), window(1, 5, 8), 3).value, 10ms);
  EXPECT_EQ(recovery_time(series("+++-" " +++"), window(1, 4, 8), 3).value, 1s + 10ms);
  // Never back.
  EXPECT_EQ(recovery_time(series("++---" "-+-+-"), window(1, 5, 10), 3).kind, Span::Kind::kNever);
}

TEST(Slo, ASuccessCountsWhenItWasObservedAFailureFromItsStart) {
  // fault on [2, 12): fails at 3; the write started at 4 blocked for its whole 1.9 s
  // timeout and then succeeded, as did 5 and 6 (10 ms each). The service was seen
  // back at 5.9 s, not at 4 s: failover 3.9 s, with 2 s as its lower bound.
  auto s = series("+++-+++++++");
  s[4].duration = 1900ms;
  Span f = failover_time(s, window(2, 12, 15), 3);
  ASSERT_EQ(f.kind, Span::Kind::kValue);
  EXPECT_EQ(f.value, 3900ms);
  EXPECT_EQ(*f.from_start, 2s);
  // Detection keeps the failure's start.
  EXPECT_EQ(time_to_detect(s, window(2, 12, 15)).value, 1s);
  EXPECT_EQ(observed_at(s[3]), s[3].start);
}

TEST(Slo, NearestRankAndKInARowAreDefinedOnce) {
  EXPECT_FALSE(nearest_rank(std::vector<int>{}, 50));
  std::vector<int> v{50, 10, 40, 20, 30};
  EXPECT_EQ(*nearest_rank(v, 50), 30);   // ceil(2.5) = 3rd
  EXPECT_EQ(*nearest_rank(v, 99), 50);
  EXPECT_EQ(*nearest_rank(v, 0), 10);    // rank clamped to 1
  EXPECT_EQ(*nearest_rank(v, 40), 20);   // exactly 2: the 2nd, not the 3rd
  std::vector<bool> ok{true, false, true, true, false, true, true, true, true};
  auto at = [&](size_t i) { return static_cast<bool>(ok[i]); };
  EXPECT_EQ(sustained(ok.size(), 0, 3, at), 5u);
  EXPECT_EQ(sustained(ok.size(), 0, 2, at), 2u);
  EXPECT_EQ(sustained(ok.size(), 6, 3, at), 6u);
  // A run cut short by the end does not count.
  EXPECT_EQ(sustained(ok.size(), 7, 3, at), std::string::npos);
  EXPECT_EQ(sustained(ok.size(), 0, 0, at), 5u);  // 0: the default, 3
}

TEST(Slo, LatencyPercentileIsNearestRankOfSuccesses) {
  std::vector<Sample> s;
  for (int i = 1; i <= 10; ++i) {
    Sample x;
    x.start = at(i);
    x.ok = true;
    x.duration = std::chrono::milliseconds(i * 10);
    s.push_back(x);
  }
  Sample slow_failure{at(11), 5s, false, "timeout", 0};
  s.push_back(slow_failure);  // failures never count toward latency
  EXPECT_EQ(latency_percentile(s, at(0), at(20), 50).value, 50ms);
  EXPECT_EQ(latency_percentile(s, at(0), at(20), 90).value, 90ms);
  EXPECT_EQ(latency_percentile(s, at(0), at(20), 91).value, 100ms);
  EXPECT_EQ(latency_percentile(s, at(0), at(20), 100).value, 100ms);
  EXPECT_EQ(latency_percentile(s, at(0), at(20), 1).value, 10ms);
  EXPECT_EQ(latency_percentile(series("---"), at(0), at(20), 99).kind, Span::Kind::kNotMeasured);
}

TEST(Slo, DataLossCountsAcknowledgedMarkersNotReadBack) {
  std::vector<Sample> writes;
  for (uint64_t m = 1; m <= 10; ++m) {
    Sample w;
    w.start = at(static_cast<int>(m));
    w.duration = 100ms;
    w.ok = m != 4;  // marker 4 was never acknowledged: not data loss
    w.marker = m;
    writes.push_back(w);
  }
  DataCheck check;
  check.read_ok = true;
  check.read = {1, 2, 3, 5, 9, 10};  // 6, 7, 8 lost
  DataLoss loss = data_loss(writes, check);
  ASSERT_TRUE(loss.measured);
  EXPECT_EQ(loss.acknowledged, 9u);
  EXPECT_EQ(loss.lost, (std::vector<uint64_t>{6, 7, 8}));
  EXPECT_EQ(loss.span, 2100ms);  // start of 6 to the end of 8
  check.read = {1, 2, 3, 5, 6, 7, 8, 9, 10};
  EXPECT_TRUE(data_loss(writes, check).lost.empty());
  EXPECT_EQ(data_loss(writes, check).span, 0s);
  check.read_ok = false;
  check.error = "connection refused";
  EXPECT_FALSE(data_loss(writes, check).measured);
}

TEST(Slo, CurrentUnavailabilityAndSuccessSince) {
  auto s = series("+++--++---");
  EXPECT_EQ(current_unavailability(s, at(10)), 3s);
  EXPECT_EQ(current_unavailability(s, at(6) + 500ms), 0s);
  EXPECT_EQ(current_unavailability({}, at(6)), 0s);
  EXPECT_FALSE(success_since(s, at(0)).has_value());
  auto up = series("+--+++");
  ASSERT_TRUE(success_since(up, at(0)).has_value());
  EXPECT_EQ(*success_since(up, at(0)), at(3));
  EXPECT_EQ(*success_since(up, at(4)), at(4));  // only samples from `from` count
}

TEST(Slo, EvaluateJudgesEachObjectiveOverEachProbe) {
  const char* yaml = R"(name: t
targets: {selector: a=b}
steps: [{fault: {power_loss: {}}, duration: 10s}]
probes:
  - {name: web, tcp: {address: "h:1"}}
  - {name: api, tcp: {address: "h:2"}}
  - {name: markers, data: {write: [w, "{marker}"], read: [r]}}
slo:
  availability: {min: 0.8}
  max_unavailability: {max: 3s, probes: [web]}
  time_to_detect: {max: 2s, probes: [api]}
  failover_time: {max: 5s}
  recovery_time: {max: 1s, probes: [web]}
  latency: {percentile: 50, max: 20ms, probes: [api]}
  data_loss: {max_markers: 0}
)";
  auto loaded = experiment::parse_experiment(yaml, "t.yaml");
  ASSERT_TRUE(loaded.ok()) << loaded.diagnostics[0].to_string();
  SampleSets sets;
  // fault on [2, 12), window to 15.
  sets["web"] = series("++++----++++++++");  // down 4..7 (4s), failover at 8 (6s)
  sets["api"] = series("++++++++++++++++", t0, 1s, 15ms);
  std::vector<Sample> writes = series("+++++");
  for (size_t i = 0; i < writes.size(); ++i) writes[i].marker = i + 1;
  sets["markers"] = writes;
  DataCheck check{true, "", {1, 2, 3, 5}};
  auto rows = evaluate(loaded.experiment, sets, window(2, 12, 15), {{"markers", check}});
  std::map<std::string, const Row*> by;
  for (const auto& r : rows) by[r.objective + "/" + r.probe] = &r;
  ASSERT_EQ(rows.size(), 9u);
  EXPECT_FALSE(by["availability/web"]->pass);  // 9/13 = 0.69
  EXPECT_NEAR(by["availability/web"]->value, 9.0 / 13.0, 1e-9);
  EXPECT_TRUE(by["availability/api"]->pass);
  EXPECT_FALSE(by["max_unavailability/web"]->pass);
  EXPECT_EQ(by["max_unavailability/web"]->measured, "4s");
  EXPECT_TRUE(by["time_to_detect/api"]->pass);
  EXPECT_EQ(by["time_to_detect/api"]->measured, "none (no failure)");
  EXPECT_FALSE(by["failover_time/web"]->pass);
  EXPECT_EQ(by["failover_time/web"]->measured, "6.01s (observed; its sample started at 6s)");
  EXPECT_EQ(by["failover_time/web"]->term, "RTO");
  EXPECT_TRUE(by["failover_time/api"]->pass);
  EXPECT_TRUE(by["recovery_time/web"]->pass);
  EXPECT_TRUE(by["latency_p50/api"]->pass);
  EXPECT_EQ(by["latency_p50/api"]->target, "<= 20ms");
  EXPECT_FALSE(by["data_loss/markers"]->pass);
  EXPECT_EQ(by["data_loss/markers"]->measured, "1 of 5 lost, span 10ms");
  EXPECT_EQ(by["data_loss/markers"]->term, "RPO");
  EXPECT_FALSE(all_pass(rows));
  // A probe that never sampled fails the objectives that need samples.
  sets.erase("api");
  rows = evaluate(loaded.experiment, sets, window(2, 12, 15), {{"markers", check}});
  for (const auto& r : rows) {
    if (r.probe == "api" && r.objective == "availability") {
      EXPECT_FALSE(r.pass);
      EXPECT_TRUE(std::isnan(r.value));
    }
  }
}

}  // namespace
}  // namespace firedrill::slo
