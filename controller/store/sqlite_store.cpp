// The SQLite store: one connection guarded by a mutex (the controller writes little
// and in batches), WAL so that readers (the CLI, an auditor with sqlite3) never block
// it, and synchronous=NORMAL: a power cut may lose the last commits, never corrupt.
#include <sqlite3.h>

#include <functional>
#include <mutex>

#include "common/log.h"
#include "controller/store/records.h"
#include "controller/store/sqlite.h"
#include "controller/store/store.h"
#include "controller/store/target_status.h"

namespace firedrill::controller {
namespace {

// Version 7 (version 6 added controllers, 7 login_links). Version 1 (firedrill 0.1.0) had no version table, a runs table of its own
// (kind, status, state, ...) for ad hoc runs and run_targets beside it; experiment
// runs were files under STATE_DIR/runs (imported by the daemon, controller/daemon).
// Version 3 kept each fault's status as text (FaultRecord field 4); version 4 has the
// enum. Version 2 had the evidence tables without recorded_us (they were opened beside the
// store, by the evidence code). Sequence numbers (seq) are given by the controller, in
// the transaction that appends: AUTOINCREMENT, where an older version made it, is
// never relied on. Version 5 added halt_requests (halts asked at any controller),
// join_tokens, agent_enrollments and agent_revocations (enrollment), made by the schema
// itself.
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS schema_version (
  version INTEGER NOT NULL
);
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
  done INTEGER NOT NULL,
  created_us INTEGER NOT NULL,
  record BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_by_created ON runs(created_us, id);
CREATE TABLE IF NOT EXISTS run_samples (
  seq INTEGER PRIMARY KEY,
  run_id TEXT NOT NULL,
  sample BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS samples_by_run ON run_samples(run_id, seq);
CREATE TABLE IF NOT EXISTS schedules (
  id TEXT PRIMARY KEY,
  record BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
  seq INTEGER PRIMARY KEY,
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
CREATE TABLE IF NOT EXISTS halt_requests (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  at_us INTEGER NOT NULL,
  by TEXT NOT NULL,
  reason TEXT NOT NULL,
  controller TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS evidence_events (
  run_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  kind TEXT NOT NULL,
  recorded_at TEXT NOT NULL,
  body TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL,
  head_signature TEXT NOT NULL,
  key_fingerprint TEXT NOT NULL,
  recorded_us INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (run_id, seq)
);
CREATE INDEX IF NOT EXISTS evidence_events_first ON evidence_events(seq, recorded_us, run_id);
CREATE TABLE IF NOT EXISTS evidence_findings (
  finding_id TEXT NOT NULL,
  rev INTEGER NOT NULL,
  run_id TEXT NOT NULL,
  retest_run TEXT NOT NULL,
  body TEXT NOT NULL,
  hash TEXT NOT NULL,
  signature TEXT NOT NULL,
  key_fingerprint TEXT NOT NULL,
  PRIMARY KEY (finding_id, rev)
);
CREATE INDEX IF NOT EXISTS evidence_findings_run ON evidence_findings(run_id);
CREATE INDEX IF NOT EXISTS evidence_findings_retest ON evidence_findings(retest_run);
CREATE TABLE IF NOT EXISTS evidence_keys (
  fingerprint TEXT PRIMARY KEY,
  public_pem TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS join_tokens (
  secret_sha256 TEXT PRIMARY KEY,
  tags TEXT NOT NULL,
  uses_allowed INTEGER NOT NULL,
  uses INTEGER NOT NULL,
  created_us INTEGER NOT NULL,
  expires_us INTEGER NOT NULL,
  created_by TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS agent_enrollments (
  agent_id TEXT PRIMARY KEY,
  tags TEXT NOT NULL,
  token_id TEXT NOT NULL,
  enrolled_us INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS agent_revocations (
  agent_id TEXT PRIMARY KEY,
  revoked_us INTEGER NOT NULL,
  revoked_by TEXT NOT NULL,
  reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS controllers (
  id TEXT PRIMARY KEY,
  address TEXT NOT NULL,
  domain TEXT NOT NULL,
  public_pem TEXT NOT NULL,
  last_seen_us INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS login_links (
  secret_sha256 TEXT PRIMARY KEY,
  identity TEXT NOT NULL,
  expires_us INTEGER NOT NULL,
  used INTEGER NOT NULL DEFAULT 0
);
CREATE TRIGGER IF NOT EXISTS evidence_events_no_update BEFORE UPDATE ON evidence_events
  BEGIN SELECT RAISE(ABORT, 'evidence events are append-only'); END;
CREATE TRIGGER IF NOT EXISTS evidence_events_no_delete BEFORE DELETE ON evidence_events
  BEGIN SELECT RAISE(ABORT, 'evidence events are append-only'); END;
CREATE TRIGGER IF NOT EXISTS evidence_findings_no_update BEFORE UPDATE ON evidence_findings
  BEGIN SELECT RAISE(ABORT, 'finding records are append-only'); END;
CREATE TRIGGER IF NOT EXISTS evidence_findings_no_delete BEFORE DELETE ON evidence_findings
  BEGIN SELECT RAISE(ABORT, 'finding records are append-only'); END;
CREATE TRIGGER IF NOT EXISTS evidence_keys_no_update BEFORE UPDATE ON evidence_keys
  BEGIN SELECT RAISE(ABORT, 'evidence keys are append-only'); END;
)sql";

int64_t us(WallTime t) { return to_unix_micros(t); }
WallTime from_us(int64_t v) { return from_unix_micros(v); }

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
    // The version first: a database this binary refuses is left as it found it.
    FD_ASSIGN(version, schema_version(), "store {}", path_);
    if (version > kSchemaVersion) {
      return make_error("store {}: its schema is version {}, written by a newer firedrill; this one ({}) knows "
                        "versions 1 to {}. Run the newer firedrill on it, or move the state directory aside to "
                        "start afresh (its runs and evidence stay in the file)",
                        path_, version, FIREDRILL_VERSION, kSchemaVersion);
    }
    FD_TRY(exec("PRAGMA journal_mode=WAL"), "store {}", path_);
    FD_TRY(exec("PRAGMA synchronous=NORMAL"), "store {}", path_);
    FD_TRY(exec("PRAGMA foreign_keys=ON"), "store {}", path_);
    std::lock_guard lock(mu_);
    return transaction([&]() -> Result<void> {
      if (version == 1) FD_TRY(exec("ALTER TABLE runs RENAME TO runs_v1; DROP INDEX IF EXISTS runs_in_flight"), "migrate 1");
      if (version == 1 || version == 2) FD_TRY(evidence_times(), "migrate {} to {}", version, kSchemaVersion);
      FD_TRY(exec(kSchema), "store {}: schema", path_);
      size_t runs = 0;
      if (version == 1) {
        FD_ASSIGN(n, runs_from_1(), "migrate 1 to {}", kSchemaVersion);
        runs = n;
      }
      if (version >= 1 && version < 4) FD_TRY(typed_statuses(), "migrate {} to {}", version, kSchemaVersion);
      if (version == kSchemaVersion) return ok();
      Stmt s(db_, "INSERT INTO schema_version(version) VALUES (?1)");
      FD_TRY(s.prepared("schema version"), "store {}", path_);
      s.bind(1, int64_t{kSchemaVersion});
      FD_TRY(done(s.step(), "schema version"), "store {}", path_);
      if (version == 0) return ok();
      logger("controller.store")->warn("store {}: migrated from schema {}{} to {}{}", path_, version,
                                        version == 1 ? " (firedrill 0.1.0)" : "", kSchemaVersion,
                                        version == 1 ? fmt::format(": {} run(s)", runs) : "");
      return ok();
    });
  }

  // One transaction per outermost call; nested ones are savepoints. The mutex is held
  // throughout, so that other threads' calls wait for the end of it.
  Result<void> transaction(const std::function<Result<void>()>& body) override {
    std::lock_guard lock(mu_);
    std::string savepoint = fmt::format("fd_tx_{}", depth_);
    FD_TRY(exec(depth_ == 0 ? std::string("BEGIN IMMEDIATE") : "SAVEPOINT " + savepoint), "store {}: begin", path_);
    ++depth_;
    auto r = body();
    --depth_;
    if (!r) {
      // What failed is what the caller hears about; a failed rollback leaves SQLite's
      // own recovery, nothing better to do here.
      if (depth_ == 0) {
        (void)exec("ROLLBACK");
      } else {
        (void)exec("ROLLBACK TO " + savepoint + "; RELEASE " + savepoint);
      }
      return r;
    }
    return exec(depth_ == 0 ? std::string("COMMIT") : "RELEASE " + savepoint);
  }

  Result<void> upsert_agents(const std::vector<AgentRow>& rows) override {
    std::lock_guard lock(mu_);
    return transaction([&]() -> Result<void> {
      Stmt s(db_, "INSERT INTO agents(id, tags, version, capabilities, peer, first_seen_us, last_seen_us) "
                  "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(id) DO UPDATE SET tags=?2, version=?3, "
                  "capabilities=?4, peer=?5, last_seen_us=?7");
      FD_TRY(s.prepared("upsert agent"), "store");
      for (auto& r : rows) {
        s.bind(1, r.id).bind(2, records::tags_json(r.tags)).bind(3, r.version).bind_blob(4, r.capabilities).bind(5, r.peer)
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
      r.tags = records::parse_tags(s.text(1));
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

  Result<void> put_run(const v1::RunRecord& run) override {
    std::lock_guard lock(mu_);
    return put_run_locked(run);
  }

  Result<void> append_samples(const std::string& run_id, const std::vector<v1::ProbeSample>& samples) override {
    if (samples.empty()) return ok();
    std::lock_guard lock(mu_);
    return transaction([&]() -> Result<void> {
      Stmt s(db_, "INSERT INTO run_samples(seq, run_id, sample) "
                  "VALUES ((SELECT COALESCE(MAX(seq), 0) + 1 FROM run_samples), ?1, ?2)");
      FD_TRY(s.prepared("append sample"), "store");
      std::string bytes;
      for (const auto& p : samples) {
        bytes.clear();
        p.SerializeToString(&bytes);
        s.bind(1, run_id).bind_blob(2, bytes);
        FD_TRY(done(s.step(), "append sample of run " + run_id), "store");
        s.reset();
      }
      return ok();
    });
  }

  Result<std::optional<v1::RunRecord>> run(const std::string& id, bool with_samples) override {
    std::lock_guard lock(mu_);
    FD_ASSIGN(rows, select_runs("WHERE id=?1", id, 1, false), "store");
    if (rows.empty()) return std::optional<v1::RunRecord>();
    if (with_samples) FD_TRY(load_samples(rows[0]), "store");
    return std::optional<v1::RunRecord>(std::move(rows[0]));
  }

  Result<std::vector<v1::RunRecord>> runs(size_t limit) override {
    std::lock_guard lock(mu_);
    return select_runs("ORDER BY created_us DESC, id DESC", "", limit ? limit : (1u << 30), true);
  }

  Result<std::vector<v1::RunRecord>> runs_in_flight() override {
    std::lock_guard lock(mu_);
    FD_ASSIGN(rows, select_runs("WHERE done=0 ORDER BY created_us, id", "", 1u << 30, false), "store");
    for (auto& r : rows) FD_TRY(load_samples(r), "store");
    return rows;
  }

  Result<void> put_schedule(const v1::ScheduleRecord& schedule) override {
    if (schedule.id().empty()) return make_error("store: a schedule without an id");
    std::lock_guard lock(mu_);
    Stmt s(db_, "INSERT INTO schedules(id, record) VALUES (?1, ?2) ON CONFLICT(id) DO UPDATE SET record=?2");
    FD_TRY(s.prepared("put schedule"), "store");
    s.bind(1, schedule.id()).bind_blob(2, schedule.SerializeAsString());
    return done(s.step(), "put schedule " + schedule.id());
  }

  Result<void> remove_schedule(const std::string& id) override {
    std::lock_guard lock(mu_);
    Stmt s(db_, "DELETE FROM schedules WHERE id=?1");
    FD_TRY(s.prepared("remove schedule"), "store");
    s.bind(1, id);
    return done(s.step(), "remove schedule " + id);
  }

  Result<std::vector<v1::ScheduleRecord>> schedules() override {
    std::lock_guard lock(mu_);
    Stmt s(db_, "SELECT id, record FROM schedules ORDER BY id");
    FD_TRY(s.prepared("schedules"), "store");
    std::vector<v1::ScheduleRecord> out;
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) {
      v1::ScheduleRecord r;
      if (!r.ParseFromString(s.text(1))) return make_error("store: the record of schedule {} does not parse", s.text(0));
      out.push_back(std::move(r));
    }
    FD_TRY(done(rc, "schedules"), "store");
    return out;
  }

  Result<void> append_events(std::vector<EventRow> rows) override {
    std::lock_guard lock(mu_);
    return transaction([&]() -> Result<void> {
      Stmt s(db_, "INSERT INTO events(seq, run_id, at_us, agent_id, kind, detail) "
                  "VALUES ((SELECT COALESCE(MAX(seq), 0) + 1 FROM events), ?1, ?2, ?3, ?4, ?5)");
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

  Result<void> set_setting(const std::string& key, const std::string& value, bool durable) override {
    std::lock_guard lock(mu_);
    // synchronous=FULL for this commit only: the WAL is synced before it returns.
    if (durable) FD_TRY(exec("PRAGMA synchronous=FULL"), "store {}", path_);
    Stmt s(db_, "INSERT INTO settings(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value=?2");
    auto r = [&]() -> Result<void> {
      FD_TRY(s.prepared("set setting"), "store");
      s.bind(1, key).bind(2, value);
      return done(s.step(), "set setting " + key);
    }();
    if (durable) {
      if (auto back = exec("PRAGMA synchronous=NORMAL"); !back && r) return back.error().context("store " + path_);
    }
    return r;
  }

  Result<int64_t> request_halt(const HaltRequestRow& row) override {
    std::lock_guard lock(mu_);
    FD_TRY(exec("PRAGMA synchronous=FULL"), "store {}", path_);
    Stmt s(db_, "INSERT INTO halt_requests(at_us, by, reason, controller) VALUES (?1, ?2, ?3, ?4)");
    auto r = [&]() -> Result<void> {
      FD_TRY(s.prepared("halt request"), "store");
      s.bind(1, us(row.at)).bind(2, row.by).bind(3, row.reason).bind(4, row.controller);
      return done(s.step(), "halt request");
    }();
    if (auto back = exec("PRAGMA synchronous=NORMAL"); !back && r) return back.error().context("store " + path_);
    if (!r) return r.error();
    return static_cast<int64_t>(sqlite3_last_insert_rowid(db_));
  }

  Result<std::vector<HaltRequestRow>> halt_requests() override {
    std::lock_guard lock(mu_);
    Stmt s(db_, "SELECT seq, at_us, by, reason, controller FROM halt_requests ORDER BY seq");
    FD_TRY(s.prepared("halt requests"), "store");
    std::vector<HaltRequestRow> out;
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) {
      out.push_back({s.integer(0), from_us(s.integer(1)), s.text(2), s.text(3), s.text(4)});
    }
    FD_TRY(done(rc, "halt requests"), "store");
    return out;
  }

  Result<void> clear_halt_requests(int64_t up_to_seq) override {
    std::lock_guard lock(mu_);
    Stmt s(db_, "DELETE FROM halt_requests WHERE seq <= ?1");
    FD_TRY(s.prepared("clear halt requests"), "store");
    s.bind(1, up_to_seq);
    return done(s.step(), "clear halt requests");
  }

  Result<void> put_login_link(const LoginLinkRow& row) override {
    return transaction([&]() -> Result<void> {
      Stmt drop(db_, "DELETE FROM login_links WHERE expires_us < ?1");
      FD_TRY(drop.prepared("drop old login links"), "store");
      drop.bind(1, us(row.expires_at - std::chrono::hours(48)));
      FD_TRY(done(drop.step(), "drop old login links"), "store");
      Stmt s(db_, "INSERT INTO login_links(secret_sha256, identity, expires_us) VALUES (?1, ?2, ?3)");
      FD_TRY(s.prepared("put login link"), "store");
      s.bind(1, row.secret_sha256).bind(2, row.identity).bind(3, us(row.expires_at));
      return done(s.step(), "put login link");
    });
  }

  Result<std::optional<LoginLinkRow>> use_login_link(const std::string& hash) override {
    using Out = std::optional<LoginLinkRow>;
    Out out;
    FD_TRY(transaction([&]() -> Result<void> {
      Stmt s(db_, "SELECT identity, expires_us, used FROM login_links WHERE secret_sha256 = ?1");
      FD_TRY(s.prepared("login link"), "store");
      s.bind(1, hash);
      int rc = s.step();
      if (rc != SQLITE_ROW) return done(rc, "login link");
      out = LoginLinkRow{hash, s.text(0), from_us(s.integer(1)), s.integer(2) != 0};
      if (out->used) return ok();
      Stmt mark(db_, "UPDATE login_links SET used = 1 WHERE secret_sha256 = ?1");
      FD_TRY(mark.prepared("use login link"), "store");
      mark.bind(1, hash);
      return done(mark.step(), "use login link");
    }), "store");
    return out;
  }

  Result<void> put_controller(const ControllerRow& r) override {
    std::lock_guard lock(mu_);
    Stmt s(db_, "INSERT INTO controllers(id, address, domain, public_pem, last_seen_us) VALUES (?1, ?2, ?3, ?4, ?5) "
                "ON CONFLICT(id) DO UPDATE SET address=?2, domain=?3, public_pem=?4, last_seen_us=?5");
    FD_TRY(s.prepared("put controller"), "store");
    s.bind(1, r.id).bind(2, r.address).bind(3, records::tags_json(r.domain)).bind(4, r.public_key).bind(5, us(r.last_seen));
    return done(s.step(), fmt::format("put controller {}", r.id));
  }

  Result<std::vector<ControllerRow>> controllers() override {
    std::lock_guard lock(mu_);
    Stmt s(db_, "SELECT id, address, domain, public_pem, last_seen_us FROM controllers ORDER BY id");
    FD_TRY(s.prepared("controllers"), "store");
    std::vector<ControllerRow> out;
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) {
      out.push_back({s.text(0), s.text(1), records::parse_tags(s.text(2)), s.text(3), from_us(s.integer(4))});
    }
    FD_TRY(done(rc, "controllers"), "store");
    return out;
  }

  // ---------------------------------------------------------------- evidence

  Result<void> append_evidence(const std::vector<StoredEvent>& batch) override {
    if (batch.empty()) return ok();
    const std::string& run = batch.front().run_id;
    return transaction([&]() -> Result<void> {
      Stmt last(db_, "SELECT COALESCE(MAX(seq), 0) FROM evidence_events WHERE run_id = ?1");
      FD_TRY(last.prepared("append evidence"), "run {}", run);
      last.bind(1, run);
      FD_TRY(done(last.step(), "append evidence"), "run {}", run);
      int64_t have = last.integer(0);
      Stmt ins(db_, "INSERT INTO evidence_events(run_id, seq, kind, recorded_at, recorded_us, body, prev_hash, hash, "
                    "head_signature, key_fingerprint) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
      FD_TRY(ins.prepared("append evidence"), "run {}", run);
      for (const auto& e : batch) {
        if (e.run_id != run) return make_error("append evidence: one batch holds runs {} and {}", run, e.run_id);
        if (e.seq != have + 1) {
          return make_error("append event to run {}: seq {} does not follow the last stored seq {}", run, e.seq, have);
        }
        ins.bind(1, e.run_id).bind(2, e.seq).bind(3, e.kind).bind(4, e.recorded_at).bind(5, e.recorded_us);
        ins.bind(6, e.body).bind(7, e.prev_hash).bind(8, e.hash).bind(9, e.head_signature).bind(10, e.key_fingerprint);
        if (ins.step() != SQLITE_DONE) return make_error("append event {} #{}: {}", run, e.seq, sqlite3_errmsg(db_));
        ins.reset();
        have = e.seq;
      }
      return ok();
    });
  }

  Result<std::vector<StoredEvent>> evidence_events(std::string_view run_id) override {
    std::lock_guard lock(mu_);
    std::string sql = fmt::format("SELECT {} FROM evidence_events WHERE run_id = ?1 ORDER BY seq", kEventColumns);
    Stmt s(db_, sql.c_str());
    FD_TRY(s.prepared("read events"), "run {}", run_id);
    s.bind(1, run_id);
    std::vector<StoredEvent> out;
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) out.push_back(read_event(s));
    FD_TRY(done(rc, fmt::format("read events of run {}", run_id)), "evidence");
    return out;
  }

  Result<std::optional<StoredEvent>> last_evidence_event(std::string_view run_id) override {
    std::lock_guard lock(mu_);
    std::string sql =
        fmt::format("SELECT {} FROM evidence_events WHERE run_id = ?1 ORDER BY seq DESC LIMIT 1", kEventColumns);
    Stmt s(db_, sql.c_str());
    FD_TRY(s.prepared("read last event"), "run {}", run_id);
    s.bind(1, run_id);
    int rc = s.step();
    if (rc == SQLITE_ROW) return std::optional<StoredEvent>(read_event(s));
    FD_TRY(done(rc, fmt::format("read last event of run {}", run_id)), "evidence");
    return std::optional<StoredEvent>();
  }

  Result<std::vector<std::string>> evidence_runs() override {
    std::lock_guard lock(mu_);
    Stmt s(db_, "SELECT run_id FROM evidence_events WHERE seq = 1 ORDER BY recorded_us, run_id");
    FD_TRY(s.prepared("list runs"), "evidence");
    return strings(s, "list runs with evidence");
  }

  Result<void> append_finding(const StoredFinding& f) override {
    return transaction([&]() -> Result<void> {
      Stmt last(db_, "SELECT COALESCE(MAX(rev), 0) FROM evidence_findings WHERE finding_id = ?1");
      FD_TRY(last.prepared("append finding"), "{}", f.finding_id);
      last.bind(1, f.finding_id);
      FD_TRY(done(last.step(), "append finding " + f.finding_id), "evidence");
      int64_t have = last.integer(0);
      if (f.rev != have + 1) {
        return make_error("append finding {}: revision {} does not follow the last stored revision {}", f.finding_id,
                          f.rev, have);
      }
      Stmt ins(db_, "INSERT INTO evidence_findings(finding_id, rev, run_id, retest_run, body, hash, signature, "
                    "key_fingerprint) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
      FD_TRY(ins.prepared("append finding"), "{}", f.finding_id);
      ins.bind(1, f.finding_id).bind(2, f.rev).bind(3, f.run_id).bind(4, f.retest_run).bind(5, f.body);
      ins.bind(6, f.hash).bind(7, f.signature).bind(8, f.key_fingerprint);
      return done(ins.step(), "append finding " + f.finding_id);
    });
  }

  Result<std::vector<StoredFinding>> finding_revisions(std::string_view finding_id) override {
    std::lock_guard lock(mu_);
    Stmt s(db_, "SELECT finding_id, rev, run_id, retest_run, body, hash, signature, key_fingerprint FROM "
                "evidence_findings WHERE finding_id = ?1 ORDER BY rev");
    FD_TRY(s.prepared("read finding"), "{}", finding_id);
    s.bind(1, finding_id);
    std::vector<StoredFinding> out;
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) {
      out.push_back(StoredFinding{s.text(0), s.integer(1), s.text(2), s.text(3), s.text(4), s.text(5), s.text(6),
                                  s.text(7)});
    }
    FD_TRY(done(rc, fmt::format("read finding {}", finding_id)), "evidence");
    return out;
  }

  Result<std::vector<std::string>> findings_of_run(std::string_view run_id) override {
    std::lock_guard lock(mu_);
    Stmt s(db_, "SELECT DISTINCT finding_id FROM evidence_findings WHERE run_id = ?1 OR retest_run = ?1 "
                "ORDER BY finding_id");
    FD_TRY(s.prepared("list findings"), "run {}", run_id);
    s.bind(1, run_id);
    return strings(s, fmt::format("list findings of run {}", run_id));
  }

  Result<std::vector<std::string>> all_findings() override {
    std::lock_guard lock(mu_);
    Stmt s(db_, "SELECT DISTINCT finding_id FROM evidence_findings ORDER BY finding_id");
    FD_TRY(s.prepared("list findings"), "evidence");
    return strings(s, "list findings");
  }

  Result<void> put_public_key(std::string_view fingerprint, std::string_view pem) override {
    std::lock_guard lock(mu_);
    Stmt s(db_, "INSERT INTO evidence_keys(fingerprint, public_pem) VALUES (?1, ?2) ON CONFLICT(fingerprint) DO NOTHING");
    FD_TRY(s.prepared("store public key"), "{}", fingerprint);
    s.bind(1, fingerprint).bind(2, pem);
    return done(s.step(), fmt::format("store public key {}", fingerprint));
  }

  Result<std::optional<std::string>> public_key(std::string_view fingerprint) override {
    std::lock_guard lock(mu_);
    Stmt s(db_, "SELECT public_pem FROM evidence_keys WHERE fingerprint = ?1");
    FD_TRY(s.prepared("read public key"), "{}", fingerprint);
    s.bind(1, fingerprint);
    int rc = s.step();
    if (rc == SQLITE_ROW) return std::optional<std::string>(s.text(0));
    FD_TRY(done(rc, fmt::format("read public key {}", fingerprint)), "evidence");
    return std::optional<std::string>();
  }

  Result<std::vector<std::pair<std::string, std::string>>> public_keys() override {
    std::lock_guard lock(mu_);
    Stmt s(db_, "SELECT fingerprint, public_pem FROM evidence_keys ORDER BY fingerprint");
    FD_TRY(s.prepared("list public keys"), "evidence");
    std::vector<std::pair<std::string, std::string>> out;
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) out.emplace_back(s.text(0), s.text(1));
    FD_TRY(done(rc, "list public keys"), "evidence");
    return out;
  }


  Result<void> put_join_token(const JoinTokenRow& r) override {
    std::lock_guard lock(mu_);
    Stmt s(db_, "INSERT INTO join_tokens(secret_sha256, tags, uses_allowed, uses, created_us, expires_us, created_by) "
                "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    FD_TRY(s.prepared("put join token"), "store");
    s.bind(1, r.secret_sha256).bind(2, records::tags_json(r.tags)).bind(3, int64_t{r.uses_allowed})
        .bind(4, int64_t{r.uses}).bind(5, us(r.created_at)).bind(6, us(r.expires_at)).bind(7, r.created_by);
    return done(s.step(), "put join token");
  }

  Result<std::optional<JoinTokenRow>> join_token(const std::string& hash) override {
    std::lock_guard lock(mu_);
    FD_ASSIGN(rows, select_tokens("WHERE secret_sha256 = ?1", hash), "store");
    if (rows.empty()) return std::optional<JoinTokenRow>();
    return std::optional<JoinTokenRow>(std::move(rows.front()));
  }

  Result<std::vector<JoinTokenRow>> join_tokens() override {
    std::lock_guard lock(mu_);
    return select_tokens("ORDER BY created_us, secret_sha256", "");
  }

  Result<bool> use_join_token(const std::string& hash, WallTime now) override {
    std::lock_guard lock(mu_);
    Stmt s(db_, "UPDATE join_tokens SET uses = uses + 1 WHERE secret_sha256 = ?1 AND uses < uses_allowed AND "
                "expires_us > ?2 RETURNING uses");
    FD_TRY(s.prepared("use join token"), "store");
    s.bind(1, hash).bind(2, us(now));
    int rc = s.step();
    bool used = rc == SQLITE_ROW;
    if (used) rc = s.step();
    FD_TRY(done(rc, "use join token"), "store");
    return used;
  }

  Result<size_t> remove_join_tokens(const std::string& prefix) override {
    if (prefix.size() < 8) return make_error("store: a join token id has at least 8 hex digits ('{}')", prefix);
    std::lock_guard lock(mu_);
    Stmt s(db_, "DELETE FROM join_tokens WHERE substr(secret_sha256, 1, length(?1)) = ?1");
    FD_TRY(s.prepared("remove join tokens"), "store");
    s.bind(1, prefix);
    FD_TRY(done(s.step(), "remove join tokens"), "store");
    return static_cast<size_t>(sqlite3_changes(db_));
  }

  Result<void> put_agent_enrollment(const AgentEnrollmentRow& r) override {
    std::lock_guard lock(mu_);
    Stmt s(db_, "INSERT INTO agent_enrollments(agent_id, tags, token_id, enrolled_us) VALUES (?1, ?2, ?3, ?4) "
                "ON CONFLICT(agent_id) DO UPDATE SET tags = excluded.tags, token_id = excluded.token_id, "
                "enrolled_us = excluded.enrolled_us");
    FD_TRY(s.prepared("put agent enrollment"), "store");
    s.bind(1, r.agent_id).bind(2, records::tags_json(r.tags)).bind(3, r.token_id).bind(4, us(r.enrolled_at));
    return done(s.step(), "put agent enrollment " + r.agent_id);
  }

  Result<std::vector<AgentEnrollmentRow>> agent_enrollments() override {
    std::lock_guard lock(mu_);
    Stmt s(db_, "SELECT agent_id, tags, token_id, enrolled_us FROM agent_enrollments ORDER BY agent_id");
    FD_TRY(s.prepared("agent enrollments"), "store");
    std::vector<AgentEnrollmentRow> out;
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) {
      out.push_back({s.text(0), records::parse_tags(s.text(1)), s.text(2), from_us(s.integer(3))});
    }
    FD_TRY(done(rc, "agent enrollments"), "store");
    return out;
  }

  Result<void> revoke_agent(const AgentRevocationRow& r) override {
    std::lock_guard lock(mu_);
    Stmt s(db_, "INSERT INTO agent_revocations(agent_id, revoked_us, revoked_by, reason) VALUES (?1, ?2, ?3, ?4) "
                "ON CONFLICT(agent_id) DO NOTHING");
    FD_TRY(s.prepared("revoke agent"), "store");
    s.bind(1, r.agent_id).bind(2, us(r.revoked_at)).bind(3, r.revoked_by).bind(4, r.reason);
    return done(s.step(), "revoke agent " + r.agent_id);
  }

  Result<std::vector<AgentRevocationRow>> agent_revocations() override {
    std::lock_guard lock(mu_);
    Stmt s(db_, "SELECT agent_id, revoked_us, revoked_by, reason FROM agent_revocations ORDER BY agent_id");
    FD_TRY(s.prepared("agent revocations"), "store");
    std::vector<AgentRevocationRow> out;
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) out.push_back({s.text(0), from_us(s.integer(1)), s.text(2), s.text(3)});
    FD_TRY(done(rc, "agent revocations"), "store");
    return out;
  }

 private:
  Result<std::vector<JoinTokenRow>> select_tokens(const std::string& where, const std::string& hash) {
    std::string sql = "SELECT secret_sha256, tags, uses_allowed, uses, created_us, expires_us, created_by FROM "
                      "join_tokens " + where;
    Stmt s(db_, sql.c_str());
    FD_TRY(s.prepared("join tokens"), "store");
    if (!hash.empty()) s.bind(1, hash);
    std::vector<JoinTokenRow> out;
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) {
      JoinTokenRow r;
      r.secret_sha256 = s.text(0);
      r.tags = records::parse_tags(s.text(1));
      r.uses_allowed = static_cast<uint32_t>(s.integer(2));
      r.uses = static_cast<uint32_t>(s.integer(3));
      r.created_at = from_us(s.integer(4));
      r.expires_at = from_us(s.integer(5));
      r.created_by = s.text(6);
      out.push_back(std::move(r));
    }
    FD_TRY(done(rc, "join tokens"), "store");
    return out;
  }

  static constexpr const char* kEventColumns =
      "run_id, seq, kind, recorded_at, recorded_us, body, prev_hash, hash, head_signature, key_fingerprint";

  static StoredEvent read_event(const Stmt& s) {
    return StoredEvent{s.text(0), s.integer(1), s.text(2), s.text(3), s.integer(4),
                       s.text(5), s.text(6),    s.text(7), s.text(8), s.text(9)};
  }

  // The first column of every row, as text.
  Result<std::vector<std::string>> strings(Stmt& s, const std::string& what) {
    std::vector<std::string> out;
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) out.push_back(s.text(0));
    FD_TRY(done(rc, what), "evidence");
    return out;
  }

  Result<void> exec(const char* sql) { return sqlite::exec(db_, sql); }
  Result<void> exec(const std::string& sql) { return sqlite::exec(db_, sql.c_str()); }

  Result<void> done(int rc, const std::string& what) {
    if (rc == SQLITE_DONE || rc == SQLITE_ROW || rc == SQLITE_OK) return ok();
    return make_error("{}: {}", what, sqlite3_errmsg(db_));
  }

  Result<bool> has_table(const char* name) {
    Stmt s(db_, "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?1");
    FD_TRY(s.prepared("tables"), "schema");
    s.bind(1, name);
    int rc = s.step();
    FD_TRY(done(rc, "tables"), "schema");
    return rc == SQLITE_ROW;
  }

  // 0: a new database; 1: firedrill 0.1.0's (no version table; runs with a status).
  Result<int> schema_version() {
    FD_ASSIGN(versioned, has_table("schema_version"), "schema version");
    if (versioned) {
      Stmt s(db_, "SELECT MAX(version) FROM schema_version");
      FD_TRY(s.prepared("schema version"), "schema version");
      int rc = s.step();
      FD_TRY(done(rc, "schema version"), "schema version");
      auto v = rc == SQLITE_ROW ? s.maybe_integer(0) : std::nullopt;
      if (!v || *v < 1) return make_error("the schema_version table is empty: not a database firedrill wrote whole");
      return static_cast<int>(*v);
    }
    FD_ASSIGN(runs, has_table("runs"), "schema version");
    if (!runs) return 0;
    Stmt s(db_, "SELECT 1 FROM pragma_table_info('runs') WHERE name='status'");
    FD_TRY(s.prepared("schema version"), "schema version");
    int rc = s.step();
    FD_TRY(done(rc, "schema version"), "schema version");
    if (rc != SQLITE_ROW) {
      return make_error("it has a runs table of no firedrill version this one knows (no schema_version table); "
                        "move it aside to start afresh");
    }
    return 1;
  }

  // 0.1.0 kept ad hoc runs as rows (status text, targets in run_targets): each becomes
  // a run record as the runner writes them, in one transaction with the new tables.
  // Returns how many runs it converted.
  Result<size_t> runs_from_1() {
    {
      Stmt s(db_, "SELECT id, kind, status, description, requested_by, spec, reason, created_us, ended_us "
                  "FROM runs_v1 ORDER BY created_us");
      FD_TRY(s.prepared("migrate runs"), "migrate 1 to 2");
      Stmt t(db_, "SELECT agent_id, fault_id, status, error, acked_us, effective_us, reverted_us FROM run_targets "
                  "WHERE run_id=?1 ORDER BY agent_id, fault_id");
      FD_TRY(t.prepared("migrate targets"), "migrate 1 to 2");
      int rc;
      size_t n = 0;
      while ((rc = s.step()) == SQLITE_ROW) {
        v1::RunRecord r;
        r.set_id(s.text(0));
        r.set_kind(s.text(1));
        std::string status = s.text(2);
        r.mutable_experiment()->set_name(r.kind());
        r.mutable_experiment()->set_description(s.text(3));
        r.set_started_by(s.text(4));
        r.set_experiment_file(fmt::format("({} run of firedrill 0.1.0)", r.kind()));
        r.set_experiment_yaml(s.text(5));
        r.set_reason(s.text(6));
        *r.mutable_created_at() = to_proto(from_us(s.integer(7)));
        auto ended = s.maybe_integer(8);
        if (ended) {
          r.set_phase(v1::RUN_PHASE_DONE);
          *r.mutable_ended_at() = to_proto(from_us(*ended));
          r.set_outcome(status == "completed" ? v1::RUN_OUTCOME_PASSED
                        : status == "refused" ? v1::RUN_OUTCOME_REFUSED
                                              : v1::RUN_OUTCOME_ABORTED);
        } else {
          r.set_phase(v1::RUN_PHASE_INJECT);  // in flight: the daemon's recovery aborts it
        }
        auto* step = r.add_steps();
        step->set_name(r.kind());
        t.bind(1, r.id());
        int trc;
        while ((trc = t.step()) == SQLITE_ROW) {
          auto* f = step->add_faults();
          f->set_agent_id(t.text(0));
          f->set_fault_id(t.text(1));
          auto status = target_status_of(t.text(2));
          if (!status) return make_error("run {}: target {}: status '{}' is not one firedrill 0.1.0 wrote", r.id(),
                                         t.text(0), t.text(2));
          f->set_status(*status);
          f->set_error(t.text(3));
          if (auto v = t.maybe_integer(4)) *f->mutable_acked_at() = to_proto(from_us(*v));
          if (auto v = t.maybe_integer(5)) *f->mutable_effective_at() = to_proto(from_us(*v));
          if (auto v = t.maybe_integer(6)) *f->mutable_reverted_at() = to_proto(from_us(*v));
        }
        FD_TRY(done(trc, "targets of " + r.id()), "migrate 1 to 2");
        t.reset();
        auto* e = r.add_events();
        *e->mutable_at() = to_proto(WallClock::now());
        e->set_phase(r.phase());
        e->set_kind("note");
        e->set_message(fmt::format("migrated from firedrill 0.1.0's store (status {})", status));
        FD_TRY(put_run_locked(r), "migrate 1 to 2");
        ++n;
      }
      FD_TRY(done(rc, "runs"), "migrate 1 to 2");
      FD_TRY(exec("DROP TABLE runs_v1; DROP TABLE IF EXISTS run_targets"), "migrate 1 to 2");
      return n;
    }
  }

  // Run records of versions before 4 carry each fault's status as text.
  Result<void> typed_statuses() {
    FD_ASSIGN(rows, select_runs("", "", 1u << 30, false), "typed statuses");
    for (auto& r : rows) {
      FD_ASSIGN(changed, upgrade_run_record(r), "typed statuses");
      if (changed) FD_TRY(put_run_locked(r), "typed statuses");
    }
    return ok();
  }

  // Versions 1 and 2 kept evidence events without recorded_us: it is taken from
  // recorded_at (always "YYYY-MM-DDTHH:MM:SS.ffffffZ", as the evidence writes it).
  Result<void> evidence_times() {
    FD_ASSIGN(has, has_table("evidence_events"), "evidence times");
    if (!has) return ok();
    FD_TRY(exec("DROP TRIGGER IF EXISTS evidence_events_no_update; "
                "ALTER TABLE evidence_events ADD COLUMN recorded_us INTEGER NOT NULL DEFAULT 0; "
                "UPDATE evidence_events SET recorded_us = "
                "CAST(strftime('%s', substr(recorded_at, 1, 19)) AS INTEGER) * 1000000 + "
                "CAST(substr(recorded_at, 21, 6) AS INTEGER)"),
           "evidence times");
    return ok();
  }


  Result<void> put_run_locked(const v1::RunRecord& run) {
    if (run.id().empty()) return make_error("store: a run without an id");
    std::string bytes = records::run_bytes(run);
    Stmt s(db_, "INSERT INTO runs(id, kind, done, created_us, record) VALUES (?1, ?2, ?3, ?4, ?5) "
                "ON CONFLICT(id) DO UPDATE SET kind=?2, done=?3, record=?5");
    FD_TRY(s.prepared("put run"), "store");
    s.bind(1, run.id()).bind(2, run.kind()).bind(3, int64_t{run.phase() == v1::RUN_PHASE_DONE})
        .bind(4, us(from_proto(run.created_at()))).bind_blob(5, bytes);
    return done(s.step(), "put run " + run.id());
  }

  Result<void> load_samples(v1::RunRecord& run) {
    Stmt s(db_, "SELECT sample FROM run_samples WHERE run_id=?1 ORDER BY seq");
    FD_TRY(s.prepared("samples"), "store");
    s.bind(1, run.id());
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) {
      if (!run.add_samples()->ParseFromString(s.text(0))) {
        return make_error("a probe sample of run {} does not parse", run.id());
      }
    }
    return done(rc, "samples of " + run.id());
  }

  Result<std::vector<v1::RunRecord>> select_runs(const std::string& where, const std::string& arg, size_t limit,
                                                 bool summary) {
    std::string sql = "SELECT id, record FROM runs " + where + " LIMIT " + std::to_string(limit);
    Stmt s(db_, sql.c_str());
    FD_TRY(s.prepared("runs"), "store");
    if (!arg.empty()) s.bind(1, arg);
    std::vector<v1::RunRecord> out;
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) {
      auto r = records::parse_run(s.text(0), s.text(1), summary);
      if (!r) return r.error();
      out.push_back(std::move(*r));
    }
    FD_TRY(done(rc, "list runs"), "store");
    return out;
  }

  std::recursive_mutex mu_;
  int depth_ = 0;  // transactions open (under mu_)
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
