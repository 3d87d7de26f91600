// ControllerService: the verbs of controller.proto over the Fleet and the Store.
#include <fmt/ranges.h>

#include "controller/api/runs.h"
#include "controller/api/services.h"
#include "firedrill/v1/controller.grpc.pb.h"

namespace firedrill::controller {
namespace {

grpc::Status bad(const Error& e) { return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, e.message); }

v1::RunStatus run_status(const std::string& s) {
  if (s == kRunActive) return v1::RUN_STATUS_ACTIVE;
  if (s == kRunCompleted) return v1::RUN_STATUS_COMPLETED;
  if (s == kRunAborted) return v1::RUN_STATUS_ABORTED;
  if (s == kRunRefused) return v1::RUN_STATUS_REFUSED;
  if (s == kRunFailed) return v1::RUN_STATUS_FAILED;
  return v1::RUN_STATUS_UNSPECIFIED;
}

v1::AckStatus ack_status(const std::string& s) {
  if (s == "applied" || s == "reverted") return v1::ACK_APPLIED;
  if (s == "scheduled") return v1::ACK_SCHEDULED;
  if (s == "refused") return v1::ACK_REFUSED;
  if (s == "failed") return v1::ACK_FAILED;
  return v1::ACK_STATUS_UNSPECIFIED;
}

class ControllerServiceImpl final : public v1::ControllerService::Service {
 public:
  explicit ControllerServiceImpl(ApiContext& ctx) : ctx_(ctx) {}

  grpc::Status ListAgents(grpc::ServerContext*, const v1::ListAgentsRequest* req,
                          v1::ListAgentsResponse* resp) override {
    auto sel = Selector::parse(req->selector());
    if (!sel) return bad(sel.error());
    std::set<std::string> known;
    for (auto& a : ctx_.fleet.agents(req->include_lost())) {
      known.insert(a.id);
      if (!sel->matches(a.tags)) continue;
      auto* o = resp->add_agents();
      o->set_id(a.id);
      for (auto& [k, v] : a.tags) (*o->mutable_tags())[k] = v;
      *o->mutable_capabilities() = a.capabilities;
      o->set_version(a.version);
      o->set_live(a.live);
      *o->mutable_connected_at() = to_proto(a.connected_at);
      *o->mutable_last_seen() = to_proto(a.last_seen);
      *o->mutable_clock_offset() = to_proto_duration(a.clock_offset);
      for (auto& f : a.active_faults) *o->add_active_faults() = f;
      o->set_peer(a.peer);
    }
    if (req->include_lost()) {
      // Agents seen by earlier lifetimes of this controller.
      auto rows = ctx_.store.agents();
      if (!rows) return grpc::Status(grpc::StatusCode::INTERNAL, rows.error().message);
      for (auto& r : *rows) {
        if (known.count(r.id) || !sel->matches(r.tags)) continue;
        auto* o = resp->add_agents();
        o->set_id(r.id);
        for (auto& [k, v] : r.tags) (*o->mutable_tags())[k] = v;
        o->mutable_capabilities()->ParseFromString(r.capabilities);
        o->set_version(r.version);
        o->set_live(false);
        *o->mutable_last_seen() = to_proto(r.last_seen);
        o->set_peer(r.peer);
      }
    }
    return grpc::Status::OK;
  }

  grpc::Status Plan(grpc::ServerContext*, const v1::PlanRequest* req, v1::PlanResponse* resp) override {
    auto res = ctx_.fleet.resolve(req->targets());
    if (!res) return bad(res.error());
    for (auto& h : res->matched) resp->add_matched(h);
    for (auto& h : res->targets) resp->add_targets(h);
    resp->set_fleet_size(static_cast<uint32_t>(ctx_.fleet.live_count()));
    *resp->mutable_verdict() = ctx_.fleet.check("", res->targets, req->blast_radius());
    if (req->has_spec() && req->spec().kind_case() != v1::FaultSpec::KIND_NOT_SET) {
      for (auto& i : ctx_.fleet.incapable(res->targets, req->spec())) resp->add_incapable(i);
    }
    return grpc::Status::OK;
  }

  grpc::Status Inject(grpc::ServerContext*, const v1::InjectRequest* req, v1::InjectResponse* resp) override {
    auto r = ctx_.inject_runs.inject(*req);
    if (!r) return bad(r.error());
    *resp = std::move(*r);
    return grpc::Status::OK;
  }

