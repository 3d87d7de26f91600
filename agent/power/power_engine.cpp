#include "agent/power/power_engine.h"

#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <future>
#include <set>

#include <fmt/ranges.h>

#include "agent/power/instant.h"
#include "agent/proc/cgroup.h"
#include "agent/proc/proc_engine.h"
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

std::string parent_of(const std::string& id, const std::set<std::string>& power_ids) {
  for (auto* suffix : {"/freeze", "/proc", "/net"}) {
    std::string_view v(id), sfx(suffix);
    if (v.size() > sfx.size() && v.substr(v.size() - sfx.size()) == sfx) {
      std::string parent(v.substr(0, v.size() - sfx.size()));
      if (power_ids.count(parent)) return parent;
    }
  }
  return id;
}

// Whether the workload cgroup exists and holds no process (with its descendants).
bool workload_empty(const std::string& workload) {
  auto path = workload_path(workload);
  if (!path) return false;
  auto procs = proc::cgroup_procs(*path, true);
  return procs && procs->empty();
}

}  // namespace

BootHookConfig boot_hook_config(const AgentConfig& config) {
  BootHookConfig c;
  c.hooks = config.boot_hooks;
  c.workload_cgroup = config.workload_cgroup;
  c.timeout = config.boot_hook_timeout;
  if (!config.state_dir.empty()) c.log_path = config.state_dir + "/boot-hooks.log";
  c.run = [workload = c.workload_cgroup, log_path = c.log_path, timeout = c.timeout](const std::string& hook)
      -> Result<int> {
    if (workload.empty()) return make_error("boot hooks run in the workload cgroup, and the agent has no --workload-cgroup");
    FD_ASSIGN(path, workload_path(workload), "boot hooks run in the workload cgroup only");
    return proc::run_in_cgroup(hook, path, log_path, timeout);
  };
  return c;
}

size_t run_boot_hooks(const BootHookConfig& config, const std::string& fault_id, EventSink* events,
                      std::vector<bool>& pending) {
  if (pending.size() != config.hooks.size()) pending.assign(config.hooks.size(), true);
  size_t left = 0;
  for (size_t i = 0; i < config.hooks.size(); ++i) {
    if (!pending[i]) continue;
    const auto& hook = config.hooks[i];
    auto start = SteadyClock::now();
    auto r = config.run(hook);
    auto took = format_duration(SteadyClock::now() - start);
    if (r && *r == 0) {
      pending[i] = false;
      log()->info("fault {}: boot hook {}/{} '{}' done in {}", fault_id, i + 1, config.hooks.size(), hook, took);
      continue;
    }
    ++left;
    auto msg = r ? fmt::format("boot hook {}/{} '{}' exited {} after {} (output in {})", i + 1, config.hooks.size(),
                               hook, *r, took, config.log_path.empty() ? "/dev/null" : config.log_path)
                 : fmt::format("boot hook {}/{} '{}': {}", i + 1, config.hooks.size(), hook, r.error().describe());
    log()->error("fault {}: {}", fault_id, msg);
    emit_error(events, fault_id, msg);
  }
  return left;
}

PowerLossEngine::PowerLossEngine(FaultEngine& net, FaultEngine& proc, const AgentConfig& config,
                                 std::shared_ptr<journal::Journal> journal, EventSink* events, HookRunner run_hook,
                                 StageWorkload stage)
    : net_(net),
      proc_(proc),
      workload_cgroup_(config.workload_cgroup),
      data_dirs_(config.data_dirs),
      hooks_(boot_hook_config(config)),
      journal_(std::move(journal)),
      events_(events),
      stage_workload_(stage ? std::move(stage) : StageWorkload(stage_cgroup)) {
  if (run_hook) hooks_.run = std::move(run_hook);
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
  // The boots owed so far are tried once before the agent goes (each hook is bounded
  // by its timeout); one that fails or is cut short by a kill stays in the journal for
  // the next start.
  {
    std::lock_guard lock(boot_mu_);
    stopping_ = true;
  }
  boot_cv_.notify_all();
  booter_.join();
}

