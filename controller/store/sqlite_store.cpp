// The SQLite store: one connection guarded by a mutex (the controller writes little
// and in batches), WAL so that readers (the CLI, an auditor with sqlite3) never block
// it, and synchronous=NORMAL: a power cut may lose the last commits, never corrupt.
#include <sqlite3.h>

#include <mutex>

#include <nlohmann/json.hpp>

#include "controller/store/sqlite.h"
#include "controller/store/store.h"

namespace firedrill::controller {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS agents (
  id TEXT PRIMARY KEY,
  tags TEXT NOT NULL,
  version TEXT NOT NULL,
  capabilities BLOB NOT NULL,
  peer TEXT NOT NULL,
  first_seen_us INTEGER NOT NULL,
  last_seen_us INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
  id TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  status TEXT NOT NULL,
  state TEXT NOT NULL,
  description TEXT NOT NULL,
  requested_by TEXT NOT NULL,
  spec TEXT NOT NULL,
  reason TEXT NOT NULL,
  created_us INTEGER NOT NULL,
  ended_us INTEGER
);
CREATE INDEX IF NOT EXISTS runs_in_flight ON runs(ended_us) WHERE ended_us IS NULL;
CREATE TABLE IF NOT EXISTS run_targets (
  run_id TEXT NOT NULL,
  agent_id TEXT NOT NULL,
  fault_id TEXT NOT NULL,
  status TEXT NOT NULL,
  error TEXT NOT NULL,
  acked_us INTEGER,
  effective_us INTEGER,
  reverted_us INTEGER,
  PRIMARY KEY (run_id, agent_id, fault_id)
);
CREATE TABLE IF NOT EXISTS events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id TEXT NOT NULL,
  at_us INTEGER NOT NULL,
  agent_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_run ON events(run_id, seq);
CREATE TABLE IF NOT EXISTS settings (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
)sql";

int64_t us(WallTime t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}
WallTime from_us(int64_t v) {
  return WallTime(std::chrono::duration_cast<WallClock::duration>(std::chrono::microseconds(v)));
}

std::optional<int64_t> us(const std::optional<WallTime>& t) {
  if (!t) return std::nullopt;
  return us(*t);
}
std::optional<WallTime> from_us(std::optional<int64_t> v) {
  if (!v) return std::nullopt;
  return from_us(*v);
}

using sqlite::Stmt;

class SqliteStore : public Store {
 public:
  explicit SqliteStore(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  ~SqliteStore() override { sqlite3_close(db_); }

  Result<void> init() {
    FD_TRY(exec("PRAGMA journal_mode=WAL"), "store {}", path_);
    FD_TRY(exec("PRAGMA synchronous=NORMAL"), "store {}", path_);
    FD_TRY(exec("PRAGMA foreign_keys=ON"), "store {}", path_);
    FD_TRY(exec(kSchema), "store {}: schema", path_);
    return ok();
  }

  Result<void> upsert_agents(const std::vector<AgentRow>& rows) override {
    std::lock_guard lock(mu_);
    return transaction([&]() -> Result<void> {
      Stmt s(db_, "INSERT INTO agents(id, tags, version, capabilities, peer, first_seen_us, last_seen_us) "
                  "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(id) DO UPDATE SET tags=?2, version=?3, "
                  "capabilities=?4, peer=?5, last_seen_us=?7");
      FD_TRY(s.prepared("upsert agent"), "store");
      for (auto& r : rows) {
        nlohmann::json tags = r.tags;
        s.bind(1, r.id).bind(2, tags.dump()).bind(3, r.version).bind_blob(4, r.capabilities).bind(5, r.peer)
            .bind(6, us(r.first_seen)).bind(7, us(r.last_seen));
        FD_TRY(done(s.step(), "upsert agent " + r.id), "store");
        s.reset();
      }
      return ok();
    });
  }

  Result<std::vector<AgentRow>> agents() override {
    std::lock_guard lock(mu_);
    Stmt s(db_, "SELECT id, tags, version, capabilities, peer, first_seen_us, last_seen_us FROM agents ORDER BY id");
    FD_TRY(s.prepared("agents"), "store");
    std::vector<AgentRow> out;
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) {
      AgentRow r;
      r.id = s.text(0);
      auto tags = nlohmann::json::parse(s.text(1), nullptr, false);
      if (tags.is_object()) {
        for (auto& [k, v] : tags.items()) {
          if (v.is_string()) r.tags[k] = v.get<std::string>();
        }
      }
      r.version = s.text(2);
      r.capabilities = s.text(3);
      r.peer = s.text(4);
      r.first_seen = from_us(s.integer(5));
      r.last_seen = from_us(s.integer(6));
      out.push_back(std::move(r));
    }
    FD_TRY(done(rc, "list agents"), "store");
    return out;
  }

