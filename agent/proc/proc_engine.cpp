#include "agent/proc/proc_engine.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>

#include "agent/bpf/features.h"
#include "common/log.h"

namespace firedrill::agent::proc {
namespace {

auto log() {
  static auto l = logger("agent.proc");
  return l;
}

// A kill of a thousand processes is one fault; its events stop here and the counter
// carries the rest.
constexpr size_t kMaxKillEvents = 256;

bool has_cgroups(const v1::ProcessSelector& s) { return s.cgroups_size() + s.workload_cgroups_size() > 0; }

v1::ProcessSelector freeze_selector(const v1::ProcFreeze& f) {
  v1::ProcessSelector s;
  for (auto& c : f.cgroups()) s.add_cgroups(c);
  return s;
}

}  // namespace

ProcFaultEngine::ProcFaultEngine(std::shared_ptr<journal::Journal> journal, EventSink* events,
                                 std::string workload_cgroup, const bpf::Features* features)
    : journal_(std::move(journal)),
      events_(events),
      features_(features),
      workload_cgroup_(std::move(workload_cgroup)) {
  // A kill follows each process by a pidfd: a thousand processes need a thousand fds,
  // past the usual soft limit of 1024.
  rlimit nofile{};
  if (::getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
    nofile.rlim_cur = std::min<rlim_t>(nofile.rlim_max, 1 << 16);
    ::setrlimit(RLIMIT_NOFILE, &nofile);
  }
}

ProcFaultEngine::~ProcFaultEngine() {
  std::vector<std::string> ids;
  {
    std::lock_guard lock(mu_);
    for (auto& [id, a] : active_) ids.push_back(id);
  }
  for (auto& id : ids) {
    if (auto r = revert(id); !r) log()->error("process fault {}: revert at shutdown: {}", id, r.error().describe());
  }
}

const bpf::Features& ProcFaultEngine::features() const { return features_ ? *features_ : bpf::features(); }

void ProcFaultEngine::on_exec_kill(std::function<void(const std::string&, const ExecKill&)> observer) {
  std::lock_guard lock(stats_mu_);
  observer_ = std::move(observer);
}

std::optional<KillReport> ProcFaultEngine::last_kill(const std::string& fault_id) const {
  std::lock_guard lock(mu_);
  auto it = active_.find(fault_id);
  if (it == active_.end()) return std::nullopt;
  return it->second.kill;
}

Result<Selection> ProcFaultEngine::resolve(const v1::FaultSpec& spec) const {
  const auto& p = spec.process();
  const auto& f = features();
  auto guard = Protected::current();
  switch (p.kind_case()) {
    case v1::ProcessFault::kKill: {
      FD_ASSIGN(sel, expand_workload_cgroups(p.kill().select(), workload_cgroup_), "selector");
      return resolve_selector(sel, guard, f.cgroup2_mount);
    }
    case v1::ProcessFault::kKeepDown: {
      FD_ASSIGN(sel, expand_workload_cgroups(p.keep_down().select(), workload_cgroup_), "selector");
      return resolve_selector(sel, guard, f.cgroup2_mount);
    }
    case v1::ProcessFault::kFreeze:
      return resolve_selector(freeze_selector(p.freeze()), guard, f.cgroup2_mount);
    default:
      return make_error("process fault of unknown kind (none of kill, keep_down, freeze is set)");
  }
}

Result<void> ProcFaultEngine::check(const v1::FaultSpec& spec) const {
  if (!spec.has_process()) return make_error("not a process fault");
  const auto& p = spec.process();
  const auto& f = features();
  switch (p.kind_case()) {
    case v1::ProcessFault::kKill:
      if (has_cgroups(p.kill().select()) && !f.cgroup_kill) return f.missing("cgroup_kill");
      break;
    case v1::ProcessFault::kKeepDown:
      if (!f.tracepoint) return f.missing("tracepoint");
      if (!f.send_signal) return f.missing("send_signal");
      if (!f.ringbuf) return f.missing("ringbuf");
      if (has_cgroups(p.keep_down().select()) && !f.cgroup_v2) return f.missing("cgroup_v2");
      if (p.keep_down().kill_running() && has_cgroups(p.keep_down().select()) && !f.cgroup_kill) {
        return f.missing("cgroup_kill");
      }
      break;
    case v1::ProcessFault::kFreeze:
      if (p.freeze().cgroups_size() == 0) return make_error("freeze names no cgroup");
      if (!f.cgroup_freeze) return f.missing("cgroup_freeze");
      if (!journal_) return make_error("freeze needs the agent's journal (no state directory)");
      break;
    default:
      return make_error("process fault of unknown kind (none of kill, keep_down, freeze is set)");
  }
  FD_ASSIGN(sel, resolve(spec), "{}", p.kind_case() == v1::ProcessFault::kFreeze ? "freeze" : "selector");
  (void)sel;
  return ok();
}

Result<void> ProcFaultEngine::load_program() {
  if (program_) return ok();
  FD_ASSIGN(prog, KeepDownProgram::load([this](const ExecKill& k) { on_kill(k); }), "keep-down");
  program_ = std::move(prog);
  return ok();
}

Result<void> ProcFaultEngine::attach_program() {
  FD_TRY(load_program(), "keep-down");
  return program_->attach();
}

Result<void> ProcFaultEngine::preload() {
  std::lock_guard lock(mu_);
  if (!features().tracepoint) return make_error("no tracepoint attachment on this kernel: keep-down is refused anyway");
  return load_program();
}

bool ProcFaultEngine::program_wanted() const {
  return std::any_of(active_.begin(), active_.end(), [](auto& kv) { return kv.second.bit >= 0; }) ||
         std::any_of(prepared_.begin(), prepared_.end(),
                     [](auto& kv) { return kv.second.spec.process().has_keep_down(); });
}

Result<void> ProcFaultEngine::prepare(const std::string& id, const v1::FaultSpec& spec) {
  std::lock_guard lock(mu_);
  if (active_.count(id)) return ok();
  if (auto it = prepared_.find(id); it != prepared_.end()) {
    if (same_spec(it->second.spec, spec)) return ok();
    return make_error("process fault {} is already prepared with another spec", id);
  }
  FD_TRY(check(spec), "process fault {}", id);
  FD_ASSIGN(sel, resolve(spec), "process fault {}", id);
  if (spec.process().has_keep_down()) {
    // Attached with empty maps: it selects nothing until apply adds the selection.
    FD_TRY(attach_program(), "process fault {}", id);
  }
  prepared_.emplace(id, Prepared{spec, std::move(sel)});
  return ok();
}

Result<void> ProcFaultEngine::apply_at(const std::string& id, const v1::FaultSpec& spec, WallTime start) {
  FD_TRY(prepare(id, spec), "process fault {}", id);
  sleep_until_precise(start);
  return apply(id, spec);
}

Result<void> ProcFaultEngine::apply(const std::string& id, const v1::FaultSpec& spec) {
  std::lock_guard lock(mu_);
  auto in_effect = active_.find(id);
  if (auto done = already_in_effect(name(), id, in_effect == active_.end() ? nullptr : &in_effect->second.spec, spec)) {
    return *done;
  }
  Active a;
  a.spec = spec;
  if (auto it = prepared_.find(id); it != prepared_.end() && same_spec(it->second.spec, spec)) {
    // Checked and resolved ahead: from here on only switches.
    a.selection = std::move(it->second.selection);
    prepared_.erase(it);
  } else {
    if (it != prepared_.end()) return make_error("process fault {} was prepared with another spec", id);
    FD_TRY(check(spec), "process fault {}", id);
    FD_ASSIGN(sel, resolve(spec), "process fault {}", id);
    a.selection = std::move(sel);
  }
  const auto& p = spec.process();

  if (p.has_kill()) {
    FD_ASSIGN(report, kill_now(a.selection, Protected::current(), kKillTimeout), "process fault {}: kill", id);
    log()->info("fault {}: killed {} process(es) ({}) in {}{}", id, report.killed, a.selection.describe(),
                format_duration(report.elapsed),
                report.still_alive ? fmt::format("; {} still alive after {}", report.still_alive,
                                                 format_duration(kKillTimeout))
                                   : "");
    {
      std::lock_guard s(stats_mu_);
      killed_[id] += report.killed;
    }
    auto now = WallClock::now();
    size_t n = 0;
    for (auto& kp : report.processes) {
      if (n++ == kMaxKillEvents) break;
      emit_killed(id, kp.pid, kp.comm, "", kp.cgroup, false, now);
    }
    a.kill = std::move(report);
  } else if (p.has_keep_down()) {
    int bit = -1;
    {
      std::lock_guard s(stats_mu_);
      for (int i = 0; i < FD_PROC_MAX_FAULTS; ++i) {
        if (bit_owner_[i].empty()) {
          bit = i;
          bit_owner_[i] = id;
          killed_[id] = 0;
          break;
        }
      }
    }
    if (bit < 0) return make_error("process fault {}: {} keep-down faults are in effect already", id, FD_PROC_MAX_FAULTS);
    auto release_bit = [&] {
      if (!program_wanted() && program_) program_->detach();
      std::lock_guard s(stats_mu_);
      bit_owner_[bit].clear();
      killed_.erase(id);
    };
    if (auto r = attach_program(); !r) {
      release_bit();
      return r.error().context(fmt::format("process fault {}", id));
    }
    if (auto r = program_->add(static_cast<unsigned>(bit), a.selection); !r) {
      release_bit();
      return r.error().context(fmt::format("process fault {}", id));
    }
    a.bit = bit;
    if (p.keep_down().kill_running()) {
      // After the program is in place: what execs from here on dies at exec, and what
      // ran before dies now.
      auto report = kill_now(a.selection, Protected::current(), kKillTimeout);
      if (!report) {
        (void)program_->remove(static_cast<unsigned>(bit));
        a.bit = -1;
        release_bit();
        return report.error().context(fmt::format("process fault {}: kill running", id));
      }
      {
        std::lock_guard s(stats_mu_);
        killed_[id] += report->killed;
      }
      auto now = WallClock::now();
      size_t n = 0;
      for (auto& kp : report->processes) {
        if (n++ == kMaxKillEvents) break;
        emit_killed(id, kp.pid, kp.comm, "", kp.cgroup, false, now);
      }
      log()->info("fault {}: keep-down of {} in effect; killed {} running process(es) in {}", id,
                  a.selection.describe(), report->killed, format_duration(report->elapsed));
      a.kill = std::move(*report);
    } else {
      log()->info("fault {}: keep-down of {} in effect", id, a.selection.describe());
    }
  } else if (p.has_freeze()) {
    FD_TRY(apply_freeze(id, a), "process fault {}", id);
  }
  active_.emplace(id, std::move(a));
  return ok();
}

Result<void> ProcFaultEngine::apply_freeze(const std::string& id, Active& a) {
  for (auto& cg : a.selection.cgroups) {
    int& refs = freeze_refs_[cg.rel];
    journal::Entry entry{id, journal::kThawCgroup, cg.path, "frozen cgroup " + cg.rel, {}};
    Result<void> r = ok();
    if (refs == 0) {
      auto current = read_cgroup_file(cg.path, "cgroup.freeze");
      if (current && !current->empty() && (*current)[0] == '1') {
        r = make_error("cgroup {} is already frozen, not by this agent; thawing it at revert would undo "
                       "someone else's freeze: refused", cg.rel);
      } else {
        // Journaled before it is done: if the agent dies while it is frozen, the next
        // start thaws it.
        r = journal_->begin(entry);
        if (r) {
          r = set_frozen(cg.path, true, kFreezeTimeout);
          if (!r) {
            (void)set_frozen(cg.path, false, kFreezeTimeout);
            (void)journal_->end(entry);
          }
        }
      }
    } else {
      r = journal_->begin(entry);
    }
    if (!r) {
      if (refs == 0) freeze_refs_.erase(cg.rel);
      (void)thaw(id, a);
      return r.error().context(fmt::format("freeze {}", cg.rel));
    }
    ++refs;
    a.frozen.push_back(cg);
    log()->info("fault {}: cgroup {} frozen", id, cg.rel);
  }
  return ok();
}

Result<void> ProcFaultEngine::thaw(const std::string& id, Active& a) {
  while (!a.frozen.empty()) {
    auto& cg = a.frozen.back();
    auto it = freeze_refs_.find(cg.rel);
    if (it != freeze_refs_.end() && it->second == 1) {
      FD_ASSIGN(present, thaw_if_present(cg.path, cg.id, kFreezeTimeout), "thaw {}", cg.rel);
      freeze_refs_.erase(it);
      if (present) {
        log()->info("fault {}: cgroup {} thawed", id, cg.rel);
      } else {
        log()->warn("fault {}: cgroup {} was removed while frozen: nothing is left to thaw", id, cg.rel);
      }
    } else if (it != freeze_refs_.end()) {
      --it->second;  // another fault still holds it frozen
    }
    FD_TRY(journal_->end({id, journal::kThawCgroup, cg.path, "", {}}), "thaw {}", cg.rel);
    a.frozen.pop_back();
  }
  return ok();
}

Result<void> ProcFaultEngine::revert(const std::string& id) {
  std::unique_lock lock(mu_);
  if (prepared_.erase(id) && !program_wanted() && program_) program_->detach();
  auto it = active_.find(id);
  if (it == active_.end()) return ok();
  Active& a = it->second;
  if (a.bit >= 0) {
    FD_TRY(program_->remove(static_cast<unsigned>(a.bit)), "process fault {}: stop keep-down", id);
    int bit = a.bit;
    a.bit = -1;
    // Detached, it is kept loaded for the next keep-down; its ring buffer is still
    // drained by the polling thread, which only takes stats_mu_, not held here.
    if (!program_wanted()) program_->detach();
    uint64_t killed = 0;
    {
      std::lock_guard s(stats_mu_);
      bit_owner_[bit].clear();
      killed = killed_[id];
    }
    flush_exec_events(id);
    log()->info("fault {}: keep-down lifted ({} process(es) killed)", id, killed);
  }
  if (!a.frozen.empty()) FD_TRY(thaw(id, a), "process fault {}", id);
  active_.erase(it);
  std::lock_guard s(stats_mu_);
  killed_.erase(id);
  return ok();
}

v1::FaultCounters ProcFaultEngine::counters(const std::string& id) const {
  v1::FaultCounters c;
  std::lock_guard s(stats_mu_);
  if (auto it = killed_.find(id); it != killed_.end()) c.set_processes_killed(it->second);
  return c;
}

void ProcFaultEngine::on_kill(const ExecKill& k) {
  if (k.gone) {
    log()->debug("keep-down: pid {} ({}) gone {}us after its exec", k.pid, k.comm,
                 (k.gone_ktime_ns - k.ktime_ns) / 1000);
    std::function<void(const std::string&, const ExecKill&)> observer;
    {
      std::lock_guard s(stats_mu_);
      observer = observer_;
    }
    if (observer) observer("", k);
    return;
  }
  std::vector<std::string> owners;
  std::function<void(const std::string&, const ExecKill&)> observer;
  {
    std::lock_guard s(stats_mu_);
    for (int b = 0; b < FD_PROC_MAX_FAULTS; ++b) {
      if (!(k.fault_mask & (1ull << b)) || bit_owner_[b].empty()) continue;
      owners.push_back(bit_owner_[b]);
      ++killed_[bit_owner_[b]];
    }
    observer = observer_;
  }
  if (owners.empty()) return;  // a fault reverted while its kill was in the ring
  if (k.signal_ret != 0) {
    log()->error("keep-down: bpf_send_signal failed ({}) for pid {} ({})", k.signal_ret, k.pid, k.comm);
  }
  auto at = wall_of_mono_ns(k.ktime_ns);
  auto now = SteadyClock::now();
  for (auto& owner : owners) {
    log()->debug("fault {}: killed pid {} ({}, {}) at exec", owner, k.pid, k.comm, k.filename);
    // One event per fault per second: an exec loop must not flood the controller.
    uint32_t more = 0;
    bool tell = false;
    {
      std::lock_guard s(stats_mu_);
      auto& w = exec_windows_[owner];
      if (w.started == SteadyClock::time_point{} || now - w.started >= kExecEventWindow) {
        tell = true;
        more = w.untold;
        w.started = now;
        w.untold = 0;
      } else {
        ++w.untold;
        w.last = {k.pid, k.comm, k.filename, k.cgroup, at};
      }
    }
    if (tell) emit_killed(owner, k.pid, k.comm, k.filename, k.cgroup, true, at, more);
    if (observer) observer(owner, k);
  }
}

void ProcFaultEngine::flush_exec_events(const std::string& fault_id) {
  ExecWindow w;
  {
    std::lock_guard s(stats_mu_);
    auto it = exec_windows_.find(fault_id);
    if (it == exec_windows_.end()) return;
    w = it->second;
    exec_windows_.erase(it);
  }
  if (w.untold > 0) emit_killed(fault_id, w.last.pid, w.last.comm, w.last.exe, w.last.cgroup, true, w.last.at, w.untold - 1);
}

void ProcFaultEngine::emit_killed(const std::string& fault_id, pid_t pid, const std::string& comm,
                                  const std::string& exe, const std::string& cgroup, bool at_exec, WallTime at,
                                  uint32_t more) {
  if (!events_) return;
  v1::Event ev;
  *ev.mutable_at() = to_proto(at);
  auto* k = ev.mutable_killed();
  k->set_fault_id(fault_id);
  k->set_pid(static_cast<uint32_t>(pid));
  k->set_comm(comm);
  k->set_exe(exe);
  k->set_cgroup(cgroup);
  k->set_at_exec(at_exec);
  k->set_more(more);
  events_->emit(ev);
}

}  // namespace firedrill::agent::proc
