// The Fleet's parts on their own: admission (the guard's ledger and the halt), the
// fan-out (command correlation, agent times clamped to what we observed) and the
// agents' streams (clock offsets re-measured on every heartbeat and the bound on
// them for faults with a common start).
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <future>
#include <thread>

#include <unistd.h>

#include "controller/runner/fleet_adapter.h"
#include "controller/runner/run_ids.h"
#include "controller/session/admission.h"
#include "controller/session/agent_session.h"
#include "controller/session/agent_streams.h"
#include "controller/session/clock_estimate.h"
#include "controller/session/fanout.h"
#include "controller/session/fleet.h"
#include "tests/unit/fake_stream.h"

namespace firedrill::controller {
namespace {

using namespace std::chrono_literals;

AgentRecord record(const std::string& id, const std::string& dc) {
  AgentRecord r;
  r.id = id;
  r.tags = {{"dc", dc}};
  return r;
}

// ---------------------------------------------------------------- admission

TEST(Admission, GuardInputHoldsOtherRunsHostsAndTheHalt) {
  Inventory inv;
  inv.register_agent(record("h1", "a"));
  inv.register_agent(record("h2", "a"));
  inv.register_agent(record("h3", "b"));
  Admission adm({}, inv, nullptr);
  ASSERT_TRUE(adm.admit("r-1", {"h1"}, {}).allowed());
  adm.set_run_hosts("r-2", {"h2"});
  auto in = adm.guard_input("r-1", {"h3"}, {});
  EXPECT_EQ(in.fleet.size(), 3u);
  EXPECT_EQ(in.busy, (std::set<std::string>{"h2"}));  // its own hosts are not "busy"
  EXPECT_FALSE(in.halted);
  std::vector<std::string> aborted;
  adm.halt("drill over", "bob", &aborted);
  EXPECT_EQ(aborted, (std::vector<std::string>{"r-1", "r-2"}));
  in = adm.guard_input("r-3", {"h3"}, {});
  EXPECT_TRUE(in.halted);
  EXPECT_EQ(in.halted_reason, "drill over");
  EXPECT_TRUE(in.busy.empty());
}

TEST(Admission, CheckChangesNothingAdmitRegisters) {
  Inventory inv;
  inv.register_agent(record("h1", "a"));
  inv.register_agent(record("h2", "a"));
  GuardPolicy p;
  p.budget_hosts = 1;
  Admission adm(p, inv, nullptr);
  EXPECT_TRUE(adm.check("r-1", {"h1"}, {}).allowed());
  EXPECT_TRUE(adm.active_runs().empty());
  EXPECT_TRUE(adm.admit("r-1", {"h1"}, {}).allowed());
  EXPECT_TRUE(adm.in_flight("r-1"));
  auto v = adm.check("r-2", {"h2"}, {});
  ASSERT_FALSE(v.allowed());
  EXPECT_EQ(v.violations(0).rule(), "fleet_budget");
}

TEST(Admission, OpenForRefusesRunsNotAdmittedAndWhileHalted) {
  Inventory inv;
  inv.register_agent(record("h1", "a"));
  Admission adm({}, inv, nullptr);
  std::string why;
  { auto gate = adm.open_for("r-1", &why); }
  EXPECT_NE(why.find("run r-1 is not admitted"), std::string::npos) << why;
  ASSERT_TRUE(adm.admit("r-1", {"h1"}, {}).allowed());
  why.clear();
  { auto gate = adm.open_for("r-1", &why); }
  EXPECT_EQ(why, "");
  std::vector<std::string> aborted;
  adm.halt("stop", "t", &aborted);
  adm.set_run_hosts("r-1", {"h1"});
  { auto gate = adm.open_for("r-1", &why); }
  EXPECT_EQ(why, "the fleet is halted (stop)");
}

TEST(Admission, HaltIsDurableUntilReleased) {
  auto dir = std::filesystem::temp_directory_path() / fmt::format("fd-admission-{}", ::getpid());
  std::filesystem::create_directories(dir);
  struct Cleanup {
    std::filesystem::path p;
    ~Cleanup() { std::filesystem::remove_all(p); }
  } cleanup{dir};
  Inventory inv;
  {
    auto store = open_sqlite_store((dir / "c.db").string());
    ASSERT_TRUE(store) << store.error().describe();
    Admission adm({}, inv, store->get());
    std::vector<std::string> aborted;
    adm.halt("fire in p1", "alice", &aborted);
    adm.persist_halt();
  }
  auto store = open_sqlite_store((dir / "c.db").string());
  ASSERT_TRUE(store);
  Admission again({}, inv, store->get());
  auto s = again.halt_state();
  EXPECT_TRUE(s.halted);
  EXPECT_EQ(s.reason, "fire in p1");
  EXPECT_EQ(s.by, "alice");
  EXPECT_TRUE(again.release());
  again.persist_halt();
  Admission third({}, inv, store->get());
  EXPECT_FALSE(third.halted());
}

// The halt is saved with a full sync before halt() returns; when it cannot be saved
// (here another process holds the database's write lock past the busy timeout) the
// caller hears it, and the halt is in force all the same.
TEST(Admission, AHaltThatCannotBeSavedIsAnErrorAndStillActedOn) {
  auto dir = std::filesystem::temp_directory_path() / fmt::format("fd-halt-save-{}", ::getpid());
  std::filesystem::create_directories(dir);
  struct Cleanup {
    std::filesystem::path p;
    ~Cleanup() { std::filesystem::remove_all(p); }
  } cleanup{dir};
  auto path = (dir / "c.db").string();
  auto store = open_sqlite_store(path);
  ASSERT_TRUE(store) << store.error().describe();
  Fleet fleet({}, store->get(), runner::run_of_fault);
  auto saved = fleet.halt("first", "alice", 100ms);
  EXPECT_EQ(saved.persist_error, "");
  EXPECT_TRUE(fleet.release("alice"));

  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr), SQLITE_OK);
  auto r = fleet.halt("fire in p1", "alice", 100ms);
  sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(other);
  EXPECT_NE(r.persist_error.find("saving the halt state"), std::string::npos) << r.persist_error;
  EXPECT_NE(r.persist_error.find("locked"), std::string::npos) << r.persist_error;
  EXPECT_TRUE(fleet.halted());  // acted on
  // Once the lock is gone the next halt is saved again.
  EXPECT_EQ(fleet.halt("fire in p2", "alice", 100ms).persist_error, "");
}

