// The fault manager's lifetimes and the command handler's refusals, with a recording
// engine (a unit test of logic: the real engines have their own privileged suites).
#include <gtest/gtest.h>

#include <thread>

#include <google/protobuf/text_format.h>

#include "agent/core/command_handler.h"
#include "agent/core/config.h"
#include "agent/core/fault_manager.h"
#include "common/fault_kind.h"

namespace firedrill::agent {
namespace {

using namespace std::chrono_literals;

class RecordingEngine : public FaultEngine {
 public:
  std::string_view name() const override { return "network"; }
  bool handles(const v1::FaultSpec& s) const override { return s.has_network(); }
  Result<void> check(const v1::FaultSpec& s) const override {
    if (s.network().interfaces_size() > 0 && s.network().interfaces(0) == "forbidden") {
      return make_error("interface forbidden is not managed by this agent");
    }
    return ok();
  }
  Result<void> apply(const std::string& id, const v1::FaultSpec&) override {
    std::lock_guard l(mu);
    applied.push_back(id);
    live.insert(id);
    return ok();
  }
  Result<void> revert(const std::string& id) override {
    std::lock_guard l(mu);
    reverted.push_back(id);
    live.erase(id);
    return ok();
  }
  v1::FaultCounters counters(const std::string&) const override { return {}; }

  bool is_live(const std::string& id) {
    std::lock_guard l(mu);
    return live.count(id) > 0;
  }
  std::mutex mu;
  std::vector<std::string> applied, reverted;
  std::set<std::string> live;
};

struct Events : EventSink {
  void emit(const v1::Event& e) override {
    std::lock_guard l(mu);
    events.push_back(e);
  }
  size_t count(v1::Event::KindCase k) {
    std::lock_guard l(mu);
    return std::count_if(events.begin(), events.end(), [k](auto& e) { return e.kind_case() == k; });
  }
  std::mutex mu;
  std::vector<v1::Event> events;
};

v1::ApplyFault blackhole(const std::string& id, std::chrono::milliseconds lease,
                         std::chrono::milliseconds delay = 0ms) {
  v1::ApplyFault a;
  a.set_fault_id(id);
  a.mutable_spec()->mutable_network()->mutable_blackhole();
  auto now = WallClock::now();
  *a.mutable_not_before() = to_proto(now + delay);
  *a.mutable_expires_at() = to_proto(now + delay + lease);
  return a;
}

struct Fixture : ::testing::Test {
  Fixture() {
    auto e = std::make_unique<RecordingEngine>();
    engine = e.get();
    std::vector<std::unique_ptr<FaultEngine>> v;
    v.push_back(std::move(e));
    manager = std::make_unique<FaultManager>(std::move(v), &events);
  }
  template <typename F>
  bool eventually(F f, std::chrono::milliseconds within = 2s) {
    auto end = SteadyClock::now() + within;
    while (SteadyClock::now() < end) {
      if (f()) return true;
      std::this_thread::sleep_for(5ms);
    }
    return f();
  }
  Events events;
  RecordingEngine* engine;
  std::unique_ptr<FaultManager> manager;
};

TEST_F(Fixture, AppliesAndExpiresOnItsOwnTimer) {
  auto r = manager->apply(blackhole("f1", 150ms));
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(*r, v1::ACK_APPLIED);
  EXPECT_TRUE(engine->is_live("f1"));
  EXPECT_TRUE(eventually([&] { return !engine->is_live("f1"); }));
  EXPECT_TRUE(manager->empty());
  ASSERT_EQ(events.count(v1::Event::kReverted), 1u);
  EXPECT_EQ(events.events.back().reverted().reason(), v1::REVERT_EXPIRED);
}

TEST_F(Fixture, SchedulesAtNotBefore) {
  auto r = manager->apply(blackhole("f2", 1s, 200ms));
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, v1::ACK_SCHEDULED);
  EXPECT_FALSE(engine->is_live("f2"));
  EXPECT_TRUE(eventually([&] { return engine->is_live("f2"); }));
}

// An engine that stages: called ahead, with the instant it must start at.
class StagingEngine : public RecordingEngine {
 public:
  std::chrono::milliseconds stage_ahead() const override { return 300ms; }
  Result<void> apply_at(const std::string& id, const v1::FaultSpec& spec, WallTime start) override {
    {
      std::lock_guard l(mu);
      called_at = WallClock::now();
      start_at = start;
    }
    return apply(id, spec);
  }
  std::vector<v1::FaultEffect> effects(const std::string&) const override {
    v1::FaultEffect e;
    e.set_part("network cut");
    *e.mutable_at() = to_proto(start_at);
    return {e};
  }
  WallTime called_at{}, start_at{};
};

TEST(FaultManagerStaging, AStagingEngineIsCalledAheadWithItsStartAndReportsItsEffects) {
  Events events;
  auto e = std::make_unique<StagingEngine>();
  auto* engine = e.get();
  std::vector<std::unique_ptr<FaultEngine>> v;
  v.push_back(std::move(e));
  FaultManager manager(std::move(v), &events);
  auto cmd = blackhole("st", 5s, 800ms);
  auto not_before = from_proto(cmd.not_before());
  auto r = manager.apply(cmd);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, v1::ACK_SCHEDULED);
  auto deadline = SteadyClock::now() + 3s;
  while (events.count(v1::Event::kApplied) == 0 && SteadyClock::now() < deadline) std::this_thread::sleep_for(5ms);
  ASSERT_TRUE(engine->is_live("st"));
  std::lock_guard l(engine->mu);
  EXPECT_EQ(engine->start_at, not_before);
  EXPECT_LT(engine->called_at, not_before - 200ms) << "not staged ahead";
  EXPECT_GE(engine->called_at, not_before - 350ms);
  ASSERT_EQ(events.count(v1::Event::kApplied), 1u);
  auto& applied = events.events.back().applied();
  ASSERT_EQ(applied.effects_size(), 1);
  EXPECT_EQ(from_proto(applied.effects(0).at()), not_before);
  EXPECT_TRUE(applied.has_clock());
  // Status shows it in effect from not_before, not from the staging.
  auto active = manager.active();
  ASSERT_EQ(active.size(), 1u);
  EXPECT_GE(from_proto(active[0].applied_at()), not_before);
}

