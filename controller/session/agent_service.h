// The server side of AgentService.Connect: one callback reactor per agent stream (no
// thread per stream, so ten thousand agents cost memory, not threads), mutual TLS, the
// agent id bound to the certificate's common name, and message size limits. Streams
// hand what they read to the Fleet.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "common/result.h"
#include "controller/session/fleet.h"
#include "controller/session/enrolled_tags.h"
#include "controller/session/revocations.h"
#include "firedrill/v1/agent.grpc.pb.h"

namespace firedrill::controller {

struct AgentServerConfig {
  std::string listen;                    // "0.0.0.0:7443", "127.0.0.1:0"
  std::string tls_ca, tls_cert, tls_key; // PEM file paths (mTLS)
  bool insecure = false;                 // plaintext, no client identity: labs only
  size_t max_message_bytes = 1u << 20;
};

// Signs a registered agent's CertificateRequest (controller/enroll): the answer to send.
using CertificateRenewer = std::function<v1::CertificateIssued(const std::string& agent_id, const std::string& csr_pem)>;

class AgentService final : public v1::AgentService::CallbackService {
 public:
  explicit AgentService(Fleet& fleet) : fleet_(fleet) {}
  grpc::ServerBidiReactor<v1::AgentMessage, v1::ControllerMessage>* Connect(
      grpc::CallbackServerContext* context) override;
  // Streams whose certificate names a revoked agent are refused at their Hello.
  void set_revocations(const Revocations* revocations) { revocations_ = revocations; }
  // Streams whose claimed tags do not fit the token their agent enrolled with are
  // refused at their Hello.
  void set_enrolled_tags(const EnrolledTags* enrolled) { enrolled_ = enrolled; }
  // Renewals over the stream; without one they are answered with an error.
  void set_renewer(CertificateRenewer renewer) { renewer_ = std::move(renewer); }

 private:
  Fleet& fleet_;
  const Revocations* revocations_ = nullptr;
  const EnrolledTags* enrolled_ = nullptr;
  CertificateRenewer renewer_;
};

class AgentServer {
 public:
  explicit AgentServer(Fleet& fleet) : fleet_(fleet), service_(fleet) {}
  ~AgentServer() { stop(); }

  Result<void> start(const AgentServerConfig& config);
  // Before start(); `revocations` and `enrolled` outlive the server.
  void set_revocations(const Revocations* revocations) { service_.set_revocations(revocations); }
  void set_enrolled_tags(const EnrolledTags* enrolled) { service_.set_enrolled_tags(enrolled); }
  void set_renewer(CertificateRenewer renewer) { service_.set_renewer(std::move(renewer)); }
  // The port actually bound (for listen addresses with port 0).
  int port() const { return port_; }
  void stop();

 private:
  Fleet& fleet_;
  AgentService service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

// A follower's agent listener (several controllers on one PostgreSQL store): the same
// port, TLS and limits as AgentServer, and every stream refused at once, unread, with
// FAILED_PRECONDITION, `message` ("not the leader; the leader is X at ADDR") and the
// leader's agent address in the trailing metadata under kLeaderAddressKey
// (common/leader_redirect.h), where the agent goes next. No Fleet: nothing is
// registered, written or commanded.
struct AgentRefusal {
  std::string message;
  std::string leader_address;  // "": no controller leads now (no redirect)
};
using AgentGate = std::function<AgentRefusal()>;

class FollowerAgentServer {
 public:
  explicit FollowerAgentServer(AgentGate gate);
  ~FollowerAgentServer();
  Result<void> start(const AgentServerConfig& config);
  int port() const { return port_; }
  void stop();

 private:
  std::unique_ptr<v1::AgentService::CallbackService> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

// Process-wide gRPC settings for many streams (called by AgentServer::start; tools
// that open many streams call it too).
void tune_grpc_runtime();

// Server credentials for mTLS from PEM files, or insecure ones (logged loudly).
Result<std::shared_ptr<grpc::ServerCredentials>> agent_server_credentials(const AgentServerConfig& config);

// The agent listener's gRPC server, leader's or follower's alike (and bench/wire's bare
// one): credentials, TLS memory, keepalives and frame sizes for many small streams.
Result<std::unique_ptr<grpc::Server>> build_agent_server(const AgentServerConfig& config, grpc::Service* service,
                                                         int* port);

}  // namespace firedrill::controller
