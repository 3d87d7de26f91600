// ControllerService: the verbs of controller.proto over the Fleet and the Store.
#include <algorithm>
#include <thread>

#include <fmt/ranges.h>

#include "common/log.h"
#include "controller/api/services.h"
#include "firedrill/v1/controller.grpc.pb.h"

namespace firedrill::controller {
namespace {

grpc::Status bad(const Error& e) { return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, e.message); }

v1::RunStatus run_status(const v1::RunRecord& r) {
  if (r.phase() != v1::RUN_PHASE_DONE) return v1::RUN_STATUS_ACTIVE;
  switch (r.outcome()) {
    case v1::RUN_OUTCOME_PASSED: return v1::RUN_STATUS_COMPLETED;
    case v1::RUN_OUTCOME_FAILED: return v1::RUN_STATUS_FAILED;
    case v1::RUN_OUTCOME_ABORTED: return v1::RUN_STATUS_ABORTED;
    case v1::RUN_OUTCOME_REFUSED: return v1::RUN_STATUS_REFUSED;
    default: return v1::RUN_STATUS_UNSPECIFIED;
  }
}

// What each agent answered to the halt's revert-all.
void fill_outcomes(const FanoutResult& r, google::protobuf::RepeatedPtrField<v1::TargetOutcome>* out) {
  for (auto& t : r.targets) {
    auto* o = out->Add();
    o->set_agent_id(t.agent_id);
    o->set_status(t.status);
    o->set_error(t.error);
    if (t.acked_at) *o->mutable_acked_at() = to_proto(*t.acked_at);
    if (t.effective_at) *o->mutable_effective_at() = to_proto(*t.effective_at);
  }
}

void fill_info(const v1::RunRecord& r, bool faults, v1::RunInfo* o) {
  o->set_id(r.id());
  o->set_kind(r.kind().empty() ? "experiment" : r.kind());
  o->set_state(r.phase() == v1::RUN_PHASE_DONE ? runner::outcome_name(r.outcome()) : runner::phase_name(r.phase()));
  o->set_status(run_status(r));
  const auto& e = r.experiment();
  o->set_description(e.description().empty() ? e.name() : e.name() + ": " + e.description());
  o->set_reason(r.reason());
  o->set_requested_by(r.started_by());
  *o->mutable_created_at() = r.created_at();
  if (r.has_ended_at()) *o->mutable_ended_at() = r.ended_at();
  if (!faults) return;
  for (const auto& s : r.steps()) {
    for (const auto& f : s.faults()) *o->add_faults() = f;
  }
}

// Waits until `done` holds for run `id` (or `limit` passed); returns the run as it is.
template <typename Done>
Result<v1::RunRecord> wait_for(runner::RunManager& runs, const std::string& id, std::chrono::nanoseconds limit,
                               Done done) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  auto live = runs.live(id);
  uint64_t version = 0;
  while (true) {
    FD_ASSIGN(r, runs.get(id, false), "run {}", id);
    if (done(r) || !live || std::chrono::steady_clock::now() >= deadline) return r;
    version = live->wait_change(version, std::chrono::milliseconds(500));
  }
}

class ControllerServiceImpl final : public v1::ControllerService::Service {
 public:
  explicit ControllerServiceImpl(ApiContext& ctx) : ctx_(ctx) {}