  Result<void> create_run(const RunRow& r) override {
    std::lock_guard lock(mu_);
    Stmt s(db_, "INSERT INTO runs(id, kind, status, state, description, requested_by, spec, reason, created_us, "
                "ended_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
    FD_TRY(s.prepared("create run"), "store");
    s.bind(1, r.id).bind(2, r.kind).bind(3, r.status).bind(4, r.state).bind(5, r.description).bind(6, r.requested_by)
        .bind(7, r.spec).bind(8, r.reason).bind(9, us(r.created_at)).bind(10, us(r.ended_at));
    int rc = s.step();
    if (rc == SQLITE_CONSTRAINT) return make_error("store: run {} already exists", r.id);
    return done(rc, "create run " + r.id);
  }

  Result<bool> end_run(const std::string& id, const std::string& status, const std::string& reason,
                       WallTime at) override {
    std::lock_guard lock(mu_);
    Stmt s(db_, "UPDATE runs SET status=?2, state=?2, reason=?3, ended_us=?4 WHERE id=?1 AND ended_us IS NULL");
    FD_TRY(s.prepared("end run"), "store");
    s.bind(1, id).bind(2, status).bind(3, reason).bind(4, us(at));
    FD_TRY(done(s.step(), "end run " + id), "store");
    return sqlite3_changes(db_) > 0;
  }

  Result<void> set_run_state(const std::string& id, const std::string& state) override {
    std::lock_guard lock(mu_);
    Stmt s(db_, "UPDATE runs SET state=?2 WHERE id=?1 AND ended_us IS NULL");
    FD_TRY(s.prepared("set run state"), "store");
    s.bind(1, id).bind(2, state);
    return done(s.step(), "set state of run " + id);
  }

  Result<std::optional<RunRow>> run(const std::string& id) override {
    std::lock_guard lock(mu_);
    FD_ASSIGN(rows, select_runs("WHERE id=?1", id, 1), "store");
    if (rows.empty()) return std::optional<RunRow>();
    return std::optional<RunRow>(std::move(rows[0]));
  }

  Result<std::vector<RunRow>> recent_runs(size_t limit) override {
    std::lock_guard lock(mu_);
    return select_runs("ORDER BY created_us DESC, id DESC", "", limit);
  }

  Result<std::vector<RunRow>> runs_in_flight() override {
    std::lock_guard lock(mu_);
    return select_runs("WHERE ended_us IS NULL ORDER BY created_us", "", 1u << 30);
  }

  Result<void> put_targets(const std::vector<TargetRow>& rows) override {
    std::lock_guard lock(mu_);
    return transaction([&]() -> Result<void> {
      // A later answer fills what an earlier one left open, never erases it.
      Stmt s(db_, "INSERT INTO run_targets(run_id, agent_id, fault_id, status, error, acked_us, effective_us, "
                  "reverted_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT(run_id, agent_id, fault_id) DO "
                  "UPDATE SET status=?4, error=CASE WHEN ?5='' THEN error ELSE ?5 END, "
                  "acked_us=COALESCE(?6, acked_us), effective_us=COALESCE(?7, effective_us), "
                  "reverted_us=COALESCE(?8, reverted_us)");
      FD_TRY(s.prepared("put target"), "store");
      for (auto& r : rows) {
        s.bind(1, r.run_id).bind(2, r.agent_id).bind(3, r.fault_id).bind(4, r.status).bind(5, r.error)
            .bind(6, us(r.acked_at)).bind(7, us(r.effective_at)).bind(8, us(r.reverted_at));
        FD_TRY(done(s.step(), "put target " + r.agent_id), "store");
        s.reset();
      }
      return ok();
    });
  }

  Result<std::vector<TargetRow>> targets(const std::string& run_id) override {
    std::lock_guard lock(mu_);
    Stmt s(db_, "SELECT run_id, agent_id, fault_id, status, error, acked_us, effective_us, reverted_us "
                "FROM run_targets WHERE run_id=?1 ORDER BY agent_id, fault_id");
    FD_TRY(s.prepared("targets"), "store");
    s.bind(1, run_id);
    std::vector<TargetRow> out;
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) {
      out.push_back({s.text(0), s.text(1), s.text(2), s.text(3), s.text(4), from_us(s.maybe_integer(5)),
                     from_us(s.maybe_integer(6)), from_us(s.maybe_integer(7))});
    }
    FD_TRY(done(rc, "targets of " + run_id), "store");
    return out;
  }

