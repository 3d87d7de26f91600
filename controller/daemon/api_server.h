// The operators' API as `firedrill serve` serves it: the Unix socket (each connection's
// peer credentials read by auth::UnixListener before gRPC takes it) and, with
// --api-listen, the same services over the agents' mutual TLS. A leader serves it over
// its full context; a follower (several controllers on one PostgreSQL store) over a
// context whose `follower` refusal turns every call that changes state away, naming
// the leader (controller/api/services.h).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "common/result.h"
#include "common/socket_access.h"
#include "controller/api/services.h"
#include "controller/auth/unix_listener.h"
#include "controller/session/agent_service.h"

namespace firedrill::controller {

struct ApiServerConfig {
  std::string socket;      // --api
  SocketAccess access;     // --api-group, --api-mode
  std::string listen;      // --api-listen; "": the socket only
  AgentServerConfig tls;   // the fleet's TLS material, for --api-listen
};

class ApiServer {
 public:
  ApiServer() = default;
  ~ApiServer() { stop(); }
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  // Binds the socket: from then on peers() knows its callers (the context needs it).
  Result<void> bind(const ApiServerConfig& config);
  const auth::PeerTable* peers() const { return &listener_; }
  // A service of another area (the dashboard's), served beside make_api_services()'s;
  // before start().
  void add_service(std::unique_ptr<grpc::Service> service) { extra_.push_back(std::move(service)); }
  // Builds `context`'s services and serves them; the context outlives stop().
  Result<void> start(ApiContext& context);
  int tls_port() const { return tls_port_; }
  // Stops accepting, finishes calls in flight (2 s at most), removes the socket.
  void stop();

 private:
  ApiServerConfig config_;
  auth::UnixListener listener_;
  std::vector<std::unique_ptr<grpc::Service>> services_, extra_;
  std::unique_ptr<grpc::Server> server_;
  int tls_port_ = 0;
  bool bound_ = false;
};

}  // namespace firedrill::controller
