#include "controller/api/run_service.h"

#include <thread>

#include "common/log.h"
#include "controller/runner/run_recorder.h"
#include "controller/experiment/loader.h"
#include "controller/runner/fleet_adapter.h"
#include "controller/runner/run_ids.h"
#include "controller/runner/run_manager.h"
#include "controller/session/fleet.h"
#include "firedrill/v1/run.grpc.pb.h"

namespace firedrill::runner {

namespace {

std::optional<WallTime> time_of(bool has, const google::protobuf::Timestamp& t) {
  if (!has) return std::nullopt;
  return from_proto(t);
}

std::string store_status(v1::RunOutcome o) {
  switch (o) {
    case v1::RUN_OUTCOME_PASSED:
    case v1::RUN_OUTCOME_FAILED: return controller::kRunCompleted;
    case v1::RUN_OUTCOME_REFUSED: return controller::kRunRefused;
    default: return controller::kRunAborted;
  }
}

grpc::Status invalid(const experiment::LoadedExperiment& file) {
  std::string msg;
  for (const auto& d : file.diagnostics) msg += d.to_string() + "\n";
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, msg);
}

class RunServiceImpl final : public v1::RunService::Service {
 public:
  explicit RunServiceImpl(controller::ApiContext& ctx) : ctx_(ctx), fleet_(ctx.fleet) {
    RunManagerConfig config;
    config.runs_dir = ctx.state_dir + "/runs";
    config.schedules_dir = ctx.state_dir + "/schedules";
    config.new_run_id = [] { return make_run_id(); };
    controller::Store* store = &ctx.store;
    // Every run keeps a signed evidence log; without one a run still runs, and says so.
    auto evidence = evidence::ControllerEvidence::open(ctx.state_dir);
    if (evidence) {
      evidence_ = std::move(*evidence);
    } else {
      logger("controller.runner")->error("evidence unavailable, runs will have no signed log: {}",
                                         evidence.error().describe());
    }
    evidence::RunRecorder* recorder = evidence_ ? evidence_->recorder.get() : nullptr;
    auto observers = [store, recorder](const v1::RunRecord&, bool) {
      std::vector<std::unique_ptr<RunObserver>> out;
      out.push_back(std::make_unique<StoreMirror>(*store));
      if (recorder) out.push_back(recorder->for_run());
      return out;
    };
    manager_ = std::make_unique<RunManager>(config, &clock_, &fleet_, observers);
    if (auto r = manager_->start(); !r) {
      logger("controller.runner")->error("experiment runs are unavailable: {}", r.error().describe());
      start_error_ = r.error().describe();
    }
  }
  ~RunServiceImpl() override { manager_->stop("the controller is shutting down"); }

  grpc::Status StartRun(grpc::ServerContext*, const v1::StartRunRequest* req, v1::StartRunResponse* resp) override {
    if (!start_error_.empty()) return grpc::Status(grpc::StatusCode::UNAVAILABLE, start_error_);
    auto file = experiment::parse_experiment(req->experiment_yaml(),
                                             req->experiment_file().empty() ? "experiment.yaml" : req->experiment_file());
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
    auto id = manager_->start_run(file, req->started_by(), participants);
    if (!id) {
      resp->set_error(id.error().describe());
      return grpc::Status::OK;
    }
    resp->set_run_id(*id);
    return grpc::Status::OK;
  }

  grpc::Status WatchRun(grpc::ServerContext* ctx, const v1::WatchRunRequest* req,
                        grpc::ServerWriter<v1::RunUpdate>* writer) override {
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

  grpc::Status GetRun(grpc::ServerContext*, const v1::GetRunRequest* req, v1::RunRecord* resp) override {
    auto r = manager_->get(req->run_id(), req->with_samples());
    if (!r) return grpc::Status(grpc::StatusCode::NOT_FOUND, r.error().describe());
    *resp = std::move(*r);
    return grpc::Status::OK;
  }

  grpc::Status ListExperimentRuns(grpc::ServerContext*, const v1::ListExperimentRunsRequest* req,
                                  v1::ListExperimentRunsResponse* resp) override {
    auto all = manager_->list(req->limit() ? req->limit() : 50);
    if (!all) return grpc::Status(grpc::StatusCode::INTERNAL, all.error().describe());
    for (auto& r : *all) *resp->add_runs() = std::move(r);
    return grpc::Status::OK;
  }

  grpc::Status Approve(grpc::ServerContext*, const v1::ApproveRequest* req, v1::ApproveResponse* resp) override {
    *resp = manager_->approve(req->run_id(), req->approver(), req->comment(), req->reject());
    return grpc::Status::OK;
  }

  grpc::Status AbortRun(grpc::ServerContext*, const v1::AbortRunRequest* req, v1::AbortRunResponse* resp) override {
    auto r = manager_->abort(req->run_id(), req->reason(), req->requested_by().empty() ? "operator" : req->requested_by());
    if (!r) resp->set_error(r.error().describe());
    return grpc::Status::OK;
  }

  grpc::Status AddSchedule(grpc::ServerContext*, const v1::AddScheduleRequest* req, v1::ScheduleRecord* resp) override {
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
    draft.set_created_by(req->created_by());
    auto r = manager_->schedules().add(draft, clock_.now());
    if (!r) return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, r.error().describe());
    *resp = *r;
    return grpc::Status::OK;
  }

