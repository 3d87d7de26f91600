#include "agent/proc/keep_down.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "agent/bpf/skeleton.h"
#include "common/log.h"
#include "proc_fault.skel.h"

namespace firedrill::agent::proc {

struct ProcFaultOps {
  static proc_fault* open() { return proc_fault__open(); }
  static int load(proc_fault* s) { return proc_fault__load(s); }
  static void destroy(proc_fault* s) { proc_fault__destroy(s); }
};

namespace {

auto log() {
  static auto l = logger("agent.proc");
  return l;
}

constexpr int kPollMs = 100;

std::string bounded(const char* s, size_t max) { return std::string(s, strnlen(s, max)); }

}  // namespace

Result<void> ensure_tracefs() {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::exists("/sys/kernel/tracing/events", ec) || fs::exists("/sys/kernel/debug/tracing/events", ec)) {
    return ok();
  }
  if (::mount("nodev", "/sys/kernel/tracing", "tracefs", 0, nullptr) != 0) {
    return sys_error(errno, "mount tracefs at /sys/kernel/tracing (tracepoints are found there)");
  }
  log()->info("mounted tracefs at /sys/kernel/tracing");
  return ok();
}

Result<std::unique_ptr<KeepDownProgram>> KeepDownProgram::load(Sink sink) {
  FD_TRY(ensure_tracefs(), "keep-down");
  bpf::route_libbpf_logs();
  std::unique_ptr<KeepDownProgram> p(new KeepDownProgram());
  p->sink_ = std::move(sink);
  FD_ASSIGN(skel, (bpf::BpfSkeleton<proc_fault, ProcFaultOps>::open("proc_fault")), "keep-down");
  p->skel_ = std::move(skel);
  FD_TRY(p->skel_.load("proc_fault"), "keep-down");
  FD_TRY(p->write_config(), "keep-down");
  p->rb_ = ring_buffer__new(bpf_map__fd(p->skel_->maps.events), &KeepDownProgram::on_sample, p.get(), nullptr);
  if (!p->rb_) return sys_error(errno, "keep-down: ring buffer of events");
  p->thread_ = std::thread([raw = p.get()] { raw->poll_loop(); });
  log()->info("keep-down program loaded");
  return p;
}

Result<void> KeepDownProgram::attach() {
  if (attached_) return ok();
  // Whatever the maps hold is selected from here on (empty: nothing).
  if (int err = proc_fault__attach(skel_.get()); err) {
    return sys_error(-err, "attach keep-down to tracepoint sched/sched_process_exec");
  }
  attached_ = true;
  log()->info("keep-down program attached to sched_process_exec");
  return ok();
}

void KeepDownProgram::detach() {
  if (!attached_) return;
  proc_fault__detach(skel_.get());
  attached_ = false;
  log()->info("keep-down program detached");
}

KeepDownProgram::~KeepDownProgram() {
  if (skel_) {
    // Detach first, so that no kill happens after the faults are gone, then drain
    // what is already in the ring.
    proc_fault__detach(skel_.get());
  }
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (rb_) {
    ring_buffer__consume(rb_);
    ring_buffer__free(rb_);
  }
  for (auto& s : slots_) {
    if (s.fd >= 0) ::close(s.fd);
  }
  skel_.reset();
}

void KeepDownProgram::poll_loop() {
  auto followed = std::chrono::steady_clock::now();
  while (!stop_) {
    int n = ring_buffer__poll(rb_, kPollMs);
    if (n < 0 && n != -EINTR) {
      log()->error("keep-down: polling the ring buffer failed: {}", std::strerror(-n));
      std::this_thread::sleep_for(std::chrono::milliseconds(kPollMs));
    }
    if (std::chrono::steady_clock::now() - followed >= kFollowEvery) {
      follow_cgroups();
      followed = std::chrono::steady_clock::now();
    }
  }
}

void KeepDownProgram::follow_cgroups() {
  std::lock_guard lock(mu_);
  for (size_t i = 0; i < slots_.size(); ++i) {
    auto& s = slots_[i];
    if (!s.mask || s.path.empty()) continue;
    struct stat st {};
    // Removed: nothing can run in it; held as it is until it is made again.
    if (::stat(s.path.c_str(), &st) != 0 || st.st_ino == s.id) continue;
    int fd = ::open(s.path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) continue;
    uint32_t key = static_cast<uint32_t>(i), value = static_cast<uint32_t>(fd);
    auto r = bpf::update_map(bpf_map__fd(skel_->maps.cgroup_targets), "cgroup_targets", key, value);
    if (!r) {
      ::close(fd);
      if (!s.broken) log()->error("keep-down: cgroup {} was made again but cannot be followed: {}", s.rel, r.error().describe());
      s.broken = true;
      continue;
    }
    ::close(s.fd);
    s.fd = fd;
    s.id = st.st_ino;
    s.broken = false;
    // What started in it before it was followed dies now, as at exec.
    auto killed = write_cgroup_file(s.path, "cgroup.kill", "1");
    log()->warn("keep-down: cgroup {} was removed and made again: held again{}", s.rel,
                killed ? "" : " (killing what started meanwhile failed: " + killed.error().describe() + ")");
  }
}

