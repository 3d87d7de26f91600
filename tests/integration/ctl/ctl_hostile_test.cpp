// Hostile input on both ends of the agent stream, against the real binaries:
//  - a real controller gets clients without a certificate, with a certificate of
//    another CA, an agent claiming another agent's id, a stream that does not start
//    with Hello, oversized messages, and API calls with unknown fault kinds;
//  - a real agent gets, from a controller it trusts, unknown fault kinds, faults that
//    expired already, over-long ids, a lease out of range and an oversized message.
// Each is refused and logged, and both processes live on. Loopback only (127.0.0.1,
// ports chosen by the kernel).
#include <gtest/gtest.h>

#include <deque>
#include <filesystem>
#include <fstream>
#include <regex>

#include <grpcpp/grpcpp.h>

#include "common/time.h"
#include "controller/session/certs.h"
#include "firedrill/v1/agent.grpc.pb.h"
#include "firedrill/v1/controller.grpc.pb.h"
#include "tests/integration/ctl/ctl_lab.h"

namespace firedrill::ctltest {
namespace {

using controller::CertRole;
using controller::KeyType;
using controller::Pem;
using Stream = grpc::ClientReaderWriter<v1::AgentMessage, v1::ControllerMessage>;

struct TempDir {
  TempDir() {
    std::string t = "/tmp/" + tag() + "-hostile-XXXXXX";
    std::vector<char> b(t.begin(), t.end());
    b.push_back('\0');
    path = ::mkdtemp(b.data());
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string path;
};

void write(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

// The fleet's CA and certificates, and a rogue CA that signs an "h1" of its own.
struct Pki {
  explicit Pki(const std::string& dir) : dir(dir) {
    ca = *controller::make_ca("test CA", KeyType::kP256, 1);
    controller_cert = *controller::issue_cert(ca, CertRole::kController, "controller", {"127.0.0.1"}, KeyType::kP256, 1);
    h1 = *controller::issue_cert(ca, CertRole::kAgent, "h1", {}, KeyType::kEd25519, 1);
    auto rogue_ca = *controller::make_ca("rogue CA", KeyType::kP256, 1);
    rogue_h1 = *controller::issue_cert(rogue_ca, CertRole::kAgent, "h1", {}, KeyType::kP256, 1);
    write(dir + "/ca.pem", ca.cert);
    write(dir + "/controller.pem", controller_cert.cert);
    write(dir + "/controller.key", controller_cert.key);
    write(dir + "/h1.pem", h1.cert);
    write(dir + "/h1.key", h1.key);
  }
  std::shared_ptr<grpc::Channel> channel(int port, const Pem* client) const {
    grpc::SslCredentialsOptions o;
    o.pem_root_certs = ca.cert;
    if (client) {
      o.pem_cert_chain = client->cert;
      o.pem_private_key = client->key;
    }
    grpc::ChannelArguments args;
    args.SetMaxSendMessageSize(64 << 20);
    args.SetInt("fdc.unique", static_cast<int>(++channels));  // a connection of its own
    return grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(port), grpc::SslCredentials(o), args);
  }
  std::string dir;
  Pem ca, controller_cert, h1, rogue_h1;
  mutable std::atomic<int> channels{0};
};

v1::AgentMessage hello(const std::string& id) {
  v1::AgentMessage m;
  m.mutable_hello()->set_agent_id(id);
  m.mutable_hello()->set_version("hostile");
  *m.mutable_hello()->mutable_clock() = to_proto(WallClock::now());
  return m;
}

// Opens a stream, sends the messages, and returns how the controller ended it.
grpc::Status talk(const std::shared_ptr<grpc::Channel>& ch, const std::vector<v1::AgentMessage>& msgs,
                  std::chrono::milliseconds wait = 3s) {
  auto stub = v1::AgentService::NewStub(ch);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + wait);
  auto stream = stub->Connect(&ctx);
  for (auto& m : msgs) {
    if (!stream->Write(m)) break;
  }
  v1::ControllerMessage in;
  while (stream->Read(&in)) {
  }
  return stream->Finish();
}

class Hostile : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(::geteuid(), 0u) << "this suite runs the agent, which needs root"; }
};