// ---------------------------------------------------------------- fan-out

struct Stream {
  FakeStream transport;
  std::shared_ptr<AgentSession> session = std::make_shared<AgentSession>(&transport, "fake");
};

v1::Ack ack_of(const v1::ControllerMessage& m, v1::AckStatus status, std::optional<WallTime> at) {
  v1::Ack a;
  a.set_command_id(m.command_id());
  a.set_status(status);
  if (at) *a.mutable_at() = to_proto(*at);
  return a;
}

TEST(Fanout, CorrelatesAnswersAndTimesOutTheSilent) {
  Fanout fanout;
  Stream a, b;
  v1::ControllerMessage m;
  m.mutable_revert()->set_fault_id("f");
  auto d = fanout.send({"a", "b", "c"}, {a.session, b.session, nullptr}, m, "");
  auto ca = a.transport.wait_for(v1::ControllerMessage::kRevert);
  auto cb = b.transport.wait_for(v1::ControllerMessage::kRevert);
  ASSERT_TRUE(ca && cb);
  EXPECT_NE(ca->command_id(), cb->command_id());
  // An answer to a command nobody awaits changes nothing.
  v1::Ack stray;
  stray.set_command_id(999999);
  stray.set_status(v1::ACK_APPLIED);
  EXPECT_FALSE(fanout.on_ack(*a.session, stray, WallClock::now()));
  EXPECT_FALSE(fanout.on_ack(*a.session, ack_of(*ca, v1::ACK_APPLIED, std::nullopt), WallClock::now()));
  auto now = WallClock::now();
  auto out = fanout.wait(std::move(d), now + 200ms, now + 200ms);
  ASSERT_EQ(out.targets.size(), 3u);
  EXPECT_EQ(out.targets[0].status, v1::ACK_APPLIED);
  EXPECT_NE(out.targets[1].error.find("no answer within"), std::string::npos) << out.targets[1].error;
  EXPECT_EQ(out.targets[2].error, "not connected");
}

