#include "controller/daemon/api_server.h"

#include <unistd.h>

namespace firedrill::controller {

Result<void> ApiServer::bind(const ApiServerConfig& config) {
  config_ = config;
  FD_TRY(listener_.bind(config_.socket), "API socket");
  bound_ = true;
  return ok();
}

Result<void> ApiServer::start(ApiContext& context) {
  services_ = make_api_services(context);
  for (auto& s : extra_) services_.push_back(std::move(s));
  extra_.clear();
  grpc::ServerBuilder builder;
  for (auto& s : services_) builder.RegisterService(s.get());
  grpc::ResourceQuota quota("firedrill-api");
  quota.SetMaxThreads(8);  // a 2-core controller: operators' calls are few
  builder.SetResourceQuota(quota);
  // Every thread that polls for this server takes turns on the one epoll set that
  // also holds every agent connection (gRPC's epoll1 engine), handing work to the
  // other pollers as it goes: with ten thousand agents, each extra poller is thread
  // hand-offs on agent traffic. Operators' calls are few; one poller serves them.
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MIN_POLLERS, 1);
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS, 1);
  builder.SetMaxReceiveMessageSize(16 << 20);
  builder.SetMaxSendMessageSize(64 << 20);
  // Remote callers: the agents' mutual TLS (a client certificate of the fleet's CA is
  // required and verified), so a call there always carries its certificate's name.
  if (!config_.listen.empty()) {
    FD_ASSIGN(creds, agent_server_credentials(config_.tls), "--api-listen");
    builder.AddListeningPort(config_.listen, creds, &tls_port_);
  }
  server_ = builder.BuildAndStart();
  if (!server_ || (!config_.listen.empty() && tls_port_ == 0)) {
    return make_error("cannot serve the API on {}{}", config_.socket,
                      config_.listen.empty() ? "" : " and " + config_.listen);
  }
  FD_TRY(set_socket_access(config_.socket, config_.access), "API socket");
  listener_.serve(server_.get());
  return ok();
}

void ApiServer::stop() {
  listener_.stop();
  if (server_) {
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
    server_.reset();
  }
  services_.clear();
  if (bound_) ::unlink(config_.socket.c_str());
  bound_ = false;
}

}  // namespace firedrill::controller
