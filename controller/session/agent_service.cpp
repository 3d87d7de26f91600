#include "controller/session/agent_service.h"

#include <algorithm>
#include <deque>
#include <filesystem>
#include <mutex>

#include <absl/synchronization/mutex.h>

#include "common/leader_redirect.h"
#include "common/log.h"
#include "controller/session/agent_session.h"
#include "controller/session/certs.h"
#include "controller/session/tls_memory.h"

namespace firedrill::controller {
namespace {

auto log() {
  static auto l = logger("controller.session");
  return l;
}

// An agent that stops reading must not make the controller buffer without end.
constexpr size_t kMaxQueued = 4096;

class StreamReactor final : public grpc::ServerBidiReactor<v1::AgentMessage, v1::ControllerMessage>,
                            public SessionTransport {
 public:
  StreamReactor(Fleet& fleet, const Revocations* revocations, const EnrolledTags* enrolled,
                const CertificateRenewer* renewer, grpc::CallbackServerContext* ctx)
      : fleet_(fleet), revocations_(revocations), enrolled_(enrolled), renewer_(renewer), ctx_(ctx) {
    peer_ = ctx->peer();
    if (auto auth = ctx->auth_context(); auth && auth->IsPeerAuthenticated()) {
      auto cn = auth->FindPropertyValues("x509_common_name");
      if (!cn.empty()) certificate_id_ = std::string(cn.front().data(), cn.front().size());
    }
    session_ = std::make_shared<AgentSession>(this, peer_);
    fleet_.session_started(session_);
    StartRead(&in_);
  }

  // SessionTransport
  bool send(const v1::ControllerMessage& message) override {
    std::lock_guard lock(mu_);
    if (finished_) return false;
    if (queue_.size() >= kMaxQueued) {
      lock_free_close(grpc::StatusCode::RESOURCE_EXHAUSTED, "agent does not read its stream");
      return false;
    }
    queue_.push_back(message);
    if (!writing_) {
      writing_ = true;
      StartWrite(&queue_.front());
    }
    return true;
  }

  void close(int code, const std::string& why) override {
    std::lock_guard lock(mu_);
    lock_free_close(code, why);
  }

  // Reactor
  void OnReadDone(bool ok) override {
    if (!ok) {
      close(grpc::StatusCode::OK, "");
      fleet_.session_ended(session_, ended_why());
      return;
    }
    if (size_t n = in_.ByteSizeLong(); n > fleet_.config().max_message_bytes) {
      log()->warn("stream from {} ({}): message of {} bytes is over the limit of {} bytes: closing it", peer_,
                  id_or_peer(), n, fleet_.config().max_message_bytes);
      refuse(grpc::StatusCode::RESOURCE_EXHAUSTED,
             fmt::format("message of {} bytes is over the limit of {}", n, fleet_.config().max_message_bytes));
      return;
    }
    if (!registered_) {
      if (!in_.has_hello()) {
        log()->warn("stream from {}: first message is not a Hello (kind {}): closing it", peer_,
                    static_cast<int>(in_.msg_case()));
        refuse(grpc::StatusCode::INVALID_ARGUMENT, "the first message must be a Hello");
        return;
      }
      if (auto revoked = revocations_ ? revocations_->find(certificate_id_) : std::nullopt; revoked) {
        auto why = revocations_->refusal(*revoked);
        log()->warn("stream from {} refused: {}", peer_, why);
        refuse(grpc::StatusCode::PERMISSION_DENIED, why);
        return;
      }
      if (enrolled_ && !certificate_id_.empty()) {
        std::map<std::string, std::string> claimed(in_.hello().tags().begin(), in_.hello().tags().end());
        if (auto why = enrolled_->refusal(certificate_id_, claimed)) {
          log()->warn("stream from {} refused: {}", peer_, *why);
          refuse(grpc::StatusCode::PERMISSION_DENIED, *why);
          return;
        }
      }
      auto r = fleet_.register_session(session_, in_.hello(), certificate_id_);
      if (!r) {
        log()->warn("refused: {}", r.error().describe());
        refuse(grpc::StatusCode::PERMISSION_DENIED, r.error().message);
        return;
      }
      registered_ = true;
      agent_id_ = in_.hello().agent_id();
    } else if (in_.has_hello()) {
      log()->warn("agent {} sent a second Hello on one stream: closing it", agent_id_);
      refuse(grpc::StatusCode::INVALID_ARGUMENT, "Hello may be sent only once per stream");
      return;
    } else if (in_.has_certificate_request()) {
      renew();
    } else {
      fleet_.on_message(session_, in_);
    }
    StartRead(&in_);
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mu_);
    queue_.pop_front();
    if (!ok || finished_ || queue_.empty()) {
      writing_ = false;
      return;
    }
    StartWrite(&queue_.front());
  }

  void OnCancel() override {
    {
      std::lock_guard lock(mu_);
      cancelled_ = true;
    }
    close(grpc::StatusCode::CANCELLED, "cancelled");
  }