TEST_F(Hostile, ControllerRefusesAndLogsHostileStreamsAndLivesOn) {
  TempDir dir;
  Pki pki(dir.path);
  Process serve(nullptr,
                {firedrill_binary(), "serve", "--listen", "127.0.0.1:0", "--tls-ca", dir.path + "/ca.pem", "--tls-cert",
                 dir.path + "/controller.pem", "--tls-key", dir.path + "/controller.key", "--state-dir",
                 dir.path + "/state", "--api", dir.path + "/api.sock", "--max-message-bytes", "1048576"},
                dir.path + "/serve.log");
  ASSERT_TRUE(serve.wait_log("ready")) << serve.log();
  std::smatch m;
  auto log = serve.log();
  ASSERT_TRUE(std::regex_search(log, m, std::regex(R"(\(port (\d+), mTLS\))"))) << log;
  int port = std::stoi(m[1]);

  // No client certificate: the TLS handshake fails; nothing registers.
  auto s = talk(pki.channel(port, nullptr), {hello("h1")});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  // A certificate of another CA: same.
  s = talk(pki.channel(port, &pki.rogue_h1), {hello("h1")});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  EXPECT_EQ(serve.log().find("agent h1 registered"), std::string::npos) << serve.log();

  // h1's certificate claiming h2.
  s = talk(pki.channel(port, &pki.h1), {hello("h2")});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(s.error_message().find("claims agent id 'h2' but its certificate is for 'h1'"), std::string::npos)
      << s.error_message();
  EXPECT_TRUE(serve.wait_log("refused: hello from", 2s));

  // A stream that does not start with Hello.
  v1::AgentMessage hb;
  hb.mutable_heartbeat();
  s = talk(pki.channel(port, &pki.h1), {hb});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_TRUE(serve.wait_log("first message is not a Hello", 2s));

  // Over the controller's limit (1 MiB) but under gRPC's: read, logged, closed.
  v1::AgentMessage big;
  big.mutable_heartbeat()->add_active_faults()->set_fault_id(std::string(2 << 20, 'x'));
  s = talk(pki.channel(port, &pki.h1), {hello("h1"), big});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  EXPECT_TRUE(serve.wait_log("is over the limit of 1048576 bytes: closing it", 2s)) << serve.log();
  // Over gRPC's own limit: refused before it is parsed.
  v1::AgentMessage huge;
  huge.mutable_heartbeat()->add_active_faults()->set_fault_id(std::string(8 << 20, 'y'));
  s = talk(pki.channel(port, &pki.h1), {hello("h1"), huge});
  EXPECT_FALSE(s.ok());
  // A second Hello on one stream.
  s = talk(pki.channel(port, &pki.h1), {hello("h1"), hello("h1")});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();

  // The API refuses faults of unknown kinds, and faults without a lease.
  auto api = v1::ControllerService::NewStub(
      grpc::CreateChannel("unix:" + dir.path + "/api.sock", grpc::InsecureChannelCredentials()));
  v1::InjectRequest req;
  ASSERT_TRUE(req.mutable_spec()->ParseFromString(std::string("\x98\x06\x01", 3)));  // field 99: a kind from the future
  *req.mutable_duration() = to_proto_duration(std::chrono::seconds(10));
  v1::InjectResponse resp;
  {
    grpc::ClientContext ctx;
    auto st = api->Inject(&ctx, req, &resp);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(st.error_message().find("unknown fault kind"), std::string::npos) << st.error_message();
  }
  req.mutable_spec()->mutable_network()->mutable_blackhole();
  req.clear_duration();
  {
    grpc::ClientContext ctx;
    auto st = api->Inject(&ctx, req, &resp);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(st.error_message().find("a duration is required"), std::string::npos) << st.error_message();
  }

  // Through all of it the controller lives, and a proper agent registers.
  ASSERT_TRUE(serve.running()) << serve.log();
  auto stub = v1::AgentService::NewStub(pki.channel(port, &pki.h1));
  grpc::ClientContext ctx;
  auto stream = stub->Connect(&ctx);
  ASSERT_TRUE(stream->Write(hello("h1")));
  v1::ControllerMessage first;
  ASSERT_TRUE(stream->Read(&first));
  EXPECT_TRUE(first.has_lease());
  auto agents = exec({firedrill_binary(), "agents", "--api", dir.path + "/api.sock"});
  EXPECT_NE(agents.out.find("1 agent(s), 1 live"), std::string::npos) << agents.out;
  ctx.TryCancel();
  (void)stream->Finish();
  EXPECT_EQ(serve.terminate(), 0) << serve.log();
}