  Result<void> append_events(std::vector<EventRow> rows) override {
    std::lock_guard lock(mu_);
    return transaction([&]() -> Result<void> {
      Stmt s(db_, "INSERT INTO events(run_id, at_us, agent_id, kind, detail) VALUES (?1, ?2, ?3, ?4, ?5)");
      FD_TRY(s.prepared("append event"), "store");
      for (auto& r : rows) {
        s.bind(1, r.run_id).bind(2, us(r.at)).bind(3, r.agent_id).bind(4, r.kind).bind(5, r.detail);
        FD_TRY(done(s.step(), "append event " + r.kind), "store");
        s.reset();
      }
      return ok();
    });
  }

  Result<std::vector<EventRow>> events(const std::string& run_id, int64_t after) override {
    std::lock_guard lock(mu_);
    Stmt s(db_, "SELECT seq, run_id, at_us, agent_id, kind, detail FROM events WHERE run_id=?1 AND seq>?2 "
                "ORDER BY seq");
    FD_TRY(s.prepared("events"), "store");
    s.bind(1, run_id).bind(2, after);
    std::vector<EventRow> out;
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) {
      out.push_back({s.integer(0), s.text(1), from_us(s.integer(2)), s.text(3), s.text(4), s.text(5)});
    }
    FD_TRY(done(rc, "events of " + run_id), "store");
    return out;
  }

  Result<std::optional<std::string>> setting(const std::string& key) override {
    std::lock_guard lock(mu_);
    Stmt s(db_, "SELECT value FROM settings WHERE key=?1");
    FD_TRY(s.prepared("setting"), "store");
    s.bind(1, key);
    int rc = s.step();
    if (rc == SQLITE_ROW) return std::optional<std::string>(s.text(0));
    FD_TRY(done(rc, "setting " + key), "store");
    return std::optional<std::string>();
  }

  Result<void> set_setting(const std::string& key, const std::string& value) override {
    std::lock_guard lock(mu_);
    Stmt s(db_, "INSERT INTO settings(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value=?2");
    FD_TRY(s.prepared("set setting"), "store");
    s.bind(1, key).bind(2, value);
    return done(s.step(), "set setting " + key);
  }

 private:
  Result<void> exec(const char* sql) { return sqlite::exec(db_, sql); }

  Result<void> done(int rc, const std::string& what) {
    if (rc == SQLITE_DONE || rc == SQLITE_ROW || rc == SQLITE_OK) return ok();
    return make_error("{}: {}", what, sqlite3_errmsg(db_));
  }

  template <typename F>
  Result<void> transaction(F body) {
    FD_TRY(exec("BEGIN IMMEDIATE"), "store {}", path_);
    auto r = body();
    if (!r) {
      (void)exec("ROLLBACK");
      return r;
    }
    return exec("COMMIT");
  }

  Result<std::vector<RunRow>> select_runs(const std::string& where, const std::string& arg, size_t limit) {
    std::string sql = "SELECT id, kind, status, state, description, requested_by, spec, reason, created_us, ended_us "
                      "FROM runs " + where + " LIMIT " + std::to_string(limit);
    Stmt s(db_, sql.c_str());
    FD_TRY(s.prepared("runs"), "store");
    if (!arg.empty()) s.bind(1, arg);
    std::vector<RunRow> out;
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) {
      RunRow r;
      r.id = s.text(0);
      r.kind = s.text(1);
      r.status = s.text(2);
      r.state = s.text(3);
      r.description = s.text(4);
      r.requested_by = s.text(5);
      r.spec = s.text(6);
      r.reason = s.text(7);
      r.created_at = from_us(s.integer(8));
      r.ended_at = from_us(s.maybe_integer(9));
      out.push_back(std::move(r));
    }
    FD_TRY(done(rc, "list runs"), "store");
    return out;
  }

  std::mutex mu_;
  sqlite3* db_;
  std::string path_;
};

}  // namespace

Result<std::unique_ptr<Store>> open_sqlite_store(const std::string& path) {
  FD_ASSIGN(db, sqlite::open(path), "store {}: cannot open", path);
  auto store = std::make_unique<SqliteStore>(db, path);
  FD_TRY(store->init(), "open store");
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace firedrill::controller