std::vector<std::string> KeepDownProgram::broken_cgroups() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (auto& s : slots_) {
    if (s.mask && s.broken) out.push_back(s.rel);
  }
  return out;
}

int KeepDownProgram::on_sample(void* ctx, void* data, size_t size) {
  auto* self = static_cast<KeepDownProgram*>(ctx);
  if (size < sizeof(fd_proc_event)) return 0;
  auto* e = static_cast<const fd_proc_event*>(data);
  ExecKill k;
  k.gone = e->kind == FD_EV_GONE;
  k.ktime_ns = e->ktime_ns;
  k.gone_ktime_ns = e->gone_ktime_ns;
  k.fault_mask = e->fault_mask;
  k.cgroup_id = e->cgroup_id;
  k.pid = static_cast<pid_t>(e->pid);
  k.matched_by = e->matched_by;
  k.signal_ret = static_cast<int>(e->signal_ret);
  k.comm = bounded(e->comm, sizeof e->comm);
  k.filename = bounded(e->filename, std::min<size_t>(e->filename_len, sizeof e->filename));
  if (!k.gone && (e->matched_by & FD_MATCH_CGROUP) && e->cgroup_slot < FD_PROC_MAX_CGROUPS) {
    std::lock_guard lock(self->mu_);
    k.cgroup = self->slots_[e->cgroup_slot].rel;
  }
  if (self->sink_) self->sink_(k);
  return 0;
}

Result<void> KeepDownProgram::write_config() {
  fd_proc_config cfg{};
  cfg.agent_tgid = static_cast<uint32_t>(::getpid());
  uint32_t n = 0;
  for (uint32_t i = 0; i < slots_.size(); ++i) {
    if (slots_[i].mask) n = i + 1;
  }
  cfg.nr_cgroup_slots = n;
  uint32_t zero = 0;
  return bpf::update_map(bpf_map__fd(skel_->maps.proc_config), "proc_config", zero, cfg);
}

