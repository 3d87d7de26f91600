// EvidenceStore in SQLite. Its tables are all named evidence_*, so it can share one
// database file (or one open handle) with the controller's own store.
#pragma once

#include <filesystem>
#include <memory>
#include <mutex>

#include "controller/evidence/store.h"

struct sqlite3;

namespace firedrill::evidence {

class SqliteEvidenceStore final : public EvidenceStore {
 public:
  // Opens (creating when absent) the database file and its evidence tables.
  static Result<std::unique_ptr<SqliteEvidenceStore>> open(const std::filesystem::path& file);
  // Uses a handle that someone else opened and keeps owning (it must outlive this).
  static Result<std::unique_ptr<SqliteEvidenceStore>> attach(sqlite3* db);
  ~SqliteEvidenceStore() override;
  SqliteEvidenceStore(const SqliteEvidenceStore&) = delete;
  SqliteEvidenceStore& operator=(const SqliteEvidenceStore&) = delete;

  Result<void> append_events(const std::vector<StoredEvent>& events) override;
  using EvidenceStore::append_event;
  Result<std::vector<StoredEvent>> events(std::string_view run_id) override;
  Result<std::optional<StoredEvent>> last_event(std::string_view run_id) override;
  Result<std::vector<std::string>> runs() override;
  Result<void> append_finding(const StoredFinding& finding) override;
  Result<std::vector<StoredFinding>> finding_revisions(std::string_view finding_id) override;
  Result<std::vector<std::string>> findings_of_run(std::string_view run_id) override;
  Result<std::vector<std::string>> all_findings() override;
  Result<void> put_public_key(std::string_view fingerprint, std::string_view pem) override;
  Result<std::optional<std::string>> public_key(std::string_view fingerprint) override;

  sqlite3* handle() const { return db_; }

 private:
  SqliteEvidenceStore(sqlite3* db, bool owned) : db_(db), owned_(owned) {}
  Result<void> create_schema();

  sqlite3* db_;
  bool owned_;
  std::mutex mu_;
};

}  // namespace firedrill::evidence