TEST_F(Fixture, ApplyIsIdempotentAndRevertOfUnknownSucceeds) {
  ASSERT_TRUE(manager->apply(blackhole("f3", 5s)));
  ASSERT_TRUE(manager->apply(blackhole("f3", 5s)));
  EXPECT_EQ(engine->applied.size(), 1u);
  auto other = blackhole("f3", 5s);
  other.mutable_spec()->mutable_network()->mutable_partition();
  auto r = manager->apply(other);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("different spec"), std::string::npos);
  EXPECT_TRUE(manager->revert("f3", v1::REVERT_REQUESTED));
  EXPECT_TRUE(manager->revert("f3", v1::REVERT_REQUESTED));
  EXPECT_TRUE(manager->revert("never-was", v1::REVERT_REQUESTED));
  EXPECT_EQ(engine->reverted.size(), 1u);
}

TEST_F(Fixture, RefusesBadLeasesAndKinds) {
  struct Case {
    const char* what;
    v1::ApplyFault cmd;
    const char* says;
  };
  auto past = blackhole("p", 1s);
  *past.mutable_expires_at() = to_proto(WallClock::now() - 1s);
  auto none = blackhole("n", 1s);
  none.clear_expires_at();
  auto unknown = blackhole("u", 1s);
  unknown.mutable_spec()->clear_kind();
  auto noid = blackhole("", 1s);
  auto far = blackhole("far", std::chrono::hours(48));
  auto forbidden = blackhole("fb", 1s);
  forbidden.mutable_spec()->mutable_network()->add_interfaces("forbidden");
  auto proc = blackhole("pr", 1s);
  proc.mutable_spec()->mutable_process()->mutable_kill();
  std::vector<Case> cases = {
      {"expiry in the past", past, "not in the future"},
      {"no expiry", none, "no expires_at"},
      {"unknown kind", unknown, "unknown fault kind"},
      {"no id", noid, "no fault_id"},
      {"lease over 24h", far, "more than 24h"},
      {"engine refuses", forbidden, "not managed"},
      {"no engine", proc, "no engine on this agent handles process.kill"},
  };
  for (auto& c : cases) {
    auto r = manager->apply(c.cmd);
    ASSERT_FALSE(r) << c.what;
    EXPECT_NE(r.error().message.find(c.says), std::string::npos) << c.what << ": " << r.error().message;
  }
  EXPECT_TRUE(engine->applied.empty());
}

TEST_F(Fixture, RevertAllAndShutdownLeaveNothing) {
  ASSERT_TRUE(manager->apply(blackhole("a", 5s)));
  ASSERT_TRUE(manager->apply(blackhole("b", 5s)));
  EXPECT_EQ(manager->revert_all(v1::REVERT_LEASE_LOST), 2u);
  EXPECT_TRUE(engine->live.empty());
  ASSERT_TRUE(manager->apply(blackhole("c", 5s)));
  manager.reset();
  EXPECT_TRUE(engine->live.empty());
}

