#include "controller/slo/slo.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "controller/experiment/validate.h"

namespace firedrill::slo {

namespace {

constexpr unsigned kDefaultConsecutive = 3;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::vector<const Sample*> in_range(const std::vector<Sample>& s, WallTime from, WallTime to) {
  std::vector<const Sample*> out;
  for (const auto& x : s) {
    if (x.start >= from && x.start < to) out.push_back(&x);
  }
  std::stable_sort(out.begin(), out.end(), [](const Sample* a, const Sample* b) { return a->start < b->start; });
  return out;
}

double seconds(Nanos d) { return std::chrono::duration<double>(d).count(); }

size_t first_run(const std::vector<const Sample*>& v, size_t from, unsigned k) {
  return sustained(v.size(), from, k, [&](size_t i) { return v[i]->ok; });
}

Nanos between(WallTime from, WallTime to) { return std::chrono::duration_cast<Nanos>(to - from); }

// A measure that ends at a success: observed at its completion, bounded below by its start.
Span ended_by(const Sample& success, WallTime from, std::string note = "") {
  Span s = Span::of(between(from, observed_at(success)), std::move(note));
  s.from_start = between(from, success.start);
  return s;
}

}  // namespace

size_t sustained(size_t n, size_t from, unsigned k, const std::function<bool(size_t)>& ok) {
  if (k == 0) k = kDefaultConsecutive;
  size_t run = 0;
  for (size_t i = from; i < n; ++i) {
    run = ok(i) ? run + 1 : 0;
    if (run >= k) return i + 1 - k;
  }
  return std::string::npos;
}

std::string Span::to_string() const {
  switch (kind) {
    case Kind::kValue: {
      std::string extra = note;
      if (from_start && *from_start != value) {
        extra += fmt::format("{}observed; its sample started at {}", extra.empty() ? "" : "; ", format_duration(*from_start));
      }
      return extra.empty() ? format_duration(value) : fmt::format("{} ({})", format_duration(value), extra);
    }
    case Kind::kNever: return note.empty() ? "never" : fmt::format("never ({})", note);
    case Kind::kNone: return note.empty() ? "none" : fmt::format("none ({})", note);
    case Kind::kNotMeasured: return note.empty() ? "not measured" : fmt::format("not measured ({})", note);
  }
  return "";
}

Availability availability(const std::vector<Sample>& s, WallTime from, WallTime to) {
  Availability a;
  for (const Sample* x : in_range(s, from, to)) {
    ++a.total;
    if (x->ok) ++a.ok;
  }
  return a;
}

Span max_unavailability(const std::vector<Sample>& s, WallTime from, WallTime to) {
  auto v = in_range(s, from, to);
  if (v.empty()) return Span::not_measured("no samples");
  Nanos worst{0};
  for (size_t i = 0; i < v.size();) {
    if (v[i]->ok) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < v.size() && !v[j]->ok) ++j;
    WallTime end = j < v.size() ? v[j]->start : to;
    worst = std::max(worst, std::chrono::duration_cast<Nanos>(end - v[i]->start));
    i = j;
  }
  return Span::of(worst);
}

Span time_to_detect(const std::vector<Sample>& s, const Window& w) {
  for (const Sample* x : in_range(s, w.fault_start, w.window_end)) {
    if (!x->ok) return Span::of(std::chrono::duration_cast<Nanos>(x->start - w.fault_start));
  }
  return Span::none("no failure");
}

Span failover_time(const std::vector<Sample>& s, const Window& w, unsigned k) {
  if (k == 0) k = kDefaultConsecutive;
  auto v = in_range(s, w.fault_start, w.fault_end);
  size_t f = 0;
  while (f < v.size() && v[f]->ok) ++f;
  if (f == v.size()) {
    if (v.empty()) return Span::not_measured("no samples while the fault was on");
    return Span::of(Nanos(0), "no failure");
  }
  size_t i = first_run(v, f + 1, k);
  if (i == std::string::npos) return Span::never(fmt::format("no {} consecutive successes before the fault ended", k));
  return ended_by(*v[i], w.fault_start);
}

