// The PostgreSQL store on a private server: the store contract (tests/unit/
// store_contract.h, which the SQLite store passes too), and what is its own: a restart
// of the server mid-use, a transaction cut by a lost connection (never half-written),
// clear errors at start (a wrong or unreachable URL, a newer schema, another fleet's
// database, tables firedrill did not make), two controllers making the schema at once.
#include <gtest/gtest.h>

#include <thread>

#include "controller/store/postgres_store.h"
#include "tests/support/postgres.h"
#include "tests/unit/store_contract.h"

namespace firedrill::controller {
namespace {

using namespace std::chrono_literals;
using contract::record;

// One server per test process (ctest runs each test in a process of its own).
support::Postgres& server() {
  static support::Postgres pg;
  return pg;
}

PostgresOptions options(const std::string& database, const std::string& fleet = "fleet-a") {
  PostgresOptions o;
  o.url = server().url(database);
  o.fleet = fleet;
  o.retry_for = 3s;
  o.backoff_min = 20ms;
  o.backoff_max = 200ms;
  return o;
}

struct PostgresBackend {
  PostgresBackend() : database(server().fresh_database("contract")) {}
  Result<std::unique_ptr<Store>> open() {
    auto s = open_postgres_store(options(database));
    if (!s) return s.error();
    return std::unique_ptr<Store>(std::move(*s));
  }
  void set_schema_version(int v) { server().sql(fmt::format("UPDATE schema_version SET version = {}", v), database); }
  // Errors name the URL without its password.
  std::string where() const {
    return fmt::format("postgres://firedrill:***@127.0.0.1:{}/{}", server().port(), database);
  }
  std::string database;
};

}  // namespace

namespace contract {
INSTANTIATE_TYPED_TEST_SUITE_P(Postgres, StoreContract, ::testing::Types<PostgresBackend>);
}  // namespace contract

namespace {

std::unique_ptr<PostgresStore> must_open(const PostgresOptions& o) {
  auto s = open_postgres_store(o);
  EXPECT_TRUE(s) << s.error().describe();
  return s ? std::move(*s) : nullptr;
}

TEST(PostgresStore, ReconnectsAfterTheServerRestartsMidUse) {
  auto db = server().fresh_database("restart");
  auto o = options(db);
  o.retry_for = 30s;
  auto store = must_open(o);
  ASSERT_TRUE(store);
  auto now = WallClock::now();
  ASSERT_TRUE(store->put_run(record("r-1", "inject", now, v1::RUN_PHASE_OBSERVE)));
  server().stop();
  // Down: a call that may wait only briefly fails, clearly, and nothing crashes.
  {
    auto brief = options(db);
    brief.retry_for = 200ms;
    auto unreachable = open_postgres_store(brief);
    ASSERT_FALSE(unreachable);
    EXPECT_NE(unreachable.error().describe().find("cannot connect to postgres://firedrill:***@127.0.0.1:"),
              std::string::npos)
        << unreachable.error().describe();
  }
  // Back after a while: the store's calls meanwhile wait for it and go through.
  std::thread restart([] {
    std::this_thread::sleep_for(1500ms);
    server().start();
  });
  auto appended = store->append_samples("r-1", {contract::sample("web", 1), contract::sample("web", 2)});
  restart.join();
  ASSERT_TRUE(appended) << appended.error().describe();
  auto r = store->run("r-1", true);
  ASSERT_TRUE(r && r->has_value()) << (r ? "absent" : r.error().describe());
  EXPECT_EQ((*r)->samples_size(), 2) << "a retried append was applied twice or not at all";
  // A second restart between calls: the next call reconnects.
  server().stop();
  server().start();
  ASSERT_TRUE(store->put_run(record("r-2", "inject", now, v1::RUN_PHASE_DONE)));
  EXPECT_EQ(store->runs(0)->size(), 2u);
}

// A transaction whose connection is cut halfway is reported, and nothing of it is in
// the database: no half-written run.
TEST(PostgresStore, ATransactionCutByALostConnectionWritesNothing) {
  auto db = server().fresh_database("cut");
  auto store = must_open(options(db));
  ASSERT_TRUE(store);
  auto now = WallClock::now();
  auto r = store->transaction([&]() -> Result<void> {
    FD_TRY(store->put_run(record("r-half", "inject", now, v1::RUN_PHASE_INJECT)), "put");
    server().sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'firedrill' "
                 "AND datname = '" + db + "'");
    FD_TRY(store->append_samples("r-half", {contract::sample("web", 1)}), "samples");
    return ok();
  });
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().describe().find("the connection was lost; nothing of this transaction was written"),
            std::string::npos)
      << r.error().describe();
  auto half = store->run("r-half", true);  // reconnects
  ASSERT_TRUE(half) << half.error().describe();
  EXPECT_FALSE(half->has_value()) << "half of a cut transaction is in the database";
}