// A controller the agent trusts, driven by the test: every command it is given goes
// down the stream, every answer comes back.
class FakeController final : public v1::AgentService::Service {
 public:
  grpc::Status Connect(grpc::ServerContext* ctx,
                       grpc::ServerReaderWriter<v1::ControllerMessage, v1::AgentMessage>* stream) override {
    v1::AgentMessage first;
    if (!stream->Read(&first)) return grpc::Status::OK;
    {
      std::lock_guard l(mu);
      hellos.push_back(first);
    }
    cv.notify_all();
    std::thread reader([&] {
      v1::AgentMessage m;
      while (stream->Read(&m)) {
        std::lock_guard l(mu);
        if (m.has_ack()) acks.push_back(m.ack());
        cv.notify_all();
      }
    });
    while (!ctx->IsCancelled()) {
      v1::ControllerMessage out;
      {
        std::unique_lock l(mu);
        if (!cv.wait_for(l, 100ms, [&] { return !outbox.empty(); })) continue;
        out = outbox.front();
        outbox.pop_front();
      }
      if (!stream->Write(out)) break;
    }
    reader.join();
    return grpc::Status::OK;
  }

  void send(v1::ControllerMessage m) {
    std::lock_guard l(mu);
    outbox.push_back(std::move(m));
    cv.notify_all();
  }
  std::optional<v1::Ack> ack_for(uint64_t id, std::chrono::milliseconds within = 5s) {
    std::unique_lock l(mu);
    std::optional<v1::Ack> out;
    cv.wait_for(l, within, [&] {
      for (auto& a : acks) {
        if (a.command_id() == id) {
          out = a;
          return true;
        }
      }
      return false;
    });
    return out;
  }
  bool wait_hellos(size_t n, std::chrono::milliseconds within = 15s) {
    std::unique_lock l(mu);
    return cv.wait_for(l, within, [&] { return hellos.size() >= n; });
  }

  std::mutex mu;
  std::condition_variable cv;
  std::deque<v1::ControllerMessage> outbox;
  std::vector<v1::Ack> acks;
  std::vector<v1::AgentMessage> hellos;
};

v1::ControllerMessage apply(uint64_t id, const std::string& fault_id, WallTime expires) {
  v1::ControllerMessage m;
  m.set_command_id(id);
  m.mutable_apply()->set_fault_id(fault_id);
  m.mutable_apply()->mutable_spec()->mutable_network()->mutable_blackhole();
  *m.mutable_apply()->mutable_expires_at() = to_proto(expires);
  return m;
}

