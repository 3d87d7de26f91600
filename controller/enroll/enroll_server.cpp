#include "controller/enroll/enroll_server.h"

#include "common/log.h"
#include "firedrill/v1/enroll.grpc.pb.h"

namespace firedrill::controller {
namespace {

class EnrollServiceImpl final : public v1::EnrollService::Service {
 public:
  explicit EnrollServiceImpl(Enrollment& enrollment) : enrollment_(enrollment) {}

  grpc::Status Enroll(grpc::ServerContext* call, const v1::EnrollRequest* req, v1::EnrollResponse* resp) override {
    if (auto refused = enrollment_.enroll(*req, call->peer(), resp)) {
      return grpc::Status(static_cast<grpc::StatusCode>(refused->code), refused->why);
    }
    return grpc::Status::OK;
  }

 private:
  Enrollment& enrollment_;
};

}  // namespace

EnrollServer::EnrollServer(Enrollment& enrollment) : service_(std::make_unique<EnrollServiceImpl>(enrollment)) {}

EnrollServer::~EnrollServer() { stop(); }

Result<void> EnrollServer::start(const EnrollServerConfig& config) {
  if (config.tls_cert.empty() || config.tls_key.empty() || config.tls_ca.empty()) {
    return make_error("--enroll-listen needs the controller's TLS material (--tls-ca, --tls-cert, --tls-key)");
  }
  FD_ASSIGN(pem, read_pem(config.tls_cert, config.tls_key), "--enroll-listen");
  FD_ASSIGN(ca, read_small_file(config.tls_ca), "--enroll-listen: --tls-ca");
  grpc::SslServerCredentialsOptions opts(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  std::string chain = pem.cert;
  if (!chain.empty() && chain.back() != '\n') chain += '\n';
  opts.pem_key_cert_pairs.push_back({pem.key, chain + ca});
  grpc::ServerBuilder builder;
  builder.AddListeningPort(config.listen, grpc::SslServerCredentials(opts), &port_);
  builder.RegisterService(service_.get());
  builder.SetMaxReceiveMessageSize(64 << 10);  // a token, an id, tags and a request
  server_ = builder.BuildAndStart();
  if (!server_ || port_ == 0) return make_error("cannot listen for enrollments on {}", config.listen);
  logger("controller.enroll")->info("enrollment on {} (port {}, TLS without client certificates)", config.listen, port_);
  return ok();
}

void EnrollServer::stop() {
  if (!server_) return;
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  server_.reset();
}

}  // namespace firedrill::controller
