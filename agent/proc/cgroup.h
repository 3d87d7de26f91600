// cgroup v2 helpers for the process engine: naming and finding cgroups under the
// mount the agent found, killing and freezing them through their interface files, and
// waiting for cgroup.events to say it happened.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"

namespace firedrill::agent::proc {

// A cgroup as the engine knows it: "rel" is the path below the cgroup v2 root as in
// /proc/PID/cgroup ("/fdp-test-1/svc", "/" for the root), "path" its directory.
struct CgroupRef {
  std::string rel;
  std::string path;
  uint64_t id = 0;  // the kernfs id: the inode of its directory, bpf_get_current_cgroup_id()
};

// The cgroup v2 mount (bpf::features()' answer, e.g. /sys/fs/cgroup/unified).
Result<std::string> cgroup2_root();

// "fdp-test-1/svc", "/fdp-test-1/svc" or "/sys/fs/cgroup/unified/fdp-test-1/svc" (the
// mount's own prefix) name the same cgroup. Refuses "..", empty names and cgroups that
// do not exist, saying which.
Result<CgroupRef> resolve_cgroup(const std::string& root, const std::string& spec);

// The cgroup v2 path of a process ("/a/b"), from /proc/PID/cgroup.
Result<std::string> cgroup_of_pid(pid_t pid);

// Whether `rel` is `ancestor` or below it ("/" contains everything).
bool cgroup_contains(const std::string& ancestor, const std::string& rel);

// Processes (thread group ids) in the cgroup, with its descendants when recursive.
Result<std::vector<pid_t>> cgroup_procs(const std::string& path, bool recursive);

// Writes VALUE to PATH/FILE.
Result<void> write_cgroup_file(const std::string& path, const char* file, const std::string& value);
Result<std::string> read_cgroup_file(const std::string& path, const char* file);

// The value of KEY in PATH/cgroup.events ("populated", "frozen"), -1 when absent.
Result<int> cgroup_event(const std::string& path, const char* key);

// Waits until KEY in cgroup.events equals VALUE (poll on the file's change
// notifications). Times out with an error naming the cgroup and what it waited for.
Result<void> wait_cgroup_event(const std::string& path, const char* key, int value,
                               std::chrono::milliseconds timeout);

// cgroup.freeze, waiting for cgroup.events to report the new state.
Result<void> set_frozen(const std::string& path, bool frozen, std::chrono::milliseconds timeout);

// Thaws the cgroup at PATH. One that no longer exists counts as thawed (nothing of it
// is left frozen); so does one removed and made again since (EXPECTED_ID, when not 0,
// is not the id of what is there now): the new one was never frozen by us. Returns
// whether there was a cgroup to thaw.
Result<bool> thaw_if_present(const std::string& path, uint64_t expected_id, std::chrono::milliseconds timeout);

// Runs COMMAND with /bin/sh -c as a child of this process placed into the cgroup at
// CGROUP_PATH (empty: stays in ours), in a process group of its own, with the signal
// mask and dispositions of a freshly booted service, output appended to LOG_PATH
// (empty: /dev/null); common/spawn.h. Waits for the shell up to TIMEOUT, then SIGKILLs
// its whole process group. Returns its exit status (the shell's; background jobs it
// started live on).
Result<int> run_in_cgroup(const std::string& command, const std::string& cgroup_path,
                          const std::string& log_path, std::chrono::milliseconds timeout);

}  // namespace firedrill::agent::proc
