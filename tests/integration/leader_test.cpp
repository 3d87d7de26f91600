// The leader lease on a private PostgreSQL server: controllers' lease loops
// (controller/leader/elector.h) over stores of one database. Exactly one leads when
// they start at once; a leader that stops renewing is replaced by one with a higher
// epoch; the database refuses a write with the old epoch (the fence is SQL: a raw
// statement with a stale epoch is refused too).
#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "controller/leader/elector.h"
#include "controller/store/postgres_store.h"
#include "tests/support/postgres.h"
#include "tests/support/process.h"

namespace firedrill::controller::leader {
namespace {

using namespace std::chrono_literals;

// Long enough that a loaded machine does not delay a renewal past it.
constexpr auto kTtl = 2000ms;

support::Postgres& server() {
  static support::Postgres pg;
  return pg;
}

struct Controller {
  Controller(const std::string& database, const std::string& id) {
    PostgresOptions o;
    o.url = server().url(database);
    o.fleet = "fleet-a";
    o.retry_for = 2s;
    auto s = open_postgres_store(o);
    if (!s) throw std::runtime_error(s.error().describe());
    store = std::move(*s);
    elector = std::make_unique<Elector>(store->lease(), ElectorConfig{id, id + ":7443", kTtl, 200ms});
  }
  std::unique_ptr<PostgresStore> store;
  std::unique_ptr<Elector> elector;
};

v1::RunRecord run(const std::string& id) {
  v1::RunRecord r;
  r.set_id(id);
  r.set_kind("inject");
  r.set_phase(v1::RUN_PHASE_INJECT);
  *r.mutable_created_at() = to_proto(WallClock::now());
  return r;
}

TEST(Leader, ControllersStartedAtOnceHaveExactlyOneLeader) {
  auto db = server().fresh_database("once");
  std::vector<std::unique_ptr<Controller>> cs;
  for (int i = 0; i < 3; ++i) cs.push_back(std::make_unique<Controller>(db, "c" + std::to_string(i)));
  for (auto& c : cs) c->elector->start();
  auto deadline = SteadyClock::now() + 10s;
  int leaders = 0;
  while (leaders == 0 && SteadyClock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
    leaders = 0;
    for (auto& c : cs) leaders += c->elector->leading();
  }
  ASSERT_EQ(leaders, 1) << "nobody led within 10 s";
  // For a lease length and more, never two.
  Controller* leader = nullptr;
  for (auto end = SteadyClock::now() + 3s; SteadyClock::now() < end;) {
    int now_leading = 0;
    for (auto& c : cs) {
      if (c->elector->leading()) {
        ++now_leading;
        leader = c.get();
      }
    }
    ASSERT_LE(now_leading, 1) << "two controllers led at once";
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_NE(leader, nullptr);
  auto held = leader->store->lease().current();
  ASSERT_TRUE(held) << held.error().describe();
  EXPECT_TRUE(held->live);
  EXPECT_EQ(held->epoch, leader->elector->epoch());
  EXPECT_EQ(held->epoch, 1) << "the lease changed hands while its leader renewed it";
  EXPECT_EQ(held->address, held->holder + ":7443");
  // The leader writes; the followers, whose writes carry no epoch, are refused.
  EXPECT_TRUE(leader->store->put_run(run("r-leader")));
  for (auto& c : cs) {
    if (c.get() == leader) continue;
    auto refused = c->store->put_run(run("r-follower"));
    ASSERT_FALSE(refused);
    EXPECT_NE(refused.error().describe().find("stale leader epoch 0: the lease is at epoch 1"), std::string::npos)
        << refused.error().describe();
  }
  EXPECT_FALSE(leader->store->run("r-follower", false)->has_value());
}

TEST(Leader, WhenTheLeaderStopsRenewingAnotherTakesOverAndTheOldEpochIsRefused) {
  auto db = server().fresh_database("takeover");
  Controller a(db, "a");
  a.elector->start();
  ASSERT_TRUE(a.elector->wait_leading(10s));
  int64_t old_epoch = a.elector->epoch();
  ASSERT_TRUE(a.store->put_run(run("r-1")));
  Controller b(db, "b");
  b.elector->start();
  std::this_thread::sleep_for(kTtl + 500ms);
  EXPECT_FALSE(b.elector->leading()) << "b took the lease of a leader that renews it";

  // a is cut off: its loop stops without releasing, as a hung or isolated leader's.
  auto before = b.store->lease().current();
  ASSERT_TRUE(before) << before.error().describe();
  a.elector->stop(false);
  EXPECT_FALSE(a.elector->leading());
  ASSERT_TRUE(b.elector->wait_leading(15s));
  auto after = b.store->lease().current();
  ASSERT_TRUE(after) << after.error().describe();
  EXPECT_GT(b.elector->epoch(), old_epoch);
  EXPECT_EQ(after->holder, "b");
  // Not before a's lease ran out, by the database's clock: b took it at its expiry
  // less the lease, and at or after the expiry a had last renewed to.
  EXPECT_GE(after->expires_at - kTtl, before->expires_at);

  // a comes back and writes with its old epoch: refused by the database, nothing lands.
  auto stale = a.store->put_run(run("r-stale"));
  ASSERT_FALSE(stale);
  EXPECT_NE(stale.error().describe().find(fmt::format("stale leader epoch {}: the lease is at epoch {} (held by b)",
                                                      old_epoch, b.elector->epoch())),
            std::string::npos)
      << stale.error().describe();
  auto in_tx = a.store->transaction([&]() -> Result<void> {
    FD_TRY(a.store->append_events({{0, "r-1", WallClock::now(), "", "fault.applied", "stale"}}), "events");
    return ok();
  });
  EXPECT_FALSE(in_tx);
  EXPECT_FALSE(b.store->run("r-stale", false)->has_value());
  EXPECT_TRUE(b.store->events("r-1")->empty());
  EXPECT_TRUE(b.store->put_run(run("r-2")));

  // The fence is in the database, whatever the client: a raw statement with the old
  // epoch is refused, one with the lease's epoch goes through.
  EXPECT_THROW(server().sql(fmt::format("BEGIN; SELECT set_config('firedrill.epoch', '{}', true); "
                                        "INSERT INTO settings VALUES ('k', 'v'); COMMIT",
                                        old_epoch),
                            db),
               std::runtime_error);
  EXPECT_THROW(server().sql("DELETE FROM runs", db), std::runtime_error);
  server().sql(fmt::format("BEGIN; SELECT set_config('firedrill.epoch', '{}', true); "
                           "INSERT INTO settings VALUES ('k', 'v'); COMMIT",
                           b.elector->epoch()),
               db);
}

// A halt asked at a follower is written though the follower's writes are fenced; the
// follower cannot clear it (only the leader, once it acted on it, does).
TEST(Leader, AFollowerRecordsAHaltThatOnlyTheLeaderClears) {
  auto db = server().fresh_database("halt");
  Controller a(db, "a"), b(db, "b");
  a.elector->start();
  ASSERT_TRUE(a.elector->wait_leading(10s));
  b.elector->start();
  auto asked = b.store->request_halt({0, WallClock::now(), "alice", "smoke in row 3", "b"});
  ASSERT_TRUE(asked) << asked.error().describe();
  EXPECT_FALSE(b.store->set_setting("halt", "{}")) << "the follower's fenced write went through";
  auto refused = b.store->clear_halt_requests(*asked);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().describe().find("stale leader epoch 0"), std::string::npos) << refused.error().describe();
  auto seen = a.store->halt_requests();
  ASSERT_TRUE(seen) << seen.error().describe();
  ASSERT_EQ(seen->size(), 1u);
  EXPECT_EQ(seen->front().reason, "smoke in row 3");
  EXPECT_EQ(seen->front().controller, "b");
  ASSERT_TRUE(a.store->clear_halt_requests(seen->front().seq));
  EXPECT_TRUE(b.store->halt_requests()->empty());
}

TEST(Leader, AReleasedLeaseIsTakenAtOnceAndEpochsOnlyGrow) {
  auto db = server().fresh_database("release");
  Controller a(db, "a"), b(db, "b");
  a.elector->start();
  ASSERT_TRUE(a.elector->wait_leading(10s));
  b.elector->start();
  int64_t last = a.elector->epoch();
  // Hand the lease back and forth by clean stops: each holder's epoch is above the last.
  for (int i = 0; i < 3; ++i) {
    Controller& from = i % 2 == 0 ? a : b;
    Controller& to = i % 2 == 0 ? b : a;
    from.elector->stop(true);
    ASSERT_TRUE(to.elector->wait_leading(5s)) << "round " << i;
    EXPECT_GT(to.elector->epoch(), last);
    last = to.elector->epoch();
    from.elector->start();
  }
  auto held = a.store->lease().current();
  ASSERT_TRUE(held);
  EXPECT_EQ(held->epoch, last);
}

// The database gone for longer than the lease: the leader stops leading by its own
// clock (its calls fail), and leads again with a new epoch once the database is back.
TEST(Leader, ALeaderThatCannotReachTheDatabaseStopsLeading) {
  auto db = server().fresh_database("down");
  std::atomic<int> lost{0};
  Controller a(db, "a");
  a.elector = std::make_unique<Elector>(a.store->lease(), ElectorConfig{"a", "a:7443", kTtl, 200ms},
                                        [&](bool leading, int64_t, const std::string&) {
                                          if (!leading) ++lost;
                                        });
  a.elector->start();
  ASSERT_TRUE(a.elector->wait_leading(10s));
  int64_t first = a.elector->epoch();
  server().stop();
  auto down = SteadyClock::now();
  while (a.elector->leading() && SteadyClock::now() - down < 10s) std::this_thread::sleep_for(10ms);
  EXPECT_FALSE(a.elector->leading());
  EXPECT_LE(SteadyClock::now() - down, kTtl + 100ms) << "led past its lease without the database";
  server().start();
  ASSERT_TRUE(a.elector->wait_leading(15s));
  EXPECT_GT(a.elector->epoch(), first);
  EXPECT_GE(lost.load(), 1);
}

// The database's clock read over the shortest of a few round trips: on one host the two
// clocks are one, so the offset is within the sample's error and a few milliseconds.
// The refusal names the direction and holds only when even the nearest reading the
// round trip allows is beyond the bound.
TEST(Leader, ThisHostsClockIsComparedWithTheDatabasesOverTheShortestRoundTrip) {
  auto db = server().fresh_database("clock");
  Controller a(db, "a");
  auto c = a.store->lease().compare_clock(5);
  ASSERT_TRUE(c) << c.error().describe();
  EXPECT_LT(c->uncertainty, 50ms);
  EXPECT_LE(std::chrono::abs(c->offset), c->uncertainty + 5ms) << c->offset.count() << " us";
  EXPECT_EQ(clock_refusal(*c, 1s), "");

  auto ahead = clock_refusal({3s, 1ms}, 1s);
  EXPECT_NE(ahead.find("3s ahead of the database's"), std::string::npos) << ahead;
  auto behind = clock_refusal({-3s, 1ms}, 1s);
  EXPECT_NE(behind.find("3s behind the database's"), std::string::npos) << behind;
  EXPECT_EQ(clock_refusal({1500ms, 600ms}, 1s), "") << "within the bound once its error is allowed for";
  EXPECT_NE(clock_refusal({1700ms, 600ms}, 1s), "");
}

// A controller whose clock is 10 s ahead of its database's (libfaketime, preloaded into
// it alone, moves its wall clock) is refused at start, naming both clocks, before it
// follows or leads.
TEST(Leader, AControllerWhoseClockIsFarFromTheDatabasesIsRefusedAtStart) {
  const char* faketime = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";
  ASSERT_TRUE(std::filesystem::exists(faketime)) << faketime << " is missing (libfaketime; scripts/install-deps.sh)";
  auto db = server().fresh_database("skew");
  std::string dir = server().dir() + "/skew";
  std::filesystem::create_directories(dir);
  auto r = support::exec({"/usr/bin/env", std::string("LD_PRELOAD=") + faketime, "FAKETIME=+10s",
                          "FAKETIME_DONT_FAKE_MONOTONIC=1", FD_FIREDRILL_BIN, "serve", "--listen", "127.0.0.1:0",
                          "--api", dir + "/api.sock", "--state-dir", dir, "--store", server().url(db), "--insecure",
                          "--fleet", "fleet-a", "--controller-id", "skewed"},
                         60s);
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("ahead of the database's"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("store postgres://"), std::string::npos) << "names the database: " << r.out;
  EXPECT_NE(r.out.find("synchronised clocks"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("leader lease: leading"), std::string::npos) << r.out;
  // Nothing of it is in the registry: it never started.
  auto lease = Controller(db, "probe").store->lease().current();
  ASSERT_TRUE(lease);
  EXPECT_EQ(lease->holder, "");
}

}  // namespace
}  // namespace firedrill::controller::leader
