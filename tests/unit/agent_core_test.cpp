// The fault manager's lifetimes and the command handler's refusals, with a recording
// engine (a unit test of logic: the real engines have their own privileged suites).
#include <sys/timex.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <condition_variable>
#include <filesystem>
#include <future>
#include <map>
#include <set>
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
  Result<void> apply(const std::string& id, const v1::FaultSpec& s) override {
    std::lock_guard l(mu);
    if (!fail_apply.empty() && s.network().interfaces_size() > 0 && s.network().interfaces(0) == fail_apply) {
      return make_error("interface {}: no such interface", fail_apply);
    }
    applied.push_back(id);
    live.insert(id);
    return ok();
  }
  Result<void> revert(const std::string& id) override {
    std::chrono::milliseconds delay;
    {
      std::lock_guard l(mu);
      ++revert_calls[id];
      if (fail_revert.count(id)) return make_error("thaw {}: device or resource busy", id);
      delay = revert_delay;
    }
    std::this_thread::sleep_for(delay);  // a slow revert (a cgroup that takes its time to thaw)
    std::lock_guard l(mu);
    reverted.push_back(id);
    live.erase(id);
    return ok();
  }
  int calls(const std::string& id) {
    std::lock_guard l(mu);
    return revert_calls[id];
  }
  void set_failing(const std::string& id, bool failing) {
    std::lock_guard l(mu);
    if (failing) {
      fail_revert.insert(id);
    } else {
      fail_revert.erase(id);
    }
  }
  v1::FaultCounters counters(const std::string&) const override { return {}; }

  bool is_live(const std::string& id) {
    std::lock_guard l(mu);
    return live.count(id) > 0;
  }
  std::mutex mu;
  std::vector<std::string> applied, reverted;
  std::set<std::string> live;
  std::set<std::string> fail_revert;
  std::string fail_apply;
  std::map<std::string, int> revert_calls;
  std::chrono::milliseconds revert_delay{0};
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
  std::vector<v1::Event> of(v1::Event::KindCase k) {
    std::lock_guard l(mu);
    std::vector<v1::Event> out;
    for (auto& e : events) {
      if (e.kind_case() == k) out.push_back(e);
    }
    return out;
  }
  std::mutex mu;
  std::vector<v1::Event> events;
};

// Polls `cond` every 5 ms until it holds or `within` has passed; its last answer.
template <typename F>
bool eventually(F cond, std::chrono::milliseconds within = 2s) {
  for (auto deadline = SteadyClock::now() + within; !cond() && SteadyClock::now() < deadline;) {
    std::this_thread::sleep_for(5ms);
  }
  return cond();
}

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

// A manager over `engines`, tried in order.
template <typename... E>
std::unique_ptr<FaultManager> manager_of(Events& events, std::unique_ptr<E>... engines) {
  std::vector<std::unique_ptr<FaultEngine>> v;
  (v.push_back(std::move(engines)), ...);
  return std::make_unique<FaultManager>(std::move(v), &events);
}

TEST(FaultManagerStaging, AStagingEngineIsCalledAheadWithItsStartAndReportsItsEffects) {
  Events events;
  auto e = std::make_unique<StagingEngine>();
  auto* engine = e.get();
  auto owner = manager_of(events, std::move(e));
  auto& manager = *owner;
  auto cmd = blackhole("st", 5s, 800ms);
  auto not_before = from_proto(cmd.not_before());
  auto r = manager.apply(cmd);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, v1::ACK_SCHEDULED);
  eventually([&] { return events.count(v1::Event::kApplied) > 0; }, 3s);
  ASSERT_TRUE(engine->is_live("st"));
  std::lock_guard l(engine->mu);
  EXPECT_EQ(engine->start_at, not_before);
  EXPECT_LT(engine->called_at, not_before - 200ms) << "not staged ahead";
  EXPECT_GE(engine->called_at, not_before - 350ms);
  ASSERT_EQ(events.count(v1::Event::kApplied), 1u);
  auto& applied = events.events.back().applied();
  // Told applied when it is on (not_before), not when it was staged: the controller
  // starts observing from that answer.
  EXPECT_GE(from_proto(events.events.back().at()), not_before);
  ASSERT_EQ(applied.effects_size(), 1);
  EXPECT_EQ(from_proto(applied.effects(0).at()), not_before);
  ASSERT_TRUE(applied.has_clock());
  // The kernel's own view of the clock (adjtimex), as it was a moment ago: its max
  // error grows by at most 500 ppm of the time since, or is reset by a sync.
  timex tx{};
  int state = ::adjtimex(&tx);
  EXPECT_EQ(applied.clock().synchronized(), state != TIME_ERROR && !(tx.status & STA_UNSYNC));
  EXPECT_NEAR(double(applied.clock().max_error_us()), double(tx.maxerror), 100000.0);
  EXPECT_NEAR(double(applied.clock().est_error_us()), double(tx.esterror), 100000.0);
  // Status shows it in effect from not_before, not from the staging.
  auto active = manager.active();
  ASSERT_EQ(active.size(), 1u);
  EXPECT_GE(from_proto(active[0].applied_at()), not_before);
}

