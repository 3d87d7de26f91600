#include "agent/app/watcher.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <string>

#include "agent/core/engines.h"
#include "agent/core/fault_manager.h"
#include "agent/journal/journal.h"
#include "agent/power/power_engine.h"
#include "common/log.h"
#include "common/spawn.h"
#include "common/time.h"

namespace firedrill::agent {
namespace {

auto log() {
  static auto l = logger("agent.watcher");
  return l;
}

// This binary's path: exec'd by its name (not /proc/self/exe), so that the agent's
// comm is its own ("firedrill-agent"), as without a watcher.
std::string own_path() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "/proc/self/exe";
}

// This binary again with the worker mark (common/spawn.h: default signals, no mask; in
// the watcher's process group, its output where the watcher's goes); the child dies
// with the watcher.
Result<pid_t> spawn_worker(char** argv) {
  SpawnOptions o;
  o.argv.push_back(own_path());
  for (char** a = argv + 1; *a; ++a) o.argv.push_back(*a);
  o.env[kWorkerEnv] = "1";
  o.die_with_parent = true;
  o.worker = true;
  return start(o);
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return fmt::format("exited {}", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return fmt::format("killed by {}", strsignal(WTERMSIG(status)));
  return fmt::format("status {}", status);
}

void finish_journal(const AgentConfig& config) {
  auto journal = journal::Journal::shared(config.state_dir);
  if (!journal) {
    log()->error("cannot finish what the journal owes: {}", journal.error().describe());
    return;
  }
  auto owed = (*journal)->owed();
  if (owed.empty()) {
    log()->info("the journal owes nothing");
    return;
  }
  log()->warn("finishing {} journal entr{} the agent owed", owed.size(), owed.size() == 1 ? "y" : "ies");
  auto recovered = close_faults_held_by_a_dead_agent(**journal, nullptr);
  // What is left (thaws, remounts, boots) is the power engine's recovery, as at an
  // agent's start; here its boots are waited for, since the watcher exits next.
  if (auto engines = make_engines(config, nullptr); !engines) {
    log()->error("cannot finish what the journal owes: {}", engines.error().describe());
  } else {
    for (auto& engine : *engines) {
      auto* power_engine = dynamic_cast<power::PowerLossEngine*>(engine.get());
      if (!power_engine) continue;
      for (auto& r : power_engine->recover()) recovered.push_back(r);
      auto hooks = std::max<size_t>(config.boot_hooks.size(), 1);
      if (!power_engine->wait_booted(config.boot_hook_timeout * static_cast<int>(hooks) + std::chrono::seconds(5))) {
        log()->error("boot hooks owed after a power loss did not all succeed in time");
      }
    }
  }
  auto left = (*journal)->owed().size();
  if (left > 0) {
    log()->error("{} journal entr{} still owed after recovery: see above", left, left == 1 ? "y is" : "ies are");
  } else {
    log()->warn("the journal owes nothing any more ({} fault(s) finished)", recovered.size());
  }
}

}  // namespace

bool is_watched_worker() {
  const char* v = std::getenv(kWorkerEnv);
  return v && std::strcmp(v, "1") == 0;
}

int run_watcher(char** argv, const AgentConfig& config, WatcherPolicy policy) {
  sigset_t watched;
  sigemptyset(&watched);
  for (int s : {SIGTERM, SIGINT, SIGHUP, SIGCHLD}) sigaddset(&watched, s);
  ::sigprocmask(SIG_BLOCK, &watched, nullptr);
  std::deque<SteadyClock::time_point> restarts;
  auto backoff = policy.backoff_first;
  auto first = spawn_worker(argv);
  if (!first) {
    log()->error("cannot start the agent: {}", first.error().describe());
    return 1;
  }
  pid_t worker = *first;
  log()->info("watching the agent (pid {})", worker);
  bool stopping = false;
  while (true) {
    siginfo_t info{};
    int sig = ::sigwaitinfo(&watched, &info);
    if (sig < 0) continue;
    if (sig != SIGCHLD) {
      log()->info("signal {}: passed on to the agent (pid {})", strsignal(sig), worker);
      stopping = true;
      ::kill(worker, sig);
      continue;
    }
    int status = 0;
    pid_t done = ::waitpid(worker, &status, WNOHANG);
    if (done != worker) continue;
    if (stopping || (WIFEXITED(status) && (WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == 2))) {
      // Stopped as asked, or refused its command line (it would again).
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    auto now = SteadyClock::now();
    while (!restarts.empty() && now - restarts.front() > policy.window) restarts.pop_front();
    if (static_cast<int>(restarts.size()) >= policy.max_restarts) {
      log()->error("the agent {} and has died {} times in {}: not restarting it; finishing what its journal owes",
                   describe_status(status), restarts.size() + 1, format_duration(policy.window));
      finish_journal(config);
      return 1;
    }
    log()->error("the agent (pid {}) {}: restarting it in {}", worker, describe_status(status),
                 format_duration(backoff));
    // A stop signal during the backoff ends the watcher without a restart.
    timespec wait{static_cast<time_t>(backoff.count() / 1000), static_cast<long>((backoff.count() % 1000) * 1000000)};
    siginfo_t during{};
    int s = ::sigtimedwait(&watched, &during, &wait);
    if (s == SIGTERM || s == SIGINT || s == SIGHUP) {
      log()->info("signal {} while the agent was down: finishing what its journal owes", strsignal(s));
      finish_journal(config);
      return 0;
    }
    restarts.push_back(SteadyClock::now());
    backoff = std::min(backoff * 2, policy.backoff_max);
    auto again = spawn_worker(argv);
    if (!again) {
      log()->error("cannot restart the agent: {}; finishing what its journal owes", again.error().describe());
      finish_journal(config);
      return 1;
    }
    worker = *again;
    log()->info("agent restarted (pid {})", worker);
  }
}

}  // namespace firedrill::agent
