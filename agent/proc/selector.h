// Which processes a process fault selects, resolved and checked once: cgroups that
// exist, executables by their file identity, comms the kernel can hold, pids that
// live; and never the agent, its cgroup or an ancestor of it, or pid 1.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "agent/proc/cgroup.h"
#include "common/result.h"
#include "firedrill/v1/fault.pb.h"

namespace firedrill::agent::proc {

// An executable by its file identity (what /proc/PID/exe resolves to), so that a
// symlink or another path to the same file selects the same processes.
struct ExeRef {
  std::string path;
  uint64_t ino = 0;
  uint64_t st_dev = 0;  // as stat() reports it
  uint32_t kdev = 0;    // the kernel's encoding of the same device (major << 20 | minor)
  bool operator==(const ExeRef& o) const { return ino == o.ino && st_dev == o.st_dev; }
};

Result<ExeRef> exe_ref(const std::string& path);

struct Selection {
  std::vector<CgroupRef> cgroups;
  std::vector<ExeRef> exes;
  std::vector<std::string> comms;
  std::vector<pid_t> pids;

  bool empty() const { return cgroups.empty() && exes.empty() && comms.empty() && pids.empty(); }
  std::string describe() const;
};

// The deny list: processes no fault touches, by comm. By default sshd and
// systemd-journald ("systemd-journal", as the kernel keeps it); the agent itself, its
// parent (the watcher) and pid 1 are always on it. Set once at start (--protect).
inline const std::vector<std::string> kDefaultProtectedComms = {"sshd", "systemd-journal"};
void set_protected_comms(std::vector<std::string> comms);
std::vector<std::string> protected_comms();

// A process on the deny list, as found running when a selector was checked.
struct ProtectedProcess {
  pid_t pid = 0;
  std::string comm;
  std::string cgroup;  // "/..." in cgroup v2
  ExeRef exe;
  std::string why;     // "the agent's parent (its watcher)", "on the deny list"
};

// What the engine must never touch, read from /proc when a selector is checked.
struct Protected {
  pid_t self_pid = 0;
  std::string self_cgroup;  // "/..." in cgroup v2
  std::string self_comm;
  ExeRef self_exe;
  std::string init_cgroup;
  std::string init_comm;
  ExeRef init_exe;
  std::vector<std::string> comms;          // the deny list
  std::vector<ProtectedProcess> processes;  // running processes it names, and the parent

  bool protects(pid_t pid) const;
  static Protected current();
};

struct ResolveOptions {
  bool pids_must_exist = true;
};

// Resolves and checks a selector. A refusal names the selector entry and why.
// The selector with its workload_cgroups turned into cgroups below `workload` (the
// agent's --workload-cgroup, as the agent was given it). Refuses '..', absolute paths
// and any workload_cgroups entry when `workload` is empty.
Result<v1::ProcessSelector> expand_workload_cgroups(const v1::ProcessSelector& selector,
                                                    const std::string& workload);

Result<Selection> resolve_selector(const v1::ProcessSelector& selector, const Protected& guard,
                                   const std::string& cgroup_root, ResolveOptions options = {});

// The processes (thread group ids) that the exe, comm and pid parts of a selection name
// now. Cgroup members are not listed (cgroup.kill takes them). Never the agent, pid 1
// or kernel threads.
std::vector<pid_t> scan_processes(const Selection& selection, const Protected& guard);

// Whether one process matches the exe, comm or pid part of a selection.
bool process_matches(pid_t pid, const Selection& selection);

// "/proc/PID/comm" without its newline; empty when gone.
std::string read_comm(pid_t pid);

}  // namespace firedrill::agent::proc