// A power loss as the fault manager sees it: prepared ahead, staged ahead, and its
// apply_at parked until its instant (here: until the test opens the gate, at most 10 s).
class ParkingEngine : public FaultEngine {
 public:
  std::string_view name() const override { return "power_loss"; }
  bool handles(const v1::FaultSpec& s) const override { return s.has_power_loss(); }
  Result<void> check(const v1::FaultSpec&) const override { return ok(); }
  std::chrono::milliseconds prepare_ahead() const override { return 5s; }
  std::chrono::milliseconds stage_ahead() const override { return stage; }
  Result<void> prepare(const std::string& id, const v1::FaultSpec&) override {
    push("prepare " + id);
    return ok();
  }
  Result<void> apply(const std::string& id, const v1::FaultSpec& s) override { return apply_at(id, s, WallTime{}); }
  Result<void> apply_at(const std::string& id, const v1::FaultSpec&, WallTime) override {
    std::unique_lock l(mu);
    calls.push_back("apply_at " + id);
    cv.notify_all();
    cv.wait_for(l, 10s, [&] { return open; });
    return ok();
  }
  Result<void> revert(const std::string& id) override {
    std::unique_lock l(mu);
    calls.push_back("revert " + id);
    cv.notify_all();
    if (park_revert) cv.wait_for(l, 10s, [&] { return revert_open; });
    return ok();
  }
  v1::FaultCounters counters(const std::string&) const override { return {}; }
  void push(std::string call) {
    std::lock_guard l(mu);
    calls.push_back(std::move(call));
    cv.notify_all();
  }
  bool called(const std::string& call, std::chrono::milliseconds within) {
    std::unique_lock l(mu);
    return cv.wait_for(l, within, [&] { return std::count(calls.begin(), calls.end(), call) > 0; });
  }
  void release() {
    std::lock_guard l(mu);
    open = true;
    cv.notify_all();
  }
  void release_revert() {
    std::lock_guard l(mu);
    revert_open = true;
    cv.notify_all();
  }
  std::chrono::milliseconds stage{300};
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> calls;
  bool open = false;
  bool park_revert = false;  // revert parks until release_revert() (a slow remount)
  bool revert_open = false;
};

v1::ApplyFault power_loss(const std::string& id, std::chrono::milliseconds delay,
                          std::chrono::milliseconds lease = 30s) {
  v1::ApplyFault a;
  a.set_fault_id(id);
  a.mutable_spec()->mutable_power_loss();
  auto now = WallClock::now();
  *a.mutable_not_before() = to_proto(now + delay);
  *a.mutable_expires_at() = to_proto(now + delay + lease);
  return a;
}