TEST(Fanout, AgentTimesAreClampedToWhenTheCommandWasSentAndAnswered) {
  Fanout fanout;
  Stream a, b;
  v1::ControllerMessage m;
  m.mutable_apply()->set_fault_id("r-c-1.1");
  auto before = WallClock::now();
  auto d = fanout.send({"a", "b"}, {a.session, b.session}, m, "r-c-1.1");
  auto ca = a.transport.wait_for(v1::ControllerMessage::kApply);
  auto cb = b.transport.wait_for(v1::ControllerMessage::kApply);
  ASSERT_TRUE(ca && cb);
  // a says it applied a minute before it was asked; b says an hour after it answered.
  auto a_answered = WallClock::now();
  fanout.on_ack(*a.session, ack_of(*ca, v1::ACK_APPLIED, a_answered - 60s), a_answered);
  auto b_answered = WallClock::now();
  fanout.on_ack(*b.session, ack_of(*cb, v1::ACK_SCHEDULED, std::nullopt), b_answered);
  v1::Event ev;
  ev.mutable_applied()->set_fault_id("r-c-1.1");
  *ev.mutable_at() = to_proto(b_answered + 1h);
  auto b_event = WallClock::now();
  fanout.on_fault_event(*b.session, ev, b_event);
  auto out = fanout.wait(std::move(d), WallClock::now() + 1s, WallClock::now() + 1s);
  ASSERT_TRUE(out.targets[0].effective_at && out.targets[1].effective_at);
  EXPECT_GE(*out.targets[0].effective_at, before);
  EXPECT_LE(*out.targets[0].effective_at, a_answered);
  EXPECT_GE(*out.targets[1].effective_at, before);
  EXPECT_LE(*out.targets[1].effective_at, b_event);
  EXPECT_LT(out.effect_spread(), 1s);
}

TEST(Fanout, AStreamThatEndsFailsWhatItOwes) {
  Fanout fanout;
  Stream a;
  v1::ControllerMessage m;
  m.mutable_apply()->set_fault_id("r-d-1.1");
  auto d = fanout.send({"a"}, {a.session}, m, "r-d-1.1");
  auto ca = a.transport.wait_for(v1::ControllerMessage::kApply);
  ASSERT_TRUE(ca);
  fanout.on_ack(*a.session, ack_of(*ca, v1::ACK_SCHEDULED, std::nullopt), WallClock::now());
  fanout.abandon(*a.session, "stream broken");
  auto out = fanout.wait(std::move(d), WallClock::now() + 2s, WallClock::now() + 2s);
  EXPECT_EQ(out.targets[0].status, v1::ACK_STATUS_UNSPECIFIED);
  EXPECT_EQ(out.targets[0].error, "agent lost before the fault took effect: stream broken");
}

// ---------------------------------------------------------------- streams

v1::Hello hello(const std::string& id, WallTime clock) {
  v1::Hello h;
  h.set_agent_id(id);
  *h.mutable_clock() = to_proto(clock);
  return h;
}

TEST(AgentStreams, ClockOffsetIsMeasuredAgainOnEveryHeartbeat) {
  FleetConfig c;
  c.max_clock_offset = 1s;
  AgentStreams streams(c, nullptr, {});
  Stream a;
  ASSERT_TRUE(streams.register_session(a.session, hello("h1", WallClock::now()), "h1"));
  EXPECT_EQ(streams.clock_refusal(*a.session), "");
  v1::Heartbeat hb;
  *hb.mutable_clock() = to_proto(WallClock::now() + 5s);  // the agent's clock stepped
  streams.heard(*a.session);
  streams.heartbeat(*a.session, hb);
  EXPECT_NEAR(std::chrono::duration<double>(a.session->clock_offset()).count(), 5.0, 0.5);
  auto rec = streams.inventory().get("h1");
  ASSERT_TRUE(rec);
  EXPECT_NEAR(std::chrono::duration<double>(rec->clock_offset).count(), 5.0, 0.5);
  auto why = streams.clock_refusal(*a.session);
  EXPECT_NE(why.find("exceeds the bound of 1s"), std::string::npos) << why;
  *hb.mutable_clock() = to_proto(WallClock::now());
  streams.heartbeat(*a.session, hb);
  EXPECT_EQ(streams.clock_refusal(*a.session), "");
}

