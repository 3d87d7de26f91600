// EnrollService (enroll.proto) on a port of its own (`serve --enroll-listen`): TLS
// with the controller's certificate followed by the CA's (so that a joining host can
// find the CA its token names in the chain), and no client certificate asked for: a
// joining host has none. The agent stream's port keeps requiring one.
#pragma once

#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "common/result.h"
#include "controller/enroll/enrollment.h"

namespace firedrill::controller {

struct EnrollServerConfig {
  std::string listen;              // "0.0.0.0:7444"
  std::string tls_cert, tls_key;   // the controller's (serve --tls-cert/--tls-key)
  std::string tls_ca;              // sent after them
};

class EnrollServer {
 public:
  explicit EnrollServer(Enrollment& enrollment);
  ~EnrollServer();
  Result<void> start(const EnrollServerConfig& config);
  int port() const { return port_; }
  void stop();

 private:
  std::unique_ptr<grpc::Service> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace firedrill::controller
