#include "controller/evidence/sqlite_store.h"

#include <sqlite3.h>

#include "controller/store/sqlite.h"

namespace firedrill::evidence {

namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS evidence_events(
  run_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  kind TEXT NOT NULL,
  recorded_at TEXT NOT NULL,
  body TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL,
  head_signature TEXT NOT NULL,
  key_fingerprint TEXT NOT NULL,
  PRIMARY KEY(run_id, seq));
CREATE TABLE IF NOT EXISTS evidence_findings(
  finding_id TEXT NOT NULL,
  rev INTEGER NOT NULL,
  run_id TEXT NOT NULL,
  retest_run TEXT NOT NULL,
  body TEXT NOT NULL,
  hash TEXT NOT NULL,
  signature TEXT NOT NULL,
  key_fingerprint TEXT NOT NULL,
  PRIMARY KEY(finding_id, rev));
CREATE INDEX IF NOT EXISTS evidence_findings_run ON evidence_findings(run_id);
CREATE INDEX IF NOT EXISTS evidence_findings_retest ON evidence_findings(retest_run);
CREATE TABLE IF NOT EXISTS evidence_keys(
  fingerprint TEXT PRIMARY KEY,
  public_pem TEXT NOT NULL);
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

using sqlite::Stmt;

Result<void> exec(sqlite3* db, const char* sql, std::string_view what) {
  FD_TRY(sqlite::exec(db, sql), "{}", what);
  return ok();
}

// A savepoint rather than BEGIN, so that appending works inside a transaction that the
// handle's owner (the controller store) may have open.
class Savepoint {
 public:
  explicit Savepoint(sqlite3* db) : db_(db) { ok_ = exec(db, "SAVEPOINT evidence_append", "savepoint").ok(); }
  ~Savepoint() {
    if (ok_ && !done_) {
      // Best effort: a failed rollback leaves nothing we could do better here.
      (void)exec(db_, "ROLLBACK TO evidence_append", "rollback").ok();
      (void)exec(db_, "RELEASE evidence_append", "release").ok();
    }
  }
  bool started() const { return ok_; }
  Result<void> commit() {
    done_ = true;
    return exec(db_, "RELEASE evidence_append", "commit evidence");
  }

 private:
  sqlite3* db_;
  bool ok_ = false;
  bool done_ = false;
};

constexpr const char* kEventColumns =
    "run_id, seq, kind, recorded_at, body, prev_hash, hash, head_signature, key_fingerprint";

StoredEvent read_event(const Stmt& s) {
  return StoredEvent{s.text(0), s.integer(1), s.text(2), s.text(3), s.text(4),
                     s.text(5), s.text(6), s.text(7), s.text(8)};
}

}  // namespace

Result<std::unique_ptr<SqliteEvidenceStore>> SqliteEvidenceStore::open(const std::filesystem::path& file) {
  FD_ASSIGN(db, sqlite::open(file.string()), "open evidence database {}", file.string());
  std::unique_ptr<SqliteEvidenceStore> store(new SqliteEvidenceStore(db, true));
  // WAL lets reports be rendered while a run appends; a failure here is not fatal
  // (e.g. :memory:), the store works in any journal mode.
  (void)exec(db, "PRAGMA journal_mode=WAL", "wal").ok();
  // In WAL, NORMAL syncs at checkpoints rather than at every commit: a power loss may
  // drop the last appends, never corrupt the file, and what remains is a chain
  // signed at its end, which still verifies. Attached handles keep their owner's mode.
  (void)exec(db, "PRAGMA synchronous=NORMAL", "synchronous").ok();
  FD_TRY(store->create_schema(), "open evidence database {}", file.string());
  return store;
}

Result<std::unique_ptr<SqliteEvidenceStore>> SqliteEvidenceStore::attach(sqlite3* db) {
  if (!db) return make_error("attach evidence store: no database handle");
  std::unique_ptr<SqliteEvidenceStore> store(new SqliteEvidenceStore(db, false));
  FD_TRY(store->create_schema(), "attach evidence store");
  return store;
}

SqliteEvidenceStore::~SqliteEvidenceStore() {
  if (owned_) sqlite3_close(db_);
}

Result<void> SqliteEvidenceStore::create_schema() {
  std::lock_guard lock(mu_);
  return exec(db_, kSchema, "create evidence tables");
}

