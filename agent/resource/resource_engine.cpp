#include "agent/resource/resource_engine.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "agent/proc/cgroup.h"
#include "agent/proc/selector.h"
#include "common/fault_values.h"
#include "common/log.h"

namespace firedrill::agent::resource {
namespace {

auto log() {
  static auto l = logger("agent.resource");
  return l;
}

constexpr uint64_t kDefaultIoFileBytes = uint64_t(64) << 20;

// A fault id as part of a file or cgroup name.
std::string name_part(const std::string& id) {
  std::string out = id;
  for (auto& c : out) {
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) c = '_';
  }
  return out;
}

Result<void> is_directory(const std::string& dir, const char* field) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return sys_error(errno, "{} '{}'", field, dir);
  if (!S_ISDIR(st.st_mode)) return make_error("{} '{}' is not a directory", field, dir);
  return ok();
}

}  // namespace

ResourceEngine::ResourceEngine(std::shared_ptr<journal::Journal> journal, std::string workload_cgroup,
                               const bpf::Features* features)
    : journal_(std::move(journal)), workload_cgroup_(std::move(workload_cgroup)), features_(features) {}

ResourceEngine::~ResourceEngine() {
  std::lock_guard lock(mu_);
  for (auto& [id, a] : active_) {
    if (auto r = a.group->teardown(); !r) log()->error("resource fault {}: revert at shutdown: {}", id, r.error().describe());
  }
}

const bpf::Features& ResourceEngine::features() const { return features_ ? *features_ : bpf::features(); }

std::string ResourceEngine::fill_path(const std::string& directory, const std::string& fault_id) {
  return directory + (directory.ends_with("/") ? "" : "/") + ".firedrill-fill-" + name_part(fault_id);
}

Result<ResourceEngine::Target> ResourceEngine::target(const v1::ResourcePressure& r) const {
  v1::ProcessSelector sel;
  if (r.target_case() == v1::ResourcePressure::kCgroup) sel.add_cgroups(r.cgroup());
  else sel.add_workload_cgroups(r.workload_cgroup());
  FD_ASSIGN(expanded, proc::expand_workload_cgroups(sel, workload_cgroup_), "target");
  FD_ASSIGN(resolved, proc::resolve_selector(expanded, proc::Protected::current(), features().cgroup2_mount),
            "target");
  const auto& ref = resolved.cgroups.at(0);
  return Target{ref.path, ref.rel};
}

Result<uint64_t> ResourceEngine::fill_bytes(const v1::DiskFill& d) const {
  struct statvfs vfs {};
  if (::statvfs(d.directory().c_str(), &vfs) != 0) return sys_error(errno, "disk_fill.directory '{}'", d.directory());
  uint64_t avail = uint64_t(vfs.f_bavail) * vfs.f_frsize;
  if (d.bytes() > 0) {
    if (d.bytes() > avail) {
      return make_error("disk_fill.bytes: {} asked, the file system of {} has {} free", d.bytes(), d.directory(), avail);
    }
    return d.bytes();
  }
  if (avail <= d.leave_free_bytes()) {
    return make_error("disk_fill.leave_free_bytes: {} asked, the file system of {} has only {} free", d.leave_free_bytes(),
                      d.directory(), avail);
  }
  return avail - d.leave_free_bytes();
}

Result<void> ResourceEngine::check(const v1::FaultSpec& spec) const {
  if (!spec.has_resource()) return make_error("not a resource pressure fault");
  if (auto p = first_fault_value_problem(spec); !p.empty()) return make_error("{}", p);
  const auto& r = spec.resource();
  if (!journal_) return make_error("resource pressure needs the agent's journal (no state directory)");
  if (r.kind_case() != v1::ResourcePressure::kDiskFill) {
    const auto& f = features();
    if (!f.cgroup_v2) return f.missing("cgroup_v2");
    if (!f.cgroup_kill) return f.missing("cgroup_kill");
    FD_ASSIGN(t, target(r), "resource");
    (void)t;
  }
  switch (r.kind_case()) {
    case v1::ResourcePressure::kDiskFill: {
      FD_TRY(is_directory(r.disk_fill().directory(), "disk_fill.directory"), "resource");
      FD_ASSIGN(bytes, fill_bytes(r.disk_fill()), "resource");
      (void)bytes;
      break;
    }
    case v1::ResourcePressure::kIo:
      FD_TRY(is_directory(r.io().directory(), "io.directory"), "resource");
      break;
    default:
      break;
  }
  return ok();
}

