// EvidenceService (evidence.proto): reports, the evidence key and findings, over the
// daemon's evidence (its store and key). Reports are rendered and sealed here, so a
// client needs neither the state directory nor the key.
#include <map>

#include "controller/evidence/document.h"
#include "controller/evidence/findings.h"
#include "controller/evidence/html_report.h"
#include "controller/api/services.h"
#include "controller/runner/run_recorder.h"
#include "firedrill/v1/evidence.grpc.pb.h"

namespace firedrill::controller {
namespace {

grpc::Status failed(const Error& e) { return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, e.describe()); }
grpc::Status invalid(const Error& e) { return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, e.describe()); }

void fill(const evidence::FindingRecord& r, v1::Finding* o) {
  o->set_id(r.id);
  o->set_rev(r.rev);
  o->set_run_id(r.run);
  o->set_status(r.status);
  o->set_severity(r.severity);
  o->set_owner(r.owner);
  o->set_due(r.due);
  o->set_title(r.title);
  o->set_description(r.description);
  o->set_by(r.by);
  o->set_at(r.at);
  o->set_retest_run(r.retest_run);
  o->set_retest_verdict(r.retest_verdict);
  o->set_note(r.note);
  o->set_key_fingerprint(r.key);
}

class EvidenceServiceImpl final : public v1::EvidenceService::Service {
 public:
  explicit EvidenceServiceImpl(ApiContext& ctx) : ctx_(ctx) {}

  grpc::Status ListReports(grpc::ServerContext* call, const v1::ListReportsRequest*, v1::ListReportsResponse* resp) override {
    if (auto s = authorize(ctx_, call, auth::Action::kRead); !s.ok()) return s;
    auto* ev = evidence();
    if (!ev) return unavailable();
    auto runs = ev->store.evidence_runs();
    if (!runs) return failed(runs.error());
    for (auto& id : *runs) {
      auto last = ev->store.last_evidence_event(id);
      if (!last) return failed(last.error());
      if (!*last) continue;
      auto* o = resp->add_reports();
      o->set_run_id(id);
      o->set_events((*last)->seq);
      o->set_last_kind((*last)->kind);
      o->set_last_recorded_at((*last)->recorded_at);
    }
    return grpc::Status::OK;
  }

  grpc::Status GetReport(grpc::ServerContext* call, const v1::GetReportRequest* req, v1::GetReportResponse* resp) override {
    if (auto s = authorize(ctx_, call, auth::Action::kRead); !s.ok()) return s;
    auto* ev = evidence();
    if (!ev) return unavailable();
    auto doc = evidence::build_document(ev->store, req->run_id(), ev->key, WallClock::now(),
                                        std::string("firedrill ") + FIREDRILL_VERSION);
    if (!doc) return grpc::Status(grpc::StatusCode::NOT_FOUND, doc.error().describe());
    if (req->format() == v1::REPORT_FORMAT_JSON) {
      resp->set_document(evidence::render_json(*doc));
    } else {
      auto html = evidence::render_html(*doc);
      if (!html) return failed(html.error());
      resp->set_document(std::move(*html));
    }
    const auto& statement = (*doc)["evidence"]["seal"]["statement"];
    resp->set_head(statement.value("head", ""));
    resp->set_events(statement.value("events", int64_t{0}));
    resp->set_key_fingerprint(ev->key.fingerprint());
    return grpc::Status::OK;
  }

  grpc::Status GetEvidenceKey(grpc::ServerContext* call, const v1::GetEvidenceKeyRequest*, v1::EvidenceKey* resp) override {
    if (auto s = authorize(ctx_, call, auth::Action::kRead); !s.ok()) return s;
    auto* ev = evidence();
    if (!ev) return unavailable();
    resp->set_fingerprint(ev->key.fingerprint());
    resp->set_public_pem(ev->key.public_key().pem());
    resp->set_path((std::filesystem::path(ctx_.state_dir) / evidence::kKeyFileName).string());
    return grpc::Status::OK;
  }

