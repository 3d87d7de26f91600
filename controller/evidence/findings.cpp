#include "controller/evidence/findings.h"

#include <ctime>

#include "controller/evidence/chain.h"
#include "controller/evidence/evidence_log.h"

namespace firedrill::evidence {

void to_json(Json& j, const FindingRecord& r) {
  j = Json{{"type", kFindingType},
           {"v", kEnvelopeVersion},
           {"id", r.id},
           {"rev", r.rev},
           {"prev", r.prev},
           {"run", r.run},
           {"run_head", r.run_head},
           {"run_events", r.run_events},
           {"at", r.at},
           {"by", r.by},
           {"severity", r.severity},
           {"owner", r.owner},
           {"due", r.due},
           {"title", r.title},
           {"description", r.description},
           {"status", r.status},
           {"retest_run", r.retest_run},
           {"retest_head", r.retest_head},
           {"retest_verdict", r.retest_verdict},
           {"note", r.note},
           {"key", r.key}};
}

Result<FindingRecord> finding_from_json(const Json& j) {
  try {
    if (!j.is_object() || j.value("type", "") != kFindingType) return make_error("not a finding record");
    FindingRecord r;
    r.id = j.at("id").get<std::string>();
    r.rev = j.at("rev").get<int64_t>();
    r.prev = j.at("prev").get<std::string>();
    r.run = j.at("run").get<std::string>();
    r.run_head = j.at("run_head").get<std::string>();
    r.run_events = j.at("run_events").get<int64_t>();
    r.at = j.at("at").get<std::string>();
    r.by = j.at("by").get<std::string>();
    r.severity = j.at("severity").get<std::string>();
    r.owner = j.at("owner").get<std::string>();
    r.due = j.at("due").get<std::string>();
    r.title = j.at("title").get<std::string>();
    r.description = j.at("description").get<std::string>();
    r.status = j.at("status").get<std::string>();
    r.retest_run = j.at("retest_run").get<std::string>();
    r.retest_head = j.at("retest_head").get<std::string>();
    r.retest_verdict = j.at("retest_verdict").get<std::string>();
    r.note = j.at("note").get<std::string>();
    r.key = j.at("key").get<std::string>();
    return r;
  } catch (const std::exception& e) {
    return make_error("finding record: {}", e.what());
  }
}

Result<void> check_severity(std::string_view s) {
  if (s == "low" || s == "medium" || s == "high" || s == "critical") return ok();
  return make_error("severity '{}' is not one of low, medium, high, critical", s);
}

Result<void> check_due_date(std::string_view due) {
  auto bad = [&] { return make_error("due date '{}' is not a date YYYY-MM-DD", due); };
  if (due.size() != 10 || due[4] != '-' || due[7] != '-') return bad();
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9}) {
    if (!std::isdigit(static_cast<unsigned char>(due[i]))) return bad();
  }
  std::tm tm{};
  tm.tm_year = std::stoi(std::string(due.substr(0, 4))) - 1900;
  tm.tm_mon = std::stoi(std::string(due.substr(5, 2))) - 1;
  tm.tm_mday = std::stoi(std::string(due.substr(8, 2)));
  tm.tm_hour = 12;
  std::tm norm = tm;
  std::time_t t = timegm(&norm);
  std::tm back{};
  gmtime_r(&t, &back);
  if (back.tm_year != tm.tm_year || back.tm_mon != tm.tm_mon || back.tm_mday != tm.tm_mday) {
    return make_error("due date '{}' does not exist in the calendar", due);
  }
  return ok();
}

FindingBook::FindingBook(controller::EvidenceRecords& store, const SigningKey* key, Clock clock)
    : store_(store), key_(key), clock_(std::move(clock)) {
  if (!clock_) clock_ = [] { return WallClock::now(); };
}

Result<FindingRecord> FindingBook::append(FindingRecord r) {
  if (!key_) return make_error("finding {}: no evidence key to sign it with", r.id);
  r.key = key_->fingerprint();
  Json j = r;
  FD_ASSIGN(body, canonical(j), "finding {}", r.id);
  FD_ASSIGN(sig, key_->sign(body), "sign finding {}", r.id);
  FD_TRY(store_.put_public_key(key_->fingerprint(), key_->public_key().pem()), "finding {}", r.id);
  controller::StoredFinding stored{r.id, r.rev, r.run, r.retest_run, body, sha256_hex(body), base64_encode(sig),
                       key_->fingerprint()};
  FD_TRY(store_.append_finding(stored), "record finding {}", r.id);
  return r;
}

Result<FindingRecord> FindingBook::add(const NewFinding& f) {
  FD_TRY(check_severity(f.severity), "finding add");
  FD_TRY(check_due_date(f.due), "finding add");
  if (f.owner.empty()) return make_error("finding add: --owner is required (who fixes it)");
  FD_ASSIGN(last, store_.last_evidence_event(f.run_id), "finding add");
  if (!last) return make_error("finding add: run '{}' has no evidence", f.run_id);
  FindingRecord r;
  r.rev = 1;
  r.prev = kZeroHash;
  r.run = f.run_id;
  r.run_head = last->hash;
  r.run_events = last->seq;
  r.at = format_time(clock_());
  r.by = f.by;
  r.severity = f.severity;
  r.owner = f.owner;
  r.due = f.due;
  r.title = f.title.empty() ? "(untitled)" : f.title;
  r.description = f.description;
  r.status = "open";
  // Numbered by the controller in the order they are opened: the count and the insert
  // in one transaction, so that two adds never take the same number.
  FindingRecord stored;
  FD_TRY(store_.transaction([&]() -> Result<void> {
    FD_ASSIGN(ids, store_.all_findings(), "finding add");
    r.id = fmt::format("F-{:04d}", ids.size() + 1);
    FD_ASSIGN(out, append(r), "finding add");
    stored = std::move(out);
    return ok();
  }), "finding add");
  return stored;
}

