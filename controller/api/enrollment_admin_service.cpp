// EnrollmentAdminService (enroll_admin.proto): join tokens and revoked agents, for
// admins. A token lets a host join the fleet and a revocation takes one out of it:
// both change who the fleet is, which is an admin's call, not an operator's.
#include "controller/api/services.h"
#include "firedrill/v1/enroll_admin.grpc.pb.h"

namespace firedrill::controller {
namespace {

grpc::Status failed(grpc::StatusCode code, const Error& e) { return grpc::Status(code, e.describe()); }

void fill(const JoinTokenRow& r, v1::JoinTokenInfo* o) {
  o->set_id(r.secret_sha256.substr(0, 16));
  for (auto& [k, v] : r.tags) (*o->mutable_tags())[k] = v;
  o->set_uses_allowed(r.uses_allowed);
  o->set_uses(r.uses);
  *o->mutable_created_at() = to_proto(r.created_at);
  *o->mutable_expires_at() = to_proto(r.expires_at);
  o->set_created_by(r.created_by);
}

class EnrollmentAdminServiceImpl final : public v1::EnrollmentAdminService::Service {
 public:
  explicit EnrollmentAdminServiceImpl(ApiContext& ctx) : ctx_(ctx) {}

  grpc::Status CreateJoinToken(grpc::ServerContext* call, const v1::CreateJoinTokenRequest* req,
                               v1::CreateJoinTokenResponse* resp) override {
    auth::Caller caller;
    if (auto s = authorize(ctx_, call, auth::Action::kAdmin, &caller); !s.ok()) return s;
    if (!ctx_.enrollment) return unavailable();
    std::map<std::string, std::string> tags(req->tags().begin(), req->tags().end());
    auto t = ctx_.enrollment->create_token(std::chrono::seconds(req->ttl_seconds()), req->uses(), tags, caller.name);
    if (!t) return failed(grpc::StatusCode::FAILED_PRECONDITION, t.error());
    resp->set_token(t->token);
    fill(t->row, resp->mutable_info());
    return grpc::Status::OK;
  }

  grpc::Status ListJoinTokens(grpc::ServerContext* call, const v1::ListJoinTokensRequest*,
                              v1::ListJoinTokensResponse* resp) override {
    if (auto s = authorize(ctx_, call, auth::Action::kAdmin); !s.ok()) return s;
    if (!ctx_.enrollment) return unavailable();
    auto rows = ctx_.enrollment->tokens();
    if (!rows) return failed(grpc::StatusCode::INTERNAL, rows.error());
    for (auto& r : *rows) fill(r, resp->add_tokens());
    return grpc::Status::OK;
  }

  grpc::Status RevokeJoinToken(grpc::ServerContext* call, const v1::RevokeJoinTokenRequest* req,
                               v1::RevokeJoinTokenResponse*) override {
    if (auto s = authorize(ctx_, call, auth::Action::kAdmin); !s.ok()) return s;
    if (!ctx_.enrollment) return unavailable();
    auto n = ctx_.enrollment->revoke_token(req->id());
    if (!n) return failed(grpc::StatusCode::NOT_FOUND, n.error());
    return grpc::Status::OK;
  }

  grpc::Status RevokeAgent(grpc::ServerContext* call, const v1::RevokeAgentRequest* req,
                           v1::RevokeAgentResponse* resp) override {
    auth::Caller caller;
    if (auto s = authorize(ctx_, call, auth::Action::kAdmin, &caller); !s.ok()) return s;
    if (!ctx_.enrollment) return unavailable();
    if (auto r = ctx_.enrollment->revoke_agent(req->agent_id(), caller.name, req->reason()); !r) {
      return failed(grpc::StatusCode::INVALID_ARGUMENT, r.error());
    }
    auto row = ctx_.enrollment->revoked(req->agent_id());
    std::string why = row ? Revocations::refusal(*row) : "revoked";
    resp->set_was_connected(ctx_.fleet.disconnect(req->agent_id(), grpc::StatusCode::PERMISSION_DENIED, why));
    return grpc::Status::OK;
  }

  grpc::Status ListRevokedAgents(grpc::ServerContext* call, const v1::ListRevokedAgentsRequest*,
                                 v1::ListRevokedAgentsResponse* resp) override {
    if (auto s = authorize(ctx_, call, auth::Action::kRead); !s.ok()) return s;
    auto rows = ctx_.store.agent_revocations();
    if (!rows) return failed(grpc::StatusCode::INTERNAL, rows.error());
    for (auto& r : *rows) {
      auto* o = resp->add_agents();
      o->set_agent_id(r.agent_id);
      *o->mutable_revoked_at() = to_proto(r.revoked_at);
      o->set_revoked_by(r.revoked_by);
      o->set_reason(r.reason);
    }
    return grpc::Status::OK;
  }

 private:
  static grpc::Status unavailable() {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "enrollment is not set up in this controller");
  }
  ApiContext& ctx_;
};

}  // namespace

std::unique_ptr<grpc::Service> make_enrollment_admin_service(ApiContext& context) {
  return std::make_unique<EnrollmentAdminServiceImpl>(context);
}

}  // namespace firedrill::controller