// A power loss parked waiting for its instant holds up nothing else: another fault's
// lease ends and is reverted while it waits (the timer used to be the thread parked in
// it, for up to the whole staging).
TEST(FaultManagerStaging, AnotherFaultExpiresWhileAStagedApplyIsParked) {
  Events events;
  auto p = std::make_unique<ParkingEngine>();
  auto r = std::make_unique<RecordingEngine>();
  auto* parking = p.get();
  auto* recording = r.get();
  parking->stage = 20s;  // staged at once, parked until the gate opens
  auto owner = manager_of(events, std::move(p), std::move(r));
  auto& manager = *owner;
  ASSERT_TRUE(manager.apply(power_loss("pl", 15s)));
  ASSERT_TRUE(parking->called("apply_at pl", 5s)) << "never staged";
  ASSERT_TRUE(manager.apply(blackhole("short", 100ms)));
  // Its event is emitted just after the engine's revert: wait for that.
  eventually([&] { return events.count(v1::Event::kReverted) > 0; }, 5s);
  EXPECT_FALSE(recording->is_live("short")) << "the expiry waited for the parked power loss";
  EXPECT_EQ(events.count(v1::Event::kReverted), 1u);
  {
    std::lock_guard l(parking->mu);
    EXPECT_FALSE(parking->open);
  }
  // Status answers meanwhile, and shows the power loss scheduled.
  auto active = manager.active();
  ASSERT_EQ(active.size(), 1u);
  EXPECT_EQ(active[0].fault_id(), "pl");
  EXPECT_FALSE(active[0].has_applied_at());
  parking->release();
  ASSERT_TRUE(manager.revert("pl", v1::REVERT_REQUESTED));
  EXPECT_TRUE(parking->called("revert pl", 0ms));
}

// A slow revert at a lease's end (a power loss's remount and boot hooks) holds up no
// other fault's expiry: the timer used to call the engine itself and waited in it.
TEST(FaultManagerStaging, AnotherFaultExpiresWhileAnExpiredPowerLossIsBeingReverted) {
  Events events;
  auto p = std::make_unique<ParkingEngine>();
  auto r = std::make_unique<RecordingEngine>();
  auto* parking = p.get();
  auto* recording = r.get();
  parking->park_revert = true;
  parking->release();  // applied at its instant
  auto owner = manager_of(events, std::move(p), std::move(r));
  auto& manager = *owner;
  ASSERT_TRUE(manager.apply(power_loss("pl", 0ms, 300ms)));
  ASSERT_TRUE(parking->called("revert pl", 5s)) << "the lease's end never came";
  ASSERT_TRUE(manager.apply(blackhole("short", 100ms)));
  eventually([&] { return !recording->is_live("short"); }, 5s);
  EXPECT_FALSE(recording->is_live("short")) << "the expiry waited for the power loss's revert";
  {
    std::lock_guard l(parking->mu);
    EXPECT_FALSE(parking->revert_open);
    // Reverted once: the timer did not pick it again while its revert ran.
    EXPECT_EQ(std::count(parking->calls.begin(), parking->calls.end(), "revert pl"), 1);
  }
  // Status answers meanwhile and still holds the power loss.
  auto active = manager.active();
  ASSERT_EQ(active.size(), 1u);
  EXPECT_EQ(active[0].fault_id(), "pl");
  parking->release_revert();
  EXPECT_TRUE(eventually([&] { return manager.empty(); }, 5s));
  EXPECT_EQ(events.count(v1::Event::kReverted), 2u);
}

// What is slow to set up is prepared well ahead, on a thread of its own; a fault
// reverted before its staging has its preparation dropped by its engine.
TEST(FaultManagerStaging, PreparedAheadAndDroppedWhenRevertedBeforeItsInstant) {
  Events events;
  auto p = std::make_unique<ParkingEngine>();
  auto* parking = p.get();
  auto owner = manager_of(events, std::move(p));
  auto& manager = *owner;
  ASSERT_TRUE(manager.apply(power_loss("pl", 3s)));
  ASSERT_TRUE(parking->called("prepare pl", 2s)) << "not prepared ahead";
  ASSERT_TRUE(manager.revert("pl", v1::REVERT_REQUESTED));
  std::lock_guard l(parking->mu);
  EXPECT_EQ(parking->calls, (std::vector<std::string>{"prepare pl", "revert pl"}));
  EXPECT_EQ(events.count(v1::Event::kApplied), 0u);
}

