#include "controller/api/services.h"

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>

#include "common/log.h"

namespace firedrill::controller {

std::vector<std::unique_ptr<grpc::Service>> make_api_services(ApiContext& context) {
  std::vector<std::unique_ptr<grpc::Service>> services;
  services.push_back(make_controller_service(context));
  services.push_back(make_run_service(context));
  services.push_back(make_evidence_service(context));
  // Other areas add their services here, one line each.
  return services;
}

grpc::Status authorize(const ApiContext& context, const grpc::ServerContext* call, auth::Action action,
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

std::string default_api_socket() {
  if (const char* env = std::getenv("FIREDRILL_API"); env && *env) return env;
  return "/run/firedrill/controller.sock";
}

std::shared_ptr<grpc::Channel> api_channel(const std::string& socket_path) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);  // agent lists of a large fleet
  return grpc::CreateCustomChannel("unix:" + socket_path, grpc::InsecureChannelCredentials(), args);
}

std::string requested_by() {
  const char* sudo = std::getenv("SUDO_USER");
  std::string user;
  if (sudo && *sudo) {
    user = sudo;
  } else if (auto* pw = ::getpwuid(::getuid())) {
    user = pw->pw_name;
  } else if (const char* u = std::getenv("USER")) {
    user = u;
  }
  return fmt::format("{} (uid {})", user.empty() ? "unknown" : user, ::getuid());
}

}  // namespace firedrill::controller