  grpc::Status ListSchedules(grpc::ServerContext*, const v1::ListSchedulesRequest*, v1::ListSchedulesResponse* resp) override {
    for (auto& s : manager_->schedules().list()) *resp->add_schedules() = std::move(s);
    return grpc::Status::OK;
  }

  grpc::Status PauseSchedule(grpc::ServerContext*, const v1::ScheduleIdRequest* req, v1::ScheduleRecord* resp) override {
    return reply(manager_->schedules().pause(req->id(), clock_.now()), resp);
  }
  grpc::Status ResumeSchedule(grpc::ServerContext*, const v1::ScheduleIdRequest* req, v1::ScheduleRecord* resp) override {
    return reply(manager_->schedules().resume(req->id(), clock_.now()), resp);
  }
  grpc::Status RemoveSchedule(grpc::ServerContext*, const v1::ScheduleIdRequest* req, v1::ScheduleRecord* resp) override {
    return reply(manager_->schedules().remove(req->id()), resp);
  }

 private:
  static grpc::Status reply(Result<v1::ScheduleRecord> r, v1::ScheduleRecord* resp) {
    if (!r) return grpc::Status(grpc::StatusCode::NOT_FOUND, r.error().describe());
    *resp = std::move(*r);
    return grpc::Status::OK;
  }

  controller::ApiContext& ctx_;
  std::unique_ptr<evidence::ControllerEvidence> evidence_;  // outlives the manager's runs
  SystemClock clock_;
  FleetAdapter fleet_;
  std::unique_ptr<RunManager> manager_;
  std::string start_error_;
};

}  // namespace

void StoreMirror::ensure(const v1::RunRecord& run) {
  if (created_) return;
  controller::RunRow row;
  row.id = run.id();
  row.kind = "experiment";
  row.status = controller::kRunActive;
  row.state = phase_name(run.phase());
  row.description = run.experiment().name() +
                    (run.experiment().description().empty() ? "" : ": " + run.experiment().description());
  row.requested_by = run.started_by();
  row.spec = run.experiment_file();
  row.created_at = from_proto(run.created_at());
  if (auto r = store_.create_run(row); !r) {
    logger("controller.runner")->warn("run {}: store: {}", run.id(), r.error().describe());
  }
  created_ = true;
}

void StoreMirror::on_phase(const v1::RunRecord& run, const std::string&) {
  if (run.phase() == v1::RUN_PHASE_PENDING_APPROVAL || run.phase() == v1::RUN_PHASE_DONE) return;
  if (!created_) {
    ensure(run);
    return;
  }
  if (auto r = store_.set_run_state(run.id(), phase_name(run.phase())); !r) {
    logger("controller.runner")->warn("run {}: store: {}", run.id(), r.error().describe());
  }
}

void StoreMirror::on_fault(const v1::RunRecord& run, const v1::FaultRecord& f, bool) {
  ensure(run);
  controller::TargetRow row;
  row.run_id = run.id();
  row.agent_id = f.agent_id();
  row.fault_id = f.fault_id();
  row.status = f.status();
  row.error = f.error();
  row.acked_at = time_of(f.has_acked_at(), f.acked_at());
  row.effective_at = time_of(f.has_effective_at(), f.effective_at());
  row.reverted_at = time_of(f.has_reverted_at(), f.reverted_at());
  if (auto r = store_.put_targets({row}); !r) logger("controller.runner")->warn("run {}: store: {}", run.id(), r.error().describe());
}

void StoreMirror::on_verdict(const v1::RunRecord& run) {
  ensure(run);
  std::string reason = fmt::format("{}: {}", outcome_name(run.outcome()), run.reason());
  if (auto r = store_.end_run(run.id(), store_status(run.outcome()), reason,
                              run.has_ended_at() ? from_proto(run.ended_at()) : WallClock::now());
      !r) {
    logger("controller.runner")->warn("run {}: store: {}", run.id(), r.error().describe());
  }
}

std::unique_ptr<grpc::Service> make_run_service(controller::ApiContext& context) {
  return std::make_unique<RunServiceImpl>(context);
}

}  // namespace firedrill::runner