void PowerLossEngine::queue_boot(const std::string& id) {
  {
    std::lock_guard lock(boot_mu_);
    for (auto& b : boots_) {
      if (b.fault_id == id) return;
    }
    boots_.push_back(Boot{id, {}, 0, SteadyClock::now()});
  }
  boot_cv_.notify_all();
}

void PowerLossEngine::boot_loop() {
  std::unique_lock lock(boot_mu_);
  while (true) {
    // The boot due first; when stopping, only those never tried.
    auto due = boots_.end();
    for (auto it = boots_.begin(); it != boots_.end(); ++it) {
      if (stopping_ && it->attempts > 0) continue;
      if (due == boots_.end() || it->next < due->next) due = it;
    }
    if (due == boots_.end()) {
      if (stopping_) return;
      boot_cv_.wait(lock);
      continue;
    }
    if (!stopping_ && due->next > SteadyClock::now()) {
      boot_cv_.wait_until(lock, due->next);
      continue;
    }
    std::string id = due->fault_id;
    std::vector<bool> pending = due->pending;
    int attempt = due->attempts + 1;
    lock.unlock();
    size_t left = run_boot_hooks(hooks_, id, events_, pending);
    if (left == 0) {
      log()->info("power loss {}: power restored, {}/{} boot hook(s) succeeded", id, hooks_.hooks.size(),
                  hooks_.hooks.size());
      if (auto r = journal_->end(hooks_entry(id)); !r) log()->error("power loss {}: {}", id, r.error().describe());
    }
    lock.lock();
    auto it = std::find_if(boots_.begin(), boots_.end(), [&](const Boot& b) { return b.fault_id == id; });
    if (it == boots_.end()) continue;
    if (left == 0) {
      boots_.erase(it);
      boot_cv_.notify_all();
      continue;
    }
    auto delay = kBootRetryFirst * (1 << std::min(attempt - 1, 16));
    if (delay > kBootRetryMax) delay = kBootRetryMax;
    it->pending = pending;
    it->attempts = attempt;
    it->next = SteadyClock::now() + delay;
    auto msg = fmt::format("boot failing: {} of {} boot hook(s) failed (attempt {}); the boot stays owed, next try in {}",
                           left, hooks_.hooks.size(), attempt, format_duration(delay));
    log()->error("power loss {}: {}", id, msg);
    emit_error(events_, id, msg);
  }
}

bool PowerLossEngine::wait_booted(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(boot_mu_);
  return boot_cv_.wait_for(lock, timeout, [&] { return boots_.empty(); });
}

std::optional<PowerEffect> PowerLossEngine::effect(const std::string& id) const {
  std::lock_guard lock(mu_);
  auto it = active_.find(id);
  if (it == active_.end()) return std::nullopt;
  return it->second.effect;
}

v1::FaultSpec PowerLossEngine::net_spec() const {
  v1::FaultSpec s;
  // No interfaces named: every data interface the agent manages; the network engine
  // keeps the management allow list.
  s.mutable_network()->mutable_blackhole();
  return s;
}

v1::FaultSpec PowerLossEngine::freeze_spec() const {
  v1::FaultSpec s;
  s.mutable_process()->mutable_freeze()->add_cgroups(workload_cgroup_);
  return s;
}

v1::FaultSpec PowerLossEngine::proc_spec() const {
  v1::FaultSpec s;
  auto* kd = s.mutable_process()->mutable_keep_down();
  kd->mutable_select()->add_cgroups(workload_cgroup_);
  // What runs is killed by the power loss itself, by its own cgroup.kill opened ahead.
  return s;
}

v1::FaultSpec PowerLossEngine::kill_spec() const {
  v1::FaultSpec s;
  s.mutable_process()->mutable_kill()->mutable_select()->add_cgroups(workload_cgroup_);
  return s;
}