Result<FindingRecord> FindingBook::latest(std::string_view finding_id) {
  FD_ASSIGN(revs, store_.finding_revisions(finding_id), "finding {}", finding_id);
  if (revs.empty()) return make_error("finding '{}' does not exist", finding_id);
  FD_ASSIGN(j, parse_json(revs.back().body, fmt::format("finding {}", finding_id)), "read finding");
  return finding_from_json(j);
}

Result<FindingRecord> FindingBook::close(std::string_view finding_id, std::string_view retest_run,
                                         std::string_view note, std::string_view by) {
  FD_ASSIGN(revs, store_.finding_revisions(finding_id), "finding close");
  if (revs.empty()) return make_error("finding close: finding '{}' does not exist", finding_id);
  FD_ASSIGN(j, parse_json(revs.back().body, fmt::format("finding {}", finding_id)), "finding close");
  FD_ASSIGN(r, finding_from_json(j), "finding close {}", finding_id);
  if (r.status == "closed") {
    return make_error("finding close: {} is already closed (retested by run {})", finding_id, r.retest_run);
  }
  if (retest_run.empty()) return make_error("finding close {}: --retest RUN is required", finding_id);
  if (retest_run == r.run) {
    return make_error("finding close {}: the retest must be a later run, not run {} where it was found", finding_id,
                      r.run);
  }
  // The retest's log must verify, be a run of the same experiment (name and file),
  // and have started after the finding was opened: any passing run proves nothing.
  FD_ASSIGN(retest, read_verified_log(store_, retest_run), "finding close {}: retest", finding_id);
  FD_ASSIGN(found, store_.evidence_events(r.run), "finding close {}", finding_id);
  if (found.empty()) return make_error("finding close {}: run {} where it was found has no evidence", finding_id, r.run);
  FD_ASSIGN(was, parse_json(found.front().body, "run_created event"), "finding close {}", finding_id);
  FD_ASSIGN(now, parse_json(retest.front().body, "run_created event"), "finding close {}", finding_id);
  auto field = [](const Json& ev, const char* name) {
    const Json& d = ev.contains("data") && ev["data"].is_object() ? ev["data"] : Json::object();
    return d.contains(name) && d[name].is_string() ? d[name].get<std::string>() : std::string();
  };
  if (field(was, "experiment_name") != field(now, "experiment_name")) {
    return make_error("finding close {}: retest run '{}' ran experiment '{}', the finding was found by '{}'",
                      finding_id, retest_run, field(now, "experiment_name"), field(was, "experiment_name"));
  }
  if (field(was, "experiment_sha256") != field(now, "experiment_sha256")) {
    return make_error("finding close {}: retest run '{}' ran another file of experiment '{}' (sha256 {}, the finding "
                      "was found with {})",
                      finding_id, retest_run, field(now, "experiment_name"), field(now, "experiment_sha256"),
                      field(was, "experiment_sha256"));
  }
  FD_ASSIGN(opened, parse_json(revs.front().body, "finding"), "finding close {}", finding_id);
  std::string opened_at = opened.value("at", "");
  if (retest.front().recorded_at <= opened_at) {
    return make_error("finding close {}: retest run '{}' started at {}, before the finding was opened at {}",
                      finding_id, retest_run, retest.front().recorded_at, opened_at);
  }
  const controller::StoredEvent* last = &retest.back();
  if (last->kind != "verdict") {
    return make_error("finding close {}: retest run '{}' has no verdict yet", finding_id, retest_run);
  }
  FD_ASSIGN(vj, parse_json(last->body, "verdict event"), "finding close {}", finding_id);
  std::string outcome = vj["data"].value("outcome", "");
  if (outcome != "pass") {
    return make_error("finding close {}: retest run '{}' did not pass (verdict: {})", finding_id, retest_run, outcome);
  }
  r.prev = revs.back().hash;
  r.rev = revs.back().rev + 1;
  r.at = format_time(clock_());
  r.by = std::string(by);
  r.status = "closed";
  r.retest_run = std::string(retest_run);
  r.retest_head = last->hash;
  r.retest_verdict = outcome;
  r.note = std::string(note);
  return append(std::move(r));
}

Result<std::vector<FindingRecord>> FindingBook::of_run(std::string_view run_id) {
  FD_ASSIGN(ids, store_.findings_of_run(run_id), "findings of run {}", run_id);
  std::vector<FindingRecord> out;
  for (auto& id : ids) {
    FD_ASSIGN(r, latest(id), "findings of run {}", run_id);
    out.push_back(std::move(r));
  }
  return out;
}

Result<std::vector<FindingRecord>> FindingBook::all() {
  FD_ASSIGN(ids, store_.all_findings(), "findings");
  std::vector<FindingRecord> out;
  for (auto& id : ids) {
    FD_ASSIGN(r, latest(id), "findings");
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace firedrill::evidence