  grpc::Status RevertRun(grpc::ServerContext*, const v1::RevertRunRequest* req, v1::RevertRunResponse* resp) override {
    auto r = ctx_.inject_runs.revert(req->run_id(), req->requested_by());
    if (!r) return grpc::Status(grpc::StatusCode::NOT_FOUND, r.error().message);
    *resp = std::move(*r);
    return grpc::Status::OK;
  }

  grpc::Status Halt(grpc::ServerContext*, const v1::HaltRequest* req, v1::HaltResponse* resp) override {
    auto r = ctx_.fleet.halt(req->reason().empty() ? "no reason given" : req->reason(), req->requested_by());
    *resp->mutable_halted_at() = to_proto(r.halted_at);
    fill_outcomes("", r.agents, resp->mutable_agents());
    if (r.agents.last_ack) {
      *resp->mutable_last_confirmed_at() = to_proto(*r.agents.last_ack);
      *resp->mutable_to_last_confirmation() = to_proto_duration(*r.agents.last_ack - r.halted_at);
    }
    for (auto& u : r.unconfirmed) resp->add_unconfirmed(u);
    for (auto& a : r.aborted_runs) resp->add_aborted_runs(a);
    return grpc::Status::OK;
  }

  grpc::Status Release(grpc::ServerContext*, const v1::ReleaseRequest* req, v1::ReleaseResponse* resp) override {
    resp->set_was_halted(ctx_.fleet.release(req->requested_by()));
    return grpc::Status::OK;
  }

  grpc::Status ListRuns(grpc::ServerContext*, const v1::ListRunsRequest* req, v1::ListRunsResponse* resp) override {
    std::vector<RunRow> rows;
    if (!req->run_id().empty()) {
      auto r = ctx_.store.run(req->run_id());
      if (!r) return grpc::Status(grpc::StatusCode::INTERNAL, r.error().message);
      if (!r->has_value()) return grpc::Status(grpc::StatusCode::NOT_FOUND, "no run " + req->run_id());
      rows.push_back(**r);
    } else {
      auto r = ctx_.store.recent_runs(req->limit() ? req->limit() : 50);
      if (!r) return grpc::Status(grpc::StatusCode::INTERNAL, r.error().message);
      rows = std::move(*r);
    }
    for (auto& row : rows) {
      auto* o = resp->add_runs();
      o->set_id(row.id);
      o->set_kind(row.kind);
      o->set_state(row.state);
      o->set_status(run_status(row.status));
      o->set_description(row.description);
      o->set_reason(row.reason);
      o->set_requested_by(row.requested_by);
      *o->mutable_created_at() = to_proto(row.created_at);
      if (row.ended_at) *o->mutable_ended_at() = to_proto(*row.ended_at);
      if (!req->run_id().empty()) {
        auto t = ctx_.store.targets(row.id);
        if (!t) return grpc::Status(grpc::StatusCode::INTERNAL, t.error().message);
        for (auto& tr : *t) {
          auto* to = o->add_targets();
          to->set_agent_id(tr.agent_id);
          to->set_fault_id(tr.fault_id);
          to->set_status(ack_status(tr.status));
          to->set_error(tr.status + (tr.error.empty() ? "" : ": " + tr.error));
          if (tr.acked_at) *to->mutable_acked_at() = to_proto(*tr.acked_at);
          if (tr.effective_at) *to->mutable_effective_at() = to_proto(*tr.effective_at);
        }
      }
    }
    return grpc::Status::OK;
  }

  grpc::Status GetStatus(grpc::ServerContext*, const v1::ControllerStatusRequest*, v1::ControllerStatus* resp) override {
    auto h = ctx_.fleet.halt_state();
    resp->set_halted(h.halted);
    resp->set_halted_reason(h.reason);
    if (h.halted) *resp->mutable_halted_at() = to_proto(h.at);
    resp->set_live_agents(static_cast<uint32_t>(ctx_.fleet.live_count()));
    for (auto& r : ctx_.fleet.active_runs()) resp->add_active_runs(r);
    resp->set_version(FIREDRILL_VERSION);
    return grpc::Status::OK;
  }

 private:
  ApiContext& ctx_;
};

}  // namespace

std::unique_ptr<grpc::Service> make_controller_service(ApiContext& context) {
  return std::make_unique<ControllerServiceImpl>(context);
}

}  // namespace firedrill::controller