  void OnDone() override {
    session_->detach();
    fleet_.session_ended(session_, ended_why());
    delete this;
  }

 private:
  // Every RPC is finished exactly once; reads and writes after that are not started.
  void lock_free_close(int code, const std::string& why) {
    if (finished_) return;
    finished_ = true;
    why_ = why;
    Finish(grpc::Status(static_cast<grpc::StatusCode>(code), why));
  }

  void refuse(int code, const std::string& why) {
    close(code, why);
    fleet_.session_ended(session_, why);
  }

  std::string ended_why() {
    std::lock_guard lock(mu_);
    if (!why_.empty()) return why_;
    return cancelled_ ? "stream broken (connection lost or cancelled)" : "agent closed its stream";
  }

  std::string id_or_peer() const { return agent_id_.empty() ? "before Hello" : agent_id_; }

  // A new certificate for the stream's own identity: the id its certificate names,
  // which is the id it registered as (an insecure stream has none and gets none).
  void renew() {
    v1::ControllerMessage reply;
    auto* issued = reply.mutable_certificate();
    if (certificate_id_.empty()) {
      issued->set_error("a stream without a client certificate has no certificate to renew");
    } else if (!*renewer_) {
      issued->set_error("this controller does not renew certificates");
    } else {
      *issued = (*renewer_)(certificate_id_, in_.certificate_request().csr_pem());
    }
    if (!issued->error().empty()) log()->warn("agent {}: certificate renewal refused: {}", agent_id_, issued->error());
    send(reply);
  }

  Fleet& fleet_;
  const Revocations* revocations_;
  const EnrolledTags* enrolled_;
  const CertificateRenewer* renewer_;
  grpc::CallbackServerContext* ctx_;
  std::string peer_;
  std::string certificate_id_;
  std::shared_ptr<AgentSession> session_;
  v1::AgentMessage in_;
  bool registered_ = false;  // reader side only
  std::string agent_id_;

  std::mutex mu_;
  std::deque<v1::ControllerMessage> queue_;
  bool writing_ = false;
  bool finished_ = false;
  bool cancelled_ = false;
  std::string why_;
};

// A follower's answer to every stream: finished at once, the Hello left unread.
class RefusingReactor final : public grpc::ServerBidiReactor<v1::AgentMessage, v1::ControllerMessage> {
 public:
  RefusingReactor(grpc::CallbackServerContext* ctx, const AgentRefusal& refusal) {
    if (!refusal.leader_address.empty()) ctx->AddTrailingMetadata(kLeaderAddressKey, refusal.leader_address);
    Finish(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, refusal.message));
  }
  void OnDone() override { delete this; }
};

class FollowerAgentService final : public v1::AgentService::CallbackService {
 public:
  explicit FollowerAgentService(AgentGate gate) : gate_(std::move(gate)) {}
  grpc::ServerBidiReactor<v1::AgentMessage, v1::ControllerMessage>* Connect(
      grpc::CallbackServerContext* context) override {
    auto refusal = gate_();
    log()->debug("agent stream from {} refused: {}", context->peer(), refusal.message);
    return new RefusingReactor(context, refusal);
  }

 private:
  AgentGate gate_;
};

}  // namespace

grpc::ServerBidiReactor<v1::AgentMessage, v1::ControllerMessage>* AgentService::Connect(
    grpc::CallbackServerContext* context) {
  return new StreamReactor(fleet_, revocations_, enrolled_, &renewer_, context);
}