TEST_F(Fixture, ApplyIsIdempotentAndRevertOfUnknownSaysNotInEffect) {
  ASSERT_TRUE(manager->apply(blackhole("f3", 5s)));
  ASSERT_TRUE(manager->apply(blackhole("f3", 5s)));
  EXPECT_EQ(engine->applied.size(), 1u);
  auto other = blackhole("f3", 5s);
  other.mutable_spec()->mutable_network()->mutable_partition();
  auto r = manager->apply(other);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("different spec"), std::string::npos);
  auto first = manager->revert("f3", v1::REVERT_REQUESTED);
  ASSERT_TRUE(first);
  EXPECT_TRUE(first->was_in_effect);
  // A second revert did nothing: it says so, and when and why the fault ended.
  auto again = manager->revert("f3", v1::REVERT_REQUESTED);
  ASSERT_TRUE(again);
  EXPECT_FALSE(again->was_in_effect);
  EXPECT_NE(again->note.find("fault f3 was not in effect: it ended at"), std::string::npos) << again->note;
  EXPECT_NE(again->note.find("REVERT_REQUESTED"), std::string::npos) << again->note;
  auto never = manager->revert("never-was", v1::REVERT_REQUESTED);
  ASSERT_TRUE(never);
  EXPECT_FALSE(never->was_in_effect);
  EXPECT_EQ(never->note, "fault never-was was not in effect (not held by this agent)");
  EXPECT_EQ(engine->reverted.size(), 1u);

  CommandHandler handler(*manager);
  v1::ControllerMessage m;
  m.set_command_id(9);
  m.mutable_revert()->set_fault_id("never-was");
  auto reply = handler.handle(m, v1::REVERT_REQUESTED);
  EXPECT_EQ(reply.ack().status(), v1::ACK_NOT_IN_EFFECT);
  EXPECT_NE(reply.ack().error().find("was not in effect"), std::string::npos);
}

// A fault that ends on its own is told as an event and in the heartbeat's list of
// ended faults, with its reason.
TEST_F(Fixture, FaultsThatEndedAreListedInTheHeartbeat) {
  ASSERT_TRUE(manager->apply(blackhole("short", 100ms)));
  ASSERT_TRUE(manager->apply(blackhole("local", 5s)));
  ASSERT_TRUE(manager->revert("local", v1::REVERT_LOCAL));
  CommandHandler handler(*manager);
  ASSERT_TRUE(eventually([&] { return handler.heartbeat().ended_size() == 2; }));
  auto hb = handler.heartbeat();
  EXPECT_EQ(hb.active_faults_size(), 0);
  std::map<std::string, v1::RevertReason> why;
  for (auto& e : hb.ended()) why[e.fault_id()] = e.reason();
  EXPECT_EQ(why["short"], v1::REVERT_EXPIRED);
  EXPECT_EQ(why["local"], v1::REVERT_LOCAL);
  EXPECT_EQ(events.count(v1::Event::kReverted), 2u);
}

// A scheduled fault whose apply fails at not_before ended without taking effect: the
// run hears it as an ended fault with the reason and the error.
TEST_F(Fixture, ScheduledApplyThatFailsIsReportedAsEnded) {
  auto cmd = blackhole("late", 5s, 100ms);
  cmd.mutable_spec()->mutable_network()->add_interfaces("fails-at-apply");
  engine->fail_apply = "fails-at-apply";
  ASSERT_TRUE(manager->apply(cmd));
  CommandHandler handler(*manager);
  ASSERT_TRUE(eventually([&] { return handler.heartbeat().ended_size() == 1; }));
  auto e = handler.heartbeat().ended(0);
  EXPECT_EQ(e.fault_id(), "late");
  EXPECT_EQ(e.reason(), v1::REVERT_APPLY_FAILED);
  EXPECT_NE(e.error().find("no such interface"), std::string::npos) << e.error();
  EXPECT_TRUE(manager->empty());
}