journal::Entry PowerLossEngine::thaw_entry(const std::string& id, const std::string& path) const {
  return journal::Entry{freeze_id(id), journal::kThawCgroup, path, "frozen cgroup " + workload_cgroup_, {}};
}

journal::Entry PowerLossEngine::intent_entry(const std::string& id) const {
  return journal::Entry{id, kPowerLossIntent, "",
                        fmt::format("power loss of workload cgroup {}", workload_cgroup_), {}};
}

journal::Entry PowerLossEngine::hooks_entry(const std::string& id) const {
  return journal::Entry{id, journal::kBootHooks, "",
                        fmt::format("power loss of workload cgroup {}: {} boot hook(s) owed", workload_cgroup_,
                                    hooks_.hooks.size()),
                        {}};
}

journal::Entry PowerLossEngine::remount_entry(const std::string& id, const DataFs& fs) const {
  return journal::Entry{id, kRemountFs, fs.dir, encode(fs), {}};
}

journal::Entry PowerLossEngine::stage_entry(const std::string& id, const char* stage) const {
  return journal::Entry{id, kPowerStage, stage, stage, {}};
}

Result<std::vector<DataFs>> PowerLossEngine::data_file_systems(const v1::FaultSpec& spec) const {
  std::vector<DataFs> out;
  if (!spec.power_loss().lose_unsynced()) return out;
  if (data_dirs_.empty()) {
    return make_error("power loss with lose_unsynced needs the agent's --data-dir (each data directory on a file "
                      "system of its own)");
  }
  for (auto& d : data_dirs_) {
    FD_ASSIGN(fs, inspect_data_dir(d), "power loss with lose_unsynced");
    out.push_back(std::move(fs));
  }
  return out;
}

Result<void> PowerLossEngine::check(const v1::FaultSpec& spec) const {
  if (!spec.has_power_loss()) return make_error("not a power loss");
  if (workload_cgroup_.empty()) {
    return make_error("power loss needs the agent's --workload-cgroup (the cgroup of the host's workloads)");
  }
  FD_ASSIGN(data, data_file_systems(spec), "power loss");
  FD_TRY(net_.check(net_spec()), "power loss, network part ({})", net_.name());
  FD_TRY(proc_.check(freeze_spec()), "power loss, freeze part (workload cgroup {})", workload_cgroup_);
  FD_TRY(proc_.check(proc_spec()), "power loss, process part (workload cgroup {})", workload_cgroup_);
  FD_TRY(proc_.check(kill_spec()), "power loss, kill part (workload cgroup {})", workload_cgroup_);
  if (!journal_) return make_error("power loss needs the agent's journal (no state directory)");
  (void)data;
  return ok();
}

Result<void> PowerLossEngine::apply(const std::string& id, const v1::FaultSpec& spec) {
  return apply_at(id, spec, WallTime{});
}

Result<void> PowerLossEngine::prepare(const std::string& id, const v1::FaultSpec& spec) {
  FD_TRY(check(spec), "power loss {}", id);
  {
    std::lock_guard lock(mu_);
    if (active_.count(id) || applying_.count(id)) return ok();
    prepared_.insert(id);
  }
  auto r = proc_.prepare(proc_id(id), proc_spec());
  std::lock_guard lock(mu_);
  if (!r) {
    prepared_.erase(id);
    return r.error().context(fmt::format("power loss {}: prepare the keep-down of {}", id, workload_cgroup_));
  }
  if (!prepared_.count(id) && !applying_.count(id) && !active_.count(id)) {
    // Reverted while it loaded: nothing else will drop it.
    FD_TRY(proc_.revert(proc_id(id)), "power loss {}: drop the keep-down prepared after its revert", id);
  }
  return ok();
}