// Queueing delay is not clock offset (NTP's way): renewals echo the agent's clock with
// ours, the agent reports the round trip on its next heartbeat, and the fastest recent
// round trip counts. A heartbeat that waited 3 s in a queue, and whose reported round
// trip was 3 s long, leaves an agent whose clock agrees with ours within the bound.
TEST(AgentStreams, QueueingDelayDoesNotReadAsClockOffset) {
  FleetConfig c;
  c.max_clock_offset = 1s;
  c.lease_grace = 5s;
  AgentStreams streams(c, nullptr, {});
  Stream a;
  auto hello_clock = WallClock::now();
  auto h = hello("h1", hello_clock);
  h.set_lease_by_heartbeat(true);
  ASSERT_TRUE(streams.register_session(a.session, h, "h1"));
  auto lease = a.transport.wait_for(v1::ControllerMessage::kLease);
  ASSERT_TRUE(lease);
  ASSERT_TRUE(lease->lease().has_controller_clock());
  EXPECT_EQ(from_proto(lease->lease().echo()), hello_clock);

  // The first round trip: the renewal waited 2.1 s in the controller's queue on its
  // way out. Its offset reads +1.05 s, within half its round trip of 0: not refused.
  v1::Heartbeat hb;
  auto* x = hb.mutable_exchange();
  *x->mutable_agent_sent() = lease->lease().echo();
  *x->mutable_controller_clock() = lease->lease().controller_clock();
  *x->mutable_agent_received() = to_proto(from_proto(lease->lease().controller_clock()) + 2100ms);
  streams.heartbeat(*a.session, hb);
  EXPECT_GT(a.session->clock_offset(), 1s);
  EXPECT_EQ(streams.clock_refusal(*a.session), "");

  // A fast round trip: the agent's clock agrees with ours.
  auto now = WallClock::now();
  *hb.mutable_clock() = to_proto(now);
  *x->mutable_agent_sent() = lease->lease().echo();
  *x->mutable_controller_clock() = lease->lease().controller_clock();
  *x->mutable_agent_received() = to_proto(from_proto(lease->lease().controller_clock()) + 1ms);
  streams.heartbeat(*a.session, hb);
  EXPECT_LT(std::chrono::abs(a.session->clock_offset()), 100ms);
  auto renewal = a.transport.wait_for(v1::ControllerMessage::kLease, 2);
  ASSERT_TRUE(renewal);
  EXPECT_EQ(from_proto(renewal->lease().echo()), now);

  // Then the controller is busy: a heartbeat stamped 3 s ago arrives now, with a
  // round trip whose way in waited 3 s (its offset reads -1.5 s, its delay 3 s).
  now = WallClock::now();
  *hb.mutable_clock() = to_proto(now - 3s);
  *x->mutable_agent_sent() = to_proto(now - 6s);
  *x->mutable_controller_clock() = to_proto(now - 3s);
  *x->mutable_agent_received() = to_proto(now - 3s + 1ms);
  streams.heartbeat(*a.session, hb);
  EXPECT_LT(std::chrono::abs(a.session->clock_offset()), 100ms);
  EXPECT_EQ(streams.clock_refusal(*a.session), "");
  auto rec = streams.inventory().get("h1");
  ASSERT_TRUE(rec);
  EXPECT_LT(std::chrono::abs(rec->clock_offset), 100ms);

  // A step of the agent's clock is followed at once by a round trip as fast as the best.
  now = WallClock::now();
  *hb.mutable_clock() = to_proto(now + 5s);
  *x->mutable_agent_sent() = to_proto(now + 5s - 2ms);
  *x->mutable_controller_clock() = to_proto(now - 1ms);
  *x->mutable_agent_received() = to_proto(now + 5s);
  streams.heartbeat(*a.session, hb);
  EXPECT_NEAR(std::chrono::duration<double>(a.session->clock_offset()).count(), 5.0, 0.1);
  EXPECT_NE(streams.clock_refusal(*a.session).find("exceeds the bound of 1s"), std::string::npos);
}

