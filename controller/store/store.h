// What the controller remembers across restarts: the agents it has seen, runs (their
// records and probe samples), schedules, the fleet's event log, a few settings (the
// halt), the evidence: every run's signed event chain, findings and the keys that
// signed them (evidence_records.h), and enrollment: join tokens and revoked agents
// (enrollment_records.h). The interface is kept narrow (rows in, rows out,
// explicit transactions, no SQL outside controller/store, ids and sequence numbers
// given by the controller, instants as UTC microseconds) so that PostgreSQL can hold
// it for a highly available pair of controllers; SQLite is the default (one file under
// the state directory, no set-up).
//
// Every method is safe to call from any thread; each is atomic on its own, and
// transaction() makes several one.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/time.h"
#include "controller/store/enrollment_records.h"
#include "controller/store/evidence_records.h"
#include "firedrill/v1/run.pb.h"

namespace firedrill::controller {

struct AgentRow {
  std::string id;
  std::map<std::string, std::string> tags;
  std::string version;
  std::string capabilities;  // serialized firedrill.v1.Capabilities
  std::string peer;
  WallTime first_seen;       // kept from the first insert
  WallTime last_seen;
};

struct EventRow {
  int64_t seq = 0;           // numbered by the store when appended, increasing
  std::string run_id;        // empty: fleet-wide (halt, agent lost)
  WallTime at;
  std::string agent_id;
  std::string kind;          // "run.created", "fault.applied", "agent.lost", "halt", ...
  std::string detail;
};

// A halt asked at any controller of a shared store (several controllers on one
// PostgreSQL), leader or follower. Any controller may write one, and the database
// never fences it by the leader epoch, so that a halt is recorded even when no
// controller leads; the leader reads them (every few hundred milliseconds), halts the
// fleet as a halt given to it would, and then clears them (clearing is the leader's
// alone: fenced). Releasing a halt stays the leader's too (`firedrill release` at the
// leader; the halt itself is the fenced "halt" setting).
struct HaltRequestRow {
  int64_t seq = 0;          // numbered by the store when written, increasing
  WallTime at;
  std::string by;           // the caller's identity at the controller that took it
  std::string reason;
  std::string controller;   // the controller that took it
};

// A controller of the store (several share one PostgreSQL; a SQLite store has one):
// written by each controller, leader or follower, at its start and as its leader lease
// loop runs (never fenced: a follower's too), read by the guard's controller-domain
// rule (where the live controllers are) and `firedrill keys export --all`.
struct ControllerRow {
  std::string id;
  std::string address;                        // where agents reach it
  std::map<std::string, std::string> domain;  // its failure domain (--controller-domain)
  std::string public_key;                     // PEM of its evidence key
  WallTime last_seen;
};

// A login link of the dashboard (controller/web/web_auth.h), kept by the SHA-256 of its
// secret. Made and used at any controller of a shared store, leader or follower (a
// person may be given a link at one and open it at another): like halt requests, never
// fenced by the leader epoch; and used once across all of them.
struct LoginLinkRow {
  std::string secret_sha256;
  std::string identity;  // cn:NAME
  WallTime expires_at;
  bool used = false;  // read only: put_login_link adds a link unused
};

class Store : public EvidenceRecords, public EnrollmentRecords {
 public:
  virtual Result<void> upsert_agents(const std::vector<AgentRow>& rows) = 0;
  virtual Result<std::vector<AgentRow>> agents() = 0;

  // Runs, as the runner keeps them: the record without its probe samples, replaced at
  // every change (it stays small: phases, steps, targets, per-host outcomes, the
  // timeline), and the samples appended as they arrive, never rewritten.
  virtual Result<void> put_run(const v1::RunRecord& run) = 0;  // run.samples() are not stored
  virtual Result<void> append_samples(const std::string& run_id, const std::vector<v1::ProbeSample>& samples) = 0;
  virtual Result<std::optional<v1::RunRecord>> run(const std::string& run_id, bool with_samples) = 0;
  // Newest first, without samples and events; `limit` 0: all.
  virtual Result<std::vector<v1::RunRecord>> runs(size_t limit) = 0;
  // Runs not done, oldest first, with their samples: what a restart must recover.
  virtual Result<std::vector<v1::RunRecord>> runs_in_flight() = 0;

  // Schedules (controller/scheduler), each with the last occurrence it handled.
  virtual Result<void> put_schedule(const v1::ScheduleRecord& schedule) = 0;
  virtual Result<void> remove_schedule(const std::string& id) = 0;
  virtual Result<std::vector<v1::ScheduleRecord>> schedules() = 0;

  virtual Result<void> append_events(std::vector<EventRow> rows) = 0;
  virtual Result<std::vector<EventRow>> events(const std::string& run_id, int64_t after_seq = 0) = 0;

  virtual Result<std::optional<std::string>> setting(const std::string& key) = 0;
  // `durable`: on disk before it returns (a full sync of this write: a power cut right
  // after keeps it), for what must survive anything (the halt).
  virtual Result<void> set_setting(const std::string& key, const std::string& value, bool durable = false) = 0;

  // Halts asked at any controller (HaltRequestRow). request_halt is durable before it
  // returns and gives the row's seq; halt_requests are the ones not cleared, oldest
  // first; clear_halt_requests removes those up to `seq` (the leader, once it halted).
  virtual Result<int64_t> request_halt(const HaltRequestRow& row) = 0;
  virtual Result<std::vector<HaltRequestRow>> halt_requests() = 0;
  virtual Result<void> clear_halt_requests(int64_t up_to_seq) = 0;

  // Login links (LoginLinkRow). put_login_link adds one, unused, and drops those that expired two
  // days or more before it expires (links live an hour at most); use_login_link marks one used and
  // returns it as it was before (used: it was used already; nullopt: no such link), at
  // once for every controller of the store (two that race: one sees it unused).
  virtual Result<void> put_login_link(const LoginLinkRow& row) = 0;
  virtual Result<std::optional<LoginLinkRow>> use_login_link(const std::string& secret_sha256) = 0;

  // Controllers (ControllerRow): put replaces the row of its id; controllers() by id.
  virtual Result<void> put_controller(const ControllerRow& row) = 0;
  virtual Result<std::vector<ControllerRow>> controllers() = 0;
};

// The schema this binary writes. A database of an older version is migrated when
// opened; one of a newer version is refused.
inline constexpr int kSchemaVersion = 7;

// The store's file in the controller's state directory.
inline constexpr const char* kStoreFileName = "controller.db";

// Opens (creating when absent, migrating when older) the SQLite store at `path`.
Result<std::unique_ptr<Store>> open_sqlite_store(const std::string& path);

}  // namespace firedrill::controller
