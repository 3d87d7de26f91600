// The Fleet's logic with fake streams (the real gRPC streams have their integration
// suite): registration rules, fan-out answers and timeouts, effect times from events,
// lost agents, halt and release, and the revert of faults of runs not in flight.
#include <gtest/gtest.h>

#include <algorithm>
#include <future>
#include <mutex>
#include <thread>

#include "controller/session/agent_session.h"
#include "controller/session/fleet.h"
#include "tests/unit/fake_stream.h"
#include "controller/runner/run_ids.h"

namespace firedrill::controller {
namespace {

using namespace std::chrono_literals;

struct Agent {
  FakeStream stream;
  std::shared_ptr<AgentSession> session;
};

FleetConfig config() {
  FleetConfig c;
  c.lease_grace = 3s;
  c.heartbeat_interval = 1s;
  return c;
}

v1::Hello hello(const std::string& id, std::map<std::string, std::string> tags = {}) {
  v1::Hello h;
  h.set_agent_id(id);
  for (auto& [k, v] : tags) (*h.mutable_tags())[k] = v;
  h.set_version("test");
  *h.mutable_clock() = to_proto(WallClock::now());
  return h;
}

// Agents are declared before the fleet, so the fleet (which may still write to their
// streams) goes first.
struct FleetTest : ::testing::Test {
  std::vector<std::unique_ptr<Agent>> agents;
  std::unique_ptr<Fleet> fleet;
  void make(FleetConfig c = config()) { fleet = std::make_unique<Fleet>(c, nullptr, runner::run_of_fault); }
  ~FleetTest() override { fleet.reset(); }

  Agent* connect(const std::string& id, std::map<std::string, std::string> tags = {}, v1::Hello h = {}) {
    agents.push_back(std::make_unique<Agent>());
    auto* a = agents.back().get();
    a->session = std::make_shared<AgentSession>(&a->stream, "fake:" + id);
    fleet->session_started(a->session);
    if (h.agent_id().empty()) h = hello(id, tags);
    auto r = fleet->register_session(a->session, h, id);
    EXPECT_TRUE(r) << r.error().message;
    return a;
  }
};

v1::AgentMessage ack(const v1::ControllerMessage& cmd, v1::AckStatus status, WallTime at = WallClock::now(),
                     const std::string& error = "") {
  v1::AgentMessage m;
  m.mutable_ack()->set_command_id(cmd.command_id());
  m.mutable_ack()->set_status(status);
  m.mutable_ack()->set_error(error);
  *m.mutable_ack()->mutable_at() = to_proto(at);
  if (cmd.has_apply()) m.mutable_ack()->set_fault_id(cmd.apply().fault_id());
  return m;
}

v1::AgentMessage applied_event(const std::string& fault_id, WallTime at) {
  v1::AgentMessage m;
  m.mutable_event()->mutable_applied()->set_fault_id(fault_id);
  *m.mutable_event()->mutable_at() = to_proto(at);
  return m;
}

v1::FaultSpec blackhole() {
  v1::FaultSpec s;
  s.mutable_network()->mutable_blackhole();
  return s;
}

TEST_F(FleetTest, RegistrationChecksIdentityAndSendsALease) {
  make();
  agents.push_back(std::make_unique<Agent>());
  auto* a = agents.back().get();
  a->session = std::make_shared<AgentSession>(&a->stream, "fake");
  auto r = fleet->register_session(a->session, hello("h2"), "h1");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("claims agent id 'h2' but its certificate is for 'h1'"), std::string::npos)
      << r.error().message;
  EXPECT_FALSE(fleet->register_session(a->session, hello("bad/id"), "bad/id"));
  auto many = hello("h1");
  for (int i = 0; i < 70; ++i) (*many.mutable_tags())[fmt::format("k{}", i)] = "v";
  EXPECT_FALSE(fleet->register_session(a->session, many, "h1"));
  EXPECT_EQ(fleet->live_count(), 0u);