Result<void> SqliteEvidenceStore::append_events(const std::vector<StoredEvent>& batch) {
  if (batch.empty()) return ok();
  const std::string& run = batch.front().run_id;
  std::lock_guard lock(mu_);
  Savepoint sp(db_);
  if (!sp.started()) return make_error("append events to run {}: {}", run, sqlite3_errmsg(db_));
  Stmt last(db_, "SELECT COALESCE(MAX(seq), 0) FROM evidence_events WHERE run_id = ?");
  FD_TRY(last.prepared("append event"), "run {}", run);
  last.bind(1, run);
  if (last.step() != SQLITE_ROW) return make_error("append events to run {}: {}", run, sqlite3_errmsg(db_));
  int64_t have = last.integer(0);
  Stmt ins(db_,
           "INSERT INTO evidence_events(run_id, seq, kind, recorded_at, body, prev_hash, hash, head_signature, "
           "key_fingerprint) VALUES(?,?,?,?,?,?,?,?,?)");
  FD_TRY(ins.prepared("append event"), "run {}", run);
  for (const auto& e : batch) {
    if (e.run_id != run) return make_error("append events: one batch holds runs {} and {}", run, e.run_id);
    if (e.seq != have + 1) {
      return make_error("append event to run {}: seq {} does not follow the last stored seq {}", run, e.seq, have);
    }
    ins.bind(1, e.run_id).bind(2, e.seq).bind(3, e.kind).bind(4, e.recorded_at).bind(5, e.body);
    ins.bind(6, e.prev_hash).bind(7, e.hash).bind(8, e.head_signature).bind(9, e.key_fingerprint);
    if (ins.step() != SQLITE_DONE) return make_error("append event {} #{}: {}", run, e.seq, sqlite3_errmsg(db_));
    ins.reset();
    have = e.seq;
  }
  return sp.commit();
}

Result<std::vector<StoredEvent>> SqliteEvidenceStore::events(std::string_view run_id) {
  std::lock_guard lock(mu_);
  std::string sql = fmt::format("SELECT {} FROM evidence_events WHERE run_id = ? ORDER BY seq", kEventColumns);
  Stmt s(db_, sql.c_str());
  FD_TRY(s.prepared("read events"), "run {}", run_id);
  s.bind(1, run_id);
  std::vector<StoredEvent> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) out.push_back(read_event(s));
  if (rc != SQLITE_DONE) return make_error("read events of run {}: {}", run_id, sqlite3_errmsg(db_));
  return out;
}

Result<std::optional<StoredEvent>> SqliteEvidenceStore::last_event(std::string_view run_id) {
  std::lock_guard lock(mu_);
  std::string sql =
      fmt::format("SELECT {} FROM evidence_events WHERE run_id = ? ORDER BY seq DESC LIMIT 1", kEventColumns);
  Stmt s(db_, sql.c_str());
  FD_TRY(s.prepared("read last event"), "run {}", run_id);
  s.bind(1, run_id);
  int rc = s.step();
  if (rc == SQLITE_ROW) return std::optional<StoredEvent>(read_event(s));
  if (rc != SQLITE_DONE) return make_error("read last event of run {}: {}", run_id, sqlite3_errmsg(db_));
  return std::optional<StoredEvent>();
}

Result<std::vector<std::string>> SqliteEvidenceStore::runs() {
  std::lock_guard lock(mu_);
  Stmt s(db_, "SELECT run_id FROM evidence_events WHERE seq = 1 ORDER BY recorded_at, run_id");
  FD_TRY(s.prepared("list runs"), "evidence");
  std::vector<std::string> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) out.push_back(s.text(0));
  if (rc != SQLITE_DONE) return make_error("list runs: {}", sqlite3_errmsg(db_));
  return out;
}

