// firedrill-agent's own watcher (as osquery's): a small parent process that runs the
// agent as its child, restarts it when it dies, and, when it cannot (it keeps dying),
// finishes what the journal owes itself (thaws frozen cgroups, runs the boot hooks of a
// power loss), so that an agent that is never started again leaves nothing broken.
//
// The child dies with the watcher (PR_SET_PDEATHSIG): a SIGKILL of the watcher is a
// SIGKILL of the agent, whose links die with it and whose journal the next start
// finishes. SIGTERM, SIGINT and SIGHUP are passed on to the agent, which reverts
// everything and exits; the watcher exits with it. Under systemd, whose unit restarts
// the agent itself, --no-watcher runs the agent alone.
#pragma once

#include <chrono>

#include "agent/core/config.h"

namespace firedrill::agent {

// Set in the child's environment: this process is the agent, not the watcher.
inline constexpr const char* kWorkerEnv = "FIREDRILL_AGENT_WORKER";

bool is_watched_worker();

struct WatcherPolicy {
  int max_restarts = 5;                                  // within `window`
  std::chrono::seconds window{60};
  std::chrono::milliseconds backoff_first{500};
  std::chrono::milliseconds backoff_max{10000};
};

// Runs argv (this binary's own command line) as the watched agent. Returns the exit
// code: the agent's own when it stopped on a signal passed on or on bad usage; 1 when
// it kept dying and the watcher finished the journal instead.
int run_watcher(char** argv, const AgentConfig& config, WatcherPolicy policy = {});

}  // namespace firedrill::agent
