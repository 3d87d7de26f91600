// controller/auth: roles and approval policy from configuration entries, and the
// identity of a TLS caller (its verified client certificate, never a local name).
#include <gtest/gtest.h>
#include <unistd.h>

#include <grpcpp/grpcpp.h>

#include "controller/auth/access.h"
#include "controller/auth/identity.h"
#include "controller/session/certs.h"
#include "firedrill/v1/controller.grpc.pb.h"
#include "firedrill/v1/evidence.grpc.pb.h"
#include "firedrill/v1/run.grpc.pb.h"

namespace firedrill::auth {
namespace {

Caller unix_user(const std::string& name, uid_t uid, std::vector<std::string> groups = {}) {
  Caller c;
  c.name = name;
  c.uid = uid;
  c.groups = std::move(groups);
  c.via = "unix socket";
  return c;
}

Caller cert(const std::string& cn) {
  Caller c;
  c.name = "cn:" + cn;
  c.via = "tls";
  return c;
}

TEST(Access, RolesFromEntries) {
  AccessConfig cfg;
  cfg.viewers = {"group:auditors"};
  cfg.operators = {"alice", "cn:ops-dashboard"};
  cfg.approvers = {"group:sre-leads"};
  cfg.admins = {"uid:4242"};
  cfg.api_group = "firedrill";
  cfg.controller_uid = 999;
  auto a = Access::make(cfg);
  ASSERT_TRUE(a) << a.error().message;

  EXPECT_TRUE(a->allow(unix_user("root", 0), Action::kAdmin));
  EXPECT_TRUE(a->allow(unix_user("firedrill", 999), Action::kAdmin));  // the controller's own user
  EXPECT_TRUE(a->allow(unix_user("x", 4242), Action::kAdmin));
  EXPECT_TRUE(a->allow(unix_user("alice", 1000), Action::kHalt));
  EXPECT_FALSE(a->allow(unix_user("alice", 1000), Action::kApprove));
  EXPECT_FALSE(a->allow(unix_user("alice", 1000), Action::kAdmin));
  EXPECT_TRUE(a->allow(unix_user("bob", 1001, {"firedrill"}), Action::kOperate));  // the socket's group
  auto aud = unix_user("carol", 1002, {"auditors"});
  EXPECT_TRUE(a->allow(aud, Action::kRead));
  auto refused = a->allow(aud, Action::kHalt);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().message,
            "carol (uid 1002) may not halt: that needs the operator role (carol has viewer; roles are set in the "
            "controller's configuration)");
  EXPECT_FALSE(a->allow(unix_user("mallory", 1003), Action::kRead));
  // A certificate is never a local user: CN=root is no admin, and a CN matches only cn: entries.
  EXPECT_FALSE(a->allow(cert("root"), Action::kRead));
  EXPECT_FALSE(a->allow(cert("alice"), Action::kRead));
  EXPECT_TRUE(a->allow(cert("ops-dashboard"), Action::kOperate));
}

TEST(Access, ApprovalPolicyPerEnvironment) {
  AccessConfig cfg;
  cfg.approvers = {"group:sre-leads", "dave"};
  cfg.approval_policy = {"production=2:group:sre-leads", "*=1"};
  auto a = Access::make(cfg);
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->rule_for("production")->required, 2u);
  EXPECT_EQ(a->rule_for("staging")->required, 1u);  // "*"
  EXPECT_EQ(a->rule_for("")->required, 1u);
  auto lead = unix_user("erin", 1004, {"sre-leads"});
  EXPECT_TRUE(a->may_approve(lead, "production", "alice"));
  auto own = a->may_approve(lead, "production", "erin");
  ASSERT_FALSE(own);
  EXPECT_NE(own.error().message.find("started this run and may not approve it"), std::string::npos);
  auto dave = a->may_approve(unix_user("dave", 1005), "production", "alice");
  ASSERT_FALSE(dave);
  EXPECT_NE(dave.error().message.find("the policy asks for 2 approval(s) from group:sre-leads"), std::string::npos)
      << dave.error().message;
  EXPECT_TRUE(a->may_approve(unix_user("dave", 1005), "staging", "alice"));
}

TEST(Access, BadEntriesNamed) {
  auto check = [](AccessConfig cfg, const std::string& want) {
    auto a = Access::make(cfg);
    ASSERT_FALSE(a) << want;
    EXPECT_NE(a.error().message.find(want), std::string::npos) << a.error().message;
  };
  AccessConfig c;
  c.operators = {"uid:abc"};
  check(c, "operator 'uid:abc': uid:N takes a number");
  c = {};
  c.admins = {"host:x"};
  check(c, "admin 'host:x': the prefixes are group:, uid: and cn:");
  c = {};
  c.viewers = {"group:"};
  check(c, "viewer 'group:': a name is missing");
  c = {};
  c.approval_policy = {"production"};
  check(c, "approval policy 'production': no environment");
  c = {};
  c.approval_policy = {"production=two"};
  check(c, "the count of approvals is not a number");
  c = {};
  c.approval_policy = {"production=2", "production=3"};
  check(c, "environment production given twice");
}