TEST(ClockEstimate, KeepsTheFastestOfTheRecentRoundTrips) {
  ClockEstimate e;
  auto t = WallClock::now();
  auto at = SteadyClock::now();
  e.one_way(t - 2s, t);  // a Hello that waited 2 s
  EXPECT_EQ(e.offset(), -2s);
  EXPECT_FALSE(e.delay());
  EXPECT_TRUE(e.beyond(1s));  // one-way: the reading is all there is
  ASSERT_TRUE(e.round_trip(t, t + 200ms, t + 400ms, at));  // offset 0, delay 400 ms
  EXPECT_EQ(e.offset(), 0ns);
  EXPECT_EQ(e.delay(), 400ms);
  EXPECT_FALSE(e.beyond(1s));
  e.one_way(t - 2s, t);  // one-way readings no longer count
  EXPECT_EQ(e.offset(), 0ns);
  ASSERT_TRUE(e.round_trip(t, t + 300ms, t + 20ms, at));  // faster: offset -290 ms
  EXPECT_EQ(e.offset(), -290ms);
  ASSERT_TRUE(e.round_trip(t, t + 2s, t + 4s, at));  // slow: does not count
  EXPECT_EQ(e.offset(), -290ms);
  ClockEstimate far;
  ASSERT_TRUE(far.round_trip(t, t - 3s, t + 2s, at));  // +4 s, +-1 s: beyond 1 s whatever the delay
  EXPECT_TRUE(far.beyond(1s));
  ASSERT_TRUE(far.round_trip(t, t - 3s, t + 6s, at));  // +6 s, +-3 s: the faster one stays
  EXPECT_EQ(far.offset(), 4s);
  EXPECT_FALSE(e.round_trip(t, t, t - 1ms, at));  // negative: ignored
  EXPECT_FALSE(e.round_trip(t, t, t + 2min, at));
  // The fast one leaves the window after eight more, or after kMaxAge.
  for (size_t i = 0; i < ClockEstimate::kWindow; ++i) ASSERT_TRUE(e.round_trip(t, t + 1500ms, t + 3s, at));
  EXPECT_EQ(e.offset(), 0ns);
  ASSERT_TRUE(e.round_trip(t, t + 300ms, t + 20ms, at));
  ASSERT_TRUE(e.round_trip(t, t + 1500ms, t + 3s, at + ClockEstimate::kMaxAge + 1s));
  EXPECT_EQ(e.offset(), 0ns);
}

// What an agent ended on its own reaches the runner (FleetAdapter::ended_early) from
// its heartbeats' lists and from its events, also across a re-registration; a revert
// the controller asked for is the run's own; a failing revert counts too.
TEST(AgentStreams, FaultsTheAgentEndedReachTheRunner) {
  FleetConfig c;
  Fleet fleet(c, nullptr, runner::run_of_fault);
  runner::FleetAdapter adapter(fleet);
  Stream a;
  fleet.session_started(a.session);
  ASSERT_TRUE(fleet.register_session(a.session, hello("h1", WallClock::now()), "h1"));
  EXPECT_TRUE(adapter.ended_early("r-x-1.0", {"h1"}).empty());

  v1::AgentMessage hb;
  auto* e = hb.mutable_heartbeat()->add_ended();
  e->set_fault_id("r-x-1.0");
  e->set_reason(v1::REVERT_EXPIRED);
  *e->mutable_at() = to_proto(WallClock::now() - 2s);
  auto* mine = hb.mutable_heartbeat()->add_ended();
  mine->set_fault_id("r-x-1.1");
  mine->set_reason(v1::REVERT_REQUESTED);
  auto* failing = hb.mutable_heartbeat()->add_active_faults();
  failing->set_fault_id("r-x-1.2");
  failing->set_revert_error("thaw: device busy");
  fleet.on_message(a.session, hb);
  auto ended = adapter.ended_early("r-x-1.0", {"h1"});
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].agent_id, "h1");
  EXPECT_EQ(ended[0].why, "its lease expired by the agent's clock");
  EXPECT_FALSE(ended[0].still_in_effect);
  EXPECT_TRUE(adapter.ended_early("r-x-1.1", {"h1"}).empty());
  auto fails = adapter.ended_early("r-x-1.2", {"h1"});
  ASSERT_EQ(fails.size(), 1u);
  EXPECT_EQ(fails[0].why, "revert failing: thaw: device busy");
  EXPECT_TRUE(fails[0].still_in_effect);

  // An event (the dead-man switch), then the agent comes back: still known.
  v1::AgentMessage ev;
  ev.mutable_event()->mutable_reverted()->set_fault_id("r-x-1.3");
  ev.mutable_event()->mutable_reverted()->set_reason(v1::REVERT_LEASE_LOST);
  fleet.on_message(a.session, ev);
  Stream again;
  fleet.session_started(again.session);
  ASSERT_TRUE(fleet.register_session(again.session, hello("h1", WallClock::now()), "h1"));
  auto dead_man = adapter.ended_early("r-x-1.3", {"h1"});
  ASSERT_EQ(dead_man.size(), 1u);
  EXPECT_NE(dead_man[0].why.find("dead-man switch"), std::string::npos);
}

