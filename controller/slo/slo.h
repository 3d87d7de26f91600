// SLOs computed from probe samples. Every definition here is exact, and the README's
// "SLO definitions" section says the same in prose.
//
// Samples: each has a start (wall clock), a duration and an outcome. A probe's samples
// are taken in order of start. "In [a, b)" means a sample whose start is >= a and < b.
// The run gives three instants: fault_start (the first fault took effect),
// fault_end (the last fault was lifted) and window_end (the recovery phase ended).
// The SLO window is [fault_start, window_end).
//
// availability        successes / samples in the SLO window. No sample: not measured
//                     (fails).
// max_unavailability  the longest run of consecutive failed samples in the window,
//                     from the start of its first sample to the start of the next
//                     sample (which succeeded), or to window_end if none followed.
//                     0 if no sample failed.
// time_to_detect      from fault_start to the start of the first failed sample in
//                     [fault_start, window_end). "none" (passes) if none failed.
// observed            a success is observed when its sample completed (start +
//                     duration): a request that blocked for its whole timeout and then
//                     succeeded shows the service back at its end, not at its start.
//                     A failure keeps its start.
// K in a row          sustained(): the first sample (at or after a given one) that
//                     begins K consecutive successes, all K among the samples judged.
// failover_time       the RTO. Let f be the first failed sample in [fault_start,
//                     fault_end). If there is none, 0 ("no failure"). Otherwise, of the
//                     first sample after f that begins K consecutive successes all
//                     started before fault_end: when it was observed, minus
//                     fault_start; "never" (fails) if no such K successes exist. The
//                     note gives the lower bound too: the same from its start.
// recovery_time       after the lift: the first K consecutive successes among samples
//                     in [fault_end, window_end); the time from fault_end to when the
//                     first of them was observed (its start as the lower bound). 0 when
//                     the service was already up at the lift (the last sample before
//                     fault_end and every sample up to those K succeeded). "never"
//                     (fails) if no K successes.
// latency             the p-th percentile (nearest_rank(): the ceil(p/100 * n)-th
//                     smallest) of the durations of successful samples in the window.
//                     No successful sample: not measured (fails).
// data_loss           the RPO. A marker is acknowledged when its write sample
//                     succeeded. Lost: acknowledged and not read back after recovery.
//                     count = number lost; span = from the start of the earliest lost
//                     write to the end (start + duration) of the latest one; 0 if none.
//                     A failed read-back: not measured (fails).
//
// A target passes when the measured value is within it (>= min for availability,
// <= max for the rest). "not measured" and "never" fail.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/time.h"
#include "firedrill/v1/experiment.pb.h"

namespace firedrill::slo {

using Nanos = std::chrono::nanoseconds;

struct Sample {
  WallTime start;
  Nanos duration{0};
  bool ok = false;
  std::string detail;   // why it failed, or what it saw ("200 in 3ms")
  uint64_t marker = 0;  // data probes: the marker this write stored
};

struct Window {
  WallTime fault_start;
  WallTime fault_end;
  WallTime window_end;
};

// When a sample showed its outcome: a success at its completion, a failure at its start.
inline WallTime observed_at(const Sample& s) {
  return s.ok ? s.start + std::chrono::duration_cast<WallClock::duration>(s.duration) : s.start;
}

// Nearest rank: the ceil(p/100 * n)-th smallest of `values` (rank clamped to 1..n);
// nullopt when there are none.
template <typename T>
std::optional<T> nearest_rank(std::vector<T> values, double percentile) {
  if (values.empty()) return std::nullopt;
  std::sort(values.begin(), values.end());
  double rank = std::ceil(percentile / 100.0 * static_cast<double>(values.size()));
  return values[static_cast<size_t>(std::clamp(rank, 1.0, static_cast<double>(values.size()))) - 1];
}

// "K successes in a row": the first index i >= from such that ok(i) .. ok(i + k - 1)
// all hold, every one of them below n; npos when there is none (a run of successes cut
// short by the end of the samples does not count). k = 0 means the default of 3.
size_t sustained(size_t n, size_t from, unsigned k, const std::function<bool(size_t)>& ok);

// A duration that may be missing for a reason.
struct Span {
  enum class Kind { kValue, kNever, kNone, kNotMeasured };
  Kind kind = Kind::kNotMeasured;
  Nanos value{0};
  std::string note;  // "no failure", "no samples", ...
  // failover and recovery: the same measure from the start of the success that ended
  // it (the lower bound; `value` is when it was observed).
  std::optional<Nanos> from_start;

  static Span of(Nanos v, std::string note = "") { return {Kind::kValue, v, std::move(note), {}}; }
  static Span never(std::string note) { return {Kind::kNever, Nanos(0), std::move(note), {}}; }
  static Span none(std::string note) { return {Kind::kNone, Nanos(0), std::move(note), {}}; }
  static Span not_measured(std::string note) { return {Kind::kNotMeasured, Nanos(0), std::move(note), {}}; }
  std::string to_string() const;
};

struct Availability {
  size_t total = 0;
  size_t ok = 0;
  double ratio() const { return total ? static_cast<double>(ok) / static_cast<double>(total) : 0.0; }
};

Availability availability(const std::vector<Sample>& s, WallTime from, WallTime to);
Span max_unavailability(const std::vector<Sample>& s, WallTime from, WallTime to);
Span time_to_detect(const std::vector<Sample>& s, const Window& w);
Span failover_time(const std::vector<Sample>& s, const Window& w, unsigned k);
Span recovery_time(const std::vector<Sample>& s, const Window& w, unsigned k);
Span latency_percentile(const std::vector<Sample>& s, WallTime from, WallTime to, double percentile);

struct DataCheck {
  bool read_ok = false;
  std::string error;           // why the read-back failed
  std::set<uint64_t> read;     // markers found
};

struct DataLoss {
  bool measured = false;
  std::string note;
  size_t acknowledged = 0;
  std::vector<uint64_t> lost;  // in order
  Nanos span{0};
};
DataLoss data_loss(const std::vector<Sample>& writes, const DataCheck& check);

// The trailing run of failed samples at `now`: how long the probe has been failing
// without interruption (from the start of the first of them), or 0.
Nanos current_unavailability(const std::vector<Sample>& s, WallTime now);

// Start of the trailing run of successes among samples in [from, ...), or nullopt if
// the latest such sample failed or there is none. Steady state holds when
// now - success_since >= hold.
std::optional<WallTime> success_since(const std::vector<Sample>& s, WallTime from);

// One row of the verdict table.
struct Row {
  std::string objective;  // availability, max_unavailability, time_to_detect, failover_time, ...
  std::string probe;
  std::string target;     // ">= 0.99", "<= 30s", "<= 0 markers"
  std::string measured;   // "0.953 (143/150)", "12.3s", "never", "none (no failure)"
  bool pass = false;
  std::string detail;
  // For machines: the measured value in seconds (durations), ratio, or markers; NaN
  // when never or not measured.
  double value = 0;
  std::string unit;       // "s", "ratio", "markers"
  std::string term;       // "RTO", "RPO" or ""
};

using SampleSets = std::map<std::string, std::vector<Sample>>;

// Every objective of `e.slo()` over every probe it judges.
std::vector<Row> evaluate(const v1::Experiment& e, const SampleSets& samples, const Window& w,
                          const std::map<std::string, DataCheck>& data_checks);

bool all_pass(const std::vector<Row>& rows);

}  // namespace firedrill::slo
