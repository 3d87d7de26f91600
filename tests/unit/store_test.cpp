// The SQLite store on a real file: the store contract (store_contract.h: rows in and
// out, reopen, transactions, evidence; the PostgreSQL store runs the same), and what is
// SQLite's own: a 0.1.0 database is migrated, so are schemas 2 and 3, a foreign one refused.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>

#include <sqlite3.h>

#include "controller/store/pg.h"
#include "controller/store/postgres_store.h"
#include "controller/store/sqlite.h"
#include "controller/store/store.h"
#include "controller/store/target_status.h"
#include "tests/unit/store_contract.h"

namespace firedrill::controller {
namespace {

using contract::record;

struct TempDir {
  TempDir() {
    char tmpl[] = "/tmp/fdc-store-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string path;
};

void write_db(const std::string& path, const char* sql);

struct SqliteBackend {
  Result<std::unique_ptr<Store>> open() { return open_sqlite_store(path()); }
  void set_schema_version(int v) {
    write_db(path(), fmt::format("UPDATE schema_version SET version = {}", v).c_str());
  }
  std::string where() const { return path(); }
  std::string path() const { return dir.path + "/controller.db"; }
  TempDir dir;
};

}  // namespace

namespace contract {
INSTANTIATE_TYPED_TEST_SUITE_P(Sqlite, StoreContract, ::testing::Types<SqliteBackend>);
}  // namespace contract

namespace {

// The schema of firedrill 0.1.0's store, as it wrote it (no version table).
constexpr const char* kSchema1 = R"sql(
CREATE TABLE agents (id TEXT PRIMARY KEY, tags TEXT NOT NULL, version TEXT NOT NULL, capabilities BLOB NOT NULL,
  peer TEXT NOT NULL, first_seen_us INTEGER NOT NULL, last_seen_us INTEGER NOT NULL);
CREATE TABLE runs (id TEXT PRIMARY KEY, kind TEXT NOT NULL, status TEXT NOT NULL, state TEXT NOT NULL,
  description TEXT NOT NULL, requested_by TEXT NOT NULL, spec TEXT NOT NULL, reason TEXT NOT NULL,
  created_us INTEGER NOT NULL, ended_us INTEGER);
CREATE INDEX runs_in_flight ON runs(ended_us) WHERE ended_us IS NULL;
CREATE TABLE run_targets (run_id TEXT NOT NULL, agent_id TEXT NOT NULL, fault_id TEXT NOT NULL, status TEXT NOT NULL,
  error TEXT NOT NULL, acked_us INTEGER, effective_us INTEGER, reverted_us INTEGER,
  PRIMARY KEY (run_id, agent_id, fault_id));
CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, at_us INTEGER NOT NULL,
  agent_id TEXT NOT NULL, kind TEXT NOT NULL, detail TEXT NOT NULL);
CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO runs VALUES ('r-old', 'inject', 'completed', 'completed', 'blackhole', 'kim (uid 0)', 'selector: dc=p1',
  'reverted by kim (uid 0)', 1700000000000000, 1700000060000000);
INSERT INTO runs VALUES ('r-live', 'inject', 'active', 'active', 'drop', 'lee (uid 0)', 'selector: dc=p2', '',
  1700000100000000, NULL);
INSERT INTO run_targets VALUES ('r-old', 'h1', 'r-old.1', 'reverted', '', 1700000000100000, 1700000000200000,
  1700000060000000);
INSERT INTO run_targets VALUES ('r-live', 'h2', 'r-live.1', 'applied', '', 1700000100100000, NULL, NULL);
INSERT INTO settings VALUES ('halt', '{"by":"kim"}');
)sql";

void write_db(const std::string& path, const char* sql) {
  auto db = sqlite::open(path);
  ASSERT_TRUE(db) << db.error().describe();
  auto r = sqlite::exec(*db, sql);
  sqlite3_close(*db);
  ASSERT_TRUE(r) << r.error().describe();
}

TEST(Store, ASchema1DatabaseIsMigratedWithItsRuns) {
  TempDir dir;
  std::string path = dir.path + "/controller.db";
  write_db(path, kSchema1);
  auto store = open_sqlite_store(path);
  ASSERT_TRUE(store) << store.error().describe();
  auto old = (*store)->run("r-old", false);
  ASSERT_TRUE(old && old->has_value());
  const auto& r = **old;
  EXPECT_EQ(r.kind(), "inject");
  EXPECT_EQ(r.phase(), v1::RUN_PHASE_DONE);
  EXPECT_EQ(r.outcome(), v1::RUN_OUTCOME_PASSED);
  EXPECT_EQ(r.reason(), "reverted by kim (uid 0)");
  EXPECT_EQ(r.started_by(), "kim (uid 0)");
  EXPECT_EQ(r.experiment().description(), "blackhole");
  EXPECT_EQ(r.created_at().seconds(), 1700000000);
  EXPECT_EQ(r.ended_at().seconds(), 1700000060);
  ASSERT_EQ(r.steps_size(), 1);
  ASSERT_EQ(r.steps(0).faults_size(), 1);
  EXPECT_EQ(r.steps(0).faults(0).status(), v1::TARGET_STATUS_REVERTED);
  EXPECT_EQ(r.steps(0).faults(0).effective_at().nanos(), 200000000);
  // The one in flight is in flight still: the daemon's recovery ends it.
  auto flight = (*store)->runs_in_flight();
  ASSERT_TRUE(flight);
  ASSERT_EQ(flight->size(), 1u);
  EXPECT_EQ(flight->front().id(), "r-live");
  EXPECT_EQ(flight->front().steps(0).faults(0).fault_id(), "r-live.1");
  EXPECT_EQ((*store)->setting("halt")->value(), R"({"by":"kim"})");
  store->reset();
  // Opened again, it is the current version and nothing is migrated twice.
  auto again = open_sqlite_store(path);
  ASSERT_TRUE(again) << again.error().describe();
  auto all = (*again)->runs(0);
  ASSERT_TRUE(all);
  EXPECT_EQ(all->size(), 2u);
}

// The version range it names is SQLite's own (1: firedrill 0.1.0); a file with a runs
// table of no firedrill version is refused.
TEST(Store, ANewerSchemaNamesTheVersionsItKnowsAndAForeignOneIsRefused) {
  TempDir dir;
  std::string path = dir.path + "/controller.db";
  write_db(path, fmt::format("CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version "
                             "VALUES ({});",
                             kSchemaVersion + 1)
                     .c_str());
  auto store = open_sqlite_store(path);
  ASSERT_FALSE(store);
  const auto& m = store.error().describe();
  EXPECT_NE(m.find(fmt::format("knows versions 1 to {}", kSchemaVersion)), std::string::npos) << m;

  TempDir other;
  write_db(other.path + "/controller.db", "CREATE TABLE runs (id TEXT);");
  auto foreign = open_sqlite_store(other.path + "/controller.db");
  ASSERT_FALSE(foreign);
  EXPECT_NE(foreign.error().describe().find("no firedrill version this one knows"), std::string::npos)
      << foreign.error().describe();
}

// Version 2 kept evidence events without recorded_us (the evidence code opened its
// tables beside the store): they get it from their recorded_at, to the microsecond.
TEST(Store, ASchema2DatabaseGetsEvidenceTimesInMicroseconds) {
  TempDir dir;
  std::string path = dir.path + "/controller.db";
  write_db(path, R"sql(
CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (2);
CREATE TABLE evidence_events(run_id TEXT NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL,
  recorded_at TEXT NOT NULL, body TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL,
  head_signature TEXT NOT NULL, key_fingerprint TEXT NOT NULL, PRIMARY KEY(run_id, seq));
CREATE TRIGGER evidence_events_no_update BEFORE UPDATE ON evidence_events
  BEGIN SELECT RAISE(ABORT, 'evidence events are append-only'); END;
INSERT INTO evidence_events VALUES ('r-2', 1, 'run_created', '2026-12-02T18:50:42.075096Z', '{}', 'p', 'h', 's', 'k');
INSERT INTO evidence_events VALUES ('r-1', 1, 'run_created', '2026-12-02T18:50:41.999999Z', '{}', 'p', 'h', 's', 'k');
)sql");
  auto store = open_sqlite_store(path);
  ASSERT_TRUE(store) << store.error().describe();
  auto e = (*store)->last_evidence_event("r-2");
  ASSERT_TRUE(e && e->has_value());
  EXPECT_EQ((*e)->recorded_us, 1796237442075096);
  EXPECT_EQ((*e)->recorded_at, "2026-12-02T18:50:42.075096Z");
  // Oldest first, by that time.
  auto runs = (*store)->evidence_runs();
  ASSERT_TRUE(runs);
  EXPECT_EQ(*runs, (std::vector<std::string>{"r-1", "r-2"}));
  // Still append-only after the migration.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  EXPECT_NE(sqlite3_exec(db, "UPDATE evidence_events SET body='x'", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
}

// Schema 3 kept each fault's status as text (field 4 of FaultRecord): opened by this
// version, the records carry the enum; a word no firedrill wrote is refused, named.
TEST(Store, ASchema3DatabaseGetsTypedTargetStatuses) {
  TempDir dir;
  std::string path = dir.path + "/controller.db";
  auto old_record = [](const std::string& id, const std::string& word) {
    auto r = record(id, "inject", WallClock::now(), v1::RUN_PHASE_DONE);
    auto* f = r.add_steps()->add_faults();
    f->set_fault_id(id + ".1");
    f->set_agent_id("h1");
    f->GetReflection()->MutableUnknownFields(f)->AddLengthDelimited(4, word);
    return r;
  };
  {
    auto store = open_sqlite_store(path);
    ASSERT_TRUE(store) << store.error().describe();
    ASSERT_TRUE((*store)->put_run(old_record("r-text", "reverted")));
    ASSERT_TRUE((*store)->put_run(old_record("r-lost", "lost")));
  }
  write_db(path, "UPDATE schema_version SET version = 3");
  auto store = open_sqlite_store(path);
  ASSERT_TRUE(store) << store.error().describe();
  auto r = (*store)->run("r-text", false);
  ASSERT_TRUE(r && r->has_value());
  EXPECT_EQ((*r)->steps(0).faults(0).status(), v1::TARGET_STATUS_REVERTED);
  EXPECT_EQ((*r)->steps(0).faults(0).GetReflection()->GetUnknownFields((*r)->steps(0).faults(0)).field_count(), 0);
  EXPECT_EQ((*(*store)->run("r-lost", false))->steps(0).faults(0).status(), v1::TARGET_STATUS_NO_ANSWER);
  store->reset();

  auto bad = old_record("r-bad", "exploded");
  auto upgraded = upgrade_run_record(bad);
  ASSERT_FALSE(upgraded);
  EXPECT_NE(upgraded.error().message.find("run r-bad: fault r-bad.1 on h1: status 'exploded'"), std::string::npos)
      << upgraded.error().message;
  EXPECT_EQ(target_status_name(v1::TARGET_STATUS_NOT_IN_EFFECT), "not in effect");
  EXPECT_EQ(target_status_of("not in effect"), v1::TARGET_STATUS_NOT_IN_EFFECT);
}

// A store of version 4 (before enrollment) gains the join token, enrollment and
// revocation tables.
TEST(Store, AVersion4StoreIsMigratedForEnrollment) {
  auto dir = testing::TempDir() + "/store-v4-" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  auto path = dir + "/controller.db";
  std::filesystem::remove(path);
  auto now = WallClock::now();
  {
    auto store = open_sqlite_store(path);
    ASSERT_TRUE(store) << store.error().describe();
    ASSERT_TRUE((*store)->set_setting("halt", "kept"));
  }
  write_db(path, "DROP TABLE join_tokens; DROP TABLE agent_revocations; DROP TABLE agent_enrollments; "
                 "UPDATE schema_version SET version = 4");
  auto store = open_sqlite_store(path);
  ASSERT_TRUE(store) << store.error().describe();
  EXPECT_EQ((*store)->setting("halt")->value_or(""), "kept");
  ASSERT_TRUE((*store)->put_join_token({std::string(64, 'a'), {}, 1, 0, now, now + std::chrono::hours(1), "root"}));
  EXPECT_TRUE(*(*store)->use_join_token(std::string(64, 'a'), now));
  ASSERT_TRUE((*store)->revoke_agent({"h1", now, "root", "test"}));
  EXPECT_EQ((*store)->agent_revocations()->size(), 1u);
  ASSERT_TRUE((*store)->put_agent_enrollment({"h2", {{"dc", "pangyo"}}, "aaaaaaaaaaaa", now}));
  EXPECT_EQ((*store)->agent_enrollments()->size(), 1u);
}

// What the PostgreSQL store's errors and logs say of a URL: never its password.
TEST(Store, PostgresUrlsAreNamedWithoutTheirPassword) {
  EXPECT_EQ(pg::redact("postgres://fd:s3cr:et@db.example:5432/fd?sslmode=require"),
            "postgres://fd:***@db.example:5432/fd?sslmode=require");
  EXPECT_EQ(pg::redact("postgresql://fd@db/fd"), "postgresql://fd@db/fd");
  EXPECT_EQ(pg::redact("postgres://db/fd?password=s3cret&sslmode=require"),
            "postgres://db/fd?password=***&sslmode=require");
  EXPECT_EQ(pg::redact("host=db password=s3cret dbname=fd"), "host=db password=*** dbname=fd");
  EXPECT_TRUE(is_postgres_url("postgres://db/fd"));
  EXPECT_TRUE(is_postgres_url("postgresql://db/fd"));
  EXPECT_FALSE(is_postgres_url("/var/lib/firedrill/controller.db"));
  auto refused = open_postgres_store(PostgresOptions{.url = "sqlite:///x.db", .fleet = "f"});
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().describe().find("not a PostgreSQL URL"), std::string::npos);
}

TEST(Store, UnopenablePathIsAClearError) {
  auto store = open_sqlite_store("/nonexistent-dir-fdc/state.db");
  ASSERT_FALSE(store);
  EXPECT_NE(store.error().message.find("/nonexistent-dir-fdc/state.db"), std::string::npos) << store.error().message;
}

}  // namespace
}  // namespace firedrill::controller
