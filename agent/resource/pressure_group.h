// What one resource-pressure fault owns on the host: a child cgroup "firedrill-<id>" of
// the target (in cgroup v2, and in each v1 hierarchy of cpu, cpuacct, memory or blkio
// where the target's path exists, so that on a hybrid host the pressure is charged to
// the target's v1 limits too), the worker processes in it, files it made, and a
// guardian process.
//
// Undo, in three layers, each enough alone:
//  - teardown() (revert, expiry, agent shutdown): cgroup.kill, reap, rmdir, unlink;
//  - the guardian: a process forked before anything is made, blocked on a pipe that only
//    the agent holds open; when the agent dies (SIGKILL included) the pipe closes and
//    the guardian kills the child cgroup, removes it and the files, and exits;
//  - the journal: every cgroup and file is journaled before it is made, so a restart
//    after the guardian died too finishes the job (replay_handlers()).
//
// Workers and the guardian are forked from the multi-threaded agent: in the child only
// system calls run (no allocation, no locks), on data prepared before fork(). They keep
// no descriptor of the agent's (close_range), so they hold no lock or socket of it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "agent/journal/journal.h"
#include "common/result.h"

namespace firedrill::agent::resource {

// Journal kinds (replay handler names).
inline constexpr const char* kRemoveCgroup = "resource_remove_cgroup";
inline constexpr const char* kRemoveFile = "resource_remove_file";

// What a worker does, run in the forked child after it joined the child cgroup.
struct WorkerPlan {
  enum class Kind { kCpu, kMemory, kIo } kind = Kind::kCpu;
  double percent = 100;   // cpu: busy share of each 100 ms period
  uint64_t bytes = 0;     // memory: to allocate and touch; io: scratch file size
  int io_fd = -1;         // io: the (unlinked) scratch file, dup'ed into the child
};

class PressureGroup {
 public:
  // Journals, forks the guardian and makes the child cgroups of the target (v2 path
  // `target_dir`, relative name `target_rel` for the v1 hierarchies). `target_dir`
  // empty: no cgroup (disk fill). `files`: what fill_file() may make, removed at the end.
  static Result<std::unique_ptr<PressureGroup>> create(const std::string& fault_id,
                                                       const std::string& target_dir,
                                                       const std::string& target_rel,
                                                       std::vector<std::string> files,
                                                       std::shared_ptr<journal::Journal> journal);
  ~PressureGroup();  // teardown(), logging a failure
  PressureGroup(const PressureGroup&) = delete;
  PressureGroup& operator=(const PressureGroup&) = delete;

  // Makes FILE (one of create()'s `files`; it must not exist) and fallocates `bytes`.
  Result<void> fill_file(const std::string& file, uint64_t bytes);

  // Starts a worker in the child cgroups. Memory workers are waited for until every
  // page is touched (up to `ready_timeout`); a worker that dies first is an error.
  Result<pid_t> start_worker(const WorkerPlan& plan,
                             std::chrono::milliseconds ready_timeout = std::chrono::seconds(30));

  // Kills the workers, removes the child cgroups and the files, stops the guardian,
  // ends the journal entries. Idempotent.
  Result<void> teardown();

  const std::string& v2_dir() const { return v2_dir_; }
  const std::vector<std::string>& v1_dirs() const { return v1_dirs_; }
  const std::vector<pid_t>& workers() const { return workers_; }
  pid_t guardian() const { return guardian_; }

 private:
  PressureGroup() = default;
  Result<void> spawn_guardian();
  void stop_guardian();

  std::string id_;
  std::shared_ptr<journal::Journal> journal_;
  std::string v2_dir_;
  std::vector<std::string> v1_dirs_;
  std::vector<std::string> files_;
  std::vector<journal::Entry> owed_;
  std::vector<pid_t> workers_;
  pid_t guardian_ = -1;
  int guardian_fd_ = -1;  // write end of the guardian's pipe
};

// The cgroup v1 hierarchies whose controllers pressure is charged through (cpu,
// cpuacct, memory, blkio), by mount point. Empty on a unified host.
const std::vector<std::string>& v1_hierarchies();

// The journal replay handlers for what PressureGroup journals.
std::map<std::string, journal::ReplayHandler> replay_handlers();

// Kills what is in DIR (cgroup.kill in v2, SIGKILL to cgroup.procs in v1) and removes
// it, waiting up to `timeout`. A DIR that does not exist is done.
Result<void> remove_cgroup(const std::string& dir, std::chrono::milliseconds timeout);

}  // namespace firedrill::agent::resource