Result<std::unique_ptr<PressureGroup>> ResourceEngine::start(const std::string& id, const v1::ResourcePressure& r) {
  Target t;
  if (r.kind_case() != v1::ResourcePressure::kDiskFill) {
    FD_ASSIGN(resolved, target(r), "resource");
    t = std::move(resolved);
  }
  std::vector<std::string> files;
  if (r.has_disk_fill()) files.push_back(fill_path(r.disk_fill().directory(), id));
  FD_ASSIGN(group, PressureGroup::create(name_part(id), t.dir, t.rel, files, journal_), "resource");
  switch (r.kind_case()) {
    case v1::ResourcePressure::kCpu: {
      long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
      uint32_t n = r.cpu().workers() ? r.cpu().workers() : static_cast<uint32_t>(std::max(1L, cpus));
      WorkerPlan plan{WorkerPlan::Kind::kCpu, r.cpu().percent() > 0 ? r.cpu().percent() : 100.0, 0, -1};
      for (uint32_t i = 0; i < n; ++i) FD_TRY(group->start_worker(plan), "cpu worker {}", i);
      log()->info("fault {}: {} cpu worker(s) at {}% in {}", id, n, plan.percent, group->v2_dir());
      break;
    }
    case v1::ResourcePressure::kMemory: {
      WorkerPlan plan{WorkerPlan::Kind::kMemory, 0, r.memory().bytes(), -1};
      FD_TRY(group->start_worker(plan), "memory worker");
      log()->info("fault {}: {} bytes resident in {}", id, plan.bytes, group->v2_dir());
      break;
    }
    case v1::ResourcePressure::kDiskFill: {
      FD_ASSIGN(bytes, fill_bytes(r.disk_fill()), "resource");
      FD_TRY(group->fill_file(files.at(0), bytes), "disk fill");
      log()->info("fault {}: {} filled with {} bytes", id, files.at(0), bytes);
      break;
    }
    case v1::ResourcePressure::kIo: {
      uint32_t n = r.io().workers() ? r.io().workers() : 1;
      uint64_t size = r.io().file_bytes() ? r.io().file_bytes() : kDefaultIoFileBytes;
      for (uint32_t i = 0; i < n; ++i) {
        // Nameless: gone with the last worker that holds it, however it dies.
        int fd = ::open(r.io().directory().c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        if (fd < 0) return sys_error(errno, "scratch file in {} (O_TMPFILE)", r.io().directory());
        auto w = group->start_worker(WorkerPlan{WorkerPlan::Kind::kIo, 0, size, fd});
        ::close(fd);
        if (!w) return w.error().context(fmt::format("io worker {}", i));
      }
      log()->info("fault {}: {} io worker(s) over {} bytes each in {}, charged to {}", id, n, size,
                  r.io().directory(), group->v2_dir());
      break;
    }
    default:
      return make_error("resource pressure of unknown kind");
  }
  return group;
}

Result<void> ResourceEngine::apply(const std::string& id, const v1::FaultSpec& spec) {
  std::lock_guard lock(mu_);
  auto in_effect = active_.find(id);
  if (auto done = already_in_effect(name(), id, in_effect == active_.end() ? nullptr : &in_effect->second.spec, spec)) {
    return *done;
  }
  FD_TRY(check(spec), "resource fault {}", id);
  // A failed start destroys its group, which undoes whatever it made.
  FD_ASSIGN(group, start(id, spec.resource()), "resource fault {}", id);
  active_.emplace(id, Active{spec, std::move(group)});
  return ok();
}

Result<void> ResourceEngine::revert(const std::string& id) {
  std::lock_guard lock(mu_);
  auto it = active_.find(id);
  if (it == active_.end()) return ok();
  FD_TRY(it->second.group->teardown(), "resource fault {}", id);
  active_.erase(it);
  log()->info("fault {}: resource pressure lifted", id);
  return ok();
}

v1::FaultCounters ResourceEngine::counters(const std::string&) const { return {}; }

const PressureGroup* ResourceEngine::group(const std::string& id) const {
  std::lock_guard lock(mu_);
  auto it = active_.find(id);
  return it == active_.end() ? nullptr : it->second.group.get();
}

}  // namespace firedrill::agent::resource