Result<void> PowerLossEngine::apply_at(const std::string& id, const v1::FaultSpec& spec, WallTime start) {
  {
    std::lock_guard lock(mu_);
    auto in_effect = active_.find(id);
    if (auto done =
            already_in_effect(name(), id, in_effect == active_.end() ? nullptr : &in_effect->second.spec, spec)) {
      return *done;
    }
    if (applying_.count(id)) return make_error("power loss {} is being applied already", id);
    FD_TRY(check(spec), "power loss {}", id);
    {
      std::lock_guard boot_lock(boot_mu_);
      for (auto& b : boots_) {
        if (b.fault_id == id) {
          return make_error("power loss {}: the host is still booting from the last power loss of this id", id);
        }
      }
    }
    applying_.insert(id);
  }
  // Staged, parked and fired without the lock; what it did is kept under it.
  auto fired = stage_and_fire(id, spec, start);
  std::lock_guard lock(mu_);
  applying_.erase(id);
  bool was_prepared = prepared_.erase(id) > 0;
  if (!fired) {
    // What prepare set up ahead and staging did not take over (revert is idempotent).
    if (was_prepared) {
      if (auto r = proc_.revert(proc_id(id)); !r) log()->error("power loss {}: {}", id, r.error().describe());
    }
    return fired.error();
  }
  active_.emplace(id, std::move(*fired));
  return ok();
}

