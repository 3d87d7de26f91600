// Kill now: SIGKILL to every selected process, with cgroup.kill for whole cgroups and
// pidfd signals for the rest, then waiting until they are gone.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "agent/proc/selector.h"
#include "common/result.h"

namespace firedrill::agent::proc {

struct KilledProcess {
  pid_t pid = 0;
  std::string cgroup;  // the selected cgroup it was in, empty for a pidfd kill
  std::string comm;    // for pidfd kills (read before the signal)
};

struct KillReport {
  size_t killed = 0;       // signalled and confirmed gone
  size_t still_alive = 0;  // signalled, still there when the wait timed out
  std::vector<KilledProcess> processes;
  std::chrono::nanoseconds elapsed{};  // from the first signal to the last death
};

// Signals every selected process and waits up to `timeout` for all of them to be gone.
// Processes forked by an exe/comm-selected process while it is being killed are found
// by re-scanning, a few passes at most. The agent and pid 1 are never signalled.
Result<KillReport> kill_now(const Selection& selection, const Protected& guard,
                            std::chrono::milliseconds timeout);

}  // namespace firedrill::agent::proc
