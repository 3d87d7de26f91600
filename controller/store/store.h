// What the controller remembers across restarts: the agents it has seen, runs, what
// each target did, the event log, and a few settings (the halt). The interface is kept
// narrow (rows in, rows out, no SQL outside) so that PostgreSQL can hold it for a
// highly available pair of controllers; SQLite is the default (one file under the
// state directory, no set-up).
//
// Every method is safe to call from any thread.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/time.h"

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

// Run status, as RunStatus in controller.proto: a run is in flight until it has one of
// the final statuses and an ended_at.
inline constexpr const char* kRunActive = "active";
inline constexpr const char* kRunCompleted = "completed";
inline constexpr const char* kRunAborted = "aborted";
inline constexpr const char* kRunRefused = "refused";
inline constexpr const char* kRunFailed = "failed";

struct RunRow {
  std::string id;
  std::string kind;          // "inject", "experiment", ...
  std::string status = kRunActive;
  std::string state;         // the owner's finer state ("observe", "recover", ...)
  std::string description;
  std::string requested_by;
  std::string spec;          // what was asked, as the owner likes it (text proto, YAML)
  std::string reason;        // why it ended the way it did
  WallTime created_at;
  std::optional<WallTime> ended_at;
};

// One target of one fault of a run. Upserted by (run_id, agent_id, fault_id).
struct TargetRow {
  std::string run_id;
  std::string agent_id;
  std::string fault_id;
  std::string status;        // "applied", "scheduled", "refused", "failed", "lost", "reverted"
  std::string error;
  std::optional<WallTime> acked_at;
  std::optional<WallTime> effective_at;
  std::optional<WallTime> reverted_at;
};

struct EventRow {
  int64_t seq = 0;           // assigned by the store, increasing
  std::string run_id;        // empty: fleet-wide (halt, agent lost)
  WallTime at;
  std::string agent_id;
  std::string kind;          // "run.created", "fault.applied", "agent.lost", "halt", ...
  std::string detail;
};

class Store {
 public:
  virtual ~Store() = default;

  virtual Result<void> upsert_agents(const std::vector<AgentRow>& rows) = 0;
  virtual Result<std::vector<AgentRow>> agents() = 0;

  virtual Result<void> create_run(const RunRow& run) = 0;
  // Sets status and state; a final status also sets ended_at and reason. Refuses to
  // change a run that has already ended (so two paths ending it do not both write).
  virtual Result<bool> end_run(const std::string& run_id, const std::string& status, const std::string& reason,
                               WallTime at) = 0;
  virtual Result<void> set_run_state(const std::string& run_id, const std::string& state) = 0;
  virtual Result<std::optional<RunRow>> run(const std::string& run_id) = 0;
  virtual Result<std::vector<RunRow>> recent_runs(size_t limit) = 0;  // newest first
  virtual Result<std::vector<RunRow>> runs_in_flight() = 0;

  virtual Result<void> put_targets(const std::vector<TargetRow>& rows) = 0;
  virtual Result<std::vector<TargetRow>> targets(const std::string& run_id) = 0;

  virtual Result<void> append_events(std::vector<EventRow> rows) = 0;
  virtual Result<std::vector<EventRow>> events(const std::string& run_id, int64_t after_seq = 0) = 0;

  virtual Result<std::optional<std::string>> setting(const std::string& key) = 0;
  virtual Result<void> set_setting(const std::string& key, const std::string& value) = 0;
};

// Opens (creating when absent) the SQLite store at `path`.
Result<std::unique_ptr<Store>> open_sqlite_store(const std::string& path);

}  // namespace firedrill::controller
