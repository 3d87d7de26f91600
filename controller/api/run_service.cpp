// RunService (run.proto): experiment runs and schedules, over the daemon's RunManager.
#include <thread>

#include "controller/api/services.h"
#include "controller/experiment/loader.h"
#include "controller/runner/clock.h"
#include "controller/runner/run_manager.h"
#include "firedrill/v1/run.grpc.pb.h"

namespace firedrill::runner {

namespace {

grpc::Status invalid(const experiment::LoadedExperiment& file) {
  std::string msg;
  for (const auto& d : file.diagnostics) msg += d.to_string() + "\n";
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, msg);
}

class RunServiceImpl final : public v1::RunService::Service {
 public:
  explicit RunServiceImpl(controller::ApiContext& ctx) : ctx_(ctx), manager_(&ctx.runs) {}

  grpc::Status StartRun(grpc::ServerContext* call, const v1::StartRunRequest* req, v1::StartRunResponse* resp) override {
    auth::Caller caller;
    if (auto s = controller::authorize(ctx_, call, auth::Action::kOperate, &caller); !s.ok()) return s;
    experiment::Overrides overrides{{req->set().begin(), req->set().end()}, req->selector()};
    auto file = experiment::parse_experiment(
        req->experiment_yaml(), req->experiment_file().empty() ? "experiment.yaml" : req->experiment_file(), overrides);
    if (!file.ok()) {
      for (const auto& d : file.diagnostics) {
        auto* e = resp->add_errors();
        e->set_file(d.file);
        e->set_line(static_cast<uint32_t>(d.pos.line));
        e->set_column(static_cast<uint32_t>(d.pos.column));
        e->set_field(d.field);
        e->set_message(d.message);
      }
      return grpc::Status::OK;
    }
    std::vector<v1::Participant> participants(req->participants().begin(), req->participants().end());
    if (!req->started_by().empty() && req->started_by() != caller.name) {
      return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                          fmt::format("{} may not start a run as {}: a run is started under the caller's own identity",
                                      caller.describe(), req->started_by()));
    }
    // The run is started by whoever is on the other end of the connection.
    auto id = manager_->start_run(file, caller.name, participants);
    if (!id) {
      resp->set_error(id.error().describe());
      return grpc::Status::OK;
    }
    resp->set_run_id(*id);
    return grpc::Status::OK;
  }

  grpc::Status WatchRun(grpc::ServerContext* ctx, const v1::WatchRunRequest* req,
                        grpc::ServerWriter<v1::RunUpdate>* writer) override {
    if (auto s = controller::authorize(ctx_, ctx, auth::Action::kRead); !s.ok()) return s;
    auto run = manager_->live(req->run_id());
    if (!run) {
      auto r = manager_->get(req->run_id(), false);
      if (!r) return grpc::Status(grpc::StatusCode::NOT_FOUND, r.error().describe());
      v1::RunUpdate u;
      *u.mutable_run() = *r;
      writer->Write(u);
      return grpc::Status::OK;
    }
    uint64_t version = 0;
    while (!ctx->IsCancelled()) {
      v1::RunUpdate u = run->update();
      if (!writer->Write(u)) break;
      if (u.run().phase() == v1::RUN_PHASE_DONE) break;
      // At most four updates a second, and at least one (the elapsed time moves).
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
      version = run->wait_change(version, std::chrono::milliseconds(750));
    }
    return grpc::Status::OK;
  }

  grpc::Status GetRun(grpc::ServerContext* call, const v1::GetRunRequest* req, v1::RunRecord* resp) override {
    if (auto s = controller::authorize(ctx_, call, auth::Action::kRead); !s.ok()) return s;
    auto r = manager_->get(req->run_id(), req->with_samples());
    if (!r) return grpc::Status(grpc::StatusCode::NOT_FOUND, r.error().describe());
    *resp = std::move(*r);
    return grpc::Status::OK;
  }

  grpc::Status ListExperimentRuns(grpc::ServerContext* call, const v1::ListExperimentRunsRequest* req,
                                  v1::ListExperimentRunsResponse* resp) override {
    if (auto s = controller::authorize(ctx_, call, auth::Action::kRead); !s.ok()) return s;
    auto all = manager_->list(req->limit() ? req->limit() : 50);
    if (!all) return grpc::Status(grpc::StatusCode::INTERNAL, all.error().describe());
    for (auto& r : *all) *resp->add_runs() = std::move(r);
    return grpc::Status::OK;
  }

