// The agent's side of the lease rules (LeaseRenewal in proto/firedrill/v1/agent.proto)
// against an in-process controller on loopback: the agent asks for renewal by
// heartbeat, paces its heartbeats to what it holds, keeps a fault for as long as its
// heartbeats are answered, and reverts it (never before the grace has passed since the
// last answer) and drops the stream once they are not.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <map>
#include <set>
#include <mutex>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "agent/core/command_handler.h"
#include "agent/core/fault_manager.h"
#include "agent/session/controller_session.h"
#include "firedrill/v1/agent.grpc.pb.h"

namespace firedrill::agent {
namespace {

using namespace std::chrono_literals;

constexpr auto kGrace = 900ms;
constexpr auto kHeartbeat = 200ms;
constexpr auto kIdle = 1s;

// Holds network faults in memory and notes when each was reverted.
class MemoryEngine : public FaultEngine {
 public:
  std::string_view name() const override { return "network"; }
  bool handles(const v1::FaultSpec& s) const override { return s.has_network(); }
  Result<void> check(const v1::FaultSpec&) const override { return ok(); }
  Result<void> apply(const std::string& id, const v1::FaultSpec&) override {
    std::lock_guard l(mu);
    live.insert(id);
    return ok();
  }
  Result<void> revert(const std::string& id) override {
    std::lock_guard l(mu);
    live.erase(id);
    reverted_at[id] = SteadyClock::now();
    return ok();
  }
  v1::FaultCounters counters(const std::string&) const override { return {}; }
  bool holds(const std::string& id) {
    std::lock_guard l(mu);
    return live.count(id) > 0;
  }
  std::mutex mu;
  std::set<std::string> live;
  std::map<std::string, SteadyClock::time_point> reverted_at;
};

// A controller of the new rules that answers heartbeats while told to, and sends one
// ApplyFault after a heartbeat when asked.
class FakeController final : public v1::AgentService::Service {
 public:
  grpc::Status Connect(grpc::ServerContext*,
                       grpc::ServerReaderWriter<v1::ControllerMessage, v1::AgentMessage>* stream) override {
    v1::AgentMessage in;
    if (!stream->Read(&in) || !in.has_hello()) return {grpc::StatusCode::INVALID_ARGUMENT, "no Hello"};
    {
      std::lock_guard l(mu);
      hellos.push_back(in.hello());
    }
    cv.notify_all();
    note_answer();  // before the write: never later than the agent hears it
    if (!stream->Write(lease(in.hello().clock()))) return grpc::Status::OK;
    while (stream->Read(&in)) {
      bool answer = false, apply = false;
      google::protobuf::Timestamp clock = in.heartbeat().clock();
      {
        std::lock_guard l(mu);
        if (in.has_heartbeat()) {
          heartbeats.push_back(in.heartbeat());
          answer = answering;
          apply = std::exchange(apply_next, false);
        }
        if (in.has_ack()) acks.push_back(in.ack());
      }
      cv.notify_all();
      if (answer) {
        note_answer();
        if (!stream->Write(lease(clock))) break;
      }
      if (apply) {
        v1::ControllerMessage m;
        m.set_command_id(7);
        m.mutable_apply()->set_fault_id("f1");
        m.mutable_apply()->mutable_spec()->mutable_network()->mutable_blackhole();
        *m.mutable_apply()->mutable_expires_at() = to_proto(WallClock::now() + 60s);
        note_answer();
        if (!stream->Write(m)) break;
      }
    }
    return grpc::Status::OK;
  }