Span recovery_time(const std::vector<Sample>& s, const Window& w, unsigned k) {
  if (k == 0) k = kDefaultConsecutive;
  auto after = in_range(s, w.fault_end, w.window_end);
  size_t i = first_run(after, 0, k);
  if (i == std::string::npos) {
    if (after.empty()) return Span::not_measured("no samples after the fault was lifted");
    return Span::never(fmt::format("no {} consecutive successes after the fault was lifted", k));
  }
  auto before = in_range(s, WallTime::min(), w.fault_end);
  bool up_at_lift = !before.empty() && before.back()->ok;
  if (i == 0 && up_at_lift) return Span::of(Nanos(0), "up at the lift");
  return ended_by(*after[i], w.fault_end);
}

Span latency_percentile(const std::vector<Sample>& s, WallTime from, WallTime to, double percentile) {
  std::vector<Nanos> d;
  for (const Sample* x : in_range(s, from, to)) {
    if (x->ok) d.push_back(x->duration);
  }
  auto p = nearest_rank(d, percentile);
  if (!p) return Span::not_measured("no successful samples");
  return Span::of(*p, fmt::format("of {} successes", d.size()));
}

DataLoss data_loss(const std::vector<Sample>& writes, const DataCheck& check) {
  DataLoss out;
  if (!check.read_ok) {
    out.note = check.error.empty() ? "the read-back failed" : "read-back failed: " + check.error;
    return out;
  }
  out.measured = true;
  std::vector<const Sample*> lost;
  for (const auto& w : writes) {
    if (!w.ok || w.marker == 0) continue;
    ++out.acknowledged;
    if (!check.read.count(w.marker)) lost.push_back(&w);
  }
  std::sort(lost.begin(), lost.end(), [](const Sample* a, const Sample* b) { return a->start < b->start; });
  for (const Sample* l : lost) out.lost.push_back(l->marker);
  if (!lost.empty()) {
    WallTime first = lost.front()->start;
    WallTime last = first;
    for (const Sample* l : lost) last = std::max(last, l->start + std::chrono::duration_cast<WallClock::duration>(l->duration));
    out.span = std::chrono::duration_cast<Nanos>(last - first);
  }
  return out;
}

Nanos current_unavailability(const std::vector<Sample>& s, WallTime now) {
  auto v = in_range(s, WallTime::min(), now + std::chrono::nanoseconds(1));
  if (v.empty() || v.back()->ok) return Nanos(0);
  size_t i = v.size();
  while (i > 0 && !v[i - 1]->ok) --i;
  return std::chrono::duration_cast<Nanos>(now - v[i]->start);
}

std::optional<WallTime> success_since(const std::vector<Sample>& s, WallTime from) {
  auto v = in_range(s, from, WallTime::max());
  if (v.empty() || !v.back()->ok) return std::nullopt;
  size_t i = v.size();
  while (i > 0 && v[i - 1]->ok) --i;
  return v[i]->start;
}

namespace {

Row span_row(const std::string& objective, const std::string& probe, const google::protobuf::Duration& max,
             const Span& span, const std::string& term) {
  Row r;
  r.objective = objective;
  r.probe = probe;
  Nanos limit = from_proto(max);
  r.target = "<= " + format_duration(limit);
  r.measured = span.to_string();
  r.unit = "s";
  r.term = term;
  switch (span.kind) {
    case Span::Kind::kValue:
      r.value = seconds(span.value);
      r.pass = span.value <= limit;
      break;
    case Span::Kind::kNone:  // nothing happened that the objective bounds
      r.value = 0;
      r.pass = true;
      break;
    case Span::Kind::kNever:
    case Span::Kind::kNotMeasured:
      r.value = kNaN;
      r.pass = false;
      break;
  }
  r.detail = span.note;
  return r;
}

const std::vector<Sample>& samples_of(const SampleSets& sets, const std::string& probe) {
  static const std::vector<Sample> kEmpty;
  auto it = sets.find(probe);
  return it == sets.end() ? kEmpty : it->second;
}

}  // namespace