  // Approvals are recorded under the caller's own identity: a request naming someone
  // else is refused, as is the run's submitter and anyone outside the environment's policy.
  grpc::Status Approve(grpc::ServerContext* call, const v1::ApproveRequest* req, v1::ApproveResponse* resp) override {
    auth::Caller caller;
    if (auto s = controller::authorize(ctx_, call, auth::Action::kApprove, &caller); !s.ok()) return s;
    if (!req->approver().empty() && req->approver() != caller.name) {
      return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                          fmt::format("{} may not approve as {}: an approval is recorded under the caller's own identity",
                                      caller.describe(), req->approver()));
    }
    auto run = manager_->get(req->run_id(), false);
    if (!run) return grpc::Status(grpc::StatusCode::NOT_FOUND, run.error().describe());
    if (auto may = ctx_.access.may_approve(caller, run->experiment().environment(), run->started_by()); !may) {
      return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, may.error().message);
    }
    *resp = manager_->approve(req->run_id(), caller.name, req->comment(), req->reject());
    resp->set_approver(caller.name);
    return grpc::Status::OK;
  }

  grpc::Status AbortRun(grpc::ServerContext* call, const v1::AbortRunRequest* req, v1::AbortRunResponse* resp) override {
    auth::Caller caller;
    if (auto s = controller::authorize(ctx_, call, auth::Action::kOperate, &caller); !s.ok()) return s;
    auto r = manager_->abort(req->run_id(), req->reason(), caller.name);
    if (!r) resp->set_error(r.error().describe());
    return grpc::Status::OK;
  }

  grpc::Status AddSchedule(grpc::ServerContext* call, const v1::AddScheduleRequest* req, v1::ScheduleRecord* resp) override {
    auth::Caller caller;
    if (auto s = controller::authorize(ctx_, call, auth::Action::kAdmin, &caller); !s.ok()) return s;
    auto file = experiment::parse_experiment(req->experiment_yaml(), req->experiment_file());
    if (!file.ok()) return invalid(file);
    if (!file.experiment.has_schedule()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          fmt::format("{}: the experiment has no schedule (add schedule: {{cron: ...}})", file.file));
    }
    v1::ScheduleRecord draft;
    draft.set_experiment_file(file.file);
    draft.set_experiment_yaml(file.text);
    draft.set_experiment_sha256(file.sha256);
    *draft.mutable_experiment() = file.experiment;
    draft.set_created_by(caller.name);
    auto r = manager_->schedules().add(draft, clock_.now());
    if (!r) return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, r.error().describe());
    *resp = *r;
    return grpc::Status::OK;
  }

  grpc::Status ListSchedules(grpc::ServerContext* call, const v1::ListSchedulesRequest*, v1::ListSchedulesResponse* resp) override {
    if (auto s = controller::authorize(ctx_, call, auth::Action::kRead); !s.ok()) return s;
    if (ctx_.follower) {
      // A follower's run manager never opens the schedules (no scheduler runs there):
      // the leader's, as the database holds them.
      auto stored = ctx_.store.schedules();
      if (!stored) return grpc::Status(grpc::StatusCode::UNAVAILABLE, stored.error().describe());
      for (auto& s : *stored) *resp->add_schedules() = std::move(s);
      return grpc::Status::OK;
    }
    for (auto& s : manager_->schedules().list()) *resp->add_schedules() = std::move(s);
    return grpc::Status::OK;
  }

  grpc::Status PauseSchedule(grpc::ServerContext* call, const v1::ScheduleIdRequest* req, v1::ScheduleRecord* resp) override {
    if (auto s = controller::authorize(ctx_, call, auth::Action::kAdmin); !s.ok()) return s;
    return reply(manager_->schedules().pause(req->id(), clock_.now()), resp);
  }
  grpc::Status ResumeSchedule(grpc::ServerContext* call, const v1::ScheduleIdRequest* req, v1::ScheduleRecord* resp) override {
    if (auto s = controller::authorize(ctx_, call, auth::Action::kAdmin); !s.ok()) return s;
    return reply(manager_->schedules().resume(req->id(), clock_.now()), resp);
  }
  grpc::Status RemoveSchedule(grpc::ServerContext* call, const v1::ScheduleIdRequest* req, v1::ScheduleRecord* resp) override {
    if (auto s = controller::authorize(ctx_, call, auth::Action::kAdmin); !s.ok()) return s;
    return reply(manager_->schedules().remove(req->id()), resp);
  }

 private:
  static grpc::Status reply(Result<v1::ScheduleRecord> r, v1::ScheduleRecord* resp) {
    if (!r) return grpc::Status(grpc::StatusCode::NOT_FOUND, r.error().describe());
    *resp = std::move(*r);
    return grpc::Status::OK;
  }

  controller::ApiContext& ctx_;
  RunManager* manager_;
  SystemClock clock_;
};

}  // namespace

}  // namespace firedrill::runner

namespace firedrill::controller {

std::unique_ptr<grpc::Service> make_run_service(ApiContext& context) {
  return std::make_unique<runner::RunServiceImpl>(context);
}

}  // namespace firedrill::controller