Result<PowerLossEngine::Active> PowerLossEngine::stage_and_fire(const std::string& id, const v1::FaultSpec& spec,
                                                                 WallTime start) {
  Active a;
  a.spec = spec;
  a.effect.begun = WallClock::now();
  a.hooks_owed = !spec.power_loss().skip_boot_hooks() && !hooks_.hooks.empty();
  FD_ASSIGN(data, data_file_systems(spec), "power loss {}", id);
  a.data = std::move(data);
  // Opened ahead (nothing changes yet): the workload cgroup's switches and the data
  // directories for the ioctl.
  FD_ASSIGN(switches, stage_workload_(workload_cgroup_), "power loss {}", id);
  a.workload = std::move(switches);
  auto& cg = *a.workload;
  std::vector<bpf::UniqueFd> dirs;
  for (auto& fs : a.data) {
    FD_ASSIGN(fd, open_for_shutdown(fs), "power loss {}", id);
    dirs.push_back(std::move(fd));
  }

  // The keep-down program attached selecting nothing: at the instant its selection is a
  // map write. It is loaded at the agent's start (ProcFaultEngine::preload) and
  // attached seconds ahead (prepare, kPrepareAhead), so that this finds it done; where
  // it is not (loading took eight hosts on 2 CPUs a second), it goes on a thread of
  // its own: a host whose CPUs are busy cuts on time anyway and holds its workload
  // cgroup frozen, where nothing can start, until the keep-down is in place. It selects
  // nothing, so it is started before the journal is written; an agent that dies takes
  // it along.
  a.prepared = true;
  auto keep_down = std::async(std::launch::async, [&] { return proc_.prepare(proc_id(id), proc_spec()); });
  auto keep_down_error = [&](const Error& e) {
    return e.context(fmt::format("power loss {}: prepare the keep-down of {}", id, workload_cgroup_));
  };
  std::function<void()> undo_first = [&] {
    if (!keep_down.valid()) return;
    if (auto r = keep_down.get(); !r) log()->error("{}", keep_down_error(r.error()).describe());
  };
  // Everything a restarted agent would have to finish is journaled before the first
  // part, so that no record is written between the parts (a thaw of a cgroup that is
  // not frozen, should the agent die before the instant, changes nothing).
  std::vector<journal::Entry> begun;
  auto undo = [&](const Error& e) -> Error {
    if (undo_first) undo_first();
    dirs.clear();
    if (auto r = restore(id, a); !r) log()->error("power loss {}: undo: {}", id, r.error().describe());
    for (auto it = begun.rbegin(); it != begun.rend(); ++it) (void)journal_->end(*it);
    log()->error("power loss {} failed and was undone: {}", id, e.describe());
    return e;
  };
  auto begin = [&](journal::Entry e) -> Result<void> {
    FD_TRY(journal_->begin(e), "power loss {}", id);
    begun.push_back(std::move(e));
    return ok();
  };
  std::vector<journal::Entry> owed{intent_entry(id)};
  if (a.hooks_owed) owed.push_back(hooks_entry(id));
  for (auto& fs : a.data) owed.push_back(remount_entry(id, fs));
  owed.push_back(thaw_entry(id, cg.path()));
  for (auto& e : owed) {
    if (auto r = begin(e); !r) return undo(r.error());
  }

  a.effect.journaled = WallClock::now();
  if (auto r = net_.apply_at(net_id(id), net_spec(), start); !r) {
    return undo(r.error().context(fmt::format("power loss {}: black-hole interfaces", id)));
  }
  a.net_applied = true;
  a.effect.net_staged = WallClock::now();
  // Switched on once prepared, then the freeze lifted: the dying need no thaw, and
  // whatever is started into the cgroup while the power is off must die at exec, not
  // wait frozen.
  auto keep_down_then_thaw = [&]() -> Result<void> {
    if (auto r = keep_down.get(); !r) return keep_down_error(r.error());
    FD_TRY(proc_.apply(proc_id(id), proc_spec()), "power loss {}: keep down {}", id, workload_cgroup_);
    a.proc_applied = true;
    a.prepared = false;
    a.effect.kept_down = WallClock::now();
    if (a.frozen) {
      FD_TRY(cg.freeze(false), "power loss {}: thaw after the kill", id);
      a.frozen = false;
    }
    a.effect.thawed = WallClock::now();
    return ok();
  };

  // The kernel starts the cut at `start`; the rest follows it at once, switches only.
  std::vector<pid_t> members;
  Result<std::vector<pid_t>> listed = members;
  auto instant = [&]() -> Result<void> {
    RealtimeScope rt;
    a.effect.scheduling = rt.describe();
    a.effect.woke = park_until(start, rt.wake_early());
    a.effect.network_cut = std::max(start, WallClock::now());
    // Frozen by someone else already (a freeze fault on the workload): it stays theirs
    // to thaw.
    FD_ASSIGN(already, cg.frozen_already(), "power loss {}: freeze", id);
    if (!already) {
      FD_TRY(cg.freeze(true), "power loss {}: freeze", id);
      a.frozen = true;
    }
    a.effect.frozen = WallClock::now();
    // The workload is stopped; what follows prints on the console (a file system's
    // shutdown logs at KERN_ALERT, and a legacy console prints in the caller's system
    // call, for milliseconds). Another instant thread waiting at this priority (agents
    // that share a machine's CPUs, as in the lab) freezes its own workload first.
    ::sched_yield();
    // Who is killed, for the count and the events: no task of it runs user code now.
    listed = cg.members();
    a.effect.listed = WallClock::now();
    for (size_t i = 0; i < a.data.size(); ++i) {
      FD_TRY(shut_down(a.data[i], dirs[i].get()), "power loss {}", id);
      a.shut.push_back(a.data[i]);
    }
    if (!a.data.empty()) a.effect.fs_shut_down = WallClock::now();
    FD_TRY(cg.kill(), "power loss {}: kill", id);
    a.effect.killed = WallClock::now();
    if (keep_down.wait_for(std::chrono::seconds(0)) == std::future_status::ready) return keep_down_then_thaw();
    return ok();
  };
  a.effect.staged = WallClock::now();
  auto fired = instant();
  // A keep-down still loading: below real-time priority, while the cgroup stays frozen.
  if (fired && keep_down.valid()) fired = keep_down_then_thaw();
  // An open directory would keep the mount busy at the remount.
  dirs.clear();
  if (!fired) return undo(fired.error());
  if (listed) {
    members = std::move(*listed);
  } else {
    log()->error("power loss {}: list the workload's processes: {}", id, listed.error().describe());
  }
  // The thaw is done or was never this fault's to do.
  if (auto r = journal_->end(thaw_entry(id, cg.path())); !r) {
    log()->error("power loss {}: {}", id, r.error().describe());
  }

  // Death is the kernel's, asynchronous: each task runs its own exit.
  a.effect.dead = cg.wait_empty(proc::ProcFaultEngine::kKillTimeout);
  size_t alive = 0;
  if (a.effect.dead == WallTime{}) {
    auto left = cg.members();
    alive = left ? left->size() : members.size();
  }
  a.killed = members.size() > alive ? members.size() - alive : 0;
  emit_killed(id, members, a.effect.killed);
  // What happened, for an agent that dies from here on: the services are down and must
  // be booted. A record that cannot be written is not worth undoing the cut for: recovery
  // also finds the workload cgroup empty.
  for (auto* stage : {kStageNetworkCut, kStageKilled}) {
    if (auto r = journal_->begin(stage_entry(id, stage)); !r) {
      log()->error("power loss {}: record stage '{}': {}", id, stage, r.error().describe());
    }
  }
  auto since = [&](WallTime t) { return format_duration(t - a.effect.network_cut); };
  log()->warn("power loss {}: interfaces black-holed, workload {} frozen after {}{}, kept down after {}, {} "
              "process(es) sent SIGKILL after {}{} ({})",
              id, workload_cgroup_, since(a.effect.frozen),
              a.data.empty() ? std::string()
                             : fmt::format(", {} data file system(s) shut down without flushing after {}",
                                           a.data.size(), since(a.effect.fs_shut_down)),
              since(a.effect.kept_down), members.size(), since(a.effect.killed),
              a.effect.dead == WallTime{}
                  ? fmt::format(", {} still alive after {}", alive,
                                format_duration(proc::ProcFaultEngine::kKillTimeout))
                  : fmt::format(", all dead after {}", since(a.effect.dead)),
              a.effect.scheduling);
  return a;
}