std::vector<Row> evaluate(const v1::Experiment& e, const SampleSets& samples, const Window& w,
                          const std::map<std::string, DataCheck>& data_checks) {
  std::vector<Row> rows;
  if (!e.has_slo()) return rows;
  const v1::Slo& slo = e.slo();
  using experiment::judged_probes;
  if (slo.has_availability()) {
    for (const auto& p : judged_probes(e, slo.availability().probes())) {
      Availability a = availability(samples_of(samples, p), w.fault_start, w.window_end);
      Row r;
      r.objective = "availability";
      r.probe = p;
      r.target = fmt::format(">= {}", slo.availability().min());
      r.unit = "ratio";
      if (a.total == 0) {
        r.measured = "not measured (no samples)";
        r.value = kNaN;
        r.pass = false;
      } else {
        r.value = a.ratio();
        r.measured = fmt::format("{:.4f} ({}/{})", a.ratio(), a.ok, a.total);
        r.pass = a.ratio() >= slo.availability().min();
      }
      rows.push_back(r);
    }
  }
  if (slo.has_max_unavailability()) {
    for (const auto& p : judged_probes(e, slo.max_unavailability().probes())) {
      rows.push_back(span_row("max_unavailability", p, slo.max_unavailability().max(),
                              max_unavailability(samples_of(samples, p), w.fault_start, w.window_end), ""));
    }
  }
  if (slo.has_time_to_detect()) {
    for (const auto& p : judged_probes(e, slo.time_to_detect().probes())) {
      rows.push_back(span_row("time_to_detect", p, slo.time_to_detect().max(),
                              time_to_detect(samples_of(samples, p), w), ""));
    }
  }
  if (slo.has_failover_time()) {
    const auto& o = slo.failover_time();
    for (const auto& p : judged_probes(e, o.probes())) {
      rows.push_back(span_row("failover_time", p, o.max(), failover_time(samples_of(samples, p), w, o.consecutive()), "RTO"));
    }
  }
  if (slo.has_recovery_time()) {
    const auto& o = slo.recovery_time();
    for (const auto& p : judged_probes(e, o.probes())) {
      rows.push_back(span_row("recovery_time", p, o.max(), recovery_time(samples_of(samples, p), w, o.consecutive()), ""));
    }
  }
  if (slo.has_latency()) {
    const auto& o = slo.latency();
    double pct = o.percentile() > 0 ? o.percentile() : 99;
    for (const auto& p : judged_probes(e, o.probes())) {
      Row r = span_row(fmt::format("latency_p{}", pct), p, o.max(),
                       latency_percentile(samples_of(samples, p), w.fault_start, w.window_end, pct), "");
      rows.push_back(r);
    }
  }
  if (slo.has_data_loss()) {
    const auto& o = slo.data_loss();
    std::vector<std::string> probes(o.probes().begin(), o.probes().end());
    if (probes.empty()) {
      for (const auto& p : e.probes()) {
        if (p.has_data()) probes.push_back(p.name());
      }
    }
    for (const auto& p : probes) {
      auto it = data_checks.find(p);
      DataCheck missing;
      missing.error = "the markers were not read back";
      DataLoss loss = data_loss(samples_of(samples, p), it == data_checks.end() ? missing : it->second);
      Row r;
      r.objective = "data_loss";
      r.probe = p;
      r.term = "RPO";
      r.unit = "markers";
      r.target = fmt::format("<= {} markers", o.max_markers());
      if (o.has_max_span()) r.target += ", span <= " + format_duration(from_proto(o.max_span()));
      if (!loss.measured) {
        r.measured = "not measured";
        r.detail = loss.note;
        r.value = kNaN;
        r.pass = false;
      } else {
        r.value = static_cast<double>(loss.lost.size());
        r.measured = fmt::format("{} of {} lost, span {}", loss.lost.size(), loss.acknowledged, format_duration(loss.span));
        r.pass = loss.lost.size() <= o.max_markers() && (!o.has_max_span() || loss.span <= from_proto(o.max_span()));
        if (!loss.lost.empty()) {
          std::vector<uint64_t> head(loss.lost.begin(), loss.lost.begin() + std::min<size_t>(loss.lost.size(), 20));
          r.detail = fmt::format("lost markers {}{}", fmt::join(head, ","), loss.lost.size() > 20 ? ",..." : "");
        }
      }
      rows.push_back(r);
    }
  }
  return rows;
}

bool all_pass(const std::vector<Row>& rows) {
  return std::all_of(rows.begin(), rows.end(), [](const Row& r) { return r.pass; });
}

}  // namespace firedrill::slo