  auto h1 = connect("h1", {{"dc", "pangyo"}});
  EXPECT_EQ(fleet->live_count(), 1u);
  auto lease = h1->stream.wait_for(v1::ControllerMessage::kLease);
  ASSERT_TRUE(lease);
  EXPECT_EQ(from_proto(lease->lease().grace()), std::chrono::nanoseconds(3s));
  EXPECT_EQ(from_proto(lease->lease().heartbeat_interval()), std::chrono::nanoseconds(1s));
  // Renewed every third of the grace.
  EXPECT_TRUE(h1->stream.wait_for(v1::ControllerMessage::kLease, 1, 2s));
}

TEST_F(FleetTest, ACommandRenewsTheLease) {
  make();  // grace 3 s: a renewal every second of silence
  auto h1 = connect("h1");
  ASSERT_TRUE(h1->stream.wait_for(v1::ControllerMessage::kLease));
  std::this_thread::sleep_for(900ms);
  // Unanswered: it times out, but the agent heard from us.
  (void)fleet->revert("r-test-000009.1", {"h1"}, 100ms);
  auto lease = h1->stream.wait_for(v1::ControllerMessage::kLease, 1, 3s);
  ASSERT_TRUE(lease);
  std::lock_guard l(h1->stream.mu);
  WallTime command{}, renewal{};
  size_t leases = 0;
  for (size_t i = 0; i < h1->stream.sent.size(); ++i) {
    if (h1->stream.sent[i].has_revert()) command = h1->stream.sent_at[i];
    if (h1->stream.sent[i].has_lease() && leases++ == 1) renewal = h1->stream.sent_at[i];
  }
  ASSERT_NE(command, WallTime{});
  // The renewal due a second after registration was put off to at least half a
  // renewal interval after the command (it would otherwise have come within a tick).
  EXPECT_GE(renewal - command, std::chrono::milliseconds(500));
}

TEST_F(FleetTest, ApplyCollectsAcksEffectsAndSpreads) {
  make();
  auto h1 = connect("h1");
  auto h2 = connect("h2");
  ApplyRequest req;
  req.run_id = "r-test-000001";
  req.fault_id = runner::make_fault_id(req.run_id, 1);
  req.spec = blackhole();
  req.hosts = {"h1", "h2", "gone"};
  req.not_before = WallClock::now() + 200ms;
  req.expires_at = req.not_before + 10s;
  fleet->set_run_hosts(req.run_id, req.hosts);
  auto fut = std::async(std::launch::async, [&] { return fleet->apply(req); });

  auto c1 = h1->stream.wait_for(v1::ControllerMessage::kApply);
  auto c2 = h2->stream.wait_for(v1::ControllerMessage::kApply);
  ASSERT_TRUE(c1 && c2);
  EXPECT_EQ(c1->apply().not_before().seconds(), c2->apply().not_before().seconds());  // one common start
  EXPECT_EQ(c1->apply().not_before().nanos(), c2->apply().not_before().nanos());
  EXPECT_EQ(c1->apply().fault_id(), req.fault_id);
  // h1 schedules then reports the effect; h2 reports the effect event before its ack.
  // The effects are reported after they happened: a time reported ahead of its arrival
  // is clamped to the arrival.
  fleet->on_message(h1->session, ack(*c1, v1::ACK_SCHEDULED));
  std::this_thread::sleep_until(req.not_before + 20ms);
  auto effect1 = req.not_before + 3ms;
  fleet->on_message(h1->session, applied_event(req.fault_id, effect1));
  auto effect2 = req.not_before + 7ms;
  // h2 is a power loss told after its last part (at effect2 + 12 ms): its network cut
  // at effect2 is when it took effect.
  auto late = applied_event(req.fault_id, effect2 + 12ms);
  for (auto [part, at] : {std::pair{"network cut", effect2}, {"kill", effect2 + 11ms}}) {
    auto* e = late.mutable_event()->mutable_applied()->add_effects();
    e->set_part(part);
    *e->mutable_at() = to_proto(at);
  }
  late.mutable_event()->mutable_applied()->mutable_clock()->set_max_error_us(250);
  fleet->on_message(h2->session, late);
  fleet->on_message(h2->session, ack(*c2, v1::ACK_SCHEDULED));

  auto out = fut.get();
  ASSERT_EQ(out.targets.size(), 3u);
  EXPECT_EQ(out.targets[0].status, v1::ACK_SCHEDULED);
  EXPECT_EQ(out.targets[1].status, v1::ACK_SCHEDULED);
  EXPECT_EQ(out.targets[2].error, "not connected");
  ASSERT_TRUE(out.targets[0].effective_at && out.targets[1].effective_at);
  EXPECT_FALSE(out.all_ok());
  ASSERT_EQ(out.failed().size(), 1u);
  EXPECT_EQ(out.failed()[0], "gone: not connected");
  // Clock offsets are ~0 here: the effect spread is what the agents reported.
  double spread_ms = std::chrono::duration<double, std::milli>(out.effect_spread()).count();
  EXPECT_NEAR(spread_ms, 4.0, 2.0);
  EXPECT_TRUE(out.first_ack && out.last_ack);
  ASSERT_EQ(out.targets[1].effects.size(), 2u);
  EXPECT_EQ(out.targets[1].effects[1].part(), "kill");
  ASSERT_TRUE(out.targets[1].clock);
  EXPECT_EQ(out.targets[1].clock->max_error_us(), 250);
}

TEST_F(FleetTest, ClockOffsetMapsAgentTimesToOurs) {
  make();
  auto h = hello("skewed");
  *h.mutable_clock() = to_proto(WallClock::now() + 10s);  // the agent's clock runs 10 s ahead
  auto a = connect("skewed", {}, h);
  ApplyRequest req{"r-x-1", "r-x-1.1", blackhole(), {"skewed"}, {}, WallClock::now() + 5s};
  fleet->set_run_hosts(req.run_id, req.hosts);
  auto fut = std::async(std::launch::async, [&] { return fleet->apply(req); });
  auto c = a->stream.wait_for(v1::ControllerMessage::kApply);
  ASSERT_TRUE(c);
  auto agent_now = WallClock::now() + 10s;
  fleet->on_message(a->session, ack(*c, v1::ACK_APPLIED, agent_now));
  auto out = fut.get();
  ASSERT_TRUE(out.targets[0].effective_at);
  auto err = std::chrono::abs(*out.targets[0].effective_at - WallClock::now());
  EXPECT_LT(err, 1s) << "effective time was not moved onto the controller's clock";
}

TEST_F(FleetTest, RefusalsTimeoutsAndLostAgents) {
  make();
  auto h1 = connect("h1");
  connect("h2");
  auto h3 = connect("h3");
  ApplyRequest req{"r-y-1", "r-y-1.1", blackhole(), {"h1", "h2", "h3"}, {}, WallClock::now() + 5s};
  ASSERT_TRUE(fleet->admit(req.run_id, req.hosts, {}).allowed());
  req.ack_timeout = 600ms;
  req.wait_effective = false;
  auto fut = std::async(std::launch::async, [&] { return fleet->apply(req); });
  auto c1 = h1->stream.wait_for(v1::ControllerMessage::kApply);
  ASSERT_TRUE(c1);
  ASSERT_TRUE(h3->stream.wait_for(v1::ControllerMessage::kApply));
  fleet->on_message(h1->session, ack(*c1, v1::ACK_REFUSED, WallClock::now(), "missing kernel feature 'tcx'"));
  fleet->session_ended(h3->session, "stream broken");  // h3 is lost; h2 never answers
  auto out = fut.get();
  EXPECT_EQ(out.targets[0].status, v1::ACK_REFUSED);
  EXPECT_EQ(out.targets[0].error, "missing kernel feature 'tcx'");
  EXPECT_EQ(out.targets[1].status, v1::ACK_STATUS_UNSPECIFIED);
  EXPECT_NE(out.targets[1].error.find("no answer within"), std::string::npos) << out.targets[1].error;
  EXPECT_EQ(out.targets[2].error, "agent lost: stream broken");
  EXPECT_EQ(fleet->live_count(), 2u);
}

TEST_F(FleetTest, ApplyOfARunNotAdmittedOrWhileHaltedSendsNothing) {
  make();
  auto h1 = connect("h1");
  ApplyRequest req{"r-n-1", "r-n-1.1", blackhole(), {"h1"}, {}, WallClock::now() + 5s};
  req.ack_timeout = 300ms;
  auto out = fleet->apply(req);
  ASSERT_EQ(out.targets.size(), 1u);
  EXPECT_EQ(out.targets[0].status, v1::ACK_REFUSED);
  EXPECT_NE(out.targets[0].error.find("run r-n-1 is not admitted"), std::string::npos) << out.targets[0].error;
  ASSERT_TRUE(fleet->admit(req.run_id, req.hosts, {}).allowed());
  (void)fleet->halt("stop", "test", 300ms);
  fleet->set_run_hosts(req.run_id, req.hosts);  // even re-registered, a halt holds
  out = fleet->apply(req);
  EXPECT_NE(out.targets[0].error.find("the fleet is halted (stop)"), std::string::npos) << out.targets[0].error;
  EXPECT_FALSE(h1->stream.wait_for(v1::ControllerMessage::kApply, 0, 200ms));
}

TEST_F(FleetTest, SilentAgentIsLostAndNotified) {
  auto c = config();
  c.lost_after = 300ms;
  make(c);
  std::promise<std::string> lost;
  fleet->on_agent_lost([&](const std::string& id, const std::string& why) { lost.set_value(id + ": " + why); });
  auto h1 = connect("h1");
  auto f = lost.get_future();
  ASSERT_EQ(f.wait_for(3s), std::future_status::ready);
  auto text = f.get();
  EXPECT_NE(text.find("h1: silent for"), std::string::npos) << text;
  EXPECT_TRUE(h1->stream.closed);
  EXPECT_EQ(fleet->live_count(), 0u);
}

v1::AgentMessage heartbeat(std::chrono::nanoseconds next_within) {
  v1::AgentMessage m;
  *m.mutable_heartbeat()->mutable_clock() = to_proto(WallClock::now());
  *m.mutable_heartbeat()->mutable_next_within() = to_proto_duration(next_within);
  return m;
}

size_t count_of(FakeStream& s, v1::ControllerMessage::MsgCase kind) {
  std::lock_guard l(s.mu);
  return std::count_if(s.sent.begin(), s.sent.end(), [&](auto& m) { return m.msg_case() == kind; });
}

// Renewal by heartbeat (LeaseRenewal's rules, proto/firedrill/v1/agent.proto): the
// agent that asks for it is told the idle pace, is renewed in answer to each heartbeat
// and never by the timer, which still renews an agent of the old rules.
TEST_F(FleetTest, AnAgentRenewedByHeartbeatIsAnsweredNotTimed) {
  auto c = config();  // grace 3 s: the timer renews every second
  c.idle_heartbeat_interval = 20s;
  make(c);
  auto by_hb = hello("h1");
  by_hb.set_lease_by_heartbeat(true);
  auto h1 = connect("h1", {}, by_hb);
  auto h2 = connect("h2");  // the old rules
  auto first = h1->stream.wait_for(v1::ControllerMessage::kLease);
  ASSERT_TRUE(first);
  EXPECT_EQ(from_proto(first->lease().idle_heartbeat_interval()), std::chrono::nanoseconds(20s));
  auto old_first = h2->stream.wait_for(v1::ControllerMessage::kLease);
  ASSERT_TRUE(old_first);
  EXPECT_FALSE(old_first->lease().has_idle_heartbeat_interval());
  // The timer renews h2 (a second on); h1 hears nothing more until it heartbeats.
  ASSERT_TRUE(h2->stream.wait_for(v1::ControllerMessage::kLease, 1, 3s));
  EXPECT_EQ(count_of(h1->stream, v1::ControllerMessage::kLease), 1u);
  for (int i = 0; i < 3; ++i) fleet->on_message(h1->session, heartbeat(1s));
  EXPECT_EQ(count_of(h1->stream, v1::ControllerMessage::kLease), 4u);
  auto answer = h1->stream.wait_for(v1::ControllerMessage::kLease, 3);
  ASSERT_TRUE(answer);
  EXPECT_EQ(from_proto(answer->lease().grace()), std::chrono::nanoseconds(3s));
}

// The controller's silence bound follows the pace an agent announced (3 of its
// heartbeats), never under the fleet's own: an idle agent at a slow pace is not lost
// for the silence its pace allows, an agent of the old rules is.
TEST_F(FleetTest, TheSilenceBoundFollowsTheAnnouncedPace) {
  auto c = config();
  c.lost_after = 400ms;
  make(c);
  std::mutex mu;
  std::vector<std::string> lost;
  fleet->on_agent_lost([&](const std::string& id, const std::string&) {
    std::lock_guard l(mu);
    lost.push_back(id);
  });
  auto by_hb = hello("slow");
  by_hb.set_lease_by_heartbeat(true);
  auto slow = connect("slow", {}, by_hb);
  fleet->on_message(slow->session, heartbeat(30s));
  auto old = connect("old");
  ASSERT_TRUE(old->stream.wait_for(v1::ControllerMessage::kLease));
  for (int i = 0; i < 60; ++i) {
    {
      std::lock_guard l(mu);
      if (!lost.empty()) break;
    }
    std::this_thread::sleep_for(50ms);
  }
  std::this_thread::sleep_for(500ms);  // a few more of the ticker's scans
  std::lock_guard l(mu);
  EXPECT_EQ(lost, std::vector<std::string>{"old"});
  EXPECT_FALSE(slow->stream.closed);
  EXPECT_EQ(fleet->live_count(), 1u);
}

TEST_F(FleetTest, HaltRevertsEverywhereRefusesRunsUntilRelease) {
  make();
  auto h1 = connect("h1");
  auto h2 = connect("h2");
  ASSERT_TRUE(fleet->admit("r-z-1", {"h1"}, {}).allowed());
  std::atomic<int> halts{0};
  fleet->on_halt([&](const HaltState& s) {
    EXPECT_EQ(s.reason, "game day over");
    ++halts;
  });
  auto fut = std::async(std::launch::async, [&] { return fleet->halt("game day over", "alice", 1500ms); });
  auto c1 = h1->stream.wait_for(v1::ControllerMessage::kRevertAll);
  ASSERT_TRUE(c1);
  ASSERT_TRUE(h2->stream.wait_for(v1::ControllerMessage::kRevertAll));
  fleet->on_message(h1->session, ack(*c1, v1::ACK_APPLIED));
  auto out = fut.get();  // h2 never confirms
  EXPECT_EQ(halts.load(), 1);
  EXPECT_EQ(out.aborted_runs, std::vector<std::string>{"r-z-1"});
  EXPECT_EQ(out.unconfirmed, std::vector<std::string>{"h2"});
  EXPECT_TRUE(out.agents.last_ack.has_value());
  EXPECT_TRUE(fleet->halted());
  EXPECT_TRUE(fleet->active_runs().empty());

  auto v = fleet->admit("r-z-2", {"h1"}, {});
  ASSERT_FALSE(v.allowed());
  EXPECT_EQ(v.violations(0).rule(), "halted");
  EXPECT_NE(v.violations(0).message().find("game day over"), std::string::npos);

  // An agent that registers while halted holding faults is told to revert them all.
  auto h = hello("h3");
  h.add_active_faults()->set_fault_id("r-old-1.1");
  auto h3 = connect("h3", {}, h);
  EXPECT_TRUE(h3->stream.wait_for(v1::ControllerMessage::kRevertAll));

  EXPECT_TRUE(fleet->release("alice"));
  EXPECT_FALSE(fleet->release("alice"));
  EXPECT_TRUE(fleet->admit("r-z-3", {"h1"}, {}).allowed());
}

TEST_F(FleetTest, FaultsOfRunsNotInFlightAreRevertedAtRegistration) {
  make();
  fleet->set_run_hosts("r-live-000001", {"h1"});  // in flight (h1 registers below)
  auto h = hello("h1");
  h.add_active_faults()->set_fault_id("r-live-000001.1");  // its run is in flight: kept
  h.add_active_faults()->set_fault_id("r-dead-000002.1");  // a run from before a restart
  h.add_active_faults()->set_fault_id("local-test");       // a local fault: not ours
  auto r = h.add_reverted_while_away();
  r->set_fault_id("r-dead-000003.1");
  r->set_reason(v1::REVERT_LEASE_LOST);
  std::vector<std::string> seen;
  std::mutex mu;
  fleet->on_event([&](const std::string& id, const v1::Event& ev) {
    std::lock_guard l(mu);
    if (ev.has_reverted()) seen.push_back(id + " " + ev.reverted().fault_id());
  });
  auto a = connect("h1", {}, h);
  auto rev = a->stream.wait_for(v1::ControllerMessage::kRevert);
  ASSERT_TRUE(rev);
  EXPECT_EQ(rev->revert().fault_id(), "r-dead-000002.1");
  EXPECT_FALSE(a->stream.wait_for(v1::ControllerMessage::kRevert, 1, 300ms));
  std::lock_guard l(mu);
  EXPECT_EQ(seen, std::vector<std::string>{"h1 r-dead-000003.1"});
}

TEST_F(FleetTest, NewerStreamReplacesTheOld) {
  make();
  std::atomic<int> lost{0};
  fleet->on_agent_lost([&](auto&, auto&) { ++lost; });
  auto first = connect("h1");
  auto second = connect("h1");
  EXPECT_TRUE(first->stream.closed);
  EXPECT_FALSE(second->stream.closed);
  EXPECT_EQ(fleet->live_count(), 1u);
  EXPECT_EQ(lost.load(), 0);  // replaced, not lost
  fleet->session_ended(first->session, "old stream ends late");
  EXPECT_EQ(fleet->live_count(), 1u);
}

TEST_F(FleetTest, BudgetIsSharedAcrossConcurrentRuns) {
  auto c = config();
  c.guard.budget_hosts = 2;
  make(c);
  connect("h1");
  connect("h2");
  connect("h3");
  ASSERT_TRUE(fleet->admit("r-a-1", {"h1", "h2"}, {}).allowed());
  auto v = fleet->admit("r-b-1", {"h3"}, {});
  ASSERT_FALSE(v.allowed());
  EXPECT_EQ(v.violations(0).rule(), "fleet_budget");
  fleet->end_run("r-a-1");
  EXPECT_TRUE(fleet->admit("r-b-1", {"h3"}, {}).allowed());
}

TEST_F(FleetTest, RunAndFaultIds) {
  auto a = runner::make_run_id(), b = runner::make_run_id();
  EXPECT_NE(a, b);
  EXPECT_TRUE(a.starts_with("r-"));
  EXPECT_EQ(runner::run_of_fault(runner::make_fault_id(a, 3)), a);
  EXPECT_EQ(runner::run_of_fault("local-fault"), "");
  EXPECT_EQ(runner::run_of_fault("r-nodot"), "");
  EXPECT_TRUE(validate_agent_id("p1-h1.lab_x"));
  EXPECT_FALSE(validate_agent_id(""));
  EXPECT_FALSE(validate_agent_id(std::string(65, 'a')));
  EXPECT_FALSE(validate_agent_id("a b"));
}

}  // namespace
}  // namespace firedrill::controller