  // Stamped as the controller does: our clock, and the agent's it answers.
  static v1::ControllerMessage lease(const google::protobuf::Timestamp& agent_clock) {
    v1::ControllerMessage m;
    *m.mutable_lease()->mutable_controller_clock() = to_proto(WallClock::now());
    *m.mutable_lease()->mutable_echo() = agent_clock;
    *m.mutable_lease()->mutable_grace() = to_proto_duration(kGrace);
    *m.mutable_lease()->mutable_heartbeat_interval() = to_proto_duration(kHeartbeat);
    *m.mutable_lease()->mutable_idle_heartbeat_interval() = to_proto_duration(kIdle);
    return m;
  }
  void note_answer() {
    std::lock_guard l(mu);
    answers.push_back(SteadyClock::now());
  }
  template <typename F>
  bool wait(F done, std::chrono::milliseconds within = 5s) {
    std::unique_lock l(mu);
    return cv.wait_for(l, within, done);
  }

  std::mutex mu;
  std::condition_variable cv;
  std::vector<v1::Hello> hellos;
  std::vector<v1::Heartbeat> heartbeats;
  std::vector<v1::Ack> acks;
  bool answering = true;
  bool apply_next = false;
  std::vector<SteadyClock::time_point> answers;  // every message written
};

// The fake controller, served on loopback.
struct Served {
  Served() {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&controller);
    server = builder.BuildAndStart();
  }
  ~Served() {
    if (server) server->Shutdown(std::chrono::system_clock::now() + 1s);
  }
  bool up() const { return server && port > 0; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port); }
  FakeController controller;
  int port = 0;
  std::unique_ptr<grpc::Server> server;
};

// A real agent session and fault manager over one MemoryEngine; the session is
// stopped first, before what it reports to.
struct LeaseAgent {
  LeaseAgent(const std::string& id, std::vector<std::string> controllers) {
    config.id = id;
    config.controllers = std::move(controllers);
    config.insecure = true;
    config.lease_grace = kGrace;
    session = std::make_unique<ControllerSession>(config);
    auto owned = std::make_unique<MemoryEngine>();
    engine = owned.get();
    std::vector<std::unique_ptr<FaultEngine>> engines;
    engines.push_back(std::move(owned));
    faults = std::make_unique<FaultManager>(std::move(engines), session.get());
    handler = std::make_unique<CommandHandler>(*faults);
  }
  ~LeaseAgent() { session->stop(); }
  Result<void> start() { return session->start(*handler, *faults); }
  AgentConfig config;
  MemoryEngine* engine = nullptr;
  std::unique_ptr<ControllerSession> session;
  std::unique_ptr<FaultManager> faults;
  std::unique_ptr<CommandHandler> handler;
};

