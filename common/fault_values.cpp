#include "common/fault_values.h"

#include <cmath>

#include <fmt/format.h>

namespace firedrill {
namespace {

constexpr uint64_t kTiB = uint64_t(1) << 40;
constexpr uint64_t kGiB = uint64_t(1) << 30;

class Checker {
 public:
  explicit Checker(std::vector<FieldProblem>& out) : out_(out) {}

  template <typename... Args>
  void problem(const std::string& field, fmt::format_string<Args...> f, Args&&... args) {
    out_.push_back({field, fmt::format(f, std::forward<Args>(args)...)});
  }

  void percent(double v, const std::string& field, bool zero_ok) {
    if (std::isnan(v) || v < 0 || v > 100 || (!zero_ok && v == 0)) {
      problem(field, "must be {} 100 (got {})", zero_ok ? "between 0 and" : "above 0 and at most", v);
    }
  }

  void directory(const std::string& dir, const std::string& field) {
    if (dir.empty()) problem(field, "required: an absolute directory");
    else if (dir[0] != '/') problem(field, "must be an absolute path (got '{}')", dir);
    else if (dir.find("/../") != std::string::npos || dir.ends_with("/..")) problem(field, "must not hold '..'");
  }

  void resource(const v1::ResourcePressure& r) {
    const std::string p = "resource";
    bool has_target = r.target_case() != v1::ResourcePressure::TARGET_NOT_SET;
    switch (r.kind_case()) {
      case v1::ResourcePressure::kCpu: {
        const auto& c = r.cpu();
        if (c.workers() > 1024) problem(p + ".cpu.workers", "at most 1024 (got {})", c.workers());
        percent(c.percent(), p + ".cpu.percent", true);
        break;
      }
      case v1::ResourcePressure::kMemory:
        if (r.memory().bytes() == 0) problem(p + ".memory.bytes", "required: more than 0");
        else if (r.memory().bytes() > kTiB) problem(p + ".memory.bytes", "at most 1 TiB (got {})", r.memory().bytes());
        break;
      case v1::ResourcePressure::kDiskFill: {
        const auto& d = r.disk_fill();
        directory(d.directory(), p + ".disk_fill.directory");
        if ((d.bytes() == 0) == (d.leave_free_bytes() == 0)) {
          problem(p + ".disk_fill", "give exactly one of bytes and leave_free_bytes (more than 0)");
        }
        break;
      }
      case v1::ResourcePressure::kIo: {
        const auto& io = r.io();
        directory(io.directory(), p + ".io.directory");
        if (io.workers() > 64) problem(p + ".io.workers", "at most 64 (got {})", io.workers());
        if (io.file_bytes() > 16 * kGiB) problem(p + ".io.file_bytes", "at most 16 GiB (got {})", io.file_bytes());
        break;
      }
      default:
        problem(p, "choose the kind of resource pressure: cpu, memory, disk_fill or io");
        return;
    }
    if (!has_target && r.kind_case() != v1::ResourcePressure::kDiskFill) {
      problem(p, "required: the target cgroup (cgroup or workload_cgroup)");
    }
    if (r.target_case() == v1::ResourcePressure::kCgroup && r.cgroup().empty()) {
      problem(p + ".cgroup", "empty (the root cgroup is never a target; use workload_cgroup: \"\" for the workload)");
    }
  }

 private:
  std::vector<FieldProblem>& out_;
};

}  // namespace

std::vector<FieldProblem> fault_value_problems(const v1::FaultSpec& spec,
                                               std::optional<std::chrono::nanoseconds> duration) {
  (void)duration;
  std::vector<FieldProblem> out;
  Checker c(out);
  if (spec.has_resource()) c.resource(spec.resource());
  return out;
}

std::string first_fault_value_problem(const v1::FaultSpec& spec) {
  auto problems = fault_value_problems(spec);
  if (problems.empty()) return "";
  return problems.front().field + ": " + problems.front().message;
}

}  // namespace firedrill