TEST_F(Hostile, AgentRefusesAndLogsHostileCommandsAndLivesOn) {
  TempDir dir;
  Pki pki(dir.path);
  FakeController fake;
  grpc::SslServerCredentialsOptions so(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  so.pem_root_certs = pki.ca.cert;
  so.pem_key_cert_pairs.push_back({pki.controller_cert.key, pki.controller_cert.cert});
  grpc::ServerBuilder b;
  int port = 0;
  b.AddListeningPort("127.0.0.1:0", grpc::SslServerCredentials(so), &port);
  b.RegisterService(&fake);
  b.SetMaxSendMessageSize(64 << 20);
  auto server = b.BuildAndStart();
  ASSERT_TRUE(server && port > 0);

  // No --interface: this agent manages nothing on the host; everything it is sent
  // here is refused before an engine is asked.
  Process agent(nullptr,
                {agent_binary(), "--id", "h1", "--controller", "127.0.0.1:" + std::to_string(port), "--tls-ca",
                 dir.path + "/ca.pem", "--tls-cert", dir.path + "/h1.pem", "--tls-key", dir.path + "/h1.key",
                 "--state-dir", dir.path + "/agent", "--lease-grace", "30s", "--tag", "dc=test"},
                dir.path + "/agent.log");
  ASSERT_TRUE(fake.wait_hellos(1)) << agent.log();
  {
    std::lock_guard l(fake.mu);
    EXPECT_EQ(fake.hellos[0].hello().agent_id(), "h1");
    EXPECT_EQ(fake.hellos[0].hello().tags().at("dc"), "test");
    EXPECT_GT(fake.hellos[0].hello().capabilities().features_size(), 0);
  }

  // A fault kind from the future: the oneof is unset on this agent.
  v1::ControllerMessage unknown;
  unknown.set_command_id(1);
  unknown.mutable_apply()->set_fault_id("f-unknown");
  ASSERT_TRUE(unknown.mutable_apply()->mutable_spec()->ParseFromString(std::string("\x98\x06\x01", 3)));
  *unknown.mutable_apply()->mutable_expires_at() = to_proto(WallClock::now() + std::chrono::seconds(30));
  fake.send(unknown);
  auto a = fake.ack_for(1);
  ASSERT_TRUE(a) << agent.log();
  EXPECT_EQ(a->status(), v1::ACK_REFUSED);
  EXPECT_NE(a->error().find("unknown fault kind"), std::string::npos) << a->error();

  // A fault whose lease ended before it arrived.
  fake.send(apply(2, "f-past", WallClock::now() - std::chrono::seconds(5)));
  a = fake.ack_for(2);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->status(), v1::ACK_REFUSED);
  EXPECT_NE(a->error().find("is not in the future"), std::string::npos) << a->error();

  // An id too long to be one of ours.
  fake.send(apply(3, std::string(300, 'i'), WallClock::now() + std::chrono::seconds(30)));
  a = fake.ack_for(3);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->status(), v1::ACK_REFUSED);
  EXPECT_NE(a->error().find("at most 128"), std::string::npos) << a->error();

  // A lease renewal out of range is answered (renewals in range are not).
  v1::ControllerMessage lease;
  lease.set_command_id(4);
  *lease.mutable_lease()->mutable_grace() = to_proto_duration(std::chrono::hours(2));
  fake.send(lease);
  a = fake.ack_for(4);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->status(), v1::ACK_REFUSED);
  EXPECT_NE(a->error().find("out of range"), std::string::npos) << a->error();

  // An oversized message: the agent's stream refuses it, the agent logs it and
  // comes back with a new Hello.
  auto huge = apply(5, "f-huge", WallClock::now() + std::chrono::seconds(30));
  huge.mutable_apply()->mutable_spec()->mutable_network()->add_interfaces(std::string(6 << 20, 'e'));
  fake.send(huge);
  ASSERT_TRUE(fake.wait_hellos(2)) << agent.log();
  EXPECT_TRUE(agent.wait_log("larger than max", 2s)) << agent.log();
  EXPECT_FALSE(fake.ack_for(5, 200ms));

  // Still obeying: a revert of a fault it does not hold is answered "not in effect".
  v1::ControllerMessage revert;
  revert.set_command_id(6);
  revert.mutable_revert()->set_fault_id("f-none");
  fake.send(revert);
  a = fake.ack_for(6);
  ASSERT_TRUE(a) << agent.log();
  EXPECT_EQ(a->status(), v1::ACK_NOT_IN_EFFECT);

  ASSERT_TRUE(agent.running()) << agent.log();
  auto log = agent.log();
  EXPECT_NE(log.find("refused: fault f-unknown: unknown fault kind"), std::string::npos) << log;
  EXPECT_NE(log.find("refused: fault f-past"), std::string::npos) << log;
  EXPECT_EQ(agent.terminate(), 0) << agent.log();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
}

}  // namespace
}  // namespace firedrill::ctltest