// GetStatus answers with the caller's name, as the API's handlers see it.
class WhoAmI final : public v1::ControllerService::Service {
  grpc::Status GetStatus(grpc::ServerContext* ctx, const v1::ControllerStatusRequest*, v1::ControllerStatus* out) override {
    auto c = caller_of(*ctx, nullptr);
    if (!c) return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, c.error().message);
    out->set_halted_reason(c->name);
    return grpc::Status::OK;
  }
};

TEST(Identity, ClientCertificateNamesTheCaller) {
  using controller::CertRole;
  using controller::KeyType;
  auto ca = controller::make_ca("test CA", KeyType::kP256, 1);
  ASSERT_TRUE(ca);
  auto server_cert = controller::issue_cert(*ca, CertRole::kController, "controller", {"127.0.0.1"}, KeyType::kP256, 1);
  auto client_cert = controller::issue_cert(*ca, CertRole::kAgent, "root", {}, KeyType::kP256, 1);
  ASSERT_TRUE(server_cert && client_cert);
  grpc::SslServerCredentialsOptions so(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  so.pem_root_certs = ca->cert;
  so.pem_key_cert_pairs.push_back({server_cert->key, server_cert->cert});
  WhoAmI service;
  int port = 0;
  grpc::ServerBuilder b;
  b.AddListeningPort("127.0.0.1:0", grpc::SslServerCredentials(so), &port);
  b.RegisterService(&service);
  auto server = b.BuildAndStart();
  ASSERT_TRUE(server && port > 0);

  grpc::SslCredentialsOptions co;
  co.pem_root_certs = ca->cert;
  co.pem_cert_chain = client_cert->cert;
  co.pem_private_key = client_cert->key;
  auto stub = v1::ControllerService::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::SslCredentials(co)));
  grpc::ClientContext ctx;
  v1::ControllerStatus out;
  auto s = stub->GetStatus(&ctx, {}, &out);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(out.halted_reason(), "cn:root");  // never the local user root
  server->Shutdown();
}

TEST(Identity, UnknownPeerIsNotIdentified) {
  // A plaintext TCP peer is neither a certificate nor an API socket connection.
  WhoAmI service;
  int port = 0;
  grpc::ServerBuilder b;
  b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  b.RegisterService(&service);
  auto server = b.BuildAndStart();
  auto stub = v1::ControllerService::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  v1::ControllerStatus out;
  auto s = stub->GetStatus(&ctx, {}, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(s.error_message().find("is not identified"), std::string::npos) << s.error_message();
  server->Shutdown();
}

TEST(Identity, UnixCallerWithoutUserEntry) {
  auto c = unix_caller(64999, 64999, 1);
  EXPECT_EQ(c.name, "uid:64999");
  EXPECT_EQ(c.describe(), "uid:64999 (uid 64999)");
  auto root = unix_caller(0, 0, 1);
  EXPECT_EQ(root.name, "root");
  EXPECT_EQ(std::count(root.groups.begin(), root.groups.end(), "root"), 1);
}

// No call of the operators' API carries who is calling: the identity is the
// connection's. The fields that once did stay reserved, so an old CLI's request
// still parses (and its claim is dropped unread).
TEST(Identity, NoRequestNamesItsCaller) {
  const google::protobuf::FileDescriptor* files[] = {v1::InjectRequest::descriptor()->file(),
                                                     v1::AbortRunRequest::descriptor()->file(),
                                                     v1::AddFindingRequest::descriptor()->file()};
  int methods = 0;
  for (const auto* file : files) {
    for (int s = 0; s < file->service_count(); ++s) {
      const auto* service = file->service(s);
      for (int m = 0; m < service->method_count(); ++m, ++methods) {
        const auto* in = service->method(m)->input_type();
        for (const char* name : {"requested_by", "created_by"}) {
          EXPECT_EQ(in->FindFieldByName(name), nullptr) << in->full_name() << "." << name;
        }
      }
    }
  }
  EXPECT_GT(methods, 20);
  struct Reserved {
    const google::protobuf::Descriptor* message;
    int number;
  };
  for (auto [message, number] : {Reserved{v1::InjectRequest::descriptor(), 7}, Reserved{v1::RevertRunRequest::descriptor(), 2},
                                 Reserved{v1::HaltRequest::descriptor(), 2}, Reserved{v1::ReleaseRequest::descriptor(), 1},
                                 Reserved{v1::AbortRunRequest::descriptor(), 3}, Reserved{v1::AddScheduleRequest::descriptor(), 3},
                                 Reserved{v1::AddFindingRequest::descriptor(), 7},
                                 Reserved{v1::CloseFindingRequest::descriptor(), 4}}) {
    EXPECT_TRUE(message->IsReservedNumber(number)) << message->full_name() << " " << number;
  }
}

}  // namespace
}  // namespace firedrill::auth
