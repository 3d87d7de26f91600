#include "agent/power/power_engine.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <set>

#include <fmt/ranges.h>

#include "agent/proc/cgroup.h"
#include "agent/resource/pressure_group.h"
#include "common/log.h"

namespace firedrill::agent::power {
namespace {

auto log() {
  static auto l = logger("agent.power");
  return l;
}

void emit_error(EventSink* events, const std::string& fault_id, const std::string& message) {
  if (!events) return;
  v1::Event ev;
  *ev.mutable_at() = to_proto(WallClock::now());
  ev.mutable_error()->set_fault_id(fault_id);
  ev.mutable_error()->set_message(message);
  events->emit(ev);
}

void add_counters(v1::FaultCounters& into, const v1::FaultCounters& c) {
  into.set_packets_matched(into.packets_matched() + c.packets_matched());
  into.set_bytes_matched(into.bytes_matched() + c.bytes_matched());
  into.set_packets_dropped(into.packets_dropped() + c.packets_dropped());
  into.set_bytes_dropped(into.bytes_dropped() + c.bytes_dropped());
  into.set_processes_killed(into.processes_killed() + c.processes_killed());
}

// The workload cgroup's directory, checked when the hooks run (it may have been
// removed since the agent started).
Result<std::string> workload_path(const std::string& workload) {
  FD_ASSIGN(root, proc::cgroup2_root(), "workload cgroup");
  FD_ASSIGN(ref, proc::resolve_cgroup(root, workload), "workload cgroup");
  return ref.path;
}

}  // namespace

BootHookConfig boot_hook_config(const AgentConfig& config) {
  BootHookConfig c;
  c.hooks = config.boot_hooks;
  c.workload_cgroup = config.workload_cgroup;
  c.timeout = config.boot_hook_timeout;
  if (!config.state_dir.empty()) c.log_path = config.state_dir + "/boot-hooks.log";
  return c;
}

size_t run_boot_hooks(const BootHookConfig& config, const std::string& fault_id, EventSink* events) {
  std::string cgroup;
  if (!config.workload_cgroup.empty()) {
    auto path = workload_path(config.workload_cgroup);
    if (!path) {
      auto msg = fmt::format("boot hooks: {}; they run in the agent's cgroup", path.error().describe());
      log()->error("fault {}: {}", fault_id, msg);
      emit_error(events, fault_id, msg);
    } else {
      cgroup = *path;
    }
  }
  size_t good = 0;
  for (size_t i = 0; i < config.hooks.size(); ++i) {
    const auto& hook = config.hooks[i];
    auto start = SteadyClock::now();
    auto r = proc::run_in_cgroup(hook, cgroup, config.log_path, config.timeout);
    auto took = format_duration(SteadyClock::now() - start);
    if (r && *r == 0) {
      ++good;
      log()->info("fault {}: boot hook {}/{} '{}' done in {}", fault_id, i + 1, config.hooks.size(), hook, took);
      continue;
    }
    auto msg = r ? fmt::format("boot hook {}/{} '{}' exited {} after {} (output in {})", i + 1, config.hooks.size(),
                               hook, *r, took, config.log_path.empty() ? "/dev/null" : config.log_path)
                 : fmt::format("boot hook {}/{} '{}': {}", i + 1, config.hooks.size(), hook, r.error().describe());
    log()->error("fault {}: {}", fault_id, msg);
    emit_error(events, fault_id, msg);
  }
  return good;
}

PowerLossEngine::PowerLossEngine(FaultEngine& net, FaultEngine& proc, const AgentConfig& config,
                                 std::shared_ptr<journal::Journal> journal, EventSink* events)
    : net_(net),
      proc_(proc),
      workload_cgroup_(config.workload_cgroup),
      hooks_(boot_hook_config(config)),
      journal_(std::move(journal)),
      events_(events) {
  booter_ = std::thread([this] { boot_loop(); });
}

PowerLossEngine::~PowerLossEngine() {
  std::vector<std::string> ids;
  {
    std::lock_guard lock(mu_);
    for (auto& [id, a] : active_) ids.push_back(id);
  }
  for (auto& id : ids) {
    if (auto r = revert(id); !r) log()->error("power loss {}: revert at shutdown: {}", id, r.error().describe());
  }
  // The boots owed so far run before the agent goes (each hook is bounded by its
  // timeout); one cut short by a kill stays in the journal for the next start.
  {
    std::lock_guard lock(boot_mu_);
    stopping_ = true;
  }
  boot_cv_.notify_all();
  booter_.join();
}

void PowerLossEngine::boot_loop() {
  std::unique_lock lock(boot_mu_);
  while (true) {
    boot_cv_.wait(lock, [&] { return stopping_ || !boots_.empty(); });
    if (boots_.empty()) return;  // stopping, nothing owed
    std::string id = boots_.front();  // stays queued until booted: wait_booted sees it
    lock.unlock();
    size_t good = run_boot_hooks(hooks_, id, events_);
    log()->info("power loss {}: power restored, {}/{} boot hook(s) succeeded", id, good, hooks_.hooks.size());
    if (auto r = journal_->end(hooks_entry(id)); !r) log()->error("power loss {}: {}", id, r.error().describe());
    lock.lock();
    boots_.pop_front();
    boot_cv_.notify_all();
  }
}

bool PowerLossEngine::wait_booted(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(boot_mu_);
  return boot_cv_.wait_for(lock, timeout, [&] { return boots_.empty(); });
}

v1::FaultSpec PowerLossEngine::net_spec() const {
  v1::FaultSpec s;
  // No interfaces named: every data interface the agent manages; the network engine
  // keeps the management allow list.
  s.mutable_network()->mutable_blackhole();
  return s;
}

v1::FaultSpec PowerLossEngine::proc_spec() const {
  v1::FaultSpec s;
  auto* kd = s.mutable_process()->mutable_keep_down();
  kd->mutable_select()->add_cgroups(workload_cgroup_);
  kd->set_kill_running(true);
  return s;
}

journal::Entry PowerLossEngine::hooks_entry(const std::string& id) const {
  return journal::Entry{id, journal::kBootHooks, "",
                        fmt::format("power loss of workload cgroup {}: {} boot hook(s) owed", workload_cgroup_,
                                    hooks_.hooks.size()),
                        {}};
}

Result<void> PowerLossEngine::check(const v1::FaultSpec& spec) const {
  if (!spec.has_power_loss()) return make_error("not a power loss");
  if (workload_cgroup_.empty()) {
    return make_error("power loss needs the agent's --workload-cgroup (the cgroup of the host's workloads)");
  }
  FD_TRY(net_.check(net_spec()), "power loss, network part ({})", net_.name());
  FD_TRY(proc_.check(proc_spec()), "power loss, process part (workload cgroup {})", workload_cgroup_);
  if (!spec.power_loss().skip_boot_hooks() && !hooks_.hooks.empty() && !journal_) {
    return make_error("power loss with boot hooks needs the agent's journal (no state directory)");
  }
  return ok();
}

Result<void> PowerLossEngine::apply(const std::string& id, const v1::FaultSpec& spec) {
  std::lock_guard lock(mu_);
  if (auto it = active_.find(id); it != active_.end()) {
    if (it->second.spec.SerializeAsString() == spec.SerializeAsString()) return ok();
    return make_error("power loss {} is already in effect with another spec", id);
  }
  FD_TRY(check(spec), "power loss {}", id);
  {
    std::lock_guard boot_lock(boot_mu_);
    if (std::find(boots_.begin(), boots_.end(), id) != boots_.end()) {
      return make_error("power loss {}: the host is still booting from the last power loss of this id", id);
    }
  }
  Active a;
  a.spec = spec;
  a.hooks_owed = !spec.power_loss().skip_boot_hooks() && !hooks_.hooks.empty();
  if (a.hooks_owed) {
    // Owed from before the first kill: an agent killed from here on boots the host's
    // services on its next start.
    FD_TRY(journal_->begin(hooks_entry(id)), "power loss {}", id);
  }
  auto undo = [&](const Error& e) -> Result<void> {
    if (a.proc_applied) (void)proc_.revert(proc_id(id));
    if (a.net_applied) (void)net_.revert(net_id(id));
    if (a.hooks_owed) (void)journal_->end(hooks_entry(id));
    log()->error("power loss {} failed and was undone: {}", id, e.describe());
    return e;
  };
  if (auto r = net_.apply(net_id(id), net_spec()); !r) {
    return undo(r.error().context(fmt::format("power loss {}: black-hole interfaces", id)));
  }
  a.net_applied = true;
  if (auto r = proc_.apply(proc_id(id), proc_spec()); !r) {
    return undo(r.error().context(fmt::format("power loss {}: kill and keep down {}", id, workload_cgroup_)));
  }
  a.proc_applied = true;
  log()->warn("power loss {}: interfaces black-holed, {} workload process(es) of {} killed and kept down", id,
              proc_.counters(proc_id(id)).processes_killed(), workload_cgroup_);
  active_.emplace(id, std::move(a));
  return ok();
}

Result<void> PowerLossEngine::revert(const std::string& id) {
  std::lock_guard lock(mu_);
  auto it = active_.find(id);
  if (it == active_.end()) return ok();
  Active& a = it->second;
  // Power restored: the network first, then the keep-down, then the services boot.
  if (a.net_applied) {
    FD_TRY(net_.revert(net_id(id)), "power loss {}: lift black hole", id);
    a.net_applied = false;
  }
  if (a.proc_applied) {
    FD_TRY(proc_.revert(proc_id(id)), "power loss {}: lift keep-down", id);
    a.proc_applied = false;
  }
  if (a.hooks_owed) {
    log()->info("power loss {}: power restored, booting the host ({} boot hook(s))", id, hooks_.hooks.size());
    {
      std::lock_guard boot_lock(boot_mu_);
      boots_.push_back(id);
    }
    boot_cv_.notify_all();
    a.hooks_owed = false;
  } else {
    log()->info("power loss {}: power restored (no boot hooks run)", id);
  }
  active_.erase(it);
  return ok();
}

v1::FaultCounters PowerLossEngine::counters(const std::string& id) const {
  v1::FaultCounters c;
  {
    std::lock_guard lock(mu_);
    if (!active_.count(id)) return c;
  }
  add_counters(c, net_.counters(net_id(id)));
  add_counters(c, proc_.counters(proc_id(id)));
  return c;
}

std::vector<v1::FaultReverted> recover_from_journal(journal::Journal& journal, const AgentConfig& config,
                                                    EventSink* events) {
  std::vector<v1::FaultReverted> recovered;
  auto owed = journal.owed();
  if (owed.empty()) return recovered;
  log()->warn("journal {}: {} entr{} owed by an agent that did not finish; recovering", journal.path(),
              owed.size(), owed.size() == 1 ? "y" : "ies");
  auto hooks = boot_hook_config(config);
  std::map<std::string, journal::ReplayHandler> handlers;
  handlers[journal::kThawCgroup] = [](const journal::Entry& e) -> Result<void> {
    struct stat st {};
    if (::stat(e.target.c_str(), &st) != 0) return ok();  // removed since: nothing is frozen
    return proc::set_frozen(e.target, false, std::chrono::seconds(5));
  };
  handlers[journal::kBootHooks] = [&](const journal::Entry& e) -> Result<void> {
    run_boot_hooks(hooks, e.fault_id, events);
    return ok();
  };
  for (auto& [kind, handler] : resource::replay_handlers()) handlers[kind] = handler;
  auto report = journal::replay(journal, handlers);
  std::map<std::string, std::vector<std::string>> by_fault;
  for (auto& e : report.finished) {
    by_fault[e.fault_id].push_back(e.kind == journal::kThawCgroup  ? "thawed " + e.target
                                   : e.kind == journal::kBootHooks ? "ran boot hooks (" + e.detail + ")"
                                                                   : "removed " + e.detail + " " + e.target);
  }
  std::set<std::string> failed;
  for (auto& [e, err] : report.failed) {
    log()->error("could not recover fault {} from journal ({} {}): {}; it stays owed", e.fault_id, e.kind,
                 e.target, err.describe());
    emit_error(events, e.fault_id, "recovery from journal: " + err.describe());
    failed.insert(e.fault_id);
  }
  for (auto& [id, what] : by_fault) {
    if (failed.count(id)) continue;
    log()->warn("recovered fault {} from journal: {}", id, fmt::format("{}", fmt::join(what, "; ")));
    v1::FaultReverted r;
    r.set_fault_id(id);
    r.set_reason(v1::REVERT_RECOVERED);
    *r.mutable_at() = to_proto(WallClock::now());
    if (events) {
      v1::Event ev;
      *ev.mutable_at() = r.at();
      *ev.mutable_reverted() = r;
      events->emit(ev);
    }
    recovered.push_back(std::move(r));
  }
  return recovered;
}

}  // namespace firedrill::agent::power
