// WebService (web.proto): login links for the dashboard, asked by `firedrill web login`.
#include "controller/web/web_server.h"

#include "common/log.h"
#include "firedrill/v1/web.grpc.pb.h"

namespace firedrill::controller::web {
namespace {

class WebServiceImpl final : public v1::WebService::Service {
 public:
  WebServiceImpl(ApiContext& ctx, WebServer* server) : ctx_(ctx), server_(server) {}

  grpc::Status CreateLoginLink(grpc::ServerContext* call, const v1::CreateLoginLinkRequest* req,
                               v1::CreateLoginLinkResponse* resp) override {
    auth::Caller caller;
    // A follower makes links too: they are kept where every controller of the store reads
    // and uses them (web_auth.h).
    if (auto s = authorize_role(ctx_, call, auth::Action::kAdmin, &caller); !s.ok()) return s;
    if (!server_) {
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                          "the dashboard is not served by this controller (firedrill serve --web-listen ADDR:PORT)");
    }
    auto ttl = req->ttl_seconds() == 0 ? kDefaultLinkLifetime : std::chrono::seconds(req->ttl_seconds());
    auto link = server_->logins().create(req->as(), ttl, WallClock::now());
    if (!link) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, link.error().describe());
    auth::Caller person;
    person.name = link->identity;
    person.via = "web login link";
    logger("controller.web")->info("login link for {} made by {}, valid until {}", link->identity, caller.describe(),
                                   format_utc(link->expires_at));
    resp->set_path("/login?token=" + link->secret);
    resp->set_listen(server_->listen());
    resp->set_port(server_->port());
    resp->set_identity(link->identity);
    resp->set_roles(ctx_.access.roles_of(person));
    *resp->mutable_expires_at() = to_proto(link->expires_at);
    return grpc::Status::OK;
  }

 private:
  ApiContext& ctx_;
  WebServer* server_;
};

}  // namespace

std::unique_ptr<grpc::Service> make_web_service(ApiContext& context, WebServer* server) {
  return std::make_unique<WebServiceImpl>(context, server);
}

}  // namespace firedrill::controller::web