Result<std::shared_ptr<grpc::ServerCredentials>> agent_server_credentials(const AgentServerConfig& config) {
  if (config.insecure) {
    for (int i = 0; i < 3; ++i) {
      log()->warn("!!! INSECURE: agent streams on {} are PLAINTEXT and UNAUTHENTICATED; any client may claim any "
                  "agent id. Use this in a lab only. !!!", config.listen);
    }
    return grpc::InsecureServerCredentials();
  }
  if (config.tls_ca.empty() || config.tls_cert.empty() || config.tls_key.empty()) {
    return make_error("the agent listener needs --tls-ca, --tls-cert and --tls-key (or --insecure for a lab)");
  }
  FD_ASSIGN(ca, read_small_file(config.tls_ca), "--tls-ca");
  FD_ASSIGN(pem, read_pem(config.tls_cert, config.tls_key), "controller certificate");
  grpc::SslServerCredentialsOptions opts(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  opts.pem_root_certs = ca;
  opts.pem_key_cert_pairs.push_back({pem.key, pem.cert});
  return grpc::SslServerCredentials(opts);
}

void tune_grpc_runtime() {
  // Debian's abseil checks every absl::Mutex acquisition for lock-order cycles (a
  // debugging aid): with ten thousand streams that bookkeeping is a large share of the
  // controller's CPU. gRPC's own lock order is not ours to verify in production.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
}

// BIO buffers must hold a whole TLS handshake flight (Debian's gRPC does not feed a
// flight in parts): ours (certificate chain, CertificateRequest naming the CA) and an
// agent's (its chain, signature, Finished). An agent's chain may be longer than ours
// (an intermediate CA, RSA keys), and a flight that does not fit fails the handshake
// with nothing better than gRPC's "handshake failed": twice our chain and the CA, and
// never under 8 KiB, leaves that room; OpenSSL's own 17 KiB is the most.
size_t bio_bytes_for(const AgentServerConfig& config) {
  std::error_code ec1, ec2;
  auto cert = std::filesystem::file_size(config.tls_cert, ec1);
  auto ca = std::filesystem::file_size(config.tls_ca, ec2);
  if (ec1 || ec2) return 17408;  // OpenSSL's default
  size_t need = (2 * (cert + ca) + 4096 + 1023) / 1024 * 1024;
  return std::clamp<size_t>(need, 8192, 17408);
}

Result<std::unique_ptr<grpc::Server>> build_agent_server(const AgentServerConfig& config, grpc::Service* service,
                                                         int* port) {
  tune_grpc_runtime();
  FD_ASSIGN(creds, agent_server_credentials(config), "agent listener");
  if (!config.insecure) {
    TlsMemorySettings tls;
    tls.bio_buffer_bytes = bio_bytes_for(config);
    if (shrink_tls_memory(tls)) {
      log()->info("TLS per connection: BIO buffers of {} bytes each way (an agent's handshake flight must fit: "
                  "certificate chain and signature), record buffers released when idle",
                  tls.bio_buffer_bytes);
    } else {
      log()->warn("TLS per connection: gRPC's default buffers (this executable does not take gRPC's OpenSSL calls)");
    }
  }
  grpc::ServerBuilder builder;
  builder.AddListeningPort(config.listen, creds, port);
  builder.RegisterService(service);
  // gRPC's own hard stop; the fleet logs and closes anything above max_message_bytes.
  builder.SetMaxReceiveMessageSize(static_cast<int>(config.max_message_bytes * 4));
  builder.SetMaxSendMessageSize(static_cast<int>(config.max_message_bytes * 4));
  // The fleet itself drops an agent that stops heartbeating (silent past its bound: the
  // lease rules at LeaseRenewal in proto/firedrill/v1/agent.proto), and agents watch
  // their streams themselves: our own keepalive is only the backstop for a dead TCP
  // peer. Every ping is two frames through TLS on a connection: at ten thousand agents
  // a 10 s keepalive was a sixth of the controller's idle CPU, a 60 s one still a
  // third of an idle fleet's traffic under renewal by heartbeat.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 300000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 5000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // Bandwidth-delay probing sizes flow-control windows for bulk transfers; agent
  // messages are a few hundred bytes, and every probe is one more PING round trip.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  // An agent holds one stream; more on one connection is not an agent.
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, 4);
  // Agent messages are small: smaller TLS frames and read chunks cost each of ten
  // thousand connections less buffer memory (a larger message takes a few more reads).
  builder.AddChannelArgument(GRPC_ARG_TSI_MAX_FRAME_SIZE, 2048);
  builder.AddChannelArgument(GRPC_ARG_TCP_READ_CHUNK_SIZE, 1024);
  builder.AddChannelArgument(GRPC_ARG_TCP_MAX_READ_CHUNK_SIZE, 4096);
  // Per-socket statistics for a debugging UI nobody runs here, on every message.
  builder.AddChannelArgument(GRPC_ARG_ENABLE_CHANNELZ, 0);
  auto server = builder.BuildAndStart();
  if (!server || *port == 0) return make_error("cannot listen for agents on {}", config.listen);
  return server;
}

Result<void> AgentServer::start(const AgentServerConfig& config) {
  FD_ASSIGN(server, build_agent_server(config, &service_, &port_), "agent listener");
  server_ = std::move(server);
  log()->info("listening for agents on {} (port {}, {})", config.listen, port_, config.insecure ? "INSECURE" : "mTLS");
  return ok();
}

FollowerAgentServer::FollowerAgentServer(AgentGate gate)
    : service_(std::make_unique<FollowerAgentService>(std::move(gate))) {}

FollowerAgentServer::~FollowerAgentServer() { stop(); }

Result<void> FollowerAgentServer::start(const AgentServerConfig& config) {
  FD_ASSIGN(server, build_agent_server(config, service_.get(), &port_), "agent listener");
  server_ = std::move(server);
  log()->info("listening for agents on {} (port {}, {}) as a follower: every stream is refused, naming the leader",
              config.listen, port_, config.insecure ? "INSECURE" : "mTLS");
  return ok();
}

void FollowerAgentServer::stop() {
  if (!server_) return;
  // Now: its streams are refusals, and this controller is about to lead on this port
  // (agents refused mid-answer ask again, within a second).
  server_->Shutdown(std::chrono::system_clock::now());
  server_.reset();
}

void AgentServer::stop() {
  if (!server_) return;
  fleet_.stop();
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  server_.reset();
}

}  // namespace firedrill::controller