void PowerLossEngine::emit_killed(const std::string& id, const std::vector<pid_t>& pids, WallTime at) const {
  if (!events_) return;
  // A kill of a thousand processes is one fault; its events stop here and the counter
  // carries the rest.
  constexpr size_t kMaxKillEvents = 256;
  for (size_t i = 0; i < pids.size() && i < kMaxKillEvents; ++i) {
    v1::Event ev;
    *ev.mutable_at() = to_proto(at);
    auto* k = ev.mutable_killed();
    k->set_fault_id(proc_id(id));
    k->set_pid(static_cast<uint32_t>(pids[i]));
    k->set_cgroup(workload_cgroup_);
    events_->emit(ev);
  }
}

std::vector<v1::FaultEffect> PowerLossEngine::effects(const std::string& id) const {
  std::vector<v1::FaultEffect> out = net_.effects(net_id(id));
  std::lock_guard lock(mu_);
  auto it = active_.find(id);
  if (it == active_.end()) return out;
  const auto& e = it->second.effect;
  for (auto [part, at] : {std::pair{"freeze", e.frozen}, {"fs shutdown", e.fs_shut_down}, {"kill", e.killed}}) {
    if (at == WallTime{}) continue;
    v1::FaultEffect f;
    f.set_part(part);
    *f.mutable_at() = to_proto(at);
    f.set_source("agent");
    out.push_back(std::move(f));
  }
  return out;
}

