#include "controller/evidence/html_report.h"

#include <algorithm>
#include <iterator>
#include <map>

#include "controller/evidence/report_model.h"

namespace firedrill::evidence {

std::string html_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

namespace {

std::string esc(std::string_view s) { return html_escape(s); }

// Ids and class names from free text (probe names): letters, digits and '-'.
std::string slug(std::string_view s) {
  std::string out;
  for (char c : s) out += std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::tolower(c)) : '-';
  return out.empty() ? "x" : out;
}

std::string hosts_text(int n) { return fmt::format("{} host{}", n, n == 1 ? "" : "s"); }

std::string or_dash(const std::string& s) { return s.empty() ? "-" : esc(s); }

std::string us_text(int64_t us) {
  if (us < 1000) return fmt::format("{}&#181;s", us);
  if (us < 1'000'000) return fmt::format("{:.1f}ms", us / 1000.0);
  return human_ms(us / 1000);
}

const char* kCss = R"css(
:root{--pass:#1a7f37;--fail:#cf222e;--aborted:#bc4c00;--incomplete:#6e7781;--ink:#1f2328;--muted:#57606a;
--line:#d0d7de;--bg:#f6f8fa;--fault:#ffebe9;--det:#bf8700;--fo:#0969da;--lift:#6e7781;--rec:#1a7f37}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;color:var(--ink);background:#fff}
main{max-width:1080px;margin:0 auto;padding:0 24px 48px}
header.verdict{display:flex;gap:24px;align-items:center;padding:20px 24px;border-bottom:4px solid var(--v);background:var(--bg)}
.verdict-pass{--v:var(--pass)}.verdict-fail{--v:var(--fail)}.verdict-aborted,.verdict-refused{--v:var(--aborted)}.verdict-incomplete{--v:var(--incomplete)}
.verdict-word{font-size:40px;font-weight:800;letter-spacing:2px;color:#fff;background:var(--v);padding:8px 22px;border-radius:8px}
header h1{margin:0 0 4px;font-size:22px}
.headline{margin:0 0 6px;font-size:15px}
ul.figures{margin:0;padding-left:18px;color:var(--muted)}
nav{padding:10px 24px;border-bottom:1px solid var(--line);font-size:13px}
nav a{margin-right:14px;color:var(--fo);text-decoration:none}
section{margin-top:28px}
h2{font-size:18px;border-bottom:1px solid var(--line);padding-bottom:4px;margin:0 0 12px}
h3{font-size:15px;margin:18px 0 8px}
table{border-collapse:collapse;width:100%;margin:6px 0 12px;font-size:13px}
th,td{border:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top}
th{background:var(--bg);font-weight:600}
table.kv th{width:230px}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.nowrap{white-space:nowrap}
.mono,code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px;overflow-wrap:anywhere}
.mono.nowrap{overflow-wrap:normal}
.tag{display:inline-block;padding:0 7px;border-radius:10px;font-size:12px;font-weight:600;color:#fff}
.tag-pass,.tag-evidenced,.tag-closed,.tag-allowed{background:var(--pass)}
.tag-fail,.tag-missing,.tag-refused,.tag-critical,.tag-high{background:var(--fail)}
.tag-partial,.tag-aborted,.tag-medium,.tag-open{background:var(--aborted)}
.tag-no-result,.tag-incomplete,.tag-low{background:var(--incomplete)}
.muted{color:var(--muted)}
figure{margin:8px 0 18px}
figcaption{font-size:13px;color:var(--muted);margin-top:2px}
svg{display:block;width:100%;height:auto;font-family:system-ui,Helvetica,Arial,sans-serif}
svg text{font-size:11px;fill:var(--ink)}
svg .axis{stroke:#8c959f;stroke-width:1}
svg .grid{stroke:#eaeef2;stroke-width:1}
svg .fault-window{fill:var(--fault)}
svg .ok{fill:var(--pass)}svg .bad{fill:var(--fail)}svg .mixed{fill:var(--aborted)}
svg .step{fill:#ffcecb;stroke:var(--fail)}
svg .lat{fill:none;stroke:var(--fo);stroke-width:1.5}
svg .m-detection{stroke:var(--det)}svg .m-failover{stroke:var(--fo)}svg .m-fault_lifted{stroke:var(--lift)}
svg .m-recovery{stroke:var(--rec)}svg .m-abort{stroke:var(--fail)}svg .m-fault_applied{stroke:var(--fail)}
svg .marker{stroke-width:2;stroke-dasharray:4 3}
svg .host-tick{stroke:var(--fail);stroke-width:1}
svg .host-revert{stroke:var(--lift);stroke-width:1}
details summary{cursor:pointer;color:var(--fo)}
footer{margin-top:36px;padding-top:10px;border-top:1px solid var(--line);color:var(--muted);font-size:12px}
@page{size:A4;margin:14mm}
@media print{
  body{font-size:11px}
  main{max-width:none;padding:0}
  nav{display:none}
  header.verdict,.tag,svg .ok,svg .bad,.verdict-word{-webkit-print-color-adjust:exact;print-color-adjust:exact}
  section{break-inside:auto}
  h2,h3{break-after:avoid}
  figure,tr,header.verdict{break-inside:avoid}
  a{color:inherit;text-decoration:none}
}
)css";

class Page {
 public:
  template <typename... Args>
  void f(fmt::format_string<Args...> s, Args&&... args) {
    fmt::format_to(std::back_inserter(out_), s, std::forward<Args>(args)...);
  }
  void raw(std::string_view s) { out_ += s; }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

// Maps a time to an x coordinate inside [left, right].
struct Scale {
  WallTime t0;
  int64_t span_ms = 1;
  double left = 0, right = 0;
  double x(WallTime t) const {
    double v = left + (right - left) * static_cast<double>(micros_between(t0, t) / 1000) / static_cast<double>(span_ms);
    return std::clamp(v, left, right);
  }
  double x(const std::string& s) const {
    auto r = parse_time(s);
    return r ? x(*r) : left;
  }
};

std::string n1(double v) {
  std::string s = fmt::format("{:.1f}", v);
  if (s.size() > 2 && s.substr(s.size() - 2) == ".0") s.resize(s.size() - 2);
  return s;
}

// "T+24s", "T-1m", "T+0": offsets from the fault's start.
std::string t_label(int64_t rel_ms) {
  if (rel_ms == 0) return "T+0";
  return std::string("T") + (rel_ms > 0 ? "+" : "-") + human_ms(rel_ms > 0 ? rel_ms : -rel_ms);
}

// "09:01:00.001500" from "2026-11-21T09:01:00.001500Z": tables of one run's moments
// need the time of day; the date is in the identity section.
std::string clock_of(const std::string& s) {
  if (s.size() < 12 || s[10] != 'T') return s.empty() ? "-" : s;
  std::string t = s.substr(11);
  if (!t.empty() && t.back() == 'Z') t.pop_back();
  return t;
}

WallTime tm_of(const std::string& s) {
  auto r = parse_time(s);
  return r ? *r : WallTime{};
}

// Axis ticks at a round step, labelled by offset from `zero` (the fault's start).
void axis(Page& p, const Scale& sc, double y, WallTime zero) {
  static constexpr int64_t kSteps[] = {100, 200, 500, 1000, 2000, 5000, 10'000, 15'000, 30'000, 60'000, 120'000,
                                       300'000, 600'000, 900'000, 1'800'000, 3'600'000, 7'200'000, 21'600'000};
  int64_t step = kSteps[std::size(kSteps) - 1];
  for (int64_t s : kSteps) {
    if (sc.span_ms / s <= 10) {
      step = s;
      break;
    }
  }
  p.f(R"(<line class="axis" x1="{}" y1="{}" x2="{}" y2="{}"/>)", n1(sc.left), n1(y), n1(sc.right), n1(y));
  int64_t zero_off = micros_between(sc.t0, zero == WallTime{} ? sc.t0 : zero) / 1000;
  // Ticks sit on multiples of `step` counted from zero, so "T+0" is always a tick.
  int64_t first = zero_off - ((zero_off / step) + 1) * step;
  for (int64_t off = first; off <= sc.span_ms; off += step) {
    if (off < 0) continue;
    double x = sc.left + (sc.right - sc.left) * static_cast<double>(off) / static_cast<double>(sc.span_ms);
    int64_t rel = off - zero_off;
    p.f(R"(<line class="axis" x1="{0}" y1="{1}" x2="{0}" y2="{2}"/><text x="{0}" y="{3}" text-anchor="middle">{4}</text>)",
        n1(x), n1(y), n1(y + 4), n1(y + 16), t_label(rel));
  }
}

struct MarkerDef {
  const char* key;
  const char* label;
};

void timeline_svg(Page& p, const ReportModel& m) {
  const auto& tl = m.timeline;
  const auto& ms = tl.milestones;
  WallTime t0 = tm_of(tl.window_start), t1 = tm_of(tl.window_end);
  int64_t span = std::max<int64_t>(1, micros_between(t0, t1) / 1000);
  // A margin on both sides so that markers at the window's edges stay visible.
  int64_t pad = std::max<int64_t>(span / 40, 1);
  t0 -= std::chrono::milliseconds(pad);
  span += 2 * pad;
  Scale sc{t0, span, 150, 980};
  WallTime zero = ms.fault_applied.empty() ? t0 + std::chrono::milliseconds(pad) : tm_of(ms.fault_applied);

  double y = 50;  // below three rows of marker labels
  const double lane = 22;
  int probe_lanes = static_cast<int>(m.probes.size());
  double height = y + lane * (2 + probe_lanes) + 40;
  p.f(R"(<svg id="timeline-svg" class="timeline" viewBox="0 0 1000 {}" role="img" aria-label="Timeline of run {}">)",
      n1(height), esc(m.identity.run_id));
  p.f("<title>Timeline: fault steps, detection, failover, recovery</title>");
  if (!ms.fault_applied.empty()) {
    double a = sc.x(ms.fault_applied);
    double b = ms.fault_lifted.empty() ? sc.right : sc.x(ms.fault_lifted);
    p.f(R"(<rect class="fault-window" x="{}" y="{}" width="{}" height="{}"><title>fault window</title></rect>)", n1(a),
        n1(y - 4), n1(std::max(1.0, b - a)), n1(lane * (2 + probe_lanes) + 4));
  }
  // Lane 1: the fault steps.
  p.f(R"(<text x="8" y="{}">fault steps</text>)", n1(y + 14));
  for (auto& st : tl.steps) {
    if (st.first_applied.empty()) continue;
    double a = sc.x(st.first_applied);
    double b = st.lifted_at.empty() ? sc.right : sc.x(st.lifted_at);
    p.f(R"(<rect class="step" x="{}" y="{}" width="{}" height="16" rx="3"><title>step {} {}</title></rect>)", n1(a),
        n1(y + 2), n1(std::max(2.0, b - a)), st.index, esc(st.name));
    p.f(R"(<text x="{}" y="{}">step {} {}</text>)", n1(a + 4), n1(y + 14), st.index, esc(st.name));
  }
  y += lane;
  // Lane 2: every host's apply (red) and revert (grey).
  p.f(R"(<text x="8" y="{}">hosts ({})</text>)", n1(y + 14), tl.hosts.size());
  // One tick per pixel column, however many hosts share it (a site has thousands).
  std::map<int, int> applied_cols, reverted_cols;
  for (auto& h : tl.hosts) {
    if (!h.applied_at.empty()) applied_cols[static_cast<int>(sc.x(h.applied_at))]++;
    if (!h.reverted_at.empty()) reverted_cols[static_cast<int>(sc.x(h.reverted_at))]++;
  }
  for (auto [col, n] : applied_cols) {
    p.f(R"(<line class="host-tick" x1="{0}" y1="{1}" x2="{0}" y2="{2}"><title>{3} applied</title></line>)", col,
        n1(y + 2), n1(y + 18), hosts_text(n));
  }
  for (auto [col, n] : reverted_cols) {
    p.f(R"(<line class="host-revert" x1="{0}" y1="{1}" x2="{0}" y2="{2}"><title>{3} reverted</title></line>)", col,
        n1(y + 2), n1(y + 18), hosts_text(n));
  }
  y += lane;
  // One lane per probe: good and failed stretches.
  for (auto& pr : m.probes) {
    p.f(R"(<text x="8" y="{}">probe {}</text>)", n1(y + 14), esc(pr.name));
    size_t i = 0;
    while (i < pr.points.size()) {
      size_t j = i;
      while (j + 1 < pr.points.size() && pr.points[j + 1].ok == pr.points[i].ok) ++j;
      double a = sc.x(pr.points[i].at);
      double b = j + 1 < pr.points.size() ? sc.x(pr.points[j + 1].at) : sc.x(pr.points[j].at) + 2;
      p.f(R"(<rect class="{}" x="{}" y="{}" width="{}" height="12"/>)", pr.points[i].ok ? "ok" : "bad", n1(a),
          n1(y + 4), n1(std::max(1.0, b - a)));
      i = j + 1;
    }
    y += lane;
  }
  // Milestones: dashed lines across the lanes, labels staggered in two rows.
  const MarkerDef defs[] = {{"fault_applied", "fault applied"}, {"detection", "detection"},
                            {"failover", "failover"},           {"fault_lifted", "fault lifted"},
                            {"recovery", "recovery"},           {"abort", "abort"}};
  const std::string* at[] = {&ms.fault_applied, &ms.detection, &ms.failover, &ms.fault_lifted, &ms.recovery,
                             &ms.aborted};
  // Each label goes in the first of three rows where it does not overlap the label
  // before it; text is about 6.2 px per character at 11 px.
  double row_end[3] = {-1e9, -1e9, -1e9};
  for (size_t i = 0; i < std::size(defs); ++i) {
    if (at[i]->empty()) continue;
    double x = sc.x(*at[i]);
    int64_t rel = micros_between(zero, tm_of(*at[i])) / 1000;
    std::string label = fmt::format("{} {}", defs[i].label, t_label(rel));
    double width = 6.2 * static_cast<double>(label.size());
    bool right = x + width > 995;
    double start = right ? x - width : x;
    int row = 0;
    while (row < 2 && row_end[row] + 8 > start) ++row;
    row_end[row] = start + width;
    double ly = 12 + row * 14;
    p.f(R"(<line class="marker m-{0}" x1="{1}" y1="{2}" x2="{1}" y2="{3}"/>)", defs[i].key, n1(x), n1(ly + 3),
        n1(y));
    p.f(R"(<text class="marker-label" id="marker-{0}" x="{1}" y="{2}" text-anchor="{3}">{4}</text>)", defs[i].key,
        n1(x), n1(ly), right ? "end" : "start", esc(label));
  }
  axis(p, sc, y + 6, zero);
  p.raw("</svg>");
}

void probe_svg(Page& p, const ReportModel& m, const ProbeSeries& pr) {
  const auto& ms = m.timeline.milestones;
  WallTime t0 = tm_of(m.timeline.window_start), t1 = tm_of(m.timeline.window_end);
  int64_t span = std::max<int64_t>(1, micros_between(t0, t1) / 1000);
  int64_t pad = std::max<int64_t>(span / 40, 1);
  t0 -= std::chrono::milliseconds(pad);
  span += 2 * pad;
  Scale sc{t0, span, 70, 980};
  WallTime zero = ms.fault_applied.empty() ? t0 + std::chrono::milliseconds(pad) : tm_of(ms.fault_applied);
  const double strip_y = 14, plot_top = 44, plot_bottom = 184;
  int64_t max_lat = 1;
  for (auto& pt : pr.points) {
    if (pt.good > 0) max_lat = std::max(max_lat, pt.latency_us);
  }
  // A round top for the latency axis: 1, 2 or 5 times a power of ten, in microseconds.
  int64_t top = 1;
  while (top < max_lat) {
    if (top * 2 >= max_lat) {
      top *= 2;
      break;
    }
    if (top * 5 >= max_lat) {
      top *= 5;
      break;
    }
    top *= 10;
  }
  p.f(R"(<svg id="probe-{}" class="probe-chart" viewBox="0 0 1000 214" role="img" aria-label="Probe {}: success and latency over time">)",
      slug(pr.name), esc(pr.name));
  p.f("<title>Probe {}: success (top strip) and latency (line); fault window shaded</title>", esc(pr.name));
  if (!ms.fault_applied.empty()) {
    double a = sc.x(ms.fault_applied);
    double b = ms.fault_lifted.empty() ? sc.right : sc.x(ms.fault_lifted);
    p.f(R"(<rect class="fault-window" x="{}" y="{}" width="{}" height="{}"><title>fault window</title></rect>)", n1(a),
        n1(strip_y - 4), n1(std::max(1.0, b - a)), n1(plot_bottom - strip_y + 4));
  }
  p.f(R"(<text x="4" y="{}">success</text>)", n1(strip_y + 10));
  // Runs of samples in the same state are one rectangle, so a day of samples at
  // 100 ms stays a small page.
  auto cls_of = [](const ProbePoint& pt) { return pt.good == pt.total ? "ok" : (pt.good == 0 ? "bad" : "mixed"); };
  for (size_t i = 0; i < pr.points.size();) {
    size_t j = i;
    while (j + 1 < pr.points.size() && std::string_view(cls_of(pr.points[j + 1])) == cls_of(pr.points[i])) ++j;
    double a = sc.x(pr.points[i].at);
    double b = j + 1 < pr.points.size() ? sc.x(pr.points[j + 1].at) : sc.x(pr.points[j].at) + 2;
    p.f(R"(<rect class="{}" x="{}" y="{}" width="{}" height="14"/>)", cls_of(pr.points[i]), n1(a), n1(strip_y),
        n1(std::max(0.8, b - a)));
    i = j + 1;
  }
  // Latency grid and labels.
  for (int g = 0; g <= 2; ++g) {
    double y = plot_bottom - (plot_bottom - plot_top) * g / 2.0;
    p.f(R"(<line class="grid" x1="{}" y1="{}" x2="{}" y2="{}"/><text x="4" y="{}">{}</text>)", n1(sc.left), n1(y),
        n1(sc.right), n1(y), n1(y + 4), us_text(top * g / 2));
  }
  // One value per pixel column: the worst latency of its good samples (so peaks are
  // never averaged away); a column with failures only breaks the line, and failed
  // columns show as red marks on the axis.
  std::string pts;
  bool open = false;
  auto flush = [&] {
    if (open) p.f(R"(<polyline class="lat" points="{}"/>)", pts);
    pts.clear();
    open = false;
  };
  std::vector<std::pair<int, int>> bad_runs;  // [first, last] columns with a failure
  auto mark_bad = [&](int col) {
    if (!bad_runs.empty() && bad_runs.back().second >= col - 1) bad_runs.back().second = col;
    else bad_runs.emplace_back(col, col);
  };
  size_t i = 0;
  while (i < pr.points.size()) {
    int col = static_cast<int>(sc.x(pr.points[i].at));
    bool any_ok = false, any_bad = false;
    int64_t worst = 0;
    for (; i < pr.points.size() && static_cast<int>(sc.x(pr.points[i].at)) == col; ++i) {
      const auto& pt = pr.points[i];
      if (pt.good > 0) {
        any_ok = true;
        worst = std::max(worst, pt.latency_us);
      }
      if (pt.good < pt.total) any_bad = true;
    }
    if (any_bad) mark_bad(col);
    if (!any_ok) {
      flush();
      continue;
    }
    double y = plot_bottom - (plot_bottom - plot_top) * static_cast<double>(worst) / static_cast<double>(top);
    pts += (open ? " " : "") + std::to_string(col) + "," + n1(y);
    open = true;
  }
  flush();
  for (auto [a, b] : bad_runs) {
    p.f(R"(<rect class="bad" x="{}" y="{}" width="{}" height="6"/>)", a, n1(plot_bottom - 6), b - a + 2);
  }
  axis(p, sc, plot_bottom + 6, zero);
  p.raw("</svg>");
}

std::string tag(std::string_view word) {
  std::string cls = slug(word);
  return fmt::format(R"(<span class="tag tag-{}">{}</span>)", cls, esc(word));
}

void kv(Page& p, std::string_view k, const std::string& v) { p.f("<tr><th>{}</th><td>{}</td></tr>", k, or_dash(v)); }

}  // namespace

Result<std::string> render_html(const Json& document) {
  if (!document.is_object() || !document.contains("evidence")) return make_error("render HTML: no evidence in the document");
  FD_ASSIGN(m, build_model(document["evidence"]), "render HTML");
  std::string generated_at = document.value("generated_at", "");
  std::string generator = document.value("generator", "");
  const auto& id = m.identity;
  const auto& res = m.results;
  const auto& ms = m.timeline.milestones;
  std::string verdict_word = res.verdict;
  std::transform(verdict_word.begin(), verdict_word.end(), verdict_word.begin(), ::toupper);

  Page p;
  p.raw("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
  p.f("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
  p.f("<title>{} - {} - firedrill evidence report</title>\n", esc(id.experiment_name.empty() ? id.run_id : id.experiment_name),
      verdict_word);
  p.f("<style>{}</style>\n</head>\n<body>\n", kCss);

  // ------------------------------------------------------------ summary
  p.f(R"(<header id="summary" class="verdict verdict-{}">)", slug(res.verdict));
  p.f(R"(<div class="verdict-word" id="verdict">{}</div><div>)", verdict_word);
  p.f("<h1>{}</h1>", esc(id.experiment_name.empty() ? "Run " + id.run_id : id.experiment_name));
  p.f(R"(<p class="headline">{}</p><ul class="figures">)", esc(m.summary.headline));
  for (auto& f : m.summary.figures) p.f("<li>{}</li>", esc(f));
  p.f(R"(</ul><div class="muted mono">run {} &#183; {} &#183; head {}</div></div></header>)", esc(id.run_id),
      esc(id.started_at), esc(m.integrity.head.substr(0, 16)));
  p.raw("\n<nav>");
  for (auto [a, t] : {std::pair{"identity", "Identity"}, {"scope", "Scope"}, {"scenario", "Scenario"},
                      {"people", "People"}, {"timeline", "Timeline"}, {"probes", "Probes"}, {"results", "Results"},
                      {"findings", "Findings"}, {"compliance", "Compliance"}, {"integrity", "Integrity"}}) {
    p.f(R"(<a href="#{}">{}</a>)", a, t);
  }
  p.raw("</nav>\n<main>\n");

  // ------------------------------------------------------------ identity
  p.raw(R"(<section id="identity"><h2>1. Identity</h2><table class="kv">)");
  kv(p, "Run", id.run_id);
  kv(p, "Experiment", id.experiment_name);
  kv(p, "Experiment version", id.experiment_version);
  p.f(R"(<tr><th>Experiment file SHA-256</th><td class="mono">{} {}</td></tr>)", or_dash(id.experiment_sha256),
      id.experiment_file.empty() ? "" : "(" + esc(id.experiment_file) + ")");
  kv(p, "Test type", id.test_type);
  kv(p, "Environment", id.environment);
  kv(p, "Start (UTC)", id.started_at);
  kv(p, "End (UTC)", id.ended_at);
  kv(p, "Duration", human_ms(id.duration_ms));
  kv(p, "Controller", id.controller_version + (id.controller_host.empty() ? "" : " on " + id.controller_host));
  std::string agents;
  for (size_t i = 0; i < id.agent_versions.size(); ++i) agents += (i ? "; " : "") + id.agent_versions[i];
  kv(p, "Agents", agents);
  if (!id.overrides.empty()) {
    std::string set;
    for (size_t i = 0; i < id.overrides.size(); ++i) set += (i ? "; " : "") + id.overrides[i];
    kv(p, "Overridden at run time", set);
  }
  p.raw("</table></section>\n");

  // ------------------------------------------------------------ scope
  p.raw(R"(<section id="scope"><h2>2. Scope</h2><table class="kv">)");
  kv(p, "Selector", m.scope.selector);
  kv(p, "Mode", m.scope.mode);
  kv(p, "Targets", m.scope.fleet_size > 0
                       ? fmt::format("{} of a fleet of {}", m.scope.hosts.size(), m.scope.fleet_size)
                       : hosts_text(static_cast<int>(m.scope.hosts.size())));
  std::string domains;
  for (size_t i = 0; i < m.scope.domains.size(); ++i) domains += (i ? "; " : "") + m.scope.domains[i];
  kv(p, "Failure domains", domains);
  for (const auto& cmd : m.scope.from_command) {
    kv(p, "Targets from command", fmt::format("{} ({}): {}", cmd.command, cmd.status,
                                              cmd.error.empty() ? "chose " + cmd.chose : "refused: " + cmd.error));
    kv(p, "Its output", cmd.output);
  }
  p.raw("</table><h3>Targets</h3>");
  p.raw(R"(<table id="targets"><thead><tr><th>Data centre</th><th>Rack</th><th>Host</th><th>Agent</th><th>Agent version</th></tr></thead><tbody>)");
  for (auto& h : m.scope.hosts) {
    p.f(R"(<tr class="target-row"><td>{}</td><td>{}</td><td>{}</td><td class="mono">{}</td><td>{}</td></tr>)",
        or_dash(h.dc), or_dash(h.rack), or_dash(h.host), or_dash(h.agent_id), or_dash(h.agent_version));
  }
  p.raw("</tbody></table><h3>Excluded</h3>");
  if (m.scope.excluded.empty()) p.raw(R"(<p class="muted">Nothing was excluded.</p>)");
  else {
    p.raw("<table><thead><tr><th>Host</th><th>Why</th></tr></thead><tbody>");
    for (auto& e : m.scope.excluded) p.f("<tr><td>{}</td><td>{}</td></tr>", or_dash(e.host), or_dash(e.reason));
    p.raw("</tbody></table>");
  }
  p.raw("<h3>Blast radius declared</h3><ul>");
  for (auto& r : m.scope.blast_radius) p.f("<li>{}</li>", esc(r));
  if (m.scope.blast_radius.empty()) p.raw(R"(<li class="muted">none declared</li>)");
  p.raw("</ul><h3>Guard verdicts</h3>");
  p.raw("<table><thead><tr><th>Phase</th><th>Verdict</th><th>Rules</th></tr></thead><tbody>");
  for (auto& g : m.scope.guard) {
    p.f("<tr><td>{}</td><td>{} {}</td><td><ul>", esc(g.phase), tag(g.allowed ? "allowed" : "refused"), esc(g.summary));
    for (auto& r : g.rules) p.f("<li>{} {}: {}</li>", r.ok ? "&#10003;" : "&#10007;", esc(r.rule), esc(r.detail));
    p.raw("</ul></td></tr>");
  }
  p.raw("</tbody></table></section>\n");

  // ------------------------------------------------------------ scenario
  p.raw(R"(<section id="scenario"><h2>3. Scenario and hypothesis</h2>)");
  p.f(R"(<h3>Scenario</h3><p>{}</p><h3>Hypothesis</h3><p>{}</p>)", or_dash(m.scenario.scenario),
      or_dash(m.scenario.hypothesis));
  p.raw("<h3>Steps</h3><table><thead><tr><th>#</th><th>Name</th><th>Fault</th><th>Targets</th><th>Duration</th></tr></thead><tbody>");
  for (auto& s : m.scenario.steps) {
    p.f(R"(<tr><td>{}</td><td>{}</td><td class="mono">{}</td><td>{}</td><td class="num">{}</td></tr>)", s.index,
        or_dash(s.name), or_dash(s.fault), or_dash(s.selector), human_ms(s.duration_ms));
  }
  p.raw("</tbody></table><h3>Probes</h3><table><thead><tr><th>Name</th><th>Kind</th><th>Target</th><th>Interval</th><th>Runs from</th></tr></thead><tbody>");
  for (auto& pr : m.scenario.probes) {
    p.f(R"(<tr><td>{}</td><td>{}</td><td class="mono">{}</td><td class="num">{}</td><td>{}</td></tr>)", esc(pr.name),
        or_dash(pr.kind), or_dash(pr.target), human_ms(pr.interval_ms), or_dash(pr.location));
  }
  p.raw(R"(</tbody></table><h3 id="criteria">Success criteria</h3><table><thead><tr><th>Criterion</th><th>Names</th><th>Kind</th><th>Probe</th><th>Target</th></tr></thead><tbody>)");
  for (auto& c : m.scenario.criteria) {
    p.f("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td></tr>", esc(c.name),
        c.objective.empty() ? "-" : "<strong>" + esc(c.objective) + "</strong>", or_dash(c.kind), or_dash(c.probe),
        esc(c.target));
  }
  p.f(R"(</tbody></table><p class="muted">Abort when unavailable longer than {}; users must be told of an outage longer than {}.</p></section>)",
      m.scenario.abort_unavailability_ms ? human_ms(m.scenario.abort_unavailability_ms) : "(no limit)",
      human_ms(m.scenario.user_notice_threshold_ms));
  p.raw("\n");

  // ------------------------------------------------------------ people
  p.raw(R"(<section id="people"><h2>4. People</h2><table class="kv">)");
  kv(p, "Owner", m.people.owner);
  kv(p, "Approvals required", std::to_string(m.people.required_approvals));
  p.raw("</table><h3>Approvals</h3><table><thead><tr><th>Approver</th><th>Role</th><th>Decision</th><th>Time (UTC)</th><th>Comment</th></tr></thead><tbody>");
  for (auto& a : m.people.approvals) {
    p.f("<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"mono\">{}</td><td>{}</td></tr>", esc(a.approver), or_dash(a.role),
        esc(a.decision), esc(a.at), esc(a.comment));
  }
  p.raw("</tbody></table><h3>Participants</h3><table><thead><tr><th>Name</th><th>Role</th></tr></thead><tbody>");
  for (auto& x : m.people.participants) p.f("<tr><td>{}</td><td>{}</td></tr>", esc(x.name), or_dash(x.role));
  p.raw("</tbody></table></section>\n");

  // ------------------------------------------------------------ timeline
  p.raw(R"(<section id="timeline"><h2>5. Timeline</h2><figure>)");
  timeline_svg(p, m);
  p.raw("<figcaption>Fault steps, every host's apply (red) and revert (grey), each probe's good (green) and failed "
        "(red) stretches; the fault window is shaded. T is measured from the fault's start.</figcaption></figure>");
  p.raw(R"(<table class="kv" id="milestones">)");
  auto mrow = [&](const char* name, const std::string& at, const std::string& source, int64_t ms_value,
                  const char* since) {
    std::string v = at.empty() ? "not observed" : at;
    if (ms_value >= 0) v += fmt::format("  ({} after {})", human_ms(ms_value), since);
    if (!source.empty()) v += "  [" + source + "]";
    kv(p, name, v);
  };
  mrow("Fault applied", ms.fault_applied, "", -1, "");
  mrow("First failed probe", ms.first_failed_probe, "", -1, "");
  mrow("Detection", ms.detection, ms.source_detection, ms.time_to_detect_ms, "fault applied");
  mrow("Failover (first sustained success, observed)", ms.failover, ms.source_failover, ms.failover_ms, "fault applied");
  if (!ms.failover_started.empty()) {
    mrow("Failover, from the success's start", ms.failover_started, "", ms.failover_started_ms, "fault applied");
  }
  mrow("Fault lifted", ms.fault_lifted, "", -1, "");
  mrow("Recovery (observed)", ms.recovery, ms.source_recovery, ms.recovery_ms, "fault lifted");
  if (!ms.recovery_started.empty()) {
    mrow("Recovery, from the success's start", ms.recovery_started, "", ms.recovery_started_ms, "fault lifted");
  }
  if (!ms.aborted.empty()) mrow("Aborted", ms.aborted, "", -1, "");
  p.raw("</table><h3>Events</h3><table id=\"timeline-table\"><thead><tr><th>Time (UTC)</th><th>T</th><th>Kind</th><th>What</th></tr></thead><tbody>");
  for (auto& e : m.timeline.entries) {
    p.f(R"(<tr><td class="mono">{}</td><td class="num">{}</td><td>{}</td><td>{}{}</td></tr>)", esc(e.at),
        (e.offset_ms >= 0 ? "+" : "-") + human_ms(e.offset_ms >= 0 ? e.offset_ms : -e.offset_ms), esc(e.kind),
        esc(e.what), e.source == "derived" ? R"( <span class="muted">(derived from samples)</span>)" : "");
  }
  std::string day = id.started_at.size() >= 10 ? id.started_at.substr(0, 10) : "";
  p.f("</tbody></table><h3>Coordinated start per step</h3><p class=\"muted\">Times of day in UTC on {}.</p><table><thead><tr><th>Step</th><th>Hosts</th><th>Refused</th><th>First applied</th><th>Last applied</th><th>Start spread</th><th>Lifted</th></tr></thead><tbody>", esc(day));
  for (auto& s : m.timeline.steps) {
    p.f(R"(<tr><td>{} {}</td><td class="num">{}</td><td class="num">{}</td><td class="mono">{}</td><td class="mono">{}</td><td class="num">{}</td><td class="mono">{}</td></tr>)",
        s.index, esc(s.name), s.hosts, s.refused, esc(clock_of(s.first_applied)), esc(clock_of(s.last_applied)),
        us_text(s.start_spread_us), esc(clock_of(s.lifted_at)));
  }
  p.raw(R"(</tbody></table><h3 id="hosts">Per host</h3><table id="host-table"><thead><tr><th>Host</th><th>Step</th><th>Fault</th><th>Not before</th><th>Applied</th><th>Offset</th><th>Reverted</th><th>Why reverted</th></tr></thead><tbody>)");
  for (auto& h : m.timeline.hosts) {
    p.f(R"(<tr class="host-row"><td class="nowrap">{}</td><td class="num">{}</td><td>{} <span class="mono muted">{}</span></td><td class="mono nowrap">{}</td><td class="mono nowrap">{}</td><td class="num">{}</td><td class="mono nowrap">{}</td><td>{}</td></tr>)",
        esc(h.host), h.step, or_dash(h.fault_kind), esc(h.fault_id), esc(clock_of(h.not_before)),
        h.ok ? esc(clock_of(h.applied_at)) : "refused: " + esc(h.error), h.ok ? us_text(h.start_offset_us) : "-",
        esc(clock_of(h.reverted_at)), or_dash(h.revert_reason));
  }
  p.raw("</tbody></table>");
  if (!m.fidelity.hosts.empty()) {
    // What the simulated loss did, part by part, on the agents' clocks.
    p.raw(R"(<h3 id="fidelity">Fidelity</h3><p class="muted">Each part as the host's agent saw it take effect, from the common not-before, with its source (a network cut timed by the kernel at its first dropped packet, or by the agent where none was dropped yet), and the host's clock beside it: spreads across hosts are only as good as the clocks.</p><table id="fidelity-table"><thead><tr><th>Host</th><th>Step</th><th>Parts (from not-before)</th><th>What it did</th><th>Clock</th></tr></thead><tbody>)");
    for (auto& h : m.fidelity.hosts) {
      std::string parts, did;
      for (auto& pt : h.parts) {
        parts += fmt::format("{}{} {} <span class=\"muted\">({})</span>", parts.empty() ? "" : "<br>", esc(pt.part),
                             us_text(pt.offset_us), esc(pt.source));
      }
      for (auto& d : h.did) did += (did.empty() ? "" : "<br>") + esc(d);
      p.f(R"(<tr class="fidelity-row"><td class="nowrap">{}</td><td class="num">{}</td><td class="nowrap">{}</td><td>{}</td><td>{}</td></tr>)",
          esc(h.host), h.step, parts, did, esc(h.clock));
    }
    p.raw(R"(</tbody></table><table id="fidelity-spreads"><thead><tr><th>Step</th><th>Part</th><th>Hosts</th><th>Spread across hosts</th><th>Worst clock max error</th></tr></thead><tbody>)");
    for (auto& sp : m.fidelity.spreads) {
      p.f(R"(<tr><td class="num">{}</td><td>{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td></tr>)",
          sp.step, esc(sp.part), sp.hosts, us_text(sp.spread_us),
          sp.max_clock_error_us < 0 ? std::string("not reported") : us_text(sp.max_clock_error_us));
    }
    p.raw("</tbody></table>");
    if (m.fidelity.data_lost_markers >= 0) {
      p.f("<p>Acknowledged writes lost (data probes): {}.</p>", m.fidelity.data_lost_markers);
    }
  }
  p.raw("</section>\n");

  // ------------------------------------------------------------ probes
  p.raw(R"(<section id="probes"><h2>6. Probes</h2>)");
  for (auto& pr : m.probes) {
    p.f(R"(<figure class="probe" id="probe-figure-{}"><h3>{} <span class="muted">{} {}</span></h3>)", slug(pr.name),
        esc(pr.name), esc(pr.kind), esc(pr.target));
    probe_svg(p, m, pr);
    p.f("<figcaption>{} samples{}, {} good (availability {:.4f}); longest outage {}{}; latency p50 {}, p99 {}. "
        "The fault window is shaded.</figcaption></figure>",
        pr.total, pr.summarized ? " (summarized in buckets)" : "", pr.good, pr.availability,
        human_ms(pr.longest_outage_ms), pr.longest_outage_from.empty() ? "" : " from " + esc(pr.longest_outage_from),
        us_text(pr.latency_p50_us), us_text(pr.latency_p99_us));
  }
  if (m.probes.empty()) p.raw(R"(<p class="muted">No probe samples were recorded.</p>)");
  p.raw("</section>\n");

  // ------------------------------------------------------------ results
  p.raw(R"(<section id="results"><h2>7. Results</h2>)");
  p.f(R"(<p>Verdict: {} {}</p>)", tag(res.verdict), esc(res.verdict_reason));
  if (!res.abort_reason.empty()) p.f("<p>Aborted by {}: {}</p>", esc(res.abort_by), esc(res.abort_reason));
  p.raw(R"(<table id="slo-table"><thead><tr><th>SLO</th><th>Names</th><th>Target</th><th>Measured</th><th>Result</th><th>Detail</th></tr></thead><tbody>)");
  for (auto& s : res.slos) {
    p.f(R"(<tr class="slo-row" data-slo="{}"><td>{}</td><td>{}</td><td class="num">{}</td><td class="num">{}</td><td>{}</td><td>{}</td></tr>)",
        esc(s.name), esc(s.name), s.objective.empty() ? "-" : "<strong>" + esc(s.objective) + "</strong>",
        or_dash(s.target), esc(s.measured), tag(s.result), esc(s.detail));
  }
  p.raw("</tbody></table><h3>Data loss</h3>");
  if (!res.data_checked) p.raw(R"(<p class="muted">No data probe ran: data loss was not measured.</p>)");
  else {
    p.raw("<table><thead><tr><th>Probe</th><th>Written</th><th>Acknowledged</th><th>Read back</th><th>Lost</th><th>Span of lost writes</th></tr></thead><tbody>");
    for (auto& d : res.data) {
      p.f(R"(<tr><td>{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td></tr>)",
          esc(d.probe), d.written, d.acknowledged, d.read_back, d.lost, human_ms(d.lost_span_ms));
    }
    p.raw("</tbody></table>");
  }
  p.f(R"(<h3>User notice</h3><p id="user-notice">The longest outage seen by the probes was {}{}; the user-notice threshold is {}: notice <strong>{}</strong>.</p>)",
      human_ms(res.longest_outage_ms), res.longest_outage_probe.empty() ? "" : " (" + esc(res.longest_outage_probe) + ")",
      human_ms(res.user_notice_threshold_ms), res.user_notice_required ? "would have been required" : "not required");
  p.raw("</section>\n");

  // ------------------------------------------------------------ findings
  p.raw(R"(<section id="findings"><h2>8. Findings and remediation</h2>)");
  if (m.findings.empty()) p.raw(R"(<p class="muted">No findings were recorded for this run.</p>)");
  else {
    p.raw("<table><thead><tr><th>Id</th><th>Severity</th><th>Title</th><th>Owner</th><th>Due</th><th>Status</th><th>Retest</th><th>Relation</th><th>Record</th></tr></thead><tbody>");
    for (auto& f : m.findings) {
      p.f(R"(<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class="mono">rev {} {}</td></tr>)",
          esc(f.id), tag(f.severity), esc(f.title), esc(f.owner), esc(f.due), tag(f.status),
          f.retest_run.empty() ? "-" : esc(f.retest_run) + " (" + esc(f.retest_verdict) + ")", esc(f.relation), f.rev,
          esc(f.hash.substr(0, 16)));
    }
    p.raw("</tbody></table><p class=\"muted\">Each finding is its own signed record linked to the run's head; "
          "adding or closing one does not change the run's signed log.</p>");
  }
  p.raw("</section>\n");

  // ------------------------------------------------------------ compliance
  p.raw(R"(<section id="compliance"><h2>9. Compliance mapping</h2><table id="compliance-table"><colgroup><col style="width:13%"><col style="width:10%"><col style="width:30%"><col style="width:37%"><col style="width:10%"></colgroup><thead><tr><th>Framework</th><th>Clause</th><th>Requirement (summary)</th><th>Evidence in this report</th><th>Status</th></tr></thead><tbody>)");
  for (auto& c : m.compliance) {
    std::string links;
    for (auto& s : c.sections) links += fmt::format(R"( <a href="{}">{}</a>)", esc(s), esc(s.substr(1)));
    p.f("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}<br><span class=\"muted\">see{}</span></td><td>{}</td></tr>",
        esc(c.framework), esc(c.clause), esc(c.requirement), esc(c.evidence), links, tag(c.status));
  }
  p.raw("</tbody></table></section>\n");

  // ------------------------------------------------------------ integrity
  const auto& in = m.integrity;
  p.raw(R"(<section id="integrity"><h2>10. Integrity</h2><table class="kv">)");
  kv(p, "Events in the chain", std::to_string(in.events));
  p.f(R"(<tr><th>First event hash</th><td class="mono">{}</td></tr>)", or_dash(in.first_hash));
  p.f(R"(<tr><th>Head hash (signed)</th><td class="mono" id="head-hash">{}</td></tr>)", or_dash(in.head));
  p.f(R"(<tr><th>Signing key fingerprint</th><td class="mono" id="key-fingerprint">{}</td></tr>)",
      or_dash(in.key_fingerprint));
  p.f(R"(<tr><th>Ed25519 signature</th><td class="mono">{}</td></tr>)", or_dash(in.signature));
  if (in.signed_by.size() > 1) {
    // A takeover: each controller signed the part it led.
    p.f(R"(<tr><th>Signed in parts by</th><td class="mono" id="signed-by">{}</td></tr>)",
        fmt::format("{}", fmt::join(in.signed_by, ", then ")));
  }
  kv(p, "Method", in.canonical_form);
  kv(p, "Signed finding records", std::to_string(in.finding_records));
  p.raw("</table><p>Check this page or its JSON twin with <code>firedrill report verify FILE --key controller.pub</code> "
        "(the public key comes from <code>firedrill keys export</code>). The verifier recomputes every hash, checks the "
        "signature, derives this report again from the events and compares it with what is shown.</p>");
  p.f("<details><summary>All {} events</summary><table><thead><tr><th>#</th><th>Time (UTC)</th><th>Kind</th><th>Hash</th></tr></thead><tbody>",
      in.events);
  for (auto& e : document["evidence"]["events"]) {
    p.f(R"(<tr><td class="num">{}</td><td class="mono">{}</td><td>{}</td><td class="mono">{}</td></tr>)",
        e.value("seq", int64_t{0}), esc(e.value("at", "")), esc(e.value("kind", "")), esc(e.value("hash", "")));
  }
  p.raw("</tbody></table></details></section>\n");
  p.f("<footer>Rendered by {} at {} from the signed evidence of run {}.</footer>\n</main>\n", esc(generator),
      esc(generated_at), esc(id.run_id));

  // The document itself, for `report verify`. Every '<' is written as \u003c so that
  // no string in it can end the block; JSON reads the escape back as the same text.
  std::string embedded = document.dump(-1, ' ', false, Json::error_handler_t::replace);
  std::string safe;
  safe.reserve(embedded.size());
  for (char c : embedded) {
    if (c == '<') safe += "\\u003c";
    else safe += c;
  }
  p.f("<script type=\"application/json\" id=\"{}\">{}</script>\n</body>\n</html>\n", kEmbeddedId, safe);
  return p.take();
}

Result<std::string> extract_embedded_json(std::string_view html) {
  std::string open = fmt::format("<script type=\"application/json\" id=\"{}\">", kEmbeddedId);
  size_t a = html.find(open);
  if (a == std::string_view::npos) {
    return make_error("the page holds no embedded evidence (no <script id=\"{}\"> block): it is not a firedrill "
                      "report, or it was cut before its end",
                      kEmbeddedId);
  }
  a += open.size();
  size_t b = html.find("</script>", a);
  if (b == std::string_view::npos) {
    return make_error("truncated file: the embedded evidence block never ends (the page stops at byte {})",
                      html.size());
  }
  return std::string(html.substr(a, b - a));
}

}  // namespace firedrill::evidence
