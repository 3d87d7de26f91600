// Upgrading the controller first: an agent of the previous minor release (0.1.0) still
// connects. Its Hello is encoded with that release's own schema (protoc --encode against
// tests/data/agent-0.1.0/proto, the files of the v0.1.0 tag), sent as bytes to a
// controller of this build over a real gRPC stream, and what the controller sends back
// (its lease, then the apply of an inject aimed at the old agent) is decoded with the
// old schema again: the old agent would understand every field it needs.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <atomic>
#include <mutex>
#include <regex>
#include <thread>

#include "firedrill/v1/agent.grpc.pb.h"
#include "tests/integration/ctl/ctl_lab.h"

namespace firedrill::ctltest {
namespace {

namespace fs = std::filesystem;
using support::read_file;
using support::sh;

const std::string kData = FDC_AGENT_010;

std::string q(const std::string& s) { return "'" + s + "'"; }

// protoc --encode/--decode of an AgentMessage/ControllerMessage with the 0.1.0 schema.
std::string old_protoc(const std::string& mode, const std::string& type, const std::string& in_path) {
  auto r = sh("protoc " + mode + "=firedrill.v1." + type + " -I " + q(kData + "/proto") +
              " -I /usr/include firedrill/v1/agent.proto < " + q(in_path));
  if (r.code != 0) throw std::runtime_error("protoc " + mode + " " + type + ": " + r.out);
  return r.out;
}

class PreviousRelease : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/fdc-prev-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    api_ = dir_ + "/api.sock";
    controller_ = std::make_unique<Process>(
        nullptr,
        std::vector<std::string>{firedrill_binary(), "serve", "--insecure", "--listen", "127.0.0.1:0", "--state-dir",
                                 dir_ + "/state", "--api", api_, "--lease-grace", "5s", "--log-level", "info"},
        dir_ + "/controller.log");
    ASSERT_TRUE(controller_->wait_log("ready", 15s)) << controller_->log();
    std::smatch m;
    std::string log = controller_->log();
    ASSERT_TRUE(std::regex_search(log, m, std::regex(R"(agents on 127\.0\.0\.1:0 \(port (\d+)\))"))) << log;
    port_ = m[1].str();
  }
  void TearDown() override {
    if (HasFailure() && controller_) std::cerr << "--- controller log\n" << controller_->log();
    controller_.reset();
    fs::remove_all(dir_);
  }
  Exec cli(const std::string& args) const {
    return sh("FIREDRILL_API=" + q(api_) + " " + q(firedrill_binary()) + " " + args);
  }
  std::string dir_, api_, port_;
  std::unique_ptr<Process> controller_;
};

TEST_F(PreviousRelease, AnAgentOf010RegistersAndUnderstandsWhatItIsSent) {
  // The old Hello, with the clock of now, as the old schema encodes it.
  std::string text = read_file(kData + "/hello.textpb");
  auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch());
  text = std::regex_replace(text, std::regex("CLOCK"), std::to_string(now.count()));
  std::ofstream(dir_ + "/hello.txt") << text;
  std::ofstream(dir_ + "/hello.bin", std::ios::binary) << old_protoc("--encode", "AgentMessage", dir_ + "/hello.txt");
  v1::AgentMessage hello;
  ASSERT_TRUE(hello.ParseFromString(read_file(dir_ + "/hello.bin")));
  ASSERT_EQ(hello.hello().version(), "0.1.0");

  auto stub = v1::AgentService::NewStub(
      grpc::CreateChannel("127.0.0.1:" + port_, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  auto stream = stub->Connect(&ctx);
  std::mutex write_mu;
  auto write = [&](const v1::AgentMessage& msg) {
    std::lock_guard lock(write_mu);
    return stream->Write(msg);
  };
  ASSERT_TRUE(write(hello));
  // Heartbeats as 0.1.0 sends them (the clock is field 1 in both schemas), each 500 ms.
  std::ofstream(dir_ + "/beat.txt") << "heartbeat { clock { seconds: 1 } }\n";
  v1::AgentMessage beat;
  ASSERT_TRUE(beat.ParseFromString(old_protoc("--encode", "AgentMessage", dir_ + "/beat.txt")));
  std::atomic<bool> done{false};
  std::thread beats([&] {
    while (!done) {
      auto t = std::chrono::system_clock::now().time_since_epoch();
      beat.mutable_heartbeat()->mutable_clock()->set_seconds(std::chrono::duration_cast<std::chrono::seconds>(t).count());
      beat.mutable_heartbeat()->mutable_clock()->set_nanos(
          static_cast<int32_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(t).count() % 1000000000));
      if (!write(beat)) return;
      std::this_thread::sleep_for(500ms);
    }
  });
  struct Join {
    std::atomic<bool>& done;
    std::thread& t;
    ~Join() {
      done = true;
      if (t.joinable()) t.join();
    }
  } join_beats{done, beats};

  // Reads the next message and decodes it with the old schema.
  auto next_old = [&](v1::ControllerMessage& m) {
    if (!stream->Read(&m)) return std::string();
    std::ofstream(dir_ + "/msg.bin", std::ios::binary) << m.SerializeAsString();
    return old_protoc("--decode", "ControllerMessage", dir_ + "/msg.bin");
  };
  v1::ControllerMessage m;
  std::string first = next_old(m);
  ASSERT_FALSE(first.empty()) << "the controller closed the old agent's stream";
  EXPECT_NE(first.find("lease {"), std::string::npos) << first;
  EXPECT_NE(first.find("grace {"), std::string::npos) << first;

  auto agents = cli("agents");
  ASSERT_EQ(agents.code, 0) << agents.out;
  EXPECT_NE(agents.out.find("old-h1"), std::string::npos) << agents.out;
  EXPECT_NE(agents.out.find("0.1.0"), std::string::npos) << agents.out;

  // An inject aimed at it arrives as an apply the old agent decodes: the fault id, a
  // blackhole, its expiry. The CLI waits for the answer meanwhile.
  Exec inject;
  std::thread injecting([&] { inject = cli("inject -l rack=p1 --fault blackhole --for 30s --detach"); });
  std::string apply;
  for (int i = 0; i < 40 && apply.find("apply {") == std::string::npos; ++i) apply = next_old(m);
  EXPECT_NE(apply.find("apply {"), std::string::npos) << apply;
  EXPECT_NE(apply.find("blackhole {"), std::string::npos) << apply;
  EXPECT_NE(apply.find("expires_at {"), std::string::npos) << apply;
  EXPECT_NE(apply.find("fault_id: \"" + m.apply().fault_id() + "\""), std::string::npos) << apply;

  // Its answer, in the old schema, is taken: the run has the fault applied on it.
  std::ofstream(dir_ + "/ack.txt") << "ack { command_id: " << m.command_id() << " status: ACK_APPLIED }\n";
  v1::AgentMessage ack;
  EXPECT_TRUE(ack.ParseFromString(old_protoc("--encode", "AgentMessage", dir_ + "/ack.txt")));
  EXPECT_TRUE(write(ack));
  injecting.join();
  EXPECT_EQ(inject.code, 0) << inject.out;
  EXPECT_NE(inject.out.find("old-h1"), std::string::npos) << inject.out;
  EXPECT_NE(inject.out.find("applied"), std::string::npos) << inject.out;
  ctx.TryCancel();
}

}  // namespace
}  // namespace firedrill::ctltest