// Power back, part by part; what is done stays done if a later part fails (revert is
// retried by the fault manager and goes on where it stopped).
Result<void> PowerLossEngine::restore(const std::string& id, Active& a) {
  if (a.net_applied) {
    FD_TRY(net_.revert(net_id(id)), "power loss {}: lift black hole", id);
    a.net_applied = false;
  }
  if (a.frozen) {
    FD_TRY(a.workload->freeze(false), "power loss {}: thaw {}", id, workload_cgroup_);
    a.frozen = false;
  }
  if (a.proc_applied) {
    FD_TRY(proc_.revert(proc_id(id)), "power loss {}: lift keep-down", id);
    a.proc_applied = false;
  }
  if (a.prepared) {
    // Staged and never applied (an undo before the instant): the program unloads.
    FD_TRY(proc_.revert(proc_id(id)), "power loss {}: drop the prepared keep-down", id);
    a.prepared = false;
  }
  while (!a.shut.empty()) {
    auto& fs = a.shut.back();
    auto start = SteadyClock::now();
    FD_TRY(remount(fs), "power loss {}: restore data file system", id);
    log()->info("power loss {}: {} mounted again ({} {}, journal replayed) in {}", id, fs.dir, fs.fstype, fs.source,
                format_duration(SteadyClock::now() - start));
    FD_TRY(journal_->end(remount_entry(id, fs)), "power loss {}", id);
    a.shut.pop_back();
  }
  return ok();
}

Result<void> PowerLossEngine::revert(const std::string& id) {
  std::lock_guard lock(mu_);
  auto it = active_.find(id);
  if (it == active_.end()) {
    // Prepared ahead and never applied: the keep-down program unloads.
    if (prepared_.count(id)) {
      FD_TRY(proc_.revert(proc_id(id)), "power loss {}: drop the prepared keep-down", id);
      prepared_.erase(id);
    }
    return ok();
  }
  Active& a = it->second;
  FD_TRY(restore(id, a), "power loss {}", id);
  for (auto& fs : a.data) FD_TRY(journal_->end(remount_entry(id, fs)), "power loss {}", id);
  for (auto* stage : {kStageNetworkCut, kStageKilled}) FD_TRY(journal_->end(stage_entry(id, stage)), "power loss {}", id);
  if (a.hooks_owed) {
    log()->info("power loss {}: power restored, booting the host ({} boot hook(s))", id, hooks_.hooks.size());
    queue_boot(id);
    a.hooks_owed = false;
  } else {
    log()->info("power loss {}: power restored (no boot hooks run)", id);
  }
  FD_TRY(journal_->end(intent_entry(id)), "power loss {}", id);
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
  add_counters(c, proc_.counters(proc_id(id)));  // killed at exec while the power is off
  {
    std::lock_guard lock(mu_);
    if (auto it = active_.find(id); it != active_.end()) c.set_processes_killed(c.processes_killed() + it->second.killed);
  }
  return c;
}