Result<void> SqliteEvidenceStore::append_finding(const StoredFinding& f) {
  std::lock_guard lock(mu_);
  Savepoint sp(db_);
  if (!sp.started()) return make_error("append finding {}: {}", f.finding_id, sqlite3_errmsg(db_));
  Stmt last(db_, "SELECT COALESCE(MAX(rev), 0) FROM evidence_findings WHERE finding_id = ?");
  FD_TRY(last.prepared("append finding"), "{}", f.finding_id);
  last.bind(1, f.finding_id);
  if (last.step() != SQLITE_ROW) return make_error("append finding {}: {}", f.finding_id, sqlite3_errmsg(db_));
  int64_t have = last.integer(0);
  if (f.rev != have + 1) {
    return make_error("append finding {}: revision {} does not follow the last stored revision {}", f.finding_id,
                      f.rev, have);
  }
  Stmt ins(db_,
           "INSERT INTO evidence_findings(finding_id, rev, run_id, retest_run, body, hash, signature, "
           "key_fingerprint) VALUES(?,?,?,?,?,?,?,?)");
  FD_TRY(ins.prepared("append finding"), "{}", f.finding_id);
  ins.bind(1, f.finding_id).bind(2, f.rev).bind(3, f.run_id).bind(4, f.retest_run).bind(5, f.body);
  ins.bind(6, f.hash).bind(7, f.signature).bind(8, f.key_fingerprint);
  if (ins.step() != SQLITE_DONE) return make_error("append finding {}: {}", f.finding_id, sqlite3_errmsg(db_));
  return sp.commit();
}

Result<std::vector<StoredFinding>> SqliteEvidenceStore::finding_revisions(std::string_view finding_id) {
  std::lock_guard lock(mu_);
  Stmt s(db_,
         "SELECT finding_id, rev, run_id, retest_run, body, hash, signature, key_fingerprint FROM "
         "evidence_findings WHERE finding_id = ? ORDER BY rev");
  FD_TRY(s.prepared("read finding"), "{}", finding_id);
  s.bind(1, finding_id);
  std::vector<StoredFinding> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    out.push_back(StoredFinding{s.text(0), s.integer(1), s.text(2), s.text(3), s.text(4), s.text(5), s.text(6),
                                s.text(7)});
  }
  if (rc != SQLITE_DONE) return make_error("read finding {}: {}", finding_id, sqlite3_errmsg(db_));
  return out;
}

Result<std::vector<std::string>> SqliteEvidenceStore::findings_of_run(std::string_view run_id) {
  std::lock_guard lock(mu_);
  Stmt s(db_,
         "SELECT DISTINCT finding_id FROM evidence_findings WHERE run_id = ?1 OR retest_run = ?1 "
         "ORDER BY finding_id");
  FD_TRY(s.prepared("list findings"), "run {}", run_id);
  s.bind(1, run_id);
  std::vector<std::string> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) out.push_back(s.text(0));
  if (rc != SQLITE_DONE) return make_error("list findings of run {}: {}", run_id, sqlite3_errmsg(db_));
  return out;
}

Result<std::vector<std::string>> SqliteEvidenceStore::all_findings() {
  std::lock_guard lock(mu_);
  Stmt s(db_, "SELECT DISTINCT finding_id FROM evidence_findings ORDER BY finding_id");
  FD_TRY(s.prepared("list findings"), "evidence");
  std::vector<std::string> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) out.push_back(s.text(0));
  if (rc != SQLITE_DONE) return make_error("list findings: {}", sqlite3_errmsg(db_));
  return out;
}

Result<void> SqliteEvidenceStore::put_public_key(std::string_view fingerprint, std::string_view pem) {
  std::lock_guard lock(mu_);
  Stmt s(db_, "INSERT OR IGNORE INTO evidence_keys(fingerprint, public_pem) VALUES(?, ?)");
  FD_TRY(s.prepared("store public key"), "{}", fingerprint);
  s.bind(1, fingerprint).bind(2, pem);
  if (s.step() != SQLITE_DONE) return make_error("store public key {}: {}", fingerprint, sqlite3_errmsg(db_));
  return ok();
}

Result<std::optional<std::string>> SqliteEvidenceStore::public_key(std::string_view fingerprint) {
  std::lock_guard lock(mu_);
  Stmt s(db_, "SELECT public_pem FROM evidence_keys WHERE fingerprint = ?");
  FD_TRY(s.prepared("read public key"), "{}", fingerprint);
  s.bind(1, fingerprint);
  int rc = s.step();
  if (rc == SQLITE_ROW) return std::optional<std::string>(s.text(0));
  if (rc != SQLITE_DONE) return make_error("read public key {}: {}", fingerprint, sqlite3_errmsg(db_));
  return std::optional<std::string>();
}

}  // namespace firedrill::evidence
