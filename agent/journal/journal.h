// The agent's crash-safe journal: an fsync'd, append-only file in the state directory.
//
// bpf_links die with the agent, and with them every attachment; what a link cannot
// undo (a frozen cgroup, services killed by a power loss that must be booted again) is
// written here BEFORE it is done, and marked done after it is undone. When the agent
// is killed in between, the next start finds the entry still owed and finishes it
// (replay()). The file is emptied whenever nothing is owed.
//
// On disk: records of [u32 length][u32 crc32][JournalRecord], little-endian (the same
// framing since 0.1.0, whose files are read). A torn last record (the agent died
// mid-write) fails its length or checksum and is dropped: the intent it carried was
// never acted on, because acting waits for the fsync. An append that fails is cut back
// to the last whole record. Each record of format 2 carries everything owed after it,
// so that a corrupt record in the middle is skipped by its framing and made good by
// the next readable one; corruption that nothing after it makes good is a refusal to
// open, naming the offset (never a silent drop).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/time.h"
#include "firedrill/v1/journal.pb.h"

namespace firedrill::agent::journal {

// The replay handler names used by the agent's engines.
inline constexpr const char* kThawCgroup = "thaw_cgroup";
inline constexpr const char* kBootHooks = "boot_hooks";
// Every fault held (scheduled or in effect), so that the next start can tell the
// controller which faults ended when the agent died (REVERT_AGENT_RESTART). Nothing to
// undo: its links died with the agent.
inline constexpr const char* kFaultHeld = "fault_held";

struct Entry {
  std::string fault_id;
  std::string kind;    // names the replay handler
  std::string target;  // cgroup path, or "" for host-wide
  std::string detail;  // for the recovery log line
  WallTime at{};       // when it was begun

  bool same(const Entry& o) const {
    return fault_id == o.fault_id && kind == o.kind && target == o.target;
  }
};

class Journal {
 public:
  // Opens (creating) STATE_DIR/journal and reads what is owed. Takes an exclusive lock
  // on the state directory: two agents sharing one would undo each other's faults.
  static Result<std::unique_ptr<Journal>> open(const std::string& state_dir);

  // The one journal of this process for a state directory: engines and the start-up
  // replay share it (the directory lock is per process).
  static Result<std::shared_ptr<Journal>> shared(const std::string& state_dir);

  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  // Records the intent durably (fdatasync) before the caller acts on it. Beginning an
  // entry already owed is a no-op.
  Result<void> begin(Entry entry);
  // Records that the entry is undone. Ending an entry not owed is a no-op. Empties the
  // file when nothing is owed any more.
  Result<void> end(const Entry& entry);

  std::vector<Entry> owed() const;
  bool owes(const Entry& entry) const;
  const std::string& path() const { return path_; }
  // Records in the file now (after compaction: the owed ones only, or none).
  size_t records_on_disk() const;
  // Torn or corrupt records skipped when the file was read at open.
  size_t dropped_at_open() const { return dropped_; }

 private:
  Journal() = default;
  Result<void> read_all();
  Result<void> append(v1::JournalRecord record, const std::vector<Entry>& owed_after);
  Result<void> compact();

  mutable std::mutex mu_;
  std::string dir_, path_;
  int dir_fd_ = -1;
  int fd_ = -1;
  uint64_t seq_ = 0;
  size_t records_ = 0;
  size_t dropped_ = 0;
  size_t size_ = 0;     // bytes of whole records in the file
  std::string broken_;  // why no more is written (a failed append not cut back)
  std::vector<Entry> owed_;
};

// Finishes owed entries through the handler named by their kind. An entry whose
// handler succeeds is ended; one whose handler fails, or whose kind has no handler,
// stays owed (and is tried again on the next start).
using ReplayHandler = std::function<Result<void>(const Entry&)>;

struct ReplayReport {
  std::vector<Entry> finished;
  std::vector<std::pair<Entry, Error>> failed;
};

ReplayReport replay(Journal& journal, const std::map<std::string, ReplayHandler>& handlers);

// CRC-32 (IEEE), for the record checksum.
uint32_t crc32(const void* data, size_t size);

}  // namespace firedrill::agent::journal
