#include "controller/evidence/report_model.h"

#include "controller/slo/slo.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>

namespace firedrill::evidence {

namespace {

struct Sample {
  WallTime at;
  bool ok = true;
  int64_t latency_us = 0;
  std::string error;
};

struct ProbeData {
  std::vector<Sample> samples;
  std::vector<SummaryBucket> buckets;
  std::vector<FailedInterval> failures;
};

WallTime time_of(const std::string& s) {
  auto r = parse_time(s);
  return r ? *r : WallTime{};
}

int64_t ms_between(WallTime a, WallTime b) { return micros_between(a, b) / 1000; }

WallTime plus(WallTime t, std::chrono::nanoseconds d) { return t + std::chrono::duration_cast<WallClock::duration>(d); }

std::string fmt_num(double v) {
  std::string s = fmt::format("{:.3f}", v);
  while (!s.empty() && s.back() == '0') s.pop_back();
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

std::string format_measure(double v, const std::string& unit) {
  if (unit == "s") return human_ms(static_cast<int64_t>(v * 1000 + (v >= 0 ? 0.5 : -0.5)));
  if (unit == "ms") return human_ms(static_cast<int64_t>(v + (v >= 0 ? 0.5 : -0.5)));
  if (unit == "ratio") return fmt::format("{:.4f}", v);
  if (unit == "percent") return fmt_num(v) + "%";
  if (unit == "markers") return fmt_num(v) + (v == 1 ? " marker" : " markers");
  if (unit.empty()) return fmt_num(v);
  return fmt_num(v) + " " + unit;
}

std::string hosts_word(size_t n) { return fmt::format("{} host{}", n, n == 1 ? "" : "s"); }

}  // namespace

std::string human_ms(int64_t ms) {
  if (ms < 0) return "-" + human_ms(-ms);
  if (ms < 1000) return fmt::format("{}ms", ms);
  if (ms < 60'000) {
    std::string s = fmt::format("{:.1f}", ms / 1000.0);
    if (s.size() > 2 && s.substr(s.size() - 2) == ".0") s.resize(s.size() - 2);
    return s + "s";
  }
  if (ms < 3'600'000) {
    int64_t s = (ms + 500) / 1000;
    return s % 60 ? fmt::format("{}m{}s", s / 60, s % 60) : fmt::format("{}m", s / 60);
  }
  int64_t m = (ms + 30'000) / 60'000;
  return m % 60 ? fmt::format("{}h{}m", m / 60, m % 60) : fmt::format("{}h", m / 60);
}

namespace {

// What the one pass over the events gathers for the sections after it. Entries of the
// timeline are added by the pass and by the sections; their offsets come last.
struct Collected {
  RunCreated created;
  bool have_created = false;
  std::map<std::string, ProbeData> probe_data;
  std::map<std::string, SloResult> slo_results;
  std::vector<std::string> slo_order;
  std::map<std::string, Milestone> stated;
  std::vector<FaultApplied> applies;
  std::vector<FaultReverted> reverts;
  WallTime run_start, run_end, last_event_at;
  std::vector<TimelineEntry> entries;
  std::vector<WallTime> entry_times;

  void add_entry(WallTime at, std::string kind, std::string what, std::string source = "stated") {
    entries.push_back(TimelineEntry{format_time(at), 0, std::move(kind), std::move(what), std::move(source)});
    entry_times.push_back(at);
  }
};

// When the faults were on (first apply, last revert) and what the charts span.
struct Window {
  WallTime fault_start, fault_end;
  WallTime start, end;
  void widen(WallTime t) {
    if (t == WallTime{}) return;
    if (start == WallTime{} || t < start) start = t;
    if (t > end) end = t;
  }
};

// Detection, failover and recovery as one probe saw them. Failover and recovery are
// when a success was observed, with its sample's start as the lower bound.
struct ProbeMilestones {
  WallTime first_failed;       // in the fault window
  WallTime failover, failover_start;
  bool failed_over = true;     // false: failed in the fault and never sustained success
  WallTime recovery, recovery_start;
};

// The pass: every event read once, what it states put where it belongs.
Result<void> collect(const Json& events, Collected& c, ReportModel& m) {
  for (size_t i = 0; i < events.size(); ++i) {
    const Json& e = events[i];
    if (!e.is_object()) return make_error("report: event {} is not an object", i + 1);
    std::string kind_name = e.value("kind", "");
    WallTime at = time_of(e.value("at", ""));
    c.last_event_at = at;
    const Json data = e.contains("data") ? e["data"] : Json::object();
    auto kind = parse_event_kind(kind_name);
    if (!kind) return kind.error().context(fmt::format("report: event {}", i + 1));
    switch (*kind) {
      case EventKind::kRunCreated: {
        FD_ASSIGN(created, payload_from_json<RunCreated>(data), "report: event {}", i + 1);
        c.created = std::move(created);
        c.have_created = true;
        c.run_start = at;
        m.identity.run_id = e.value("run", "");
        c.add_entry(at, "state", fmt::format("run created by {} ({})", c.created.owner.empty() ? "?" : c.created.owner,
                                             to_string(c.created.test_type)));
        break;
      }
      case EventKind::kApproval: {
        FD_ASSIGN(a, payload_from_json<Approval>(data), "report: event {}", i + 1);
        WallTime when = a.at == WallTime{} ? at : a.at;
        m.people.approvals.push_back(ApprovalRow{a.approver, a.role, a.decision, format_time(when), a.comment});
        c.add_entry(when, "approval", fmt::format("{} {}{}{}", a.approver, a.decision,
                                                  a.role.empty() ? "" : " (" + a.role + ")",
                                                  a.comment.empty() ? "" : ": " + a.comment));
        break;
      }
      case EventKind::kTargetsResolved: {
        FD_ASSIGN(t, payload_from_json<TargetsResolved>(data), "report: event {}", i + 1);
        m.scope.selector = t.selector;
        m.scope.mode = t.mode;
        for (auto& cmd : t.from_command) m.scope.from_command.push_back(cmd);
        // Steps may resolve their own targets: the scope is every host any step chose.
        for (auto& h : t.hosts) {
          bool seen = false;
          for (auto& have : m.scope.hosts) seen |= have.host == h.host && have.agent_id == h.agent_id;
          if (!seen) m.scope.hosts.push_back(HostRow{h.host, h.agent_id, h.dc, h.rack, h.agent_version});
        }
        for (auto& x : t.excluded) {
          bool seen = false;
          for (auto& have : m.scope.excluded) seen |= have.host == x.host;
          if (!seen) m.scope.excluded.push_back(x);
        }
        m.scope.fleet_size = std::max(m.scope.fleet_size, t.fleet_size);
        c.add_entry(at, "state", fmt::format("targets resolved: {}, {} excluded", hosts_word(t.hosts.size()),
                                             t.excluded.size()));
        break;
      }
      case EventKind::kGuardVerdict: {
        FD_ASSIGN(g, payload_from_json<GuardVerdict>(data), "report: event {}", i + 1);
        c.add_entry(at, "guard", fmt::format("blast-radius guard ({}): {}{}", g.phase, g.allowed ? "allowed" : "refused",
                                             g.summary.empty() ? "" : " - " + g.summary));
        m.scope.guard.push_back(std::move(g));
        break;
      }
      case EventKind::kRunState: {
        FD_ASSIGN(s, payload_from_json<RunState>(data), "report: event {}", i + 1);
        std::string what = s.state;
        if (s.step > 0) what += fmt::format(" (step {})", s.step);
        if (!s.detail.empty()) what += ": " + s.detail;
        c.add_entry(at, "state", what);
        break;
      }
      case EventKind::kFaultApplied: {
        FD_ASSIGN(a, payload_from_json<FaultApplied>(data), "report: event {}", i + 1);
        if (a.applied_at == WallTime{}) a.applied_at = at;
        c.applies.push_back(std::move(a));
        break;
      }
      case EventKind::kFaultReverted: {
        FD_ASSIGN(r, payload_from_json<FaultReverted>(data), "report: event {}", i + 1);
        if (r.reverted_at == WallTime{}) r.reverted_at = at;
        c.reverts.push_back(std::move(r));
        break;
      }
      case EventKind::kProbeSamples: {
        FD_ASSIGN(p, payload_from_json<ProbeSamples>(data), "report: event {}", i + 1);
        auto& d = c.probe_data[p.probe];
        for (auto& s : p.samples) d.samples.push_back(Sample{s.at, s.ok, s.latency_us, s.error});
        break;
      }
      case EventKind::kProbeSummary: {
        FD_ASSIGN(p, payload_from_json<ProbeSummary>(data), "report: event {}", i + 1);
        auto& d = c.probe_data[p.probe];
        d.buckets.insert(d.buckets.end(), p.buckets.begin(), p.buckets.end());
        d.failures.insert(d.failures.end(), p.failures.begin(), p.failures.end());
        break;
      }
      case EventKind::kDataCheck: {
        FD_ASSIGN(d, payload_from_json<DataCheck>(data), "report: event {}", i + 1);
        c.add_entry(at, "probe", fmt::format("data check {}: {} written, {} acknowledged, {} read back, {} lost", d.probe,
                                             d.written, d.acknowledged, d.read_back, d.lost));
        m.results.data.push_back(std::move(d));
        break;
      }
      case EventKind::kSloResult: {
        FD_ASSIGN(r, payload_from_json<SloResult>(data), "report: event {}", i + 1);
        if (!c.slo_results.count(r.name)) c.slo_order.push_back(r.name);
        c.slo_results[r.name] = std::move(r);
        break;
      }
      case EventKind::kMilestone: {
        FD_ASSIGN(ms, payload_from_json<Milestone>(data), "report: event {}", i + 1);
        if (ms.at == WallTime{}) ms.at = at;
        c.add_entry(ms.at, "milestone", ms.name + (ms.detail.empty() ? "" : ": " + ms.detail));
        // Stated per probe: the service detected the fault at the first probe's
        // detection, and had failed over or recovered when the last probe had.
        auto it = c.stated.find(ms.name);
        bool earliest = ms.name == "detection";
        if (it == c.stated.end() || (earliest ? ms.at < it->second.at : ms.at > it->second.at)) {
          c.stated[ms.name] = std::move(ms);
        }
        break;
      }
      case EventKind::kAbort: {
        FD_ASSIGN(a, payload_from_json<Abort>(data), "report: event {}", i + 1);
        WallTime when = a.at == WallTime{} ? at : a.at;
        m.results.abort_reason = a.reason;
        m.results.abort_by = a.by;
        m.timeline.milestones.aborted = format_time(when);
        c.add_entry(when, "abort", fmt::format("aborted by {}: {}", a.by, a.reason));
        break;
      }
      case EventKind::kVerdict: {
        FD_ASSIGN(v, payload_from_json<Verdict>(data), "report: event {}", i + 1);
        m.results.verdict = v.outcome;
        m.results.verdict_reason = v.reason;
        c.run_end = at;
        c.add_entry(at, "verdict", fmt::format("verdict: {}{}", v.outcome, v.reason.empty() ? "" : " - " + v.reason));
        break;
      }
      case EventKind::kHandover: {
        FD_ASSIGN(h, payload_from_json<Handover>(data), "report: event {}", i + 1);
        c.add_entry(h.led_at == WallTime{} ? at : h.led_at, "handover",
                    fmt::format("controller {} lost at {}; {} took over at {} (epoch {}){}; probe gap {} .. {} "
                                "unmeasured (counted as no success)",
                                h.from_controller, format_time(h.lost_at), h.to_controller, format_time(h.led_at), h.epoch,
                                h.within_grace ? "" : ", later than the agents' lease grace", format_time(h.probe_gap_from),
                                format_time(h.probe_gap_to)));
        m.timeline.handovers.push_back(std::move(h));
        break;
      }
      case EventKind::kNote: {
        FD_ASSIGN(n, payload_from_json<Note>(data), "report: event {}", i + 1);
        c.add_entry(at, "note", fmt::format("{}: {}", n.by, n.text));
        m.notes.push_back(TimelineEntry{format_time(at), 0, "note", fmt::format("{}: {}", n.by, n.text), "stated"});
        break;
      }
    }
  }
  if (!c.have_created) return make_error("report: the log has no run_created event");
  if (m.results.verdict.empty()) m.results.verdict = "incomplete";
  return ok();
}

void identity_section(const Collected& c, ReportModel& m) {
  auto& id = m.identity;
  const auto& created = c.created;
  id.experiment_name = created.experiment_name;
  id.experiment_version = created.experiment_version;
  id.experiment_sha256 = created.experiment_sha256;
  id.experiment_file = created.experiment_file;
  id.test_type = std::string(to_string(created.test_type));
  id.environment = created.environment;
  id.started_at = format_time(c.run_start);
  id.ended_at = format_time(c.run_end);
  id.duration_ms = ms_between(c.run_start, c.run_end == WallTime{} ? c.last_event_at : c.run_end);
  id.controller_version = created.controller_version;
  id.controller_host = created.controller_host;
  id.overrides = created.overrides;
  std::map<std::string, std::vector<std::string>> by_version;
  for (auto& h : m.scope.hosts) by_version[h.agent_version.empty() ? "unknown" : h.agent_version].push_back(h.host);
  for (auto& [v, hosts] : by_version) {
    std::string list;
    for (size_t i = 0; i < hosts.size() && i < 8; ++i) list += (i ? ", " : "") + hosts[i];
    if (hosts.size() > 8) list += fmt::format(" and {} more", hosts.size() - 8);
    id.agent_versions.push_back(fmt::format("{} ({})", v, list));
  }
}

void scenario_section(const Collected& c, ReportModel& m) {
  const auto& created = c.created;
  m.scenario.scenario = created.scenario;
  m.scenario.hypothesis = created.hypothesis;
  m.scenario.steps = created.steps;
  m.scenario.probes = created.probes;
  m.scenario.abort_unavailability_ms = created.abort_unavailability_ms;
  m.scenario.user_notice_threshold_ms = created.user_notice_threshold_ms;
  for (auto& s : created.slos) {
    m.scenario.criteria.push_back(CriterionRow{
        s.name, s.kind, s.probe,
        s.target_text.empty() ? s.comparator + " " + format_measure(s.threshold, s.unit) : s.target_text, s.objective});
  }
}

void scope_section(const Collected& c, ReportModel& m) {
  m.scope.blast_radius = c.created.blast_radius;
  if (m.scope.selector.empty()) m.scope.selector = c.created.selector;
  if (m.scope.mode.empty()) m.scope.mode = c.created.mode;
  std::stable_sort(m.scope.hosts.begin(), m.scope.hosts.end(), [](const HostRow& a, const HostRow& b) {
    return std::tie(a.dc, a.rack, a.host) < std::tie(b.dc, b.rack, b.host);
  });
  std::map<std::string, std::map<std::string, int>> domains;
  for (auto& h : m.scope.hosts) domains[h.dc.empty() ? "?" : h.dc][h.rack.empty() ? "?" : h.rack]++;
  for (auto& [dc, racks] : domains) {
    std::string line = "dc=" + dc + ":";
    bool first = true;
    for (auto& [rack, n] : racks) {
      line += fmt::format("{} rack {} ({})", first ? "" : ",", rack, hosts_word(static_cast<size_t>(n)));
      first = false;
    }
    m.scope.domains.push_back(line);
  }
}

// Per host, what the fault did and when each part took effect; per step and part, the
// spread across hosts beside the worst clock error the hosts reported.
void fidelity_section(const Collected& c, ReportModel& m) {
  std::map<std::pair<int, std::string>, std::pair<WallTime, WallTime>> span;
  std::map<std::pair<int, std::string>, int> hosts;
  std::map<int, int64_t> clock_error;
  for (auto& a : c.applies) {
    if (!a.ok || a.effects.empty()) continue;
    FidelityHost h;
    h.host = a.host;
    h.step = a.step;
    h.fault_kind = a.fault_kind;
    for (auto& e : a.effects) {
      h.parts.push_back({e.part, format_time(e.at), a.not_before != WallTime{} ? micros_between(a.not_before, e.at) : 0,
                         e.source});
      auto& sp = span[{a.step, e.part}];
      if (sp.first == WallTime{} || e.at < sp.first) sp.first = e.at;
      if (e.at > sp.second) sp.second = e.at;
      hosts[{a.step, e.part}]++;
    }
    // What it did, said only from what the agent reported and for the kinds whose parts
    // mean that: a "network cut" of a drop or partition fault is no power cut.
    auto at = [&](const char* part) -> std::optional<WallTime> {
      for (auto& e : a.effects) {
        if (e.part == part) return e.at;
      }
      return std::nullopt;
    };
    bool power = a.fault_kind == "power_loss";
    auto cut = at("network cut"), frozen = at("freeze"), shut = at("fs shutdown"), killed = at("kill");
    if (cut && (power || a.fault_kind == "network.blackhole")) {
      h.did.push_back("every packet of its data interfaces dropped, both ways, ARP and neighbour discovery included "
                      "(the management allow list spared)");
    }
    if (frozen && power) {
      bool first = (!shut || *frozen <= *shut) && (!killed || *frozen <= *killed);
      h.did.push_back(first ? "the workload frozen before its file systems and processes were touched: no process "
                              "saw the rest coming"
                            : "the workload frozen");
    }
    if (shut && power) {
      h.did.push_back("data file systems shut down without flushing (FS_IOC_SHUTDOWN, NOLOGFLUSH): what was not yet "
                      "durable (neither fsynced nor committed by the file system's journal) was discarded, as in a "
                      "real cut");
    } else if (power) {
      h.did.push_back(a.lose_unsynced
                          ? "lose_unsynced was asked, but the agent reported no data file system shut down"
                          : "no data file system shut down (no lose_unsynced): the page cache outlived the cut, so "
                            "unsynced writes that a real cut loses could survive");
    }
    if (killed && power) h.did.push_back("every workload process SIGKILLed, no SIGTERM, and kept down at exec");
    if (a.clock_synchronized < 0) {
      h.clock = "not reported";
    } else {
      h.clock = fmt::format("{}, max error {}, estimated error {}", a.clock_synchronized ? "synchronised" : "NOT synchronised",
                            human_ms(a.clock_max_error_us / 1000), human_ms(a.clock_est_error_us / 1000));
      clock_error[a.step] = std::max(clock_error.count(a.step) ? clock_error[a.step] : 0, a.clock_max_error_us);
    }
    m.fidelity.hosts.push_back(std::move(h));
  }
  for (auto& [key, sp] : span) {
    auto ce = clock_error.find(key.first);
    m.fidelity.spreads.push_back({key.first, key.second, hosts[key], micros_between(sp.first, sp.second),
                                  ce == clock_error.end() ? -1 : ce->second});
  }
  if (m.results.data_checked) m.fidelity.data_lost_markers = m.results.data_lost_markers;
}

void people_section(const Collected& c, ReportModel& m) {
  m.people.owner = c.created.owner;
  m.people.required_approvals = c.created.required_approvals;
  m.people.participants = c.created.participants;
}

// Faults per host and per step; returns when the faults were on.
Window faults_section(Collected& c, ReportModel& m) {
  Window w;
  std::map<std::pair<std::string, std::string>, size_t> index;  // (host, fault id) -> hosts[]
  for (auto& a : c.applies) {
    HostTiming h;
    h.host = a.host;
    h.step = a.step;
    h.fault_id = a.fault_id;
    h.fault_kind = a.fault_kind;
    h.not_before = format_time(a.not_before);
    h.applied_at = a.ok ? format_time(a.applied_at) : "";
    h.start_offset_us = a.ok && a.not_before != WallTime{} ? micros_between(a.not_before, a.applied_at) : 0;
    h.ok = a.ok;
    h.error = a.error;
    index[{a.host, a.fault_id}] = m.timeline.hosts.size();
    m.timeline.hosts.push_back(std::move(h));
    if (a.ok && (w.fault_start == WallTime{} || a.applied_at < w.fault_start)) w.fault_start = a.applied_at;
  }
  for (auto& r : c.reverts) {
    auto it = index.find({r.host, r.fault_id});
    if (it == index.end()) {
      HostTiming h;
      h.host = r.host;
      h.step = r.step;
      h.fault_id = r.fault_id;
      it = index.emplace(std::make_pair(r.host, r.fault_id), m.timeline.hosts.size()).first;
      m.timeline.hosts.push_back(std::move(h));
    }
    auto& h = m.timeline.hosts[it->second];
    h.reverted_at = format_time(r.reverted_at);
    // A fault the agent ended before the run did says when, where and why.
    h.revert_reason = r.ok ? r.reason : r.reason == "ended early" ? r.error : r.reason + " (failed: " + r.error + ")";
    if (r.reverted_at > w.fault_end) w.fault_end = r.reverted_at;
  }
  std::stable_sort(m.timeline.hosts.begin(), m.timeline.hosts.end(), [](const HostTiming& a, const HostTiming& b) {
    return std::tie(a.step, a.host, a.fault_id) < std::tie(b.step, b.host, b.fault_id);
  });

  std::map<int, StepTiming> steps;
  std::map<int, std::pair<WallTime, WallTime>> applied_span;
  for (auto& a : c.applies) {
    auto& st = steps[a.step];
    st.index = a.step;
    st.hosts++;
    if (!a.ok) {
      st.refused++;
      c.add_entry(a.applied_at, "fault", fmt::format("{} refused step {}: {}", a.host, a.step, a.error));
      continue;
    }
    auto& span = applied_span[a.step];
    if (span.first == WallTime{} || a.applied_at < span.first) span.first = a.applied_at;
    if (a.applied_at > span.second) span.second = a.applied_at;
  }
  std::map<int, std::pair<WallTime, int>> lifted;
  for (auto& r : c.reverts) {
    auto& l = lifted[r.step];
    if (r.reverted_at > l.first) l.first = r.reverted_at;
    l.second++;
  }
  for (auto& [index_, st] : steps) {
    for (auto& plan : c.created.steps) {
      if (plan.index == index_) st.name = plan.name.empty() ? plan.fault : plan.name;
    }
    auto span = applied_span[index_];
    st.first_applied = format_time(span.first);
    st.last_applied = format_time(span.second);
    st.start_spread_us = span.first == WallTime{} ? 0 : micros_between(span.first, span.second);
    st.lifted_at = format_time(lifted[index_].first);
    if (span.first != WallTime{}) {
      c.add_entry(span.first, "fault",
                  fmt::format("step {}{} applied on {} (coordinated start spread {})", index_,
                              st.name.empty() ? "" : " " + st.name, hosts_word(static_cast<size_t>(st.hosts - st.refused)),
                              st.start_spread_us < 1000 ? fmt::format("{}us", st.start_spread_us)
                                                        : human_ms(st.start_spread_us / 1000)));
    }
    if (lifted[index_].first != WallTime{}) {
      c.add_entry(lifted[index_].first, "revert",
                  fmt::format("step {} lifted on {}", index_, hosts_word(static_cast<size_t>(lifted[index_].second))));
    }
    m.timeline.steps.push_back(st);
  }
  w.start = w.fault_start;
  w.end = w.fault_end;
  return w;
}

// A probe with its samples: the series, its outages, and its milestones by the SLO
// definitions (controller/slo), so the report and the SLO table cannot disagree.
ProbeMilestones sampled_probe(ProbeData& d, unsigned k, Window& w, ProbeSeries& ps) {
  ProbeMilestones out;
  std::stable_sort(d.samples.begin(), d.samples.end(), [](const Sample& a, const Sample& b) { return a.at < b.at; });
  std::vector<int64_t> latencies;
  std::vector<slo::Sample> judged;
  for (auto& s : d.samples) {
    ps.total++;
    if (s.ok) {
      ps.good++;
      latencies.push_back(s.latency_us);
    }
    w.widen(s.at);
    slo::Sample x;
    x.start = s.at;
    x.ok = s.ok;
    x.duration = std::chrono::microseconds(s.latency_us);
    judged.push_back(x);
    ps.points.push_back(ProbePoint{format_time(s.at), 0, s.ok, s.latency_us, 1, s.ok ? 1 : 0});
  }
  ps.latency_p50_us = slo::nearest_rank(latencies, 50).value_or(0);
  ps.latency_p99_us = slo::nearest_rank(latencies, 99).value_or(0);
  // Outages: from a failed sample to the next good one.
  WallTime out_from;
  for (size_t i = 0; i < d.samples.size(); ++i) {
    auto& s = d.samples[i];
    if (!s.ok && out_from == WallTime{}) out_from = s.at;
    bool ends = out_from != WallTime{} && (s.ok || i + 1 == d.samples.size());
    if (ends) {
      int64_t len = ms_between(out_from, s.at);
      if (len > ps.longest_outage_ms || ps.longest_outage_from.empty()) {
        ps.longest_outage_ms = len;
        ps.longest_outage_from = format_time(out_from);
      }
      out_from = WallTime{};
    }
  }
  for (auto& s : d.samples) {
    if (!s.ok) {
      ps.first_failure = format_time(s.at);
      break;
    }
  }
  if (w.fault_start == WallTime{}) return out;
  const WallTime fault_end = w.fault_end == WallTime{} ? WallTime::max() : w.fault_end;
  slo::Window sw{w.fault_start, fault_end, WallTime::max()};
  for (auto& s : judged) {
    if (s.start >= fault_end) break;
    if (!s.ok && s.start >= w.fault_start) {
      out.first_failed = s.start;
      break;
    }
  }
  if (out.first_failed != WallTime{}) {
    auto f = slo::failover_time(judged, sw, k);
    if (f.kind == slo::Span::Kind::kValue && f.from_start) {
      out.failover = plus(w.fault_start, f.value);
      out.failover_start = plus(w.fault_start, *f.from_start);
    } else {
      out.failed_over = false;
    }
  }
  if (w.fault_end != WallTime{}) {
    auto r = slo::recovery_time(judged, sw, k);
    if (r.kind == slo::Span::Kind::kValue) {
      out.recovery = plus(w.fault_end, r.value);
      out.recovery_start = plus(w.fault_end, r.from_start.value_or(r.value));
    }
  }
  return out;
}

// A probe summarized into buckets and exact failed intervals: a failed interval ends
// at the first good sample, which is where failover (inside the fault) or recovery
// begins.
ProbeMilestones summarized_probe(ProbeData& d, Window& w, ProbeSeries& ps) {
  ProbeMilestones out;
  ps.summarized = true;
  std::stable_sort(d.buckets.begin(), d.buckets.end(),
                   [](const SummaryBucket& a, const SummaryBucket& b) { return a.from < b.from; });
  std::stable_sort(d.failures.begin(), d.failures.end(),
                   [](const FailedInterval& a, const FailedInterval& b) { return a.from < b.from; });
  std::vector<int64_t> latencies;
  for (auto& b : d.buckets) {
    ps.total += b.total;
    ps.good += b.good;
    w.widen(b.from);
    w.widen(b.to);
    if (b.good > 0) latencies.push_back(b.latency_p50_us);
    ps.points.push_back(ProbePoint{format_time(b.from), 0, b.good == b.total, b.latency_p50_us, b.total, b.good});
  }
  ps.latency_p50_us = slo::nearest_rank(latencies, 50).value_or(0);
  ps.latency_p99_us = slo::nearest_rank(latencies, 99).value_or(0);
  const WallTime fault_start = w.fault_start, fault_end = w.fault_end;
  for (auto& f : d.failures) {
    int64_t len = ms_between(f.from, f.to);
    if (len > ps.longest_outage_ms || ps.longest_outage_from.empty()) {
      ps.longest_outage_ms = len;
      ps.longest_outage_from = format_time(f.from);
    }
    if (ps.first_failure.empty()) ps.first_failure = format_time(f.from);
    if (fault_start != WallTime{} && f.from >= fault_start && (fault_end == WallTime{} || f.from < fault_end)) {
      if (out.first_failed == WallTime{}) out.first_failed = f.from;
      if (fault_end == WallTime{} || f.to < fault_end) {
        if (f.to > out.failover) out.failover = out.failover_start = f.to;
      } else if (f.to > out.recovery) {
        out.recovery = out.recovery_start = f.to;
      }
    }
  }
  if (out.first_failed != WallTime{} && out.failover == WallTime{}) out.failed_over = false;
  if (fault_end != WallTime{} && out.recovery == WallTime{}) {
    for (auto& b : d.buckets) {
      if (b.from >= fault_end && b.good > 0) {
        out.recovery = out.recovery_start = b.from;
        break;
      }
    }
  }
  return out;
}

// Every probe's series, and the milestones the probes show together: detection at the
// first probe's first failure, failover and recovery when the last probe had.
void probes_section(Collected& c, Window& w, ReportModel& m) {
  const unsigned k = static_cast<unsigned>(std::max(1, c.created.sustain_samples));
  std::vector<std::string> names;
  for (auto& p : c.created.probes) names.push_back(p.name);
  for (auto& [name, d] : c.probe_data) {
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
  }
  ProbeMilestones all;
  bool any_failed = false;
  std::string first_failed_probe;
  for (auto& name : names) {
    ProbeSeries ps;
    ps.name = name;
    for (auto& p : c.created.probes) {
      if (p.name == name) {
        ps.kind = p.kind;
        ps.target = p.target;
      }
    }
    auto it = c.probe_data.find(name);
    if (it == c.probe_data.end()) {
      // A data probe reports through data_check events, not samples.
      if (ps.kind != "data") m.probes.push_back(std::move(ps));
      continue;
    }
    ProbeMilestones pm = it->second.samples.empty() ? summarized_probe(it->second, w, ps)
                                                    : sampled_probe(it->second, k, w, ps);
    if (pm.first_failed != WallTime{}) {
      any_failed = true;
      if (all.first_failed == WallTime{} || pm.first_failed < all.first_failed) {
        all.first_failed = pm.first_failed;
        first_failed_probe = name;
      }
    }
    all.failed_over &= pm.failed_over;
    if (pm.failover > all.failover) {
      all.failover = pm.failover;
      all.failover_start = pm.failover_start;
    }
    if (pm.recovery > all.recovery) {
      all.recovery = pm.recovery;
      all.recovery_start = pm.recovery_start;
    }
    ps.availability = ps.total ? static_cast<double>(ps.good) / static_cast<double>(ps.total) : 0;
    if (ps.longest_outage_ms > m.results.longest_outage_ms) {
      m.results.longest_outage_ms = ps.longest_outage_ms;
      m.results.longest_outage_probe = name;
    }
    m.probes.push_back(std::move(ps));
  }
  if (!any_failed || !all.failed_over) all.failover = all.failover_start = WallTime{};

  auto& ms = m.timeline.milestones;
  ms.fault_applied = format_time(w.fault_start);
  ms.fault_lifted = format_time(w.fault_end);
  ms.first_failed_probe = format_time(all.first_failed);
  // A milestone an event stated wins over the derived one.
  auto pick = [&](const char* name, WallTime derived, std::string& out, std::string& source) {
    auto it = c.stated.find(name);
    if (it != c.stated.end()) {
      out = format_time(it->second.at);
      source = "stated";
      return it->second.at;
    }
    out = format_time(derived);
    source = derived == WallTime{} ? "" : "derived";
    return derived;
  };
  WallTime detection = pick("detection", all.first_failed, ms.detection, ms.source_detection);
  WallTime failover = pick("failover", all.failover, ms.failover, ms.source_failover);
  WallTime recovery = pick("recovery", all.recovery, ms.recovery, ms.source_recovery);
  if (ms.source_failover == "derived") ms.failover_started = format_time(all.failover_start);
  if (ms.source_recovery == "derived") ms.recovery_started = format_time(all.recovery_start);
  if (w.fault_start != WallTime{}) {
    if (detection != WallTime{}) ms.time_to_detect_ms = ms_between(w.fault_start, detection);
    if (failover != WallTime{}) ms.failover_ms = ms_between(w.fault_start, failover);
    if (!ms.failover_started.empty()) ms.failover_started_ms = ms_between(w.fault_start, all.failover_start);
  }
  if (w.fault_end != WallTime{} && recovery != WallTime{}) {
    ms.recovery_ms = ms_between(w.fault_end, recovery);
    if (!ms.recovery_started.empty()) ms.recovery_started_ms = ms_between(w.fault_end, all.recovery_start);
  }
  if (all.first_failed != WallTime{}) {
    c.add_entry(all.first_failed, "probe",
                fmt::format("first failed probe: {}{}", first_failed_probe, c.stated.count("detection") ? "" : " (detection)"),
                "derived");
  }
  if (failover != WallTime{} && !c.stated.count("failover")) {
    c.add_entry(failover, "milestone",
                fmt::format("failover: every probe succeeds again, {} samples in a row (observed; the success "
                            "started at {})",
                            k, ms.failover_started),
                "derived");
  }
  if (recovery != WallTime{} && !c.stated.count("recovery")) {
    c.add_entry(recovery, "milestone",
                fmt::format("recovery: every probe sustained good after the fault was lifted (observed; the success "
                            "started at {})",
                            ms.recovery_started),
                "derived");
  }
  w.widen(recovery);
  w.widen(failover);
}

// The charts' span and every entry's offset: from the fault's start (the run's start
// without a fault).
void timeline_section(Collected& c, Window& w, ReportModel& m) {
  if (w.start == WallTime{}) w.start = c.run_start;
  if (w.end == WallTime{} || w.end < w.start) w.end = c.run_end == WallTime{} ? c.last_event_at : c.run_end;
  m.timeline.window_start = format_time(w.start);
  m.timeline.window_end = format_time(w.end);
  for (auto& p : m.probes) {
    for (auto& pt : p.points) pt.offset_ms = ms_between(w.start, time_of(pt.at));
  }
  WallTime zero = w.fault_start != WallTime{} ? w.fault_start : c.run_start;
  std::vector<size_t> order(c.entries.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return c.entry_times[a] < c.entry_times[b]; });
  for (size_t i : order) {
    c.entries[i].offset_ms = ms_between(zero, c.entry_times[i]);
    m.timeline.entries.push_back(c.entries[i]);
  }
  for (auto& n : m.notes) n.offset_ms = ms_between(zero, time_of(n.at));
}

void results_section(const Collected& c, ReportModel& m) {
  auto& res = m.results;
  std::vector<std::string> names;
  for (auto& s : c.created.slos) names.push_back(s.name);
  for (auto& n : c.slo_order) {
    if (std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
  }
  for (auto& n : names) {
    SloRow row;
    row.name = n;
    for (auto& s : c.created.slos) {
      if (s.name == n) {
        row.kind = s.kind;
        row.objective = s.objective;
        row.target =
            s.target_text.empty() ? s.comparator + " " + format_measure(s.threshold, s.unit) : s.target_text;
      }
    }
    auto it = c.slo_results.find(n);
    if (it == c.slo_results.end()) {
      row.measured = "not measured";
      row.result = "no result";
    } else {
      auto& r = it->second;
      row.measured = !r.measured_text.empty() ? r.measured_text
                     : r.measured_set         ? format_measure(r.measured, r.unit)
                                              : "not measured";
      row.result = r.pass && r.measured_set ? "pass" : "fail";
      row.detail = r.detail;
    }
    res.slos.push_back(std::move(row));
  }
  for (auto& d : res.data) {
    res.data_checked = true;
    res.data_lost_markers += d.lost;
    res.data_lost_span_ms = std::max(res.data_lost_span_ms, d.lost_span_ms);
  }
  res.user_notice_threshold_ms = c.created.user_notice_threshold_ms;
  res.user_notice_required = res.user_notice_threshold_ms > 0 && res.longest_outage_ms >= res.user_notice_threshold_ms;
}

Result<void> findings_section(const Json& evidence, ReportModel& m) {
  if (!evidence.contains("findings") || !evidence["findings"].is_array()) return ok();
  std::map<std::string, std::pair<FindingRecord, Json>> latest;
  for (auto& f : evidence["findings"]) {
    if (!f.is_object() || !f.contains("record")) return make_error("report: a finding has no record");
    FD_ASSIGN(r, finding_from_json(f["record"]), "report");
    auto it = latest.find(r.id);
    if (it == latest.end() || it->second.first.rev < r.rev) latest[r.id] = {r, f};
  }
  for (auto& [fid, pair] : latest) {
    auto& [r, f] = pair;
    FindingRow row{r.id, r.rev, r.severity, r.owner, r.due, r.title, r.status, r.run, r.retest_run,
                   r.retest_verdict, r.at, r.run == m.identity.run_id ? "found in this run" : "retested by this run",
                   f.value("hash", ""), r.key};
    m.findings.push_back(std::move(row));
  }
  return ok();
}

void integrity_section(const Json& evidence, ReportModel& m) {
  const Json& events = evidence["events"];
  auto& in = m.integrity;
  in.events = static_cast<int64_t>(events.size());
  in.first_hash = events.front().value("hash", "");
  in.head = events.back().value("hash", "");
  if (evidence.contains("seal") && evidence["seal"].is_object()) {
    in.signature = evidence["seal"].value("signature", "");
    if (evidence["seal"].contains("statement")) in.key_fingerprint = evidence["seal"]["statement"].value("key", "");
  }
  if (evidence.contains("part_seals") && evidence["part_seals"].is_array()) {
    for (const auto& p : evidence["part_seals"]) {
      if (!p.is_object() || !p.contains("statement") || !p["statement"].is_object()) continue;
      std::string key = p["statement"].value("key", "");
      if (in.signed_by.empty() || in.signed_by.back() != key) in.signed_by.push_back(key);
    }
  }
  if (in.signed_by.empty() || in.signed_by.back() != in.key_fingerprint) in.signed_by.push_back(in.key_fingerprint);
  in.canonical_form = "SHA-256 over canonical JSON (sorted keys, no whitespace); Ed25519 seal over the head";
  in.finding_records = evidence.contains("findings") ? static_cast<int64_t>(evidence["findings"].size()) : 0;
}

void summary_section(ReportModel& m) {
  auto& sum = m.summary;
  const auto& res = m.results;
  const auto& ms = m.timeline.milestones;
  sum.verdict = res.verdict;
  int passed = 0;
  for (auto& s : res.slos) passed += s.result == "pass";
  std::string what = m.identity.experiment_name.empty() ? "run " + m.identity.run_id : m.identity.experiment_name;
  if (res.verdict == "pass") {
    sum.headline = fmt::format("{}: the service met all {} success criteria.", what, res.slos.size());
  } else if (res.verdict == "aborted") {
    sum.headline = fmt::format("{}: aborted ({}); every fault was reverted.", what, res.abort_reason);
  } else if (res.verdict == "refused") {
    sum.headline = fmt::format("{}: refused before any fault was injected.", what);
  } else if (res.verdict == "incomplete") {
    sum.headline = fmt::format("{}: the run has no verdict yet.", what);
  } else {
    sum.headline = fmt::format("{}: {} of {} success criteria met.", what, passed, res.slos.size());
  }
  if (!res.verdict_reason.empty()) sum.headline += " " + res.verdict_reason;
  for (auto& s : res.slos) {
    sum.figures.push_back(fmt::format("{}{}: {} (target {}) {}", s.objective.empty() ? "" : s.objective + " ", s.name,
                                      s.measured, s.target.empty() ? "none" : s.target, s.result));
  }
  if (ms.failover_ms >= 0) sum.figures.push_back("failover after " + human_ms(ms.failover_ms));
  if (res.data_checked) {
    sum.figures.push_back(res.data_lost_markers == 0
                              ? std::string("no acknowledged data lost")
                              : fmt::format("{} acknowledged markers lost ({} of writes)", res.data_lost_markers,
                                            human_ms(res.data_lost_span_ms)));
  }
  sum.figures.push_back(fmt::format("longest outage seen by probes {}: user notice {} (threshold {})",
                                    human_ms(res.longest_outage_ms),
                                    res.user_notice_required ? "REQUIRED" : "not required",
                                    human_ms(res.user_notice_threshold_ms)));
}

}  // namespace

Result<ReportModel> build_model(const Json& evidence) {
  if (!evidence.is_object() || !evidence.contains("events") || !evidence["events"].is_array()) {
    return make_error("report: evidence has no event list");
  }
  if (evidence["events"].empty()) return make_error("report: the run has no events");
  ReportModel m;
  Collected c;
  if (auto r = collect(evidence["events"], c, m); !r) return r.error();
  identity_section(c, m);
  scenario_section(c, m);
  scope_section(c, m);
  people_section(c, m);
  Window w = faults_section(c, m);
  probes_section(c, w, m);
  timeline_section(c, w, m);
  results_section(c, m);
  fidelity_section(c, m);
  if (auto r = findings_section(evidence, m); !r) return r.error();
  integrity_section(evidence, m);
  summary_section(m);
  m.compliance = compliance_rows(m);
  return m;
}

std::vector<std::string> missing_sections(const ReportModel& m) {
  std::vector<std::string> miss;
  auto need = [&](bool present, const char* name) {
    if (!present) miss.emplace_back(name);
  };
  need(!m.summary.verdict.empty() && m.summary.verdict != "incomplete", "summary.verdict");
  need(!m.identity.run_id.empty(), "identity.run_id");
  need(!m.identity.experiment_name.empty(), "identity.experiment_name");
  need(!m.identity.experiment_version.empty(), "identity.experiment_version");
  need(!m.identity.experiment_sha256.empty(), "identity.experiment_sha256");
  need(!m.identity.environment.empty(), "identity.environment");
  need(!m.identity.started_at.empty(), "identity.started_at");
  need(!m.identity.ended_at.empty(), "identity.ended_at");
  need(!m.identity.controller_version.empty(), "identity.controller_version");
  need(!m.identity.agent_versions.empty(), "identity.agent_versions");
  need(!m.scope.hosts.empty(), "scope.hosts");
  need(!m.scope.domains.empty(), "scope.domains");
  need(!m.scope.blast_radius.empty(), "scope.blast_radius");
  need(!m.scope.guard.empty(), "scope.guard");
  need(!m.scenario.scenario.empty(), "scenario.scenario");
  need(!m.scenario.hypothesis.empty(), "scenario.hypothesis");
  need(!m.scenario.criteria.empty(), "scenario.criteria");
  bool rto = false, rpo = false;
  for (auto& c : m.scenario.criteria) {
    rto |= c.objective == "RTO";
    rpo |= c.objective == "RPO";
  }
  need(rto, "scenario.criteria.RTO");
  need(rpo, "scenario.criteria.RPO");
  need(!m.people.owner.empty(), "people.owner");
  need(!m.people.approvals.empty(), "people.approvals");
  need(!m.people.participants.empty(), "people.participants");
  need(!m.timeline.entries.empty(), "timeline.entries");
  need(!m.timeline.milestones.fault_applied.empty(), "timeline.fault_applied");
  need(!m.timeline.milestones.first_failed_probe.empty(), "timeline.first_failed_probe");
  need(!m.timeline.milestones.failover.empty(), "timeline.failover");
  need(!m.timeline.milestones.fault_lifted.empty(), "timeline.fault_lifted");
  need(!m.timeline.milestones.recovery.empty(), "timeline.recovery");
  need(!m.timeline.hosts.empty(), "timeline.hosts");
  bool reverted = !m.timeline.hosts.empty();
  for (auto& h : m.timeline.hosts) reverted &= !h.reverted_at.empty();
  need(reverted, "timeline.hosts.reverted_at");
  need(!m.timeline.steps.empty(), "timeline.steps");
  need(!m.probes.empty(), "probes");
  for (auto& p : m.probes) need(!p.points.empty(), "probes.points");
  need(!m.results.slos.empty(), "results.slos");
  bool all_measured = !m.results.slos.empty();
  for (auto& s : m.results.slos) all_measured &= s.result != "no result";
  need(all_measured, "results.slos.measured");
  need(m.results.data_checked, "results.data_loss");
  need(m.results.user_notice_threshold_ms > 0, "results.user_notice_threshold");
  need(!m.findings.empty(), "findings");
  need(!m.compliance.empty(), "compliance");
  need(m.integrity.events > 0 && is_hash(m.integrity.head), "integrity.head");
  need(!m.integrity.signature.empty(), "integrity.signature");
  return miss;
}

}  // namespace firedrill::evidence