TEST_F(Fixture, HandlerAnswersEveryCommand) {
  CommandHandler handler(*manager);
  std::chrono::nanoseconds renewed{};
  handler.on_lease([&](auto g) { renewed = g; });

  v1::ControllerMessage m;
  m.set_command_id(7);
  *m.mutable_apply() = blackhole("h1", 5s);
  auto reply = handler.handle(m, v1::REVERT_REQUESTED);
  ASSERT_TRUE(reply.has_ack());
  EXPECT_EQ(reply.ack().command_id(), 7u);
  EXPECT_EQ(reply.ack().status(), v1::ACK_APPLIED);

  m.Clear();
  m.mutable_status();
  reply = handler.handle(m, v1::REVERT_REQUESTED);
  ASSERT_TRUE(reply.has_heartbeat());
  ASSERT_EQ(reply.heartbeat().active_faults_size(), 1);
  EXPECT_EQ(reply.heartbeat().active_faults(0).fault_id(), "h1");

  m.Clear();
  m.mutable_lease()->mutable_grace()->set_seconds(3);
  EXPECT_EQ(handler.handle(m, v1::REVERT_REQUESTED).ack().status(), v1::ACK_APPLIED);
  EXPECT_EQ(renewed, 3s);
  m.mutable_lease()->mutable_grace()->set_seconds(-1);
  EXPECT_EQ(handler.handle(m, v1::REVERT_REQUESTED).ack().status(), v1::ACK_REFUSED);

  m.Clear();  // no kind at all
  reply = handler.handle(m, v1::REVERT_REQUESTED);
  EXPECT_EQ(reply.ack().status(), v1::ACK_REFUSED);
  EXPECT_NE(reply.ack().error().find("unknown command"), std::string::npos);

  m.Clear();
  m.mutable_revert_all()->set_reason("test");
  EXPECT_EQ(handler.handle(m, v1::REVERT_REQUESTED).ack().status(), v1::ACK_APPLIED);
  EXPECT_TRUE(manager->empty());
}

TEST(Config, ParsesAllowEntriesAndTags) {
  auto a = parse_allow("10.9.0.1,tcp,7443");
  ASSERT_TRUE(a) << a.error().describe();
  EXPECT_EQ(a->peer_cidr(), "10.9.0.1");
  EXPECT_EQ(a->protocol(), v1::L4_TCP);
  EXPECT_EQ(a->peer_ports().first(), 7443u);
  EXPECT_EQ(a->peer_ports().last(), 7443u);
  auto b = parse_allow("fd00::/8,udp,53-54");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->peer_ports().last(), 54u);
  EXPECT_FALSE(parse_allow("10.0.0.1,gre"));
  EXPECT_FALSE(parse_allow("10.0.0.1,tcp,70000"));
  EXPECT_FALSE(parse_allow("10.0.0.1,tcp,9-8"));
  EXPECT_FALSE(parse_allow(""));
  auto t = parse_tag("dc=pangyo");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->first, "dc");
  EXPECT_EQ(t->second, "pangyo");
  EXPECT_FALSE(parse_tag("=x"));
  EXPECT_FALSE(parse_tag("noequals"));
  EXPECT_FALSE(parse_tag("bad key=x"));
}


// The names are part of the protocol (an agent's Hello lists them, the controller
// matches on them), so each one is pinned here.
TEST(FaultKind, NamesEveryKind) {
  auto kind_of = [](const char* text) {
    v1::FaultSpec s;
    EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &s)) << text;
    return fault_kind(s);
  };
  EXPECT_EQ(kind_of("network { drop { percent: 10 } }"), "network.drop");
  EXPECT_EQ(kind_of("network { blackhole {} }"), "network.blackhole");
  EXPECT_EQ(kind_of("network { partition { peer_cidrs: \"10.0.0.0/8\" } }"), "network.partition");
  EXPECT_EQ(kind_of("network {}"), "network.unknown");
  EXPECT_EQ(kind_of("process { kill {} }"), "process.kill");
  EXPECT_EQ(kind_of("process { keep_down {} }"), "process.keep_down");
  EXPECT_EQ(kind_of("process { freeze {} }"), "process.freeze");
  EXPECT_EQ(kind_of("process {}"), "process.unknown");
  EXPECT_EQ(kind_of("power_loss {}"), "power_loss");
  EXPECT_EQ(kind_of(""), "unknown");
}

}  // namespace
}  // namespace firedrill::agent