// Reproduced wedge: a revert that fails (a frozen cgroup that cannot be thawed) was
// retried in a loop holding the manager's lock: status, the dead-man switch, halt
// and shutdown all waited on it forever, and the log grew by 100,000 lines a second.
TEST_F(Fixture, FailingRevertIsRetriedWithBackoffAndWedgesNothing) {
  engine->set_failing("stuck", true);
  ASSERT_TRUE(manager->apply(blackhole("stuck", 100ms)));
  ASSERT_TRUE(manager->apply(blackhole("beside", 30s)));
  std::this_thread::sleep_for(1500ms);
  // Retried, a few times, not in a loop.
  int calls = engine->calls("stuck");
  EXPECT_GE(calls, 2);
  EXPECT_LE(calls, 6);
  // One error event per attempt, saying "revert failing: why".
  auto errors = events.of(v1::Event::kError);
  EXPECT_EQ(errors.size(), static_cast<size_t>(calls));
  ASSERT_FALSE(errors.empty());
  EXPECT_TRUE(errors.back().error().revert_failing());
  EXPECT_NE(errors.back().error().message().find("revert failing: "), std::string::npos)
      << errors.back().error().message();
  // Status answers, and shows the failure.
  auto status = std::async(std::launch::async, [&] { return manager->active(); });
  ASSERT_EQ(status.wait_for(1s), std::future_status::ready) << "status waits on a failing revert";
  auto active = status.get();
  ASSERT_EQ(active.size(), 2u);
  auto& stuck = active[0].fault_id() == "stuck" ? active[0] : active[1];
  EXPECT_NE(stuck.revert_error().find("device or resource busy"), std::string::npos) << stuck.revert_error();
  EXPECT_GE(stuck.revert_attempts(), 2u);
  // The dead-man switch reverts what it can beside it.
  auto all = std::async(std::launch::async, [&] { return manager->revert_all(v1::REVERT_LEASE_LOST); });
  ASSERT_EQ(all.wait_for(2s), std::future_status::ready) << "revert_all waits on a failing revert";
  EXPECT_EQ(all.get(), 1u);
  EXPECT_FALSE(engine->is_live("beside"));
  EXPECT_TRUE(engine->is_live("stuck"));
  // Once the cause is gone, the retry succeeds.
  engine->set_failing("stuck", false);
  EXPECT_TRUE(eventually([&] { return !engine->is_live("stuck"); }, 10s));
  EXPECT_TRUE(manager->empty());
}

// A slow revert runs outside the manager's lock: status and other reverts go on.
TEST_F(Fixture, SlowRevertDoesNotHoldTheManager) {
  ASSERT_TRUE(manager->apply(blackhole("slow", 30s)));
  ASSERT_TRUE(manager->apply(blackhole("fast", 30s)));
  {
    std::lock_guard l(engine->mu);
    engine->revert_delay = 2s;
  }
  auto slow = std::async(std::launch::async, [&] { return manager->revert("slow", v1::REVERT_REQUESTED); });
  ASSERT_TRUE(eventually([&] { return engine->calls("slow") == 1; }));
  auto status = std::async(std::launch::async, [&] { return manager->active(); });
  ASSERT_EQ(status.wait_for(1s), std::future_status::ready) << "status waits on a slow revert";
  EXPECT_EQ(status.get().size(), 2u);
  EXPECT_TRUE(slow.get());
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

// Every fault held is journaled until it ends: an agent that dies holding faults has
// its next start tell the controller that they ended (REVERT_AGENT_RESTART).
TEST(AgentRestart, FaultsHeldWhenTheAgentDiedAreReportedAsEnded) {
  namespace fs = std::filesystem;
  char a_tmpl[] = "/tmp/fda-unit-XXXXXX", b_tmpl[] = "/tmp/fda-unit-XXXXXX";
  std::string a = ::mkdtemp(a_tmpl), b = ::mkdtemp(b_tmpl);
  {
    auto journal = journal::Journal::shared(a);
    ASSERT_TRUE(journal) << journal.error().describe();
    Events events;
    std::vector<std::unique_ptr<FaultEngine>> v;
    v.push_back(std::make_unique<RecordingEngine>());
    FaultManager manager(std::move(v), &events, *journal);
    ASSERT_TRUE(manager.apply(blackhole("held", 30s)));
    ASSERT_TRUE(manager.apply(blackhole("scheduled", 30s, 10s)));
    ASSERT_TRUE(manager.apply(blackhole("gone", 30s)));
    ASSERT_TRUE(manager.revert("gone", v1::REVERT_REQUESTED));
    // What a SIGKILL now would leave on disk.
    fs::copy_file(a + "/journal", b + "/journal");
  }
  auto journal = journal::Journal::open(b);
  ASSERT_TRUE(journal) << journal.error().describe();
  // "scheduled" also owes a thaw: its recovery tells of it.
  ASSERT_TRUE((*journal)->begin({"scheduled", journal::kThawCgroup, "/x", "frozen /x", {}}));
  Events events;
  auto ended = close_faults_held_by_a_dead_agent(**journal, &events);
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].fault_id(), "held");
  EXPECT_EQ(ended[0].reason(), v1::REVERT_AGENT_RESTART);
  EXPECT_EQ(events.count(v1::Event::kReverted), 1u);
  ASSERT_EQ((*journal)->owed().size(), 1u);
  EXPECT_EQ((*journal)->owed()[0].kind, journal::kThawCgroup);
  fs::remove_all(a);
  fs::remove_all(b);
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
