// Remote callers of the operators' API: a real `firedrill serve --api-listen` (mutual
// TLS with the fleet's CA) and the real CLI with client certificates made by
// `firedrill certs`. The caller is the certificate's common name (cn:NAME), mapped to
// roles by the controller's own access settings; a client without a certificate of
// the fleet's CA never gets a call through.
#include <gtest/gtest.h>
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <filesystem>
#include <regex>
#include <thread>

#include "common/spawn.h"
#include "firedrill/v1/controller.grpc.pb.h"
#include "tests/support/process.h"

namespace firedrill {
namespace {

using support::Exec;

class ApiTls : public ::testing::Test {
 protected:
  void SetUp() override {
    char t[] = "/tmp/fd-apitls-XXXXXX";
    ASSERT_NE(::mkdtemp(t), nullptr);
    dir_ = t;
    certs_ = dir_ + "/certs";
    rogue_ = dir_ + "/rogue";
    for (const auto& args : {"certs init --dir " + certs_, "certs controller --dir " + certs_,
                             "certs client --dir " + certs_ + " --id viewer-1",
                             "certs client --dir " + certs_ + " --id operator-1",
                             "certs client --dir " + certs_ + " --id nobody-1",
                             // Another CA, and a client certificate it signed with an operator's name.
                             "certs init --dir " + rogue_, "certs client --dir " + rogue_ + " --id operator-1"}) {
      auto r = cli(args);
      ASSERT_EQ(r.code, 0) << args << ": " << r.out;
    }
    SpawnOptions o;
    o.argv = {FDC_FIREDRILL_BIN, "serve", "--listen", "127.0.0.1:0", "--tls-ca", certs_ + "/ca.pem",
              "--tls-cert", certs_ + "/controller.pem", "--tls-key", certs_ + "/controller.key",
              "--state-dir", dir_ + "/state", "--api", dir_ + "/api.sock", "--api-listen", "127.0.0.1:0",
              "--viewer", "cn:viewer-1", "--operator", "cn:operator-1"};
    o.output_file = dir_ + "/serve.log";
    auto pid = start(o);
    ASSERT_TRUE(pid) << pid.error().describe();
    pid_ = *pid;
    std::smatch m;
    std::string log;
    for (int i = 0; i < 100; ++i) {
      log = support::read_file(dir_ + "/serve.log");
      if (std::regex_search(log, m, std::regex(R"(over TLS on 127\.0\.0\.1:0 \(port (\d+)\))"))) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ASSERT_FALSE(m.empty()) << log;
    address_ = "127.0.0.1:" + m[1].str();
  }
  void TearDown() override {
    support::stop_group(pid_);
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  Exec cli(const std::string& args) {
    return support::sh(std::string(FDC_FIREDRILL_BIN) + " " + args + " 2>&1", std::chrono::seconds(30));
  }
  // The CLI against the TLS API with client certificate `who` of `dir`. Nothing in
  // the environment names the caller (no FIREDRILL_API socket to fall back on).
  Exec remote(const std::string& dir, const std::string& who, const std::string& args) {
    return cli(fmt::format("{} --api https://{} --tls-cert {}/client-{}.pem --tls-key {}/client-{}.key --tls-ca {}/ca.pem",
                           args, address_, dir, who, dir, who, certs_));
  }
  // A call through `creds`: what the controller answers (or that it never did).
  grpc::Status list_agents(const std::shared_ptr<grpc::ChannelCredentials>& creds) {
    auto stub = v1::ControllerService::NewStub(grpc::CreateChannel(address_, creds));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    v1::ListAgentsRequest req;
    v1::ListAgentsResponse resp;
    return stub->ListAgents(&ctx, req, &resp);
  }

  std::string dir_, certs_, rogue_, address_;
  pid_t pid_ = -1;
};

TEST_F(ApiTls, AViewerCertificateReadsAndCannotInject) {
  auto runs = remote(certs_, "viewer-1", "runs");
  EXPECT_EQ(runs.code, 0) << runs.out;
  auto inject = remote(certs_, "viewer-1", "inject --selector host=nowhere --for 5s --fault blackhole --detach");
  EXPECT_NE(inject.code, 0);
  EXPECT_NE(inject.out.find("cn:viewer-1 (client certificate) may not operate"), std::string::npos) << inject.out;
  auto halt = remote(certs_, "viewer-1", "halt --reason test");
  EXPECT_NE(halt.code, 0);
  EXPECT_NE(halt.out.find("cn:viewer-1 (client certificate) may not halt"), std::string::npos) << halt.out;
}

TEST_F(ApiTls, AnOperatorCertificateInjectsAndHalts) {
  // Past the role check: the inject is refused only for its selection (no agents).
  auto inject = remote(certs_, "operator-1", "inject --selector host=nowhere --for 5s --fault blackhole --detach");
  EXPECT_EQ(inject.out.find("may not"), std::string::npos) << inject.out;
  EXPECT_NE(inject.out.find("host=nowhere"), std::string::npos) << inject.out;
  auto halt = remote(certs_, "operator-1", "halt --reason drill");
  EXPECT_EQ(halt.code, 0) << halt.out;
  // The halt is recorded under the certificate's name.
  auto log = support::read_file(dir_ + "/serve.log");
  EXPECT_NE(log.find("cn:operator-1"), std::string::npos) << log;
  EXPECT_EQ(remote(certs_, "operator-1", "release").code, 0);
  // A certificate of the fleet without a role reads nothing.
  auto nobody = remote(certs_, "nobody-1", "runs");
  EXPECT_NE(nobody.code, 0);
  EXPECT_NE(nobody.out.find("cn:nobody-1 (client certificate) may not read"), std::string::npos) << nobody.out;
}

TEST_F(ApiTls, ACertificateOfAnotherCaIsRefused) {
  // Its common name is an operator's; its CA is not the fleet's.
  auto halt = remote(rogue_, "operator-1", "halt --reason forged");
  EXPECT_NE(halt.code, 0);
  EXPECT_NE(halt.out.find("no controller answers"), std::string::npos) << halt.out;
  // The halt never happened (its reason would be in the log).
  auto log = support::read_file(dir_ + "/serve.log");
  EXPECT_EQ(log.find("forged"), std::string::npos) << log;
}

TEST_F(ApiTls, AClientWithoutCertificateIsRefused) {
  // Plain TCP: no TLS at all.
  auto plain = list_agents(grpc::InsecureChannelCredentials());
  EXPECT_EQ(plain.error_code(), grpc::StatusCode::UNAVAILABLE) << plain.error_message();
  // TLS that trusts the controller but shows no certificate of its own.
  grpc::SslCredentialsOptions o;
  o.pem_root_certs = support::read_file(certs_ + "/ca.pem");
  auto anonymous = list_agents(grpc::SslCredentials(o));
  EXPECT_EQ(anonymous.error_code(), grpc::StatusCode::UNAVAILABLE) << anonymous.error_message();
  // The same channel with the viewer's certificate gets through: the refusals above are
  // the missing certificate's.
  o.pem_cert_chain = support::read_file(certs_ + "/client-viewer-1.pem");
  o.pem_private_key = support::read_file(certs_ + "/client-viewer-1.key");
  auto viewer = list_agents(grpc::SslCredentials(o));
  EXPECT_TRUE(viewer.ok()) << viewer.error_message();
  // The CLI asks for the files before it dials.
  auto no_files = cli("runs --api https://" + address_);
  EXPECT_EQ(no_files.code, 2);
  EXPECT_NE(no_files.out.find("a remote API needs --tls-cert, --tls-key and --tls-ca"), std::string::npos) << no_files.out;
}

}  // namespace
}  // namespace firedrill