TEST(PostgresStore, AWrongOrUnreachableUrlIsAClearErrorAtStart) {
  auto db = server().fresh_database("urls");
  auto o = options(db);
  // Nothing listens there (a port of a server that is gone).
  {
    support::Postgres other;
    o.url = other.url(db);
  }
  auto unreachable = open_postgres_store(o);
  ASSERT_FALSE(unreachable);
  auto m = unreachable.error().describe();
  EXPECT_NE(m.find("cannot connect to postgres://firedrill:***@127.0.0.1:"), std::string::npos) << m;

  o = options(db);
  o.url = fmt::format("postgres://firedrill:wrong@127.0.0.1:{}/{}", server().port(), db);
  auto wrong_password = open_postgres_store(o);
  ASSERT_FALSE(wrong_password);
  m = wrong_password.error().describe();
  EXPECT_NE(m.find("password authentication failed"), std::string::npos) << m;
  EXPECT_EQ(m.find(":wrong@"), std::string::npos) << m;

  auto no_database = open_postgres_store(options("no_such_database"));
  ASSERT_FALSE(no_database);
  EXPECT_NE(no_database.error().describe().find("\"no_such_database\" does not exist"), std::string::npos)
      << no_database.error().describe();

  o.url = "mysql://127.0.0.1/firedrill";
  auto not_postgres = open_postgres_store(o);
  ASSERT_FALSE(not_postgres);
  EXPECT_NE(not_postgres.error().describe().find("not a PostgreSQL URL"), std::string::npos);
}

TEST(PostgresStore, AnotherFleetsDatabaseIsRefused) {
  auto db = server().fresh_database("fleets");
  { ASSERT_TRUE(must_open(options(db, "fleet-a"))); }
  auto other = open_postgres_store(options(db, "fleet-b"));
  ASSERT_FALSE(other);
  auto m = other.error().describe();
  EXPECT_NE(m.find("this database belongs to fleet 'fleet-a', and this controller serves fleet 'fleet-b'"),
            std::string::npos)
      << m;
  EXPECT_TRUE(must_open(options(db, "fleet-a")));
}

TEST(PostgresStore, ANewerSchemaIsRefusedAndLeftAsItWas) {
  auto db = server().fresh_database("newer");
  { ASSERT_TRUE(must_open(options(db))); }
  server().sql("UPDATE schema_version SET version = 9; CREATE TABLE from_the_future (x INT)", db);
  auto s = open_postgres_store(options(db));
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().describe().find("schema is version 9, written by a newer firedrill"), std::string::npos)
      << s.error().describe();
  EXPECT_NE(s.error().describe().find(fmt::format("knows versions up to {}", kSchemaVersion)), std::string::npos) << s.error().describe();
  server().sql("SELECT x FROM from_the_future", db);  // untouched
}

// A database of version 4 (before halt requests, join tokens, enrollments and
// revocations) is
// migrated when opened: the tables are made, fenced like the rest, the version
// written, what was there kept.
TEST(PostgresStore, AVersion4DatabaseIsMigrated) {
  auto db = server().fresh_database("v4");
  auto now = WallClock::now();
  {
    auto s = must_open(options(db));
    ASSERT_TRUE(s->put_run(v1::RunRecord(contract::record("r-old", "inject", now, v1::RUN_PHASE_DONE))));
    ASSERT_TRUE(s->set_setting("halt", "kept"));
  }
  server().sql("DROP TABLE halt_requests; DROP TABLE join_tokens; DROP TABLE agent_revocations; "
               "DROP TABLE agent_enrollments; DELETE FROM schema_version; INSERT INTO schema_version VALUES (4)",
               db);
  auto s = must_open(options(db));
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->run("r-old", false)->has_value());
  EXPECT_EQ(s->setting("halt")->value_or(""), "kept");
  auto asked = s->request_halt({0, now, "alice", "after the migration", "c1"});
  ASSERT_TRUE(asked) << asked.error().describe();
  EXPECT_EQ(s->halt_requests()->size(), 1u);
  ASSERT_TRUE(s->put_join_token({std::string(64, 'a'), {}, 1, 0, now, now + std::chrono::hours(1), "root"}));
  EXPECT_TRUE(*s->use_join_token(std::string(64, 'a'), now));
  ASSERT_TRUE(s->revoke_agent({"h1", now, "root", "test"}));
  EXPECT_EQ(s->agent_revocations()->size(), 1u);
  ASSERT_TRUE(s->put_agent_enrollment({"h2", {{"dc", "pangyo"}}, "aaaaaaaaaaaa", now}));
  EXPECT_EQ(s->agent_enrollments()->size(), 1u);
  s.reset();
  server().sql(fmt::format("DO $$ BEGIN IF (SELECT MAX(version) FROM schema_version) <> {} THEN "
                           "RAISE EXCEPTION 'not migrated'; END IF; END $$",
                           kSchemaVersion),
               db);
}

TEST(PostgresStore, TablesFiredrillDidNotMakeAreRefused) {
  auto db = server().fresh_database("foreign");
  server().sql("CREATE TABLE runs (id TEXT)", db);
  auto s = open_postgres_store(options(db));
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().describe().find("not a database firedrill made"), std::string::npos) << s.error().describe();
}

TEST(PostgresStore, ControllersMakingTheSchemaAtOnceBothOpenIt) {
  auto db = server().fresh_database("together");
  std::vector<std::thread> threads;
  std::atomic<int> opened{0};
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      auto s = open_postgres_store(options(db));
      if (s) ++opened;
      else ADD_FAILURE() << s.error().describe();
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(opened.load(), 4);
}

}  // namespace
}  // namespace firedrill::controller
