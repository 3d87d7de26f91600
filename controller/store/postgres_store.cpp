// The PostgreSQL store (postgres_store.h): one connection for the store, guarded by a
// mutex as the SQLite store's is (transaction() holds it throughout, so other threads'
// calls wait), and one for the lease. READ COMMITTED: the controller that writes is the
// leader alone (the epoch fence refuses the others), and sequence numbers are checked
// by primary keys, so a race between two writers is a refused write, never a lost one.
#include "controller/store/postgres_store.h"

#include <atomic>
#include <functional>
#include <mutex>
#include <optional>

#include "common/log.h"
#include "controller/store/pg.h"
#include "controller/store/records.h"

namespace firedrill::controller {
namespace {

// The PostgreSQL store began at the store's version 4 (the SQLite store's versions 1 to
// 3 never existed here). Version 5 added halt_requests, join_tokens, agent_enrollments
// and agent_revocations: the schema's CREATE ... IF NOT EXISTS makes them in a database of
// version 4, and init() writes the new version. A new version adds its step there.
// Version 6 added controllers (each controller's address, failure domain and evidence
// key; written by followers too, so not fenced), made the same way.
static_assert(kSchemaVersion == 6, "a new schema version needs its PostgreSQL migration in postgres_store.cpp");
constexpr int kFirstPostgresVersion = 4;

// Tables as the SQLite store's (sqlite_store.cpp), with BYTEA for serialized records
// and BIGINT UTC microseconds for instants; store_identity holds the fleet; leader_lease
// one row. Every table of the controller's state is fenced by the lease's epoch, but
// halt_requests, which any controller may add to (a halt asked at a follower, or while
// no controller leads): only deleting from it, the leader's acknowledgement, is fenced.
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS schema_version (
  version INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS store_identity (
  one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
  fleet TEXT NOT NULL,
  created_us BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS leader_lease (
  one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
  holder TEXT NOT NULL,
  address TEXT NOT NULL,
  epoch BIGINT NOT NULL CHECK (epoch >= 0),
  expires_at TIMESTAMPTZ NOT NULL
);
INSERT INTO leader_lease(one, holder, address, epoch, expires_at) VALUES (TRUE, '', '', 0, '-infinity')
  ON CONFLICT (one) DO NOTHING;
CREATE TABLE IF NOT EXISTS agents (
  id TEXT PRIMARY KEY,
  tags TEXT NOT NULL,
  version TEXT NOT NULL,
  capabilities BYTEA NOT NULL,
  peer TEXT NOT NULL,
  first_seen_us BIGINT NOT NULL,
  last_seen_us BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
  id TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  done BOOLEAN NOT NULL,
  created_us BIGINT NOT NULL,
  record BYTEA NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_by_created ON runs(created_us, id);
CREATE INDEX IF NOT EXISTS runs_in_flight ON runs(created_us, id) WHERE NOT done;
CREATE TABLE IF NOT EXISTS run_samples (
  seq BIGINT PRIMARY KEY,
  run_id TEXT NOT NULL,
  sample BYTEA NOT NULL
);
CREATE INDEX IF NOT EXISTS samples_by_run ON run_samples(run_id, seq);
CREATE TABLE IF NOT EXISTS schedules (
  id TEXT PRIMARY KEY,
  record BYTEA NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
  seq BIGINT PRIMARY KEY,
  run_id TEXT NOT NULL,
  at_us BIGINT NOT NULL,
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
  seq BIGSERIAL PRIMARY KEY,
  at_us BIGINT NOT NULL,
  by TEXT NOT NULL,
  reason TEXT NOT NULL,
  controller TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS evidence_events (
  run_id TEXT NOT NULL,
  seq BIGINT NOT NULL,
  kind TEXT NOT NULL,
  recorded_at TEXT NOT NULL,
  body TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL,
  head_signature TEXT NOT NULL,
  key_fingerprint TEXT NOT NULL,
  recorded_us BIGINT NOT NULL,
  PRIMARY KEY (run_id, seq)
);
CREATE INDEX IF NOT EXISTS evidence_events_first ON evidence_events(seq, recorded_us, run_id);
CREATE TABLE IF NOT EXISTS evidence_findings (
  finding_id TEXT NOT NULL,
  rev BIGINT NOT NULL,
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
  uses_allowed BIGINT NOT NULL,
  uses BIGINT NOT NULL,
  created_us BIGINT NOT NULL,
  expires_us BIGINT NOT NULL,
  created_by TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS agent_enrollments (
  agent_id TEXT PRIMARY KEY,
  tags TEXT NOT NULL,
  token_id TEXT NOT NULL,
  enrolled_us BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS agent_revocations (
  agent_id TEXT PRIMARY KEY,
  revoked_us BIGINT NOT NULL,
  revoked_by TEXT NOT NULL,
  reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS controllers (
  id TEXT PRIMARY KEY,
  address TEXT NOT NULL,
  domain TEXT NOT NULL,
  public_pem TEXT NOT NULL,
  last_seen_us BIGINT NOT NULL
);

CREATE OR REPLACE FUNCTION firedrill_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% are append-only', TG_ARGV[0];
END $$;
CREATE OR REPLACE TRIGGER evidence_events_append_only BEFORE UPDATE OR DELETE ON evidence_events
  FOR EACH ROW EXECUTE FUNCTION firedrill_append_only('evidence events');
CREATE OR REPLACE TRIGGER evidence_findings_append_only BEFORE UPDATE OR DELETE ON evidence_findings
  FOR EACH ROW EXECUTE FUNCTION firedrill_append_only('finding records');
CREATE OR REPLACE TRIGGER evidence_keys_no_update BEFORE UPDATE ON evidence_keys
  FOR EACH ROW EXECUTE FUNCTION firedrill_append_only('evidence keys');

-- The fence: a statement that writes the controller's state runs only with the lease's
-- epoch in firedrill.epoch (set by the store at the start of each transaction), once a
-- lease was ever taken. The lease row is read FOR SHARE, so a takeover (an UPDATE of
-- it) waits for writes that passed the fence to commit, and every write after the
-- takeover sees the new epoch: a stale leader's write is refused, never interleaved.
CREATE OR REPLACE FUNCTION firedrill_fence() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  mine BIGINT := COALESCE(NULLIF(current_setting('firedrill.epoch', true), ''), '0')::BIGINT;
  lease RECORD;
BEGIN
  SELECT epoch, holder INTO lease FROM leader_lease WHERE one FOR SHARE;
  IF lease.epoch <> 0 AND mine <> lease.epoch THEN
    RAISE EXCEPTION 'stale leader epoch %: the lease is at epoch % (held by %); this controller no longer leads',
      mine, lease.epoch, lease.holder USING ERRCODE = 'FD001';
  END IF;
  RETURN NULL;
END $$;
)sql";

constexpr const char* kFencedTables[] = {"agents", "runs", "run_samples", "schedules", "events", "settings",
                                         "evidence_events", "evidence_findings", "evidence_keys",
                                         "join_tokens", "agent_enrollments", "agent_revocations"};

// write_epoch_ of a controller that led and lost (or gave up) the lease: its writes are
// refused in the store, before the database's fence would refuse them.
constexpr int64_t kSteppedDown = -1;

int64_t us(WallTime t) { return to_unix_micros(t); }
WallTime from_us(int64_t v) { return from_unix_micros(v); }

using pg::Params;
using pg::Rows;
using Clock = std::chrono::steady_clock;

class PgLease : public LeaderLease {
 public:
  PgLease(pg::Reconnecting::Options link, std::chrono::milliseconds retry_for, std::atomic<int64_t>& write_epoch)
      : link_(link), read_link_(std::move(link)), retry_for_(retry_for), write_epoch_(write_epoch) {}

  Result<std::optional<int64_t>> acquire(const std::string& holder, const std::string& address,
                                         std::chrono::milliseconds ttl) override {
    FD_ASSIGN(rows, call("UPDATE leader_lease SET holder=$1, address=$2, epoch=epoch+1, "
                         "expires_at=clock_timestamp() + $3 * interval '1 millisecond' "
                         "WHERE one AND expires_at <= clock_timestamp() RETURNING epoch",
                         Params().text(holder).text(address).integer(int64_t{ttl.count()})),
              "leader lease: acquire");
    if (rows.size() == 0) return std::optional<int64_t>();
    int64_t epoch = rows.integer(0, 0);
    write_epoch_ = epoch;
    return std::optional<int64_t>(epoch);
  }

  Result<bool> renew(const std::string& holder, int64_t epoch, std::chrono::milliseconds ttl) override {
    auto rows = call("UPDATE leader_lease SET expires_at=clock_timestamp() + $3 * interval '1 millisecond' "
                     "WHERE one AND holder=$1 AND epoch=$2 AND expires_at > clock_timestamp() RETURNING epoch",
                     Params().text(holder).integer(epoch).integer(int64_t{ttl.count()}));
    if (!rows) return rows.error().context("leader lease: renew");
    if (rows->size() == 0) {
      write_epoch_.compare_exchange_strong(epoch, kSteppedDown);
      return false;
    }
    return true;
  }

  Result<void> release(const std::string& holder, int64_t epoch) override {
    write_epoch_.compare_exchange_strong(epoch, kSteppedDown);
    FD_ASSIGN(rows, call("UPDATE leader_lease SET expires_at=clock_timestamp() WHERE one AND holder=$1 AND epoch=$2 "
                         "AND expires_at > clock_timestamp()",
                         Params().text(holder).integer(epoch)),
              "leader lease: release");
    return ok();
  }

  void step_down(int64_t epoch) override { write_epoch_.compare_exchange_strong(epoch, kSteppedDown); }

  Result<ClockComparison> compare_clock(int samples) override {
    std::optional<ClockComparison> best;
    for (int i = 0; i < std::max(samples, 1); ++i) {
      auto sent = WallClock::now();
      auto t0 = Clock::now();
      FD_ASSIGN(rows, call("SELECT (EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::BIGINT", Params(), read_link_,
                           read_mu_),
                "the database's clock");
      auto round_trip = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0);
      if (rows.size() != 1) return make_error("the database's clock: no answer");
      // The database read its clock about half way through the round trip.
      auto here = us(sent) + round_trip.count() / 2;
      ClockComparison c{std::chrono::microseconds(here - rows.integer(0, 0)), round_trip / 2};
      if (!best || c.uncertainty < best->uncertainty) best = c;
    }
    return *best;
  }

  Result<LeaseHolder> current() override {
    // On a connection of its own: who leads is known (and told to agents and callers)
    // while an acquire waits on the lease row.
    FD_ASSIGN(rows, call("SELECT holder, address, epoch, expires_at > clock_timestamp(), CASE WHEN "
                         "expires_at = '-infinity' THEN 0 ELSE (EXTRACT(EPOCH FROM expires_at) * 1000000)::BIGINT END "
                         "FROM leader_lease WHERE one",
                         Params(), read_link_, read_mu_),
              "leader lease: read");
    if (rows.size() != 1) return make_error("leader lease: the lease row is missing");
    return LeaseHolder{rows.text(0, 0), rows.text(0, 1), rows.integer(0, 2), rows.integer(0, 3) != 0,
                       from_us(rows.integer(0, 4))};
  }

 private:
  // One statement, autocommitted; retried on a new connection when the connection was
  // lost (each is idempotent for its holder: a retried acquire that had won finds the
  // lease live and answers nullopt, and the loop renews nothing it does not hold).
  Result<Rows> call(const char* sql, const Params& params) { return call(sql, params, link_, mu_); }
  Result<Rows> call(const char* sql, const Params& params, pg::Reconnecting& link, std::mutex& mu) {
    std::lock_guard lock(mu);
    auto deadline = Clock::now() + retry_for_;
    for (;;) {
      FD_ASSIGN(c, link.get(deadline), "database");
      auto r = c->query(sql, params);
      if (r || !pg::connection_lost(r.error()) || Clock::now() >= deadline) return r;
      link.drop();
    }
  }

  std::mutex mu_;
  pg::Reconnecting link_;       // acquire, renew, release
  std::mutex read_mu_;
  pg::Reconnecting read_link_;  // current()
  std::chrono::milliseconds retry_for_;
  std::atomic<int64_t>& write_epoch_;
};

class PgStore : public PostgresStore {
 public:
  explicit PgStore(const PostgresOptions& o)
      : options_(o),
        name_(pg::redact(o.url)),
        link_({o.url, o.connect_timeout, o.backoff_min, o.backoff_max}),
        lease_({o.url, o.connect_timeout, o.backoff_min, o.backoff_max}, o.retry_for, write_epoch_) {}

  LeaderLease& lease() override { return lease_; }

  Result<void> init() {
    std::lock_guard lock(mu_);
    // The first connection is not retried: a wrong or unreachable URL is an error at start.
    FD_ASSIGN(c, link_.get(Clock::now()), "store {}", name_);
    FD_TRY(c->exec("BEGIN"), "store {}", name_);
    auto r = [&]() -> Result<void> {
      // Controllers that start together make the schema one at a time.
      FD_TRY(c->query("SELECT pg_advisory_xact_lock(hashtext('firedrill.schema'))"), "lock");
      FD_ASSIGN(version, schema_version(*c), "schema version");
      if (version > kSchemaVersion) {
        return make_error("its schema is version {}, written by a newer firedrill; this one ({}) knows versions up "
                          "to {}. Run the newer firedrill on it, or give this one another database",
                          version, FIREDRILL_VERSION, kSchemaVersion);
      }
      if (version != 0 && version < kFirstPostgresVersion) {
        return make_error("its schema is version {}, which no firedrill wrote to PostgreSQL (it began at {})", version,
                          kFirstPostgresVersion);
      }
      if (version == 0) {
        FD_ASSIGN(foreign, c->query("SELECT 1 FROM pg_tables WHERE schemaname = current_schema() AND tablename IN "
                                    "('agents', 'runs', 'events', 'settings')"),
                  "tables");
        if (foreign.size() > 0) {
          return make_error("it has tables named as firedrill's (agents, runs, events or settings) but no "
                            "schema_version: not a database firedrill made; give firedrill a database of its own");
        }
      }
      FD_TRY(c->exec(kSchema), "schema");
      for (const char* t : kFencedTables) {
        FD_TRY(c->exec(fmt::format("CREATE OR REPLACE TRIGGER {0}_fenced BEFORE INSERT OR UPDATE OR DELETE ON {0} "
                                   "FOR EACH STATEMENT EXECUTE FUNCTION firedrill_fence()",
                                   t)),
               "fence {}", t);
      }
      FD_TRY(c->exec("CREATE OR REPLACE TRIGGER halt_requests_fenced BEFORE DELETE OR UPDATE ON halt_requests "
                     "FOR EACH STATEMENT EXECUTE FUNCTION firedrill_fence()"),
             "fence halt_requests");
      FD_ASSIGN(fleet, c->query("SELECT fleet FROM store_identity"), "fleet");
      if (fleet.size() == 0) {
        FD_TRY(c->query("INSERT INTO store_identity(fleet, created_us) VALUES ($1, $2)",
                        Params().text(options_.fleet).integer(us(WallClock::now()))),
               "fleet");
      } else if (fleet.text(0, 0) != options_.fleet) {
        return make_error("this database belongs to fleet '{}', and this controller serves fleet '{}'; point --store "
                          "at this fleet's database",
                          fleet.text(0, 0), options_.fleet);
      }
      if (version != kSchemaVersion) {
        FD_TRY(c->query("INSERT INTO schema_version(version) VALUES ($1)", Params().integer(int64_t{kSchemaVersion})),
               "schema version");
        if (version != 0) logger("controller.store")->warn("store {}: migrated from schema {} to {}", name_, version, kSchemaVersion);
      }
      return ok();
    }();
    if (!r) {
      (void)c->exec("ROLLBACK");  // what failed is what the caller hears about
      return r.error().context(fmt::format("store {}", name_));
    }
    FD_TRY(c->exec("COMMIT"), "store {}", name_);
    return ok();
  }

  Result<void> transaction(const std::function<Result<void>()>& body) override { return run_tx(body, false); }

  Result<void> upsert_agents(const std::vector<AgentRow>& rows) override {
    return write([&](pg::Conn& c) -> Result<void> {
      for (auto& r : rows) {
        FD_TRY(c.query("INSERT INTO agents(id, tags, version, capabilities, peer, first_seen_us, last_seen_us) "
                       "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO UPDATE SET tags=EXCLUDED.tags, "
                       "version=EXCLUDED.version, capabilities=EXCLUDED.capabilities, peer=EXCLUDED.peer, "
                       "last_seen_us=EXCLUDED.last_seen_us",
                       Params().text(r.id).text(records::tags_json(r.tags)).text(r.version).bytes(r.capabilities).text(r.peer)
                           .integer(us(r.first_seen)).integer(us(r.last_seen))),
               "upsert agent {}", r.id);
      }
      return ok();
    });
  }

  Result<std::vector<AgentRow>> agents() override {
    return read<std::vector<AgentRow>>([&](pg::Conn& c) -> Result<std::vector<AgentRow>> {
      FD_ASSIGN(rows, c.query("SELECT id, tags, version, capabilities, peer, first_seen_us, last_seen_us FROM agents "
                              "ORDER BY id"),
                "list agents");
      std::vector<AgentRow> out;
      for (int i = 0; i < rows.size(); ++i) {
        AgentRow r;
        r.id = rows.text(i, 0);
        r.tags = records::parse_tags(rows.text(i, 1));
        r.version = rows.text(i, 2);
        r.capabilities = rows.text(i, 3);
        r.peer = rows.text(i, 4);
        r.first_seen = from_us(rows.integer(i, 5));
        r.last_seen = from_us(rows.integer(i, 6));
        out.push_back(std::move(r));
      }
      return out;
    });
  }

  Result<void> put_run(const v1::RunRecord& run) override {
    if (run.id().empty()) return make_error("store: a run without an id");
    std::string bytes = records::run_bytes(run);
    return write([&](pg::Conn& c) -> Result<void> {
      FD_TRY(c.query("INSERT INTO runs(id, kind, done, created_us, record) VALUES ($1, $2, $3, $4, $5) "
                     "ON CONFLICT (id) DO UPDATE SET kind=EXCLUDED.kind, done=EXCLUDED.done, record=EXCLUDED.record",
                     Params().text(run.id()).text(run.kind()).text(run.phase() == v1::RUN_PHASE_DONE ? "t" : "f")
                         .integer(us(from_proto(run.created_at()))).bytes(bytes)),
             "put run {}", run.id());
      return ok();
    });
  }

  Result<void> append_samples(const std::string& run_id, const std::vector<v1::ProbeSample>& samples) override {
    if (samples.empty()) return ok();
    return write([&](pg::Conn& c) -> Result<void> {
      for (size_t at = 0; at < samples.size(); at += kRowsPerStatement) {
        size_t n = std::min(kRowsPerStatement, samples.size() - at);
        Params params;
        params.text(run_id);
        for (size_t i = 0; i < n; ++i) params.bytes(samples[at + i].SerializeAsString());
        std::string sql = "INSERT INTO run_samples(seq, run_id, sample) SELECT base.m + v.n, $1, v.s FROM "
                          "(SELECT COALESCE(MAX(seq), 0) AS m FROM run_samples) base, " +
                          values_list(n, 2, {"::bytea"}) + " AS v(n, s)";
        FD_TRY(c.query(sql.c_str(), params), "append samples of run {}", run_id);
      }
      return ok();
    });
  }

  Result<std::optional<v1::RunRecord>> run(const std::string& id, bool with_samples) override {
    using Out = std::optional<v1::RunRecord>;
    return read<Out>([&](pg::Conn& c) -> Result<Out> {
      FD_ASSIGN(rows, select_runs(c, "WHERE id=$1", Params().text(id), false), "store");
      if (rows.empty()) return Out();
      if (with_samples) FD_TRY(load_samples(c, rows[0]), "store");
      return Out(std::move(rows[0]));
    });
  }

  Result<std::vector<v1::RunRecord>> runs(size_t limit) override {
    return read<std::vector<v1::RunRecord>>([&](pg::Conn& c) {
      std::string order = "ORDER BY created_us DESC, id DESC";
      if (limit) order += " LIMIT " + std::to_string(limit);
      return select_runs(c, order, Params(), true);
    });
  }

  Result<std::vector<v1::RunRecord>> runs_in_flight() override {
    using Out = std::vector<v1::RunRecord>;
    return read<Out>([&](pg::Conn& c) -> Result<Out> {
      FD_ASSIGN(rows, select_runs(c, "WHERE NOT done ORDER BY created_us, id", Params(), false), "store");
      for (auto& r : rows) FD_TRY(load_samples(c, r), "store");
      return rows;
    });
  }

  Result<void> put_schedule(const v1::ScheduleRecord& schedule) override {
    if (schedule.id().empty()) return make_error("store: a schedule without an id");
    return write([&](pg::Conn& c) -> Result<void> {
      FD_TRY(c.query("INSERT INTO schedules(id, record) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET "
                     "record=EXCLUDED.record",
                     Params().text(schedule.id()).bytes(schedule.SerializeAsString())),
             "put schedule {}", schedule.id());
      return ok();
    });
  }

  Result<void> remove_schedule(const std::string& id) override {
    return write([&](pg::Conn& c) -> Result<void> {
      FD_TRY(c.query("DELETE FROM schedules WHERE id=$1", Params().text(id)), "remove schedule {}", id);
      return ok();
    });
  }

  Result<std::vector<v1::ScheduleRecord>> schedules() override {
    using Out = std::vector<v1::ScheduleRecord>;
    return read<Out>([&](pg::Conn& c) -> Result<Out> {
      FD_ASSIGN(rows, c.query("SELECT id, record FROM schedules ORDER BY id"), "schedules");
      Out out;
      for (int i = 0; i < rows.size(); ++i) {
        v1::ScheduleRecord r;
        if (!r.ParseFromString(rows.text(i, 1))) {
          return make_error("store: the record of schedule {} does not parse", rows.text(i, 0));
        }
        out.push_back(std::move(r));
      }
      return out;
    });
  }

  Result<void> append_events(std::vector<EventRow> rows) override {
    if (rows.empty()) return ok();
    return write([&](pg::Conn& c) -> Result<void> {
      for (size_t at = 0; at < rows.size(); at += kRowsPerStatement) {
        size_t n = std::min(kRowsPerStatement, rows.size() - at);
        Params params;
        for (size_t i = 0; i < n; ++i) {
          const auto& r = rows[at + i];
          params.text(r.run_id).integer(us(r.at)).text(r.agent_id).text(r.kind).text(r.detail);
        }
        std::string sql = "INSERT INTO events(seq, run_id, at_us, agent_id, kind, detail) SELECT base.m + v.n, v.r, "
                          "v.a, v.g, v.k, v.d FROM (SELECT COALESCE(MAX(seq), 0) AS m FROM events) base, " +
                          values_list(n, 1, {"::text", "::bigint", "::text", "::text", "::text"}) +
                          " AS v(n, r, a, g, k, d)";
        FD_TRY(c.query(sql.c_str(), params), "append {} event(s)", n);
      }
      return ok();
    });
  }

  Result<std::vector<EventRow>> events(const std::string& run_id, int64_t after) override {
    using Out = std::vector<EventRow>;
    return read<Out>([&](pg::Conn& c) -> Result<Out> {
      FD_ASSIGN(rows, c.query("SELECT seq, run_id, at_us, agent_id, kind, detail FROM events WHERE run_id=$1 AND "
                              "seq>$2 ORDER BY seq",
                              Params().text(run_id).integer(after)),
                "events of {}", run_id);
      Out out;
      for (int i = 0; i < rows.size(); ++i) {
        out.push_back({rows.integer(i, 0), rows.text(i, 1), from_us(rows.integer(i, 2)), rows.text(i, 3),
                       rows.text(i, 4), rows.text(i, 5)});
      }
      return out;
    });
  }

  Result<std::optional<std::string>> setting(const std::string& key) override {
    using Out = std::optional<std::string>;
    return read<Out>([&](pg::Conn& c) -> Result<Out> {
      FD_ASSIGN(rows, c.query("SELECT value FROM settings WHERE key=$1", Params().text(key)), "setting {}", key);
      if (rows.size() == 0) return Out();
      return Out(rows.text(0, 0));
    });
  }

  Result<void> set_setting(const std::string& key, const std::string& value, bool durable) override {
    return write([&](pg::Conn& c) -> Result<void> {
      // The commit is flushed to the server's disk before it returns, even on a server
      // that runs with synchronous_commit off.
      if (durable) FD_TRY(c.exec("SET LOCAL synchronous_commit = on"), "set setting {}", key);
      FD_TRY(c.query("INSERT INTO settings(key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET "
                     "value=EXCLUDED.value",
                     Params().text(key).text(value)),
             "set setting {}", key);
      return ok();
    });
  }

  Result<int64_t> request_halt(const HaltRequestRow& row) override {
    int64_t seq = 0;
    // Not fenced (see kSchema): a follower's, or anyone's while no controller leads.
    FD_TRY(write([&](pg::Conn& c) -> Result<void> {
             FD_TRY(c.exec("SET LOCAL synchronous_commit = on"), "halt request");
             FD_ASSIGN(rows, c.query("INSERT INTO halt_requests(at_us, by, reason, controller) VALUES ($1, $2, $3, $4) "
                                     "RETURNING seq",
                                     Params().integer(us(row.at)).text(row.by).text(row.reason).text(row.controller)),
                       "halt request");
             seq = rows.integer(0, 0);
             return ok();
           }),
           "halt request");
    return seq;
  }

  Result<void> put_controller(const ControllerRow& r) override {
    // Not fenced (see kSchema): every controller registers itself, leading or not.
    return write([&](pg::Conn& c) -> Result<void> {
      FD_TRY(c.query("INSERT INTO controllers(id, address, domain, public_pem, last_seen_us) VALUES ($1, $2, $3, $4, $5) "
                     "ON CONFLICT (id) DO UPDATE SET address=EXCLUDED.address, domain=EXCLUDED.domain, "
                     "public_pem=EXCLUDED.public_pem, last_seen_us=EXCLUDED.last_seen_us",
                     Params().text(r.id).text(r.address).text(records::tags_json(r.domain)).text(r.public_key)
                         .integer(us(r.last_seen))),
             "put controller {}", r.id);
      return ok();
    });
  }

  Result<std::vector<ControllerRow>> controllers() override {
    using Out = std::vector<ControllerRow>;
    return read<Out>([&](pg::Conn& c) -> Result<Out> {
      FD_ASSIGN(rows, c.query("SELECT id, address, domain, public_pem, last_seen_us FROM controllers ORDER BY id"),
                "controllers");
      Out out;
      for (int i = 0; i < rows.size(); ++i) {
        out.push_back({rows.text(i, 0), rows.text(i, 1), records::parse_tags(rows.text(i, 2)), rows.text(i, 3),
                       from_us(rows.integer(i, 4))});
      }
      return out;
    });
  }

  Result<std::vector<HaltRequestRow>> halt_requests() override {
    using Out = std::vector<HaltRequestRow>;
    return read<Out>([&](pg::Conn& c) -> Result<Out> {
      FD_ASSIGN(rows, c.query("SELECT seq, at_us, by, reason, controller FROM halt_requests ORDER BY seq"),
                "halt requests");
      Out out;
      for (int i = 0; i < rows.size(); ++i) {
        out.push_back({rows.integer(i, 0), from_us(rows.integer(i, 1)), rows.text(i, 2), rows.text(i, 3),
                       rows.text(i, 4)});
      }
      return out;
    });
  }

  Result<void> clear_halt_requests(int64_t up_to_seq) override {
    return write([&](pg::Conn& c) -> Result<void> {
      FD_TRY(c.query("DELETE FROM halt_requests WHERE seq <= $1", Params().integer(up_to_seq)), "clear halt requests");
      return ok();
    });
  }

  // ---------------------------------------------------------------- evidence

  Result<void> append_evidence(const std::vector<StoredEvent>& batch) override {
    if (batch.empty()) return ok();
    const std::string& run = batch.front().run_id;
    return write([&](pg::Conn& c) -> Result<void> {
      FD_ASSIGN(last, c.query("SELECT COALESCE(MAX(seq), 0) FROM evidence_events WHERE run_id = $1",
                              Params().text(run)),
                "append evidence to run {}", run);
      int64_t have = last.integer(0, 0);
      for (const auto& e : batch) {
        if (e.run_id != run) return make_error("append evidence: one batch holds runs {} and {}", run, e.run_id);
        if (e.seq != have + 1) {
          return make_error("append event to run {}: seq {} does not follow the last stored seq {}", run, e.seq, have);
        }
        FD_TRY(c.query("INSERT INTO evidence_events(run_id, seq, kind, recorded_at, recorded_us, body, prev_hash, "
                       "hash, head_signature, key_fingerprint) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                       Params().text(e.run_id).integer(e.seq).text(e.kind).text(e.recorded_at).integer(e.recorded_us)
                           .text(e.body).text(e.prev_hash).text(e.hash).text(e.head_signature).text(e.key_fingerprint)),
               "append event {} #{}", run, e.seq);
        have = e.seq;
      }
      return ok();
    });
  }

  Result<std::vector<StoredEvent>> evidence_events(std::string_view run_id) override {
    using Out = std::vector<StoredEvent>;
    return read<Out>([&](pg::Conn& c) -> Result<Out> {
      std::string sql = fmt::format("SELECT {} FROM evidence_events WHERE run_id = $1 ORDER BY seq", kEventColumns);
      FD_ASSIGN(rows, c.query(sql.c_str(), Params().text(run_id)), "read events of run {}", run_id);
      Out out;
      for (int i = 0; i < rows.size(); ++i) out.push_back(read_event(rows, i));
      return out;
    });
  }

  Result<std::optional<StoredEvent>> last_evidence_event(std::string_view run_id) override {
    using Out = std::optional<StoredEvent>;
    return read<Out>([&](pg::Conn& c) -> Result<Out> {
      std::string sql =
          fmt::format("SELECT {} FROM evidence_events WHERE run_id = $1 ORDER BY seq DESC LIMIT 1", kEventColumns);
      FD_ASSIGN(rows, c.query(sql.c_str(), Params().text(run_id)), "read last event of run {}", run_id);
      if (rows.size() == 0) return Out();
      return Out(read_event(rows, 0));
    });
  }

  Result<std::vector<std::string>> evidence_runs() override {
    return strings("SELECT run_id FROM evidence_events WHERE seq = 1 ORDER BY recorded_us, run_id", Params(),
                   "list runs with evidence");
  }

  Result<void> append_finding(const StoredFinding& f) override {
    return write([&](pg::Conn& c) -> Result<void> {
      FD_ASSIGN(last, c.query("SELECT COALESCE(MAX(rev), 0) FROM evidence_findings WHERE finding_id = $1",
                              Params().text(f.finding_id)),
                "append finding {}", f.finding_id);
      int64_t have = last.integer(0, 0);
      if (f.rev != have + 1) {
        return make_error("append finding {}: revision {} does not follow the last stored revision {}", f.finding_id,
                          f.rev, have);
      }
      FD_TRY(c.query("INSERT INTO evidence_findings(finding_id, rev, run_id, retest_run, body, hash, signature, "
                     "key_fingerprint) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                     Params().text(f.finding_id).integer(f.rev).text(f.run_id).text(f.retest_run).text(f.body)
                         .text(f.hash).text(f.signature).text(f.key_fingerprint)),
             "append finding {}", f.finding_id);
      return ok();
    });
  }

  Result<std::vector<StoredFinding>> finding_revisions(std::string_view finding_id) override {
    using Out = std::vector<StoredFinding>;
    return read<Out>([&](pg::Conn& c) -> Result<Out> {
      FD_ASSIGN(rows, c.query("SELECT finding_id, rev, run_id, retest_run, body, hash, signature, key_fingerprint "
                              "FROM evidence_findings WHERE finding_id = $1 ORDER BY rev",
                              Params().text(finding_id)),
                "read finding {}", finding_id);
      Out out;
      for (int i = 0; i < rows.size(); ++i) {
        out.push_back(StoredFinding{rows.text(i, 0), rows.integer(i, 1), rows.text(i, 2), rows.text(i, 3),
                                    rows.text(i, 4), rows.text(i, 5), rows.text(i, 6), rows.text(i, 7)});
      }
      return out;
    });
  }

  Result<std::vector<std::string>> findings_of_run(std::string_view run_id) override {
    return strings("SELECT DISTINCT finding_id FROM evidence_findings WHERE run_id = $1 OR retest_run = $1 "
                   "ORDER BY finding_id",
                   Params().text(run_id), fmt::format("list findings of run {}", run_id));
  }

  Result<std::vector<std::string>> all_findings() override {
    return strings("SELECT DISTINCT finding_id FROM evidence_findings ORDER BY finding_id", Params(), "list findings");
  }

  Result<void> put_public_key(std::string_view fingerprint, std::string_view pem) override {
    return write([&](pg::Conn& c) -> Result<void> {
      FD_TRY(c.query("INSERT INTO evidence_keys(fingerprint, public_pem) VALUES ($1, $2) ON CONFLICT (fingerprint) "
                     "DO NOTHING",
                     Params().text(fingerprint).text(pem)),
             "store public key {}", fingerprint);
      return ok();
    });
  }

  Result<std::optional<std::string>> public_key(std::string_view fingerprint) override {
    using Out = std::optional<std::string>;
    return read<Out>([&](pg::Conn& c) -> Result<Out> {
      FD_ASSIGN(rows, c.query("SELECT public_pem FROM evidence_keys WHERE fingerprint = $1", Params().text(fingerprint)),
                "read public key {}", fingerprint);
      if (rows.size() == 0) return Out();
      return Out(rows.text(0, 0));
    });
  }

  Result<std::vector<std::pair<std::string, std::string>>> public_keys() override {
    using Out = std::vector<std::pair<std::string, std::string>>;
    return read<Out>([&](pg::Conn& c) -> Result<Out> {
      FD_ASSIGN(rows, c.query("SELECT fingerprint, public_pem FROM evidence_keys ORDER BY fingerprint", Params()),
                "list public keys");
      Out out;
      for (int i = 0; i < rows.size(); ++i) out.emplace_back(rows.text(i, 0), rows.text(i, 1));
      return out;
    });
  }


  Result<void> put_join_token(const JoinTokenRow& r) override {
    return write([&](pg::Conn& c) -> Result<void> {
      FD_TRY(c.query("INSERT INTO join_tokens(secret_sha256, tags, uses_allowed, uses, created_us, expires_us, "
                     "created_by) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                     Params().text(r.secret_sha256).text(records::tags_json(r.tags)).integer(int64_t{r.uses_allowed})
                         .integer(int64_t{r.uses}).integer(us(r.created_at)).integer(us(r.expires_at))
                         .text(r.created_by)),
             "put join token");
      return ok();
    });
  }

  Result<std::optional<JoinTokenRow>> join_token(const std::string& hash) override {
    FD_ASSIGN(rows, select_tokens("WHERE secret_sha256 = $1", Params().text(hash)), "store");
    if (rows.empty()) return std::optional<JoinTokenRow>();
    return std::optional<JoinTokenRow>(std::move(rows.front()));
  }

  Result<std::vector<JoinTokenRow>> join_tokens() override {
    return select_tokens("ORDER BY created_us, secret_sha256", Params());
  }

  Result<bool> use_join_token(const std::string& hash, WallTime now) override {
    bool used = false;
    FD_TRY(write([&](pg::Conn& c) -> Result<void> {
             FD_ASSIGN(rows, c.query("UPDATE join_tokens SET uses = uses + 1 WHERE secret_sha256 = $1 AND "
                                     "uses < uses_allowed AND expires_us > $2 RETURNING uses",
                                     Params().text(hash).integer(us(now))),
                       "use join token");
             used = rows.size() == 1;
             return ok();
           }),
           "store");
    return used;
  }

  Result<size_t> remove_join_tokens(const std::string& prefix) override {
    if (prefix.size() < 8) return make_error("store: a join token id has at least 8 hex digits ('{}')", prefix);
    size_t n = 0;
    FD_TRY(write([&](pg::Conn& c) -> Result<void> {
             FD_ASSIGN(rows, c.query("DELETE FROM join_tokens WHERE left(secret_sha256, length($1)) = $1 RETURNING 1",
                                     Params().text(prefix)),
                       "remove join tokens");
             n = static_cast<size_t>(rows.size());
             return ok();
           }),
           "store");
    return n;
  }

  Result<void> put_agent_enrollment(const AgentEnrollmentRow& r) override {
    return write([&](pg::Conn& c) -> Result<void> {
      FD_TRY(c.query("INSERT INTO agent_enrollments(agent_id, tags, token_id, enrolled_us) VALUES ($1, $2, $3, $4) "
                     "ON CONFLICT (agent_id) DO UPDATE SET tags = EXCLUDED.tags, token_id = EXCLUDED.token_id, "
                     "enrolled_us = EXCLUDED.enrolled_us",
                     Params().text(r.agent_id).text(records::tags_json(r.tags)).text(r.token_id)
                         .integer(us(r.enrolled_at))),
             "put agent enrollment {}", r.agent_id);
      return ok();
    });
  }

  Result<std::vector<AgentEnrollmentRow>> agent_enrollments() override {
    using Out = std::vector<AgentEnrollmentRow>;
    return read<Out>([&](pg::Conn& c) -> Result<Out> {
      FD_ASSIGN(rows, c.query("SELECT agent_id, tags, token_id, enrolled_us FROM agent_enrollments ORDER BY agent_id"),
                "agent enrollments");
      Out out;
      for (int i = 0; i < rows.size(); ++i) {
        out.push_back({rows.text(i, 0), records::parse_tags(rows.text(i, 1)), rows.text(i, 2),
                       from_us(rows.integer(i, 3))});
      }
      return out;
    });
  }

  Result<void> revoke_agent(const AgentRevocationRow& r) override {
    return write([&](pg::Conn& c) -> Result<void> {
      FD_TRY(c.query("INSERT INTO agent_revocations(agent_id, revoked_us, revoked_by, reason) VALUES ($1, $2, $3, $4) "
                     "ON CONFLICT (agent_id) DO NOTHING",
                     Params().text(r.agent_id).integer(us(r.revoked_at)).text(r.revoked_by).text(r.reason)),
             "revoke agent {}", r.agent_id);
      return ok();
    });
  }

  Result<std::vector<AgentRevocationRow>> agent_revocations() override {
    using Out = std::vector<AgentRevocationRow>;
    return read<Out>([&](pg::Conn& c) -> Result<Out> {
      FD_ASSIGN(rows, c.query("SELECT agent_id, revoked_us, revoked_by, reason FROM agent_revocations ORDER BY agent_id"),
                "agent revocations");
      Out out;
      for (int i = 0; i < rows.size(); ++i) {
        out.push_back({rows.text(i, 0), from_us(rows.integer(i, 1)), rows.text(i, 2), rows.text(i, 3)});
      }
      return out;
    });
  }

 private:
  Result<std::vector<JoinTokenRow>> select_tokens(const std::string& rest, const Params& params) {
    using Out = std::vector<JoinTokenRow>;
    return read<Out>([&](pg::Conn& c) -> Result<Out> {
      std::string sql = "SELECT secret_sha256, tags, uses_allowed, uses, created_us, expires_us, created_by FROM "
                        "join_tokens " + rest;
      FD_ASSIGN(rows, c.query(sql.c_str(), params), "join tokens");
      Out out;
      for (int i = 0; i < rows.size(); ++i) {
        JoinTokenRow r;
        r.secret_sha256 = rows.text(i, 0);
        r.tags = records::parse_tags(rows.text(i, 1));
        r.uses_allowed = static_cast<uint32_t>(rows.integer(i, 2));
        r.uses = static_cast<uint32_t>(rows.integer(i, 3));
        r.created_at = from_us(rows.integer(i, 4));
        r.expires_at = from_us(rows.integer(i, 5));
        r.created_by = rows.text(i, 6);
        out.push_back(std::move(r));
      }
      return out;
    });
  }

  static constexpr const char* kEventColumns =
      "run_id, seq, kind, recorded_at, recorded_us, body, prev_hash, hash, head_signature, key_fingerprint";

  // Rows per multi-row INSERT: one round trip for a batch (parameters stay far below
  // the protocol's 65,535).
  static constexpr size_t kRowsPerStatement = 1000;

  // "(VALUES (1, $2::bytea), (2, $3::bytea), ...)": `rows` rows numbered from 1, each
  // with one placeholder per cast, the first one $`first`.
  static std::string values_list(size_t rows, int first, const std::vector<const char*>& casts) {
    std::string out = "(VALUES ";
    int p = first;
    for (size_t i = 0; i < rows; ++i) {
      out += i ? ", (" : "(";
      out += std::to_string(i + 1);
      for (const char* cast : casts) out += fmt::format(", ${}{}", p++, cast);
      out += ")";
    }
    return out + ")";
  }

  static StoredEvent read_event(const Rows& r, int i) {
    return StoredEvent{r.text(i, 0), r.integer(i, 1), r.text(i, 2), r.text(i, 3), r.integer(i, 4),
                       r.text(i, 5), r.text(i, 6),    r.text(i, 7), r.text(i, 8), r.text(i, 9)};
  }

  Result<std::vector<std::string>> strings(const char* sql, const Params& params, const std::string& what) {
    using Out = std::vector<std::string>;
    return read<Out>([&](pg::Conn& c) -> Result<Out> {
      FD_ASSIGN(rows, c.query(sql, params), "{}", what);
      Out out;
      for (int i = 0; i < rows.size(); ++i) out.push_back(rows.text(i, 0));
      return out;
    });
  }

  static Result<int> schema_version(pg::Conn& c) {
    FD_ASSIGN(has, c.query("SELECT to_regclass('schema_version') IS NOT NULL"), "tables");
    if (has.integer(0, 0) == 0) return 0;
    FD_ASSIGN(rows, c.query("SELECT MAX(version) FROM schema_version"), "read");
    auto v = rows.maybe_integer(0, 0);
    if (!v || *v < 1) return make_error("the schema_version table is empty: not a database firedrill made whole");
    return static_cast<int>(*v);
  }

  Result<void> load_samples(pg::Conn& c, v1::RunRecord& run) {
    FD_ASSIGN(rows, c.query("SELECT sample FROM run_samples WHERE run_id=$1 ORDER BY seq", Params().text(run.id())),
              "samples of {}", run.id());
    for (int i = 0; i < rows.size(); ++i) {
      if (!run.add_samples()->ParseFromString(rows.text(i, 0))) {
        return make_error("a probe sample of run {} does not parse", run.id());
      }
    }
    return ok();
  }

  Result<std::vector<v1::RunRecord>> select_runs(pg::Conn& c, const std::string& rest, const Params& params,
                                                 bool summary) {
    std::string sql = "SELECT id, record FROM runs " + rest;
    FD_ASSIGN(rows, c.query(sql.c_str(), params), "list runs");
    std::vector<v1::RunRecord> out;
    for (int i = 0; i < rows.size(); ++i) {
      auto r = records::parse_run(rows.text(i, 0), rows.text(i, 1), summary);
      if (!r) return r.error();
      out.push_back(std::move(*r));
    }
    return out;
  }

  // A read: at the outermost level on its own (retried on a new connection when the
  // connection was lost: reading twice changes nothing); inside a transaction, part of it.
  template <typename T, typename F>
  Result<T> read(F&& f) {
    std::lock_guard lock(mu_);
    if (depth_ > 0) return with_context<T>(f(*tx_conn_));
    auto deadline = Clock::now() + options_.retry_for;
    for (;;) {
      FD_ASSIGN(c, link_.get(deadline), "store {}", name_);
      Result<T> r = f(*c);
      if (r || !pg::connection_lost(r.error()) || Clock::now() >= deadline) return with_context<T>(std::move(r));
      link_.drop();
    }
  }

  template <typename T>
  Result<T> with_context(Result<T> r) {
    if (r) return r;
    return r.error().context("store " + name_);
  }

  // A write: a transaction (a savepoint inside the caller's), retried whole when the
  // connection was lost before its commit was sent.
  Result<void> write(const std::function<Result<void>(pg::Conn&)>& f) {
    return run_tx(
        [&]() -> Result<void> {
          auto r = f(*tx_conn_);
          if (!r) return r.error().context("store " + name_);
          return r;
        },
        true);
  }

  Result<void> run_tx(const std::function<Result<void>()>& body, bool retry) {
    std::lock_guard lock(mu_);
    if (depth_ > 0) {
      std::string savepoint = fmt::format("fd_tx_{}", depth_);
      pg::Conn& c = *tx_conn_;
      FD_TRY(c.exec("SAVEPOINT " + savepoint), "store {}", name_);
      ++depth_;
      auto r = body();
      --depth_;
      if (!r) {
        if (!pg::connection_lost(r.error())) {
          (void)c.exec("ROLLBACK TO SAVEPOINT " + savepoint + "; RELEASE SAVEPOINT " + savepoint);
        }
        return r;
      }
      return with_context<void>(c.exec("RELEASE SAVEPOINT " + savepoint));
    }
    // A leader that lost its lease writes nothing more: refused at once, not after
    // waiting for a database it may not reach (its runs end, and the process exits).
    if (write_epoch_.load() == kSteppedDown) {
      return make_error("store {}: this controller no longer leads: nothing written", name_);
    }
    auto deadline = Clock::now() + options_.retry_for;
    for (;;) {
      FD_ASSIGN(c, link_.get(deadline), "store {}", name_);
      // The epoch this transaction writes with: the fence (kSchema) compares it with
      // the lease's.
      auto begun = c->exec(fmt::format("BEGIN; SELECT set_config('firedrill.epoch', '{}', true)", write_epoch_.load()));
      if (!begun) {
        if (pg::connection_lost(begun.error()) && Clock::now() < deadline) {
          link_.drop();
          continue;
        }
        return begun.error().context(fmt::format("store {}: begin", name_));
      }
      tx_conn_ = c;
      depth_ = 1;
      auto r = body();
      depth_ = 0;
      tx_conn_ = nullptr;
      if (r && c->in_failed_transaction()) {
        r = make_error("a statement of the transaction failed (see the log) and it was rolled back");
      }
      if (!r) {
        if (pg::connection_lost(r.error())) {
          // The server rolls back what it had of a transaction whose connection is gone.
          link_.drop();
          if (retry && Clock::now() < deadline) continue;
          return r.error().context(fmt::format("store {}: the connection was lost; nothing of this transaction was "
                                               "written",
                                               name_));
        }
        if (auto back = c->exec("ROLLBACK"); !back && pg::connection_lost(back.error())) link_.drop();
        return r;  // the caller's error as it gave it (the store's own carry their context)
      }
      auto committed = c->exec("COMMIT");
      if (!committed) {
        if (pg::connection_lost(committed.error())) {
          link_.drop();
          return Error{ENOTCONN, fmt::format("store {}: the connection was lost at commit: the transaction is in the "
                                             "database whole or not at all, and which is unknown: {}",
                                             name_, committed.error().message)};
        }
        return committed.error().context(fmt::format("store {}: commit", name_));
      }
      return ok();
    }
  }

  PostgresOptions options_;
  std::string name_;  // the URL without its password
  std::recursive_mutex mu_;
  int depth_ = 0;                  // transactions open (under mu_)
  pg::Conn* tx_conn_ = nullptr;    // the connection of the open transaction (under mu_)
  pg::Reconnecting link_;
  std::atomic<int64_t> write_epoch_{0};
  PgLease lease_;
};

}  // namespace

std::string clock_refusal(const ClockComparison& c, std::chrono::nanoseconds bound) {
  // Refused only when even the nearest reading the round trip allows is out of bounds.
  auto off = std::chrono::abs(c.offset);
  if (off <= c.uncertainty || off - c.uncertainty <= bound) return "";
  return fmt::format("this host's clock is {} {} the database's (read over a round trip of {}), beyond the bound of {}: "
                     "controllers and their database need synchronised clocks (NTP, chrony), as agents do, because a "
                     "takeover's timing and the controllers' registry compare them",
                     format_duration(off), c.offset.count() > 0 ? "ahead of" : "behind",
                     format_duration(c.uncertainty * 2), format_duration(bound));
}

bool is_postgres_url(std::string_view store) {
  return store.starts_with("postgres://") || store.starts_with("postgresql://");
}

Result<std::unique_ptr<PostgresStore>> open_postgres_store(const PostgresOptions& options) {
  if (!is_postgres_url(options.url)) {
    return make_error("store '{}': not a PostgreSQL URL (postgres://user:password@host:port/database)",
                      pg::redact(options.url));
  }
  if (options.fleet.empty()) return make_error("store {}: no fleet id given", pg::redact(options.url));
  auto store = std::make_unique<PgStore>(options);
  FD_TRY(store->init(), "open store");
  return std::unique_ptr<PostgresStore>(std::move(store));
}

}  // namespace firedrill::controller