Result<void> KeepDownProgram::add(unsigned bit, const Selection& sel) {
  if (bit >= FD_PROC_MAX_FAULTS) return make_error("keep-down: fault slot {} out of range", bit);
  const uint64_t b = 1ull << bit;
  auto undo_on_error = [&](Result<void> r) -> Result<void> {
    if (!r) (void)remove(bit);
    return r;
  };
  std::unique_lock lock(mu_);
  for (auto& cg : sel.cgroups) {
    int idx = -1, free_idx = -1;
    for (int i = 0; i < static_cast<int>(slots_.size()); ++i) {
      if (slots_[i].mask && slots_[i].rel == cg.rel) idx = i;
      if (!slots_[i].mask && free_idx < 0) free_idx = i;
    }
    if (idx < 0) {
      if (free_idx < 0) {
        lock.unlock();
        return undo_on_error(make_error("keep-down: more than {} distinct cgroups selected at once", FD_PROC_MAX_CGROUPS));
      }
      idx = free_idx;
      auto& s = slots_[idx];
      s.fd = ::open(cg.path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (s.fd < 0) {
        int err = errno;
        lock.unlock();
        return undo_on_error(sys_error(err, "keep-down: open cgroup {}", cg.path));
      }
      s.rel = cg.rel;
      s.path = cg.path;
      s.id = cg.id;
    }
    auto& s = slots_[idx];
    uint32_t key = static_cast<uint32_t>(idx);
    uint64_t mask = s.mask | b;
    // The mask first, then the cgroup: the program reads the mask of a slot it matched.
    auto r = bpf::update_map(bpf_map__fd(skel_->maps.cgroup_masks), "cgroup_masks", key, mask);
    if (r) {
      uint32_t fd = static_cast<uint32_t>(s.fd);
      r = bpf::update_map(bpf_map__fd(skel_->maps.cgroup_targets), "cgroup_targets", key, fd);
    }
    if (!r) {
      if (!s.mask) {
        ::close(s.fd);
        s = Slot{};
      }
      lock.unlock();
      return undo_on_error(r.error().context(fmt::format("keep-down cgroup {}", cg.rel)));
    }
    s.mask = mask;
  }
  if (!sel.cgroups.empty()) {
    if (auto r = write_config(); !r) {
      lock.unlock();
      return undo_on_error(r);
    }
  }
  for (auto& e : sel.exes) {
    fd_exe_key key{};
    key.ino = e.ino;
    key.dev = e.kdev;
    uint64_t& m = exes_[{e.ino, e.kdev}];
    auto r = bpf::update_map(bpf_map__fd(skel_->maps.exe_targets), "exe_targets", key, m | b);
    if (!r) {
      if (!m) exes_.erase({e.ino, e.kdev});
      lock.unlock();
      return undo_on_error(r.error().context(fmt::format("keep-down exe {}", e.path)));
    }
    m |= b;
  }
  for (auto& c : sel.comms) {
    fd_comm_key key{};
    std::memcpy(key.comm, c.data(), std::min(c.size(), sizeof key.comm - 1));
    uint64_t& m = comms_[c];
    auto r = bpf::update_map(bpf_map__fd(skel_->maps.comm_targets), "comm_targets", key, m | b);
    if (!r) {
      if (!m) comms_.erase(c);
      lock.unlock();
      return undo_on_error(r.error().context(fmt::format("keep-down comm {}", c)));
    }
    m |= b;
  }
  for (pid_t p : sel.pids) {
    uint32_t key = static_cast<uint32_t>(p);
    uint64_t& m = pids_[p];
    auto r = bpf::update_map(bpf_map__fd(skel_->maps.pid_targets), "pid_targets", key, m | b);
    if (!r) {
      if (!m) pids_.erase(p);
      lock.unlock();
      return undo_on_error(r.error().context(fmt::format("keep-down pid {}", p)));
    }
    m |= b;
  }
  return ok();
}

Result<void> KeepDownProgram::remove(unsigned bit) {
  if (bit >= FD_PROC_MAX_FAULTS) return ok();
  const uint64_t b = 1ull << bit;
  std::lock_guard lock(mu_);
  Result<void> first_error = ok();
  auto keep = [&](Result<void> r) {
    if (!r && first_error) first_error = r;
  };
  bool cg_changed = false;
  for (uint32_t i = 0; i < slots_.size(); ++i) {
    auto& s = slots_[i];
    if (!(s.mask & b)) continue;
    uint64_t mask = s.mask & ~b;
    cg_changed = true;
    if (mask == 0) {
      // The cgroup first, then the mask, so that no exec matches a slot of no fault.
      keep(bpf::delete_map(bpf_map__fd(skel_->maps.cgroup_targets), "cgroup_targets", i));
      uint64_t zero = 0;
      keep(bpf::update_map(bpf_map__fd(skel_->maps.cgroup_masks), "cgroup_masks", i, zero));
      ::close(s.fd);
      s = Slot{};
    } else {
      keep(bpf::update_map(bpf_map__fd(skel_->maps.cgroup_masks), "cgroup_masks", i, mask));
      s.mask = mask;
    }
  }
  if (cg_changed) keep(write_config());
  for (auto it = exes_.begin(); it != exes_.end();) {
    if (!(it->second & b)) {
      ++it;
      continue;
    }
    fd_exe_key key{};
    key.ino = it->first.first;
    key.dev = it->first.second;
    it->second &= ~b;
    if (it->second == 0) {
      keep(bpf::delete_map(bpf_map__fd(skel_->maps.exe_targets), "exe_targets", key));
      it = exes_.erase(it);
    } else {
      keep(bpf::update_map(bpf_map__fd(skel_->maps.exe_targets), "exe_targets", key, it->second));
      ++it;
    }
  }
  for (auto it = comms_.begin(); it != comms_.end();) {
    if (!(it->second & b)) {
      ++it;
      continue;
    }
    fd_comm_key key{};
    std::memcpy(key.comm, it->first.data(), std::min(it->first.size(), sizeof key.comm - 1));
    it->second &= ~b;
    if (it->second == 0) {
      keep(bpf::delete_map(bpf_map__fd(skel_->maps.comm_targets), "comm_targets", key));
      it = comms_.erase(it);
    } else {
      keep(bpf::update_map(bpf_map__fd(skel_->maps.comm_targets), "comm_targets", key, it->second));
      ++it;
    }
  }
  for (auto it = pids_.begin(); it != pids_.end();) {
    if (!(it->second & b)) {
      ++it;
      continue;
    }
    uint32_t key = static_cast<uint32_t>(it->first);
    it->second &= ~b;
    if (it->second == 0) {
      keep(bpf::delete_map(bpf_map__fd(skel_->maps.pid_targets), "pid_targets", key));
      it = pids_.erase(it);
    } else {
      keep(bpf::update_map(bpf_map__fd(skel_->maps.pid_targets), "pid_targets", key, it->second));
      ++it;
    }
  }
  return first_error;
}

KeepDownProgram::Stats KeepDownProgram::stats() const {
  Stats st;
  int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) return st;
  std::vector<uint64_t> vals(static_cast<size_t>(ncpu));
  auto sum = [&](uint32_t key) {
    uint64_t total = 0;
    if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.stats), &key, vals.data()) == 0) {
      for (auto v : vals) total += v;
    }
    return total;
  };
  st.execs_seen = sum(FD_STAT_EXECS_SEEN);
  st.killed = sum(FD_STAT_KILLED);
  st.events_lost = sum(FD_STAT_EVENTS_LOST);
  return st;
}

}  // namespace firedrill::agent::proc