std::vector<v1::FaultReverted> PowerLossEngine::recover() {
  std::vector<v1::FaultReverted> recovered;
  if (!journal_) return recovered;
  auto owed = journal_->owed();
  if (owed.empty()) return recovered;
  log()->warn("journal {}: {} entr{} owed by an agent that did not finish; recovering", journal_->path(),
              owed.size(), owed.size() == 1 ? "y" : "ies");
  std::set<std::string> power_ids, killed;
  for (auto& e : owed) {
    if (e.kind == kPowerLossIntent || e.kind == journal::kBootHooks) power_ids.insert(e.fault_id);
    if (e.kind == kPowerStage && e.target == kStageKilled) killed.insert(e.fault_id);
  }
  // Whether the kill happened is read before anything is thawed: a workload left
  // without processes was killed even if the agent died before it could say so.
  bool workload_was_empty = workload_empty(workload_cgroup_);

  std::map<std::string, std::vector<std::string>> done;
  std::set<std::string> failed;
  auto fail = [&](const journal::Entry& e, const Error& err) {
    auto id = parent_of(e.fault_id, power_ids);
    log()->error("could not recover fault {} from journal ({} {}): {}; it stays owed", id, e.kind, e.target,
                 err.describe());
    emit_error(events_, id, "recovery from journal: " + err.describe());
    failed.insert(id);
  };
  auto finish = [&](const journal::Entry& e, std::string what) {
    if (auto r = journal_->end(e); !r) return fail(e, r.error());
    if (!what.empty()) done[parent_of(e.fault_id, power_ids)].push_back(std::move(what));
  };
  auto of_kind = [&](const char* kind) {
    std::vector<journal::Entry> out;
    for (auto& e : owed) {
      if (e.kind == kind) out.push_back(e);
    }
    return out;
  };
  // 1. Thaw every cgroup first: nothing boots into a frozen cgroup.
  for (auto& e : of_kind(journal::kThawCgroup)) {
    struct stat st {};
    if (::stat(e.target.c_str(), &st) != 0) {
      finish(e, "cgroup " + e.target + " is gone (nothing frozen)");
      continue;
    }
    if (auto r = proc::set_frozen(e.target, false, std::chrono::seconds(5)); !r) {
      fail(e, r.error());
      continue;
    }
    finish(e, "thawed " + e.target);
  }
  // Then what other engines journaled (resource pressure: workers and fills removed).
  auto others = resource::replay_handlers();
  for (auto& e : owed) {
    auto h = others.find(e.kind);
    if (h == others.end()) continue;
    if (auto r = h->second(e); !r) {
      fail(e, r.error());
      continue;
    }
    finish(e, "removed " + e.detail + " " + e.target);
  }
  // 2. The data file systems that a power loss shut down are mounted again.
  for (auto& e : of_kind(kRemountFs)) {
    auto fs = decode(e.detail);
    if (!fs) {
      fail(e, fs.error());
      continue;
    }
    auto down = is_shut_down(fs->dir);
    if (!down) {
      fail(e, down.error());
      continue;
    }
    if (*down) {
      if (auto r = remount(*fs); !r) {
        fail(e, r.error());
        continue;
      }
      finish(e, fmt::format("mounted {} again (journal replayed)", fs->dir));
    } else {
      finish(e, fmt::format("{} was not shut down", fs->dir));
    }
  }
  // 3. Boots, only where the services went down; they run on the boot thread.
  for (auto& e : of_kind(journal::kBootHooks)) {
    if (failed.count(e.fault_id)) continue;  // not while a thaw or remount is owed
    if (killed.count(e.fault_id) || workload_was_empty) {
      queue_boot(e.fault_id);
      done[e.fault_id].push_back(fmt::format("boot hooks queued ({})", e.detail));
    } else {
      finish(e, "the workload was not killed yet: its services still run, no boot hooks");
    }
  }
  // 4. The power-loss records end with the restore.
  for (auto& e : owed) {
    if (e.kind != kPowerStage && e.kind != kPowerLossIntent) continue;
    if (failed.count(e.fault_id)) continue;
    finish(e, e.kind == kPowerStage ? "" : "power restored");
  }
  for (auto& e : owed) {
    if (e.kind == journal::kThawCgroup || e.kind == kRemountFs || e.kind == journal::kBootHooks ||
        e.kind == kPowerStage || e.kind == kPowerLossIntent || others.count(e.kind)) {
      continue;
    }
    fail(e, make_error("no recovery for journal entry kind '{}'", e.kind));
  }
  for (auto& [id, what] : done) {
    if (failed.count(id)) continue;
    log()->warn("recovered fault {} from journal: {}", id, fmt::format("{}", fmt::join(what, "; ")));
    v1::FaultReverted r;
    r.set_fault_id(id);
    r.set_reason(v1::REVERT_RECOVERED);
    *r.mutable_at() = to_proto(WallClock::now());
    if (events_) {
      v1::Event ev;
      *ev.mutable_at() = r.at();
      *ev.mutable_reverted() = r;
      events_->emit(ev);
    }
    recovered.push_back(std::move(r));
  }
  return recovered;
}

}  // namespace firedrill::agent::power
