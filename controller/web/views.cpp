#include "controller/web/views.h"

#include <algorithm>
#include <map>
#include <tuple>

#include <google/protobuf/util/json_util.h>
#include <nlohmann/json.hpp>

#include "common/fault_kind.h"
#include "controller/evidence/document.h"
#include "controller/evidence/findings.h"
#include "controller/evidence/html_report.h"
#include "controller/evidence/verify.h"
#include "controller/targeting/selector.h"

namespace firedrill::controller::web {
namespace {

using Json = nlohmann::json;

int64_t millis(WallTime t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

std::string tag_or(const Tags& tags, const char* key) {
  auto it = tags.find(key);
  return it == tags.end() || it->second.empty() ? std::string("(none)") : it->second;
}

Result<std::string> proto_json(const google::protobuf::Message& m) {
  google::protobuf::util::JsonPrintOptions o;
  o.preserve_proto_field_names = true;
  std::string out;
  if (auto s = google::protobuf::util::MessageToJsonString(m, &out, o); !s.ok()) {
    return make_error("{} as JSON: {}", m.GetDescriptor()->name(), s.ToString());
  }
  return out;
}

std::string lower_suffix(const std::string& enum_name, std::string_view prefix) {
  std::string s = enum_name.starts_with(prefix) ? enum_name.substr(prefix.size()) : enum_name;
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

Result<std::string> fleet_json(const ApiContext& ctx, const FleetQuery& q) {
  FD_ASSIGN(selector, Selector::parse(q.selector), "selector '{}'", q.selector);
  bool one_rack = !q.dc.empty() && !q.rack.empty();
  auto now = WallClock::now();
  struct Rack {
    size_t hosts = 0, live = 0, faulted = 0, faults = 0;
    int64_t soonest_expiry = 0;  // ms; 0: none
  };
  std::map<std::string, std::map<std::string, Rack>> dcs;
  Json hosts = Json::array();
  size_t total = 0, live = 0, faulted = 0;
  for (auto& a : ctx.fleet.agents(true)) {
    if (!selector.matches(a.tags)) continue;
    auto dc = tag_or(a.tags, "dc"), rack = tag_or(a.tags, "rack");
    ++total;
    live += a.live;
    faulted += !a.active_faults.empty();
    auto& r = dcs[dc][rack];
    ++r.hosts;
    r.live += a.live;
    r.faulted += !a.active_faults.empty();
    r.faults += a.active_faults.size();
    for (auto& f : a.active_faults) {
      int64_t e = millis(from_proto(f.expires_at()));
      if (r.soonest_expiry == 0 || e < r.soonest_expiry) r.soonest_expiry = e;
    }
    if (!one_rack || dc != q.dc || rack != q.rack) continue;
    Json faults = Json::array();
    for (auto& f : a.active_faults) {
      faults.push_back({{"id", f.fault_id()},
                        {"kind", fault_kind(f.spec())},
                        {"expires", millis(from_proto(f.expires_at()))},
                        {"revert_error", f.revert_error()}});
    }
    Json tags = Json::object();
    for (auto& [k, v] : a.tags) tags[k] = v;
    hosts.push_back({{"id", a.id},
                     {"live", a.live},
                     {"version", a.version},
                     {"peer", a.peer},
                     {"last_seen", millis(a.last_seen)},
                     {"lost_reason", a.lost_reason},
                     {"tags", std::move(tags)},
                     {"faults", std::move(faults)}});
  }
  auto halt = ctx.fleet.halt_state();
  Json out = {{"now", millis(now)},
              {"total", total},
              {"live", live},
              {"faulted", faulted},
              {"halted", halt.halted},
              {"halt_reason", halt.reason},
              {"halted_by", halt.by}};
  Json list = Json::array();
  for (auto& [dc, racks] : dcs) {
    Json rl = Json::array();
    for (auto& [name, r] : racks) {
      rl.push_back({{"rack", name},
                    {"hosts", r.hosts},
                    {"live", r.live},
                    {"faulted", r.faulted},
                    {"faults", r.faults},
                    {"soonest_expiry", r.soonest_expiry}});
    }
    list.push_back({{"dc", dc}, {"racks", std::move(rl)}});
  }
  out["dcs"] = std::move(list);
  if (one_rack) out["hosts"] = std::move(hosts);
  return out.dump();
}

Result<std::string> runs_json(ApiContext& ctx, const RunsQuery& q) {
  FD_ASSIGN(runs, ctx.runs.list(0), "runs");
  Json list = Json::array();
  for (auto& r : runs) {
    bool done = r.phase() == v1::RUN_PHASE_DONE;
    if (q.phase == "done" && !done) continue;
    if (q.phase == "active" && (done || r.phase() == v1::RUN_PHASE_PENDING_APPROVAL)) continue;
    if (q.phase == "waiting" && r.phase() != v1::RUN_PHASE_PENDING_APPROVAL) continue;
    auto outcome = lower_suffix(v1::RunOutcome_Name(r.outcome()), "RUN_OUTCOME_");
    if (!q.outcome.empty() && outcome != q.outcome) continue;
    if (!q.text.empty() && r.id().find(q.text) == std::string::npos &&
        r.experiment().name().find(q.text) == std::string::npos && r.started_by().find(q.text) == std::string::npos) {
      continue;
    }
    list.push_back({{"id", r.id()},
                    {"name", r.experiment().name()},
                    {"kind", r.kind()},
                    {"environment", r.experiment().environment()},
                    {"phase", lower_suffix(v1::RunPhase_Name(r.phase()), "RUN_PHASE_")},
                    {"outcome", outcome},
                    {"reason", r.reason()},
                    {"started_by", r.started_by()},
                    {"created", r.has_created_at() ? millis(from_proto(r.created_at())) : 0},
                    {"ended", r.has_ended_at() ? millis(from_proto(r.ended_at())) : 0}});
    if (list.size() >= q.limit) break;
  }
  return Json{{"runs", std::move(list)}}.dump();
}

Result<std::string> run_json(ApiContext& ctx, const std::string& id, bool with_samples) {
  FD_ASSIGN(run, ctx.runs.get(id, with_samples), "run {}", id);
  if (!with_samples) run.clear_samples();
  run.clear_experiment_yaml();
  return proto_json(run);
}

Result<std::string> report_html(const ApiContext& ctx, const std::string& id) {
  if (!ctx.evidence) return make_error("the controller has no evidence log (see its start log)");
  auto& ev = *ctx.evidence;
  FD_ASSIGN(doc, evidence::build_document(ev.store, id, ev.key, WallClock::now(),
                                          std::string("firedrill ") + FIREDRILL_VERSION),
            "report of run {}", id);
  return evidence::render_html(doc);
}

Result<std::string> report_check_json(const ApiContext& ctx, const std::string& id) {
  FD_ASSIGN(html, report_html(ctx, id), "run {}", id);
  // The page as served is checked as an auditor would check the file: against the
  // controller's key, pinned.
  const auto& key = ctx.evidence->key.public_key();
  auto v = evidence::verify_report_text(html, evidence::Pinned(&key), "report of run " + id);
  Json issues = Json::array();
  for (auto& i : v.issues) issues.push_back({{"problem", std::string(evidence::to_string(i.problem))}, {"message", i.message}});
  return Json{{"run", id},
              {"verified", v.verified()},
              {"ok", v.ok()},
              {"pinned", v.pinned},
              {"signer", v.signer},
              {"key", ctx.evidence->key.fingerprint()},
              {"events", v.events},
              {"head", v.head},
              {"checked", v.checked},
              {"skipped", v.skipped},
              {"issues", std::move(issues)},
              {"bytes", html.size()}}
      .dump();
}

Result<std::string> schedules_json(ApiContext& ctx) {
  FD_ASSIGN(rows, ctx.store.schedules(), "schedules");
  Json list = Json::array();
  for (auto& s : rows) {
    list.push_back({{"id", s.id()},
                    {"name", s.experiment().name()},
                    {"cron", s.experiment().schedule().cron()},
                    {"time_zone", s.experiment().schedule().time_zone()},
                    {"paused", s.paused()},
                    {"created_by", s.created_by()},
                    {"next_due", s.has_next_due() ? millis(from_proto(s.next_due())) : 0},
                    {"last_due", s.has_last_due() ? millis(from_proto(s.last_due())) : 0},
                    {"last_run", s.last_run_id()}});
  }
  return Json{{"schedules", std::move(list)}}.dump();
}

Result<std::string> findings_json(const ApiContext& ctx, const FindingsQuery& q, WallTime now) {
  if (q.state != "" && q.state != "open" && q.state != "overdue" && q.state != "closed") {
    return make_error("state '{}': expected open, overdue or closed", q.state);
  }
  if (!ctx.evidence) return make_error("the controller has no evidence log (see its start log)");
  evidence::FindingBook book(ctx.evidence->store, nullptr);
  FD_ASSIGN(all, book.all(), "findings");
  std::string today = format_utc(now).substr(0, 10);  // YYYY-MM-DD, as due dates are
  auto rank = [](const std::string& severity) {
    for (int i = 0; const char* s : {"critical", "high", "medium", "low"}) {
      if (severity == s) return i;
      ++i;
    }
    return 4;
  };
  std::stable_sort(all.begin(), all.end(), [&](const auto& a, const auto& b) {
    return std::tuple(a.status != "open", rank(a.severity), a.due) < std::tuple(b.status != "open", rank(b.severity), b.due);
  });
  size_t open = 0, overdue = 0, closed = 0;
  Json list = Json::array();
  for (auto& f : all) {
    std::string state = f.status != "open" ? "closed" : f.due < today ? "overdue" : "open";
    open += f.status == "open";
    overdue += state == "overdue";
    closed += state == "closed";
    if (!q.state.empty() && state != q.state && !(q.state == "open" && state == "overdue")) continue;
    list.push_back({{"id", f.id},
                    {"rev", f.rev},
                    {"state", state},
                    {"severity", f.severity},
                    {"title", f.title},
                    {"description", f.description},
                    {"owner", f.owner},
                    {"due", f.due},
                    {"run", f.run},
                    {"at", f.at},
                    {"by", f.by},
                    {"retest_run", f.retest_run},
                    {"retest_verdict", f.retest_verdict},
                    {"note", f.note}});
  }
  return Json{{"findings", std::move(list)}, {"open", open}, {"overdue", overdue}, {"closed", closed}, {"today", today}}
      .dump();
}

}  // namespace firedrill::controller::web
