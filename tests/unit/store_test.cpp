// The SQLite store on a real file: rows go in and come back, runs end once, runs in
// flight survive a reopen (what restart recovery reads), targets fill in, never erase.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>

#include "controller/store/store.h"

namespace firedrill::controller {
namespace {

struct TempDir {
  TempDir() {
    char tmpl[] = "/tmp/fdc-store-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string path;
};

TEST(Store, AgentsUpsertKeepsFirstSeen) {
  TempDir dir;
  auto store = open_sqlite_store(dir.path + "/state.db");
  ASSERT_TRUE(store) << store.error().message;
  auto t0 = WallClock::now();
  AgentRow a{"h1", {{"dc", "pangyo"}, {"rack", "p\"1"}}, "0.1.0", std::string("\0caps", 5), "ipv4:10.0.0.1:5", t0, t0};
  ASSERT_TRUE((*store)->upsert_agents({a}));
  a.last_seen = t0 + std::chrono::seconds(5);
  a.first_seen = t0 + std::chrono::seconds(5);
  a.tags["rack"] = "p2";
  ASSERT_TRUE((*store)->upsert_agents({a}));
  auto rows = (*store)->agents();
  ASSERT_TRUE(rows);
  ASSERT_EQ(rows->size(), 1u);
  auto& r = rows->front();
  EXPECT_EQ(r.tags.at("rack"), "p2");
  EXPECT_EQ(r.capabilities, std::string("\0caps", 5));
  // The store keeps microseconds (truncated): first_seen is t0 to the microsecond.
  using std::chrono::microseconds;
  EXPECT_EQ(std::chrono::duration_cast<microseconds>(r.first_seen.time_since_epoch()),
            std::chrono::duration_cast<microseconds>(t0.time_since_epoch()));
  EXPECT_EQ(std::chrono::round<std::chrono::milliseconds>(r.last_seen - t0).count(), 5000);
}

TEST(Store, RunsEndOnceAndInFlightSurvivesReopen) {
  TempDir dir;
  std::string path = dir.path + "/state.db";
  auto now = WallClock::now();
  {
    auto store = open_sqlite_store(path);
    ASSERT_TRUE(store);
    ASSERT_TRUE((*store)->create_run({"r-1", "inject", kRunActive, "active", "blackhole", "test", "spec", "", now, {}}));
    ASSERT_TRUE((*store)->create_run({"r-2", "inject", kRunActive, "active", "drop", "test", "spec", "", now + std::chrono::seconds(1), {}}));
    auto dup = (*store)->create_run({"r-1", "inject", kRunActive, "", "", "", "", "", now, {}});
    ASSERT_FALSE(dup);
    EXPECT_NE(dup.error().message.find("r-1 already exists"), std::string::npos);
    auto ended = (*store)->end_run("r-2", kRunCompleted, "expired", now + std::chrono::seconds(2));
    ASSERT_TRUE(ended && *ended);
    auto again = (*store)->end_run("r-2", kRunAborted, "late", now + std::chrono::seconds(3));
    ASSERT_TRUE(again);
    EXPECT_FALSE(*again);  // the first ending stands
  }
  auto store = open_sqlite_store(path);
  ASSERT_TRUE(store);
  auto flight = (*store)->runs_in_flight();
  ASSERT_TRUE(flight);
  ASSERT_EQ(flight->size(), 1u);
  EXPECT_EQ(flight->front().id, "r-1");
  auto r2 = (*store)->run("r-2");
  ASSERT_TRUE(r2 && r2->has_value());
  EXPECT_EQ((*r2)->status, kRunCompleted);
  EXPECT_EQ((*r2)->reason, "expired");
  ASSERT_TRUE((*r2)->ended_at.has_value());
  auto recent = (*store)->recent_runs(10);
  ASSERT_TRUE(recent);
  ASSERT_EQ(recent->size(), 2u);
  EXPECT_EQ(recent->front().id, "r-2");
  auto none = (*store)->run("r-9");
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->has_value());
}

TEST(Store, TargetsFillInAndEventsKeepOrder) {
  TempDir dir;
  auto store = open_sqlite_store(dir.path + "/state.db");
  ASSERT_TRUE(store);
  auto now = WallClock::now();
  ASSERT_TRUE((*store)->put_targets({{"r-1", "h1", "r-1.1", "scheduled", "", now, {}, {}},
                                     {"r-1", "h2", "r-1.1", "refused", "no engine", now, {}, {}}}));
  ASSERT_TRUE((*store)->put_targets({{"r-1", "h1", "r-1.1", "applied", "", {}, now + std::chrono::seconds(1), {}}}));
  ASSERT_TRUE((*store)->put_targets({{"r-1", "h2", "r-1.1", "reverted", "", {}, {}, now + std::chrono::seconds(2)}}));
  auto t = (*store)->targets("r-1");
  ASSERT_TRUE(t);
  ASSERT_EQ(t->size(), 2u);
  EXPECT_EQ((*t)[0].status, "applied");
  EXPECT_TRUE((*t)[0].acked_at.has_value());      // kept from the first write
  EXPECT_TRUE((*t)[0].effective_at.has_value());
  EXPECT_EQ((*t)[1].error, "no engine");           // an empty error does not erase it
  EXPECT_TRUE((*t)[1].reverted_at.has_value());

  ASSERT_TRUE((*store)->append_events({{0, "r-1", now, "", "run.created", "a"}, {0, "r-1", now, "h1", "fault.applied", "b"},
                                       {0, "", now, "h2", "agent.lost", "c"}}));
  auto ev = (*store)->events("r-1");
  ASSERT_TRUE(ev);
  ASSERT_EQ(ev->size(), 2u);
  EXPECT_LT((*ev)[0].seq, (*ev)[1].seq);
  EXPECT_EQ((*ev)[1].kind, "fault.applied");
  auto after = (*store)->events("r-1", (*ev)[0].seq);
  ASSERT_TRUE(after);
  EXPECT_EQ(after->size(), 1u);

  EXPECT_FALSE((*store)->setting("halted")->has_value());
  ASSERT_TRUE((*store)->set_setting("halted", "1"));
  ASSERT_TRUE((*store)->set_setting("halted", "0"));
  EXPECT_EQ((*store)->setting("halted")->value(), "0");
}

TEST(Store, UnopenablePathIsAClearError) {
  auto store = open_sqlite_store("/nonexistent-dir-fdc/state.db");
  ASSERT_FALSE(store);
  EXPECT_NE(store.error().message.find("/nonexistent-dir-fdc/state.db"), std::string::npos) << store.error().message;
}

}  // namespace
}  // namespace firedrill::controller