TEST(AgentStreams, AnAgentBeyondTheClockBoundIsRefusedFaultsWithACommonStart) {
  FleetConfig c;
  c.max_clock_offset = 1s;
  Fleet fleet(c, nullptr, runner::run_of_fault);
  Stream good, skewed;
  fleet.session_started(good.session);
  fleet.session_started(skewed.session);
  ASSERT_TRUE(fleet.register_session(good.session, hello("good", WallClock::now()), "good"));
  ASSERT_TRUE(fleet.register_session(skewed.session, hello("skewed", WallClock::now() - 3s), "skewed"));
  v1::FaultSpec spec;
  spec.mutable_network()->mutable_blackhole();
  auto not_ready = fleet.incapable({"good", "skewed"}, spec);
  ASSERT_EQ(not_ready.size(), 1u);
  EXPECT_NE(not_ready[0].find("skewed: clock offset -3"), std::string::npos) << not_ready[0];

  ApplyRequest req{"r-k-1", "r-k-1.1", spec, {"good", "skewed"}, WallClock::now() + 100ms, WallClock::now() + 10s};
  req.ack_timeout = 2s;
  req.wait_effective = false;
  fleet.set_run_hosts(req.run_id, req.hosts);
  auto fut = std::async(std::launch::async, [&] { return fleet.apply(req); });
  auto cmd = good.transport.wait_for(v1::ControllerMessage::kApply, 0);
  ASSERT_TRUE(cmd);
  v1::AgentMessage answer;
  *answer.mutable_ack() = ack_of(*cmd, v1::ACK_SCHEDULED, std::nullopt);
  fleet.on_message(good.session, answer);
  auto out = fut.get();
  EXPECT_TRUE(out.targets[0].ok());
  EXPECT_EQ(out.targets[1].status, v1::ACK_REFUSED);
  EXPECT_NE(out.targets[1].error.find("exceeds the bound of 1s for faults with a common start"), std::string::npos)
      << out.targets[1].error;
  EXPECT_FALSE(skewed.transport.wait_for(v1::ControllerMessage::kApply, 0, 100ms));
}

// An exec loop on one host makes kill events as fast as it execs: what the controller
// persists of them is bounded per agent (a burst, then a rate), and counted; another
// agent's events are not held back by it.
TEST(AgentSessionEvents, KillEventsPersistedAreBoundedPerAgent) {
  Stream flooding, quiet;
  int admitted = 0;
  for (int i = 0; i < 5000; ++i) admitted += flooding.session->admit_kill_event() ? 1 : 0;
  EXPECT_GE(admitted, 100);
  EXPECT_LE(admitted, 150) << "a tight loop of 5000 events is the burst and a few refills, not all of them";
  EXPECT_EQ(flooding.session->kill_events_limited(), static_cast<uint64_t>(5000 - admitted));
  EXPECT_TRUE(quiet.session->admit_kill_event());
  EXPECT_EQ(quiet.session->kill_events_limited(), 0u);
  // The rate refills: a second later about ten more are persisted.
  std::this_thread::sleep_for(1s);
  int later = 0;
  for (int i = 0; i < 100; ++i) later += flooding.session->admit_kill_event() ? 1 : 0;
  EXPECT_GE(later, 9);
  EXPECT_LE(later, 30);
}

}  // namespace
}  // namespace firedrill::controller