  grpc::Status ListEvidenceKeys(grpc::ServerContext* call, const v1::ListEvidenceKeysRequest*,
                                v1::ListEvidenceKeysResponse* resp) override {
    if (auto s = authorize(ctx_, call, auth::Action::kRead); !s.ok()) return s;
    // The keys that signed evidence here, and every registered controller's (a
    // follower that never led has signed nothing yet).
    auto keys = ctx_.store.public_keys();
    if (!keys) return grpc::Status(grpc::StatusCode::INTERNAL, keys.error().describe());
    std::map<std::string, std::string> by_fingerprint(keys->begin(), keys->end());
    auto controllers = ctx_.store.controllers();
    if (!controllers) return grpc::Status(grpc::StatusCode::INTERNAL, controllers.error().describe());
    for (const auto& c : *controllers) {
      auto pub = evidence::PublicKey::from_pem(c.public_key, "controller " + c.id + "'s key");
      if (pub) by_fingerprint.emplace(pub->fingerprint(), c.public_key);
    }
    if (auto* ev = evidence()) by_fingerprint.emplace(ev->key.fingerprint(), ev->key.public_key().pem());
    for (const auto& [fingerprint, pem] : by_fingerprint) {
      auto* k = resp->add_keys();
      k->set_fingerprint(fingerprint);
      k->set_public_pem(pem);
    }
    return grpc::Status::OK;
  }

  grpc::Status AddFinding(grpc::ServerContext* call, const v1::AddFindingRequest* req, v1::Finding* resp) override {
    auth::Caller caller;
    if (auto s = authorize(ctx_, call, auth::Action::kOperate, &caller); !s.ok()) return s;
    auto* ev = evidence();
    if (!ev) return unavailable();
    if (auto r = evidence::check_severity(req->severity()); !r) return invalid(r.error());
    if (auto r = evidence::check_due_date(req->due()); !r) return invalid(r.error());
    if (req->owner().empty()) return invalid(Error{0, "--owner is required (who fixes it)"});
    evidence::FindingBook book(ev->store, &ev->key);
    auto r = book.add(evidence::NewFinding{req->run_id(), req->severity(), req->owner(), req->due(), req->title(),
                                           req->description(), caller.name});
    if (!r) return failed(r.error());
    fill(*r, resp);
    return grpc::Status::OK;
  }

  grpc::Status CloseFinding(grpc::ServerContext* call, const v1::CloseFindingRequest* req, v1::Finding* resp) override {
    auth::Caller caller;
    if (auto s = authorize(ctx_, call, auth::Action::kOperate, &caller); !s.ok()) return s;
    auto* ev = evidence();
    if (!ev) return unavailable();
    evidence::FindingBook book(ev->store, &ev->key);
    auto r = book.close(req->finding_id(), req->retest_run(), req->note(), caller.name);
    if (!r) return failed(r.error());
    fill(*r, resp);
    return grpc::Status::OK;
  }

  grpc::Status ListFindings(grpc::ServerContext* call, const v1::ListFindingsRequest* req,
                            v1::ListFindingsResponse* resp) override {
    if (auto s = authorize(ctx_, call, auth::Action::kRead); !s.ok()) return s;
    auto* ev = evidence();
    if (!ev) return unavailable();
    evidence::FindingBook book(ev->store, nullptr);
    auto list = req->run_id().empty() ? book.all() : book.of_run(req->run_id());
    if (!list) return failed(list.error());
    for (auto& f : *list) fill(f, resp->add_findings());
    return grpc::Status::OK;
  }

 private:
  evidence::ControllerEvidence* evidence() const { return ctx_.evidence; }
  static grpc::Status unavailable() {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        "this controller has no evidence (its key or database could not be opened at start; see its log)");
  }

  ApiContext& ctx_;
};

}  // namespace

std::unique_ptr<grpc::Service> make_evidence_service(ApiContext& context) {
  return std::make_unique<EvidenceServiceImpl>(context);
}

}  // namespace firedrill::controller
