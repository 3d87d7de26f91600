#include "controller/api/services.h"

#include <cstdlib>
#include <iostream>

#include "common/log.h"
#include "controller/session/certs.h"

namespace firedrill::controller {

std::vector<std::unique_ptr<grpc::Service>> make_api_services(ApiContext& context) {
  std::vector<std::unique_ptr<grpc::Service>> services;
  services.push_back(make_controller_service(context));
  services.push_back(make_run_service(context));
  services.push_back(make_evidence_service(context));
  services.push_back(make_enrollment_admin_service(context));
  // Other areas add their services here, one line each.
  return services;
}

grpc::Status authorize_role(const ApiContext& context, const grpc::ServerContext* call, auth::Action action,
                            auth::Caller* caller) {
  auto who = auth::caller_of(*call, context.unix_peers);
  if (!who) return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, who.error().describe());
  if (auto a = context.access.allow(*who, action); !a) {
    logger("controller.auth")->warn("refused: {}", a.error().message);
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, a.error().message);
  }
  if (caller) *caller = std::move(*who);
  return grpc::Status::OK;
}

grpc::Status authorize(const ApiContext& context, const grpc::ServerContext* call, auth::Action action,
                       auth::Caller* caller) {
  auth::Caller who;
  if (auto s = authorize_role(context, call, action, &who); !s.ok()) return s;
  if (context.follower && action != auth::Action::kRead && action != auth::Action::kHalt) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        fmt::format("{}; this controller is a follower, which answers reads (and records halts) "
                                    "only: ask the leader to {}",
                                    context.follower->refusal(), auth::action_name(action)));
  }
  if (caller) *caller = std::move(who);
  return grpc::Status::OK;
}

std::string default_api_socket() {
  if (const char* env = std::getenv("FIREDRILL_API"); env && *env) return env;
  return "/run/firedrill/controller.sock";
}

ApiClientTls& api_client_tls() {
  static ApiClientTls tls = [] {
    auto env = [](const char* name) {
      const char* v = std::getenv(name);
      return std::string(v ? v : "");
    };
    return ApiClientTls{env("FIREDRILL_API_CERT"), env("FIREDRILL_API_KEY"), env("FIREDRILL_API_CA")};
  }();
  return tls;
}

namespace {

constexpr std::string_view kHttps = "https://";

Result<std::shared_ptr<grpc::ChannelCredentials>> client_credentials(const ApiClientTls& tls) {
  if (tls.cert.empty() || tls.key.empty() || tls.ca.empty()) {
    return make_error("a remote API needs --tls-cert, --tls-key and --tls-ca (or $FIREDRILL_API_CERT, _KEY and _CA): the "
                      "controller knows its callers by their client certificate");
  }
  FD_ASSIGN(ca, read_small_file(tls.ca), "--tls-ca");
  FD_ASSIGN(pem, read_pem(tls.cert, tls.key), "--tls-cert/--tls-key");
  grpc::SslCredentialsOptions opts;
  opts.pem_root_certs = ca;
  opts.pem_private_key = pem.key;
  opts.pem_cert_chain = pem.cert;
  return grpc::SslCredentials(opts);
}

}  // namespace

std::shared_ptr<grpc::Channel> api_channel(const std::string& api) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);  // agent lists of a large fleet
  if (api.starts_with(kHttps)) {
    auto creds = client_credentials(api_client_tls());
    if (!creds) {
      std::cerr << "firedrill: " << api << ": " << creds.error().describe() << "\n";
      std::exit(2);
    }
    return grpc::CreateCustomChannel(api.substr(kHttps.size()), *creds, args);
  }
  return grpc::CreateCustomChannel("unix:" + api, grpc::InsecureChannelCredentials(), args);
}

}  // namespace firedrill::controller