  grpc::Status ListAgents(grpc::ServerContext* call, const v1::ListAgentsRequest* req,
                          v1::ListAgentsResponse* resp) override {
    if (auto s = authorize(ctx_, call, auth::Action::kRead); !s.ok()) return s;
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

  grpc::Status Plan(grpc::ServerContext* call, const v1::PlanRequest* req, v1::PlanResponse* resp) override {
    if (auto s = authorize(ctx_, call, auth::Action::kRead); !s.ok()) return s;
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

  // Starts the run, and answers once its fault is on every target, it ended, or it
  // waits for the approvals the policy of its targets' environment asks.
  grpc::Status Inject(grpc::ServerContext* call, const v1::InjectRequest* req, v1::InjectResponse* resp) override {
    auth::Caller caller;
    if (auto s = authorize(ctx_, call, auth::Action::kOperate, &caller); !s.ok()) return s;
    auto id = ctx_.runs.start_inject(*req, caller.name);
    if (!id) return bad(id.error());
    resp->set_run_id(*id);
    auto delay = req->has_start_delay() ? from_proto(req->start_delay()) : std::chrono::nanoseconds(0);
    auto r = wait_for(ctx_.runs, *id, delay + std::chrono::minutes(1), [](const v1::RunRecord& r) {
      return r.phase() == v1::RUN_PHASE_DONE || r.phase() >= v1::RUN_PHASE_OBSERVE ||
             r.phase() == v1::RUN_PHASE_PENDING_APPROVAL;
    });
    if (!r) return grpc::Status(grpc::StatusCode::INTERNAL, r.error().describe());
    if (r->steps_size() > 0) {
      const auto& step = r->steps(0);
      *resp->mutable_verdict() = step.guard();
      *resp->mutable_faults() = step.faults();
      if (step.has_started_at()) *resp->mutable_not_before() = step.started_at();
      if (step.faults_size() > 0) *resp->mutable_expires_at() = step.faults(0).expires_at();
      *resp->mutable_effect_spread() = step.effect_spread();
      *resp->mutable_ack_spread() = step.ack_spread();
      *resp->mutable_dispatch_to_last_ack() = step.dispatch_to_last_ack();
    }
    bool ended_badly = r->outcome() == v1::RUN_OUTCOME_ABORTED || r->outcome() == v1::RUN_OUTCOME_REFUSED;
    // A run observes only once every agent told its staged fault applied, which an
    // agent does at not_before, when the fault is on: no wait for it here.
    resp->set_applied(r->has_fault_start() && !ended_badly);
    if (r->phase() == v1::RUN_PHASE_PENDING_APPROVAL) {
      resp->set_error(fmt::format("run {} waits for {} approval(s) (environment '{}'): `firedrill approve {}`; "
                                  "the fault goes on once approved",
                                  *id, r->experiment().approvals().required(), r->experiment().environment(), *id));
    } else if (!resp->applied()) {
      resp->set_error(r->phase() == v1::RUN_PHASE_DONE ? r->reason()
                                                      : "not applied yet (in " + runner::phase_name(r->phase()) + ")");
    }
    return grpc::Status::OK;
  }

  // An operator's early end of a run: an abort, which reverts whatever is in effect.
  grpc::Status RevertRun(grpc::ServerContext* call, const v1::RevertRunRequest* req, v1::RevertRunResponse* resp) override {
    auth::Caller caller;
    if (auto s = authorize(ctx_, call, auth::Action::kOperate, &caller); !s.ok()) return s;
    const std::string& by = caller.name;
    if (auto a = ctx_.runs.abort(req->run_id(), fmt::format("reverted by {}", by), by); !a) {
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, a.error().describe());
    }
    auto r = wait_for(ctx_.runs, req->run_id(), std::chrono::minutes(1),
                      [](const v1::RunRecord& r) { return r.phase() == v1::RUN_PHASE_DONE; });
    if (!r) return grpc::Status(grpc::StatusCode::INTERNAL, r.error().describe());
    for (const auto& s : r->steps()) {
      for (const auto& f : s.faults()) *resp->add_faults() = f;
    }
    resp->set_reason(r->reason());
    return grpc::Status::OK;
  }

  grpc::Status Halt(grpc::ServerContext* call, const v1::HaltRequest* req, v1::HaltResponse* resp) override {
    auth::Caller caller;
    if (auto s = authorize(ctx_, call, auth::Action::kHalt, &caller); !s.ok()) return s;
    if (ctx_.follower) return record_halt(caller, req->reason(), resp);
    auto r = ctx_.fleet.halt(req->reason().empty() ? "no reason given" : req->reason(), caller.name);
    *resp->mutable_halted_at() = to_proto(r.halted_at);
    fill_outcomes(r.agents, resp->mutable_agents());
    if (r.agents.last_ack) {
      *resp->mutable_last_confirmed_at() = to_proto(*r.agents.last_ack);
      *resp->mutable_to_last_confirmation() = to_proto_duration(*r.agents.last_ack - r.halted_at);
    }
    for (auto& u : r.unconfirmed) resp->add_unconfirmed(u);
    for (auto& a : r.aborted_runs) resp->add_aborted_runs(a);
    if (!r.persist_error.empty()) {
      return grpc::Status(grpc::StatusCode::DATA_LOSS,
                          fmt::format("the halt is in force ({} of {} agent(s) confirmed their revert) but could not be "
                                      "saved, so a restart of the controller would lift it: {}",
                                      r.agents.targets.size() - r.unconfirmed.size(), r.agents.targets.size(),
                                      r.persist_error));
    }
    return grpc::Status::OK;
  }

  grpc::Status Release(grpc::ServerContext* call, const v1::ReleaseRequest*, v1::ReleaseResponse* resp) override {
    auth::Caller caller;
    if (auto s = authorize(ctx_, call, auth::Action::kOperate, &caller); !s.ok()) return s;
    resp->set_was_halted(ctx_.fleet.release(caller.name));
    return grpc::Status::OK;
  }

  grpc::Status ListRuns(grpc::ServerContext* call, const v1::ListRunsRequest* req, v1::ListRunsResponse* resp) override {
    if (auto s = authorize(ctx_, call, auth::Action::kRead); !s.ok()) return s;
    if (!req->run_id().empty()) {
      auto r = ctx_.runs.get(req->run_id(), false);
      if (!r) return grpc::Status(grpc::StatusCode::NOT_FOUND, r.error().describe());
      fill_info(*r, true, resp->add_runs());
      return grpc::Status::OK;
    }
    auto all = ctx_.runs.list(req->limit() ? req->limit() : 50);
    if (!all) return grpc::Status(grpc::StatusCode::INTERNAL, all.error().describe());
    for (const auto& r : *all) fill_info(r, false, resp->add_runs());
    return grpc::Status::OK;
  }

  grpc::Status GetStatus(grpc::ServerContext* call, const v1::ControllerStatusRequest*, v1::ControllerStatus* resp) override {
    if (auto s = authorize(ctx_, call, auth::Action::kRead); !s.ok()) return s;
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
  // A follower's halt: written to the database (never fenced), for the leader to act
  // on as on its own halt; then a few seconds' wait for the leader to take it.
  grpc::Status record_halt(const auth::Caller& caller, const std::string& reason, v1::HaltResponse* resp) {
    HaltRequestRow row{0, WallClock::now(), caller.name, reason.empty() ? "no reason given" : reason,
                       ctx_.controller_id};
    auto seq = ctx_.store.request_halt(row);
    if (!seq) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                          fmt::format("the halt could not be recorded in the database, so no leader will act on it "
                                      "(agents still revert on their lease grace when no controller renews it): {}",
                                      seq.error().describe()));
    }
    logger("controller.api")->warn("halt asked here by {} ({}): recorded for the leader{}", row.by, row.reason,
                                   ctx_.follower->leader().empty() ? "; no controller leads now"
                                                                   : ", " + ctx_.follower->leader());
    resp->set_recorded_for_leader(true);
    *resp->mutable_halted_at() = to_proto(row.at);
    // The leader clears what it acted on (controller/daemon/halt_watcher.h).
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    while (!ctx_.follower->leader().empty() && std::chrono::steady_clock::now() < deadline) {
      auto pending = ctx_.store.halt_requests();
      if (pending && std::none_of(pending->begin(), pending->end(), [&](auto& h) { return h.seq == *seq; })) {
        resp->set_leader_acted(true);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    resp->set_leader(ctx_.follower->leader());
    return grpc::Status::OK;
  }

  ApiContext& ctx_;
};

}  // namespace

std::unique_ptr<grpc::Service> make_controller_service(ApiContext& context) {
  return std::make_unique<ControllerServiceImpl>(context);
}

}  // namespace firedrill::controller