TEST(AgentLease, HeartbeatsRenewTheLeaseAtThePaceOfWhatIsHeldAndSilenceRevertsAfterTheGrace) {
  Served served;
  ASSERT_TRUE(served.up());
  auto& controller = served.controller;
  LeaseAgent agent("lease-agent", {served.address()});
  auto* engine = agent.engine;
  ASSERT_TRUE(agent.start());

  // It asks for renewal by heartbeat, and holding nothing it heartbeats at the idle pace.
  ASSERT_TRUE(controller.wait([&] { return !controller.hellos.empty(); }));
  {
    std::lock_guard l(controller.mu);
    EXPECT_TRUE(controller.hellos[0].lease_by_heartbeat());
  }
  ASSERT_TRUE(controller.wait([&] {
    return !controller.heartbeats.empty() &&
           from_proto(controller.heartbeats.back().next_within()) == std::chrono::nanoseconds(kIdle);
  }));
  // Its heartbeats report the round trip of clocks of the renewal before (ClockExchange):
  // the clock it stamped, ours, and when it read our answer.
  ASSERT_TRUE(controller.wait([&] { return controller.heartbeats.back().has_exchange(); }));
  {
    std::lock_guard l(controller.mu);
    const auto& x = controller.heartbeats.back().exchange();
    bool echoed = from_proto(x.agent_sent()) == from_proto(controller.hellos[0].clock());
    for (auto& hb : controller.heartbeats) echoed = echoed || from_proto(hb.clock()) == from_proto(x.agent_sent());
    EXPECT_TRUE(echoed) << "agent_sent is no clock the agent stamped";
    EXPECT_GE(from_proto(x.agent_received()), from_proto(x.agent_sent()));
    EXPECT_LE(from_proto(x.agent_received()) - from_proto(x.agent_sent()), std::chrono::seconds(5));
  }

  // A fault: from its ack on, heartbeats come at the active pace, a third of the grace.
  {
    std::lock_guard l(controller.mu);
    controller.apply_next = true;
  }
  ASSERT_TRUE(controller.wait([&] { return !controller.acks.empty(); }));
  size_t after_ack;
  {
    std::lock_guard l(controller.mu);
    EXPECT_EQ(controller.acks[0].status(), v1::ACK_APPLIED);
    after_ack = controller.heartbeats.size();
  }
  ASSERT_TRUE(controller.wait([&] {
    return controller.heartbeats.size() > after_ack + 1 &&
           from_proto(controller.heartbeats.back().next_within()) == std::chrono::nanoseconds(kGrace / 3);
  }));

  // Answered heartbeats are its only renewals: the fault outlives several graces.
  std::this_thread::sleep_for(kGrace * 4);
  EXPECT_TRUE(engine->holds("f1")) << "the dead-man switch reverted a fault whose heartbeats were answered";

  // Unanswered: the dead-man switch reverts it, never before the grace since the last
  // answer, and the silent stream is dropped for a new one (a second Hello).
  {
    std::lock_guard l(controller.mu);
    controller.answering = false;
  }
  ASSERT_TRUE(controller.wait([&] { return controller.hellos.size() >= 2; }, 10s))
      << "the agent kept a silent stream";
  std::vector<SteadyClock::time_point> answers;
  {
    std::lock_guard l(controller.mu);
    answers = controller.answers;
    auto& again = controller.hellos[1];
    ASSERT_EQ(again.reverted_while_away_size(), 1);
    EXPECT_EQ(again.reverted_while_away(0).fault_id(), "f1");
    EXPECT_EQ(again.reverted_while_away(0).reason(), v1::REVERT_LEASE_LOST);
  }
  EXPECT_FALSE(engine->holds("f1"));
  SteadyClock::time_point reverted;
  {
    std::lock_guard l(engine->mu);
    ASSERT_TRUE(engine->reverted_at.count("f1"));
    reverted = engine->reverted_at["f1"];
  }
  // The last word the agent heard before it reverted (the second stream's lease came
  // after): the grace had passed since it.
  SteadyClock::time_point before{};
  for (auto t : answers) {
    if (t < reverted) before = std::max(before, t);
  }
  ASSERT_NE(before, SteadyClock::time_point{});
  EXPECT_GE(reverted - before, kGrace) << "reverted before the grace had passed since the controller's last word";
}

// A controller of the list that is gone (its port refuses) is passed over at once:
// the agent waited out a 2 s connect deadline on each try of a dead leader's address,
// which with a leader lease and a follower's refusals spent most of a grace before it
// reached the new leader.
TEST(AgentLease, ADeadControllerOfTheListIsPassedOverAtOnce) {
  // A loopback port that refuses: bound, never listened on, then closed.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len), 0);
  ::close(fd);
  std::string dead = "127.0.0.1:" + std::to_string(ntohs(sa.sin_port));

  Served served;
  ASSERT_TRUE(served.up());
  LeaseAgent agent("list-agent", {dead, served.address()});
  auto began = SteadyClock::now();
  ASSERT_TRUE(agent.start());
  ASSERT_TRUE(served.controller.wait([&] { return !served.controller.hellos.empty(); }, 10s));
  // The refusal ends the try (then the backoff's first step, 0.2 s): well inside the
  // 2 s the old deadline waited on every try.
  EXPECT_LT(SteadyClock::now() - began, 1500ms);
}

}  // namespace
}  // namespace firedrill::agent
