// The resource pressure engine (fault.proto ResourcePressure): CPU, memory and I/O
// workers in a child cgroup of the target, so that they compete with the target and are
// charged to its limits; disk fill by a file in a directory. What each fault makes is a
// PressureGroup (pressure_group.h): removed at revert and expiry, by a guardian process
// when the agent dies, and from the journal at the next start if both died.
//
// cpu        `workers` processes (one per CPU by default), each busy `percent` of every
//            100 ms; they compete with the target's processes for the CPU.
// memory     one process that allocates and writes every page of `bytes`; apply returns
//            once all of it is resident (or fails, naming the OOM killer, if the target's
//            limit stops it first).
// disk_fill  <directory>/.firedrill-fill-<id>, fallocated to `bytes` or to leave
//            `leave_free_bytes` free; refused when the file system has less free.
// io         `workers` processes writing, fdatasync'ing and reading back a scratch file
//            (O_TMPFILE: it has no name, so nothing is left when they die).
//
// Targets: a cgroup as ProcessSelector names one (never one that holds the agent or
// pid 1). The agent's journal is required.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "agent/bpf/features.h"
#include "agent/core/fault_engine.h"
#include "agent/journal/journal.h"
#include "agent/resource/pressure_group.h"

namespace firedrill::agent::resource {

class ResourceEngine : public FaultEngine {
 public:
  // `workload_cgroup`: what workload_cgroup targets are relative to (empty: refused).
  // `features` replaces the kernel probe (tests); null: bpf::features().
  ResourceEngine(std::shared_ptr<journal::Journal> journal, std::string workload_cgroup,
                 const bpf::Features* features = nullptr);
  ~ResourceEngine() override;

  std::string_view name() const override { return "resource"; }
  bool handles(const v1::FaultSpec& spec) const override { return spec.has_resource(); }
  Result<void> check(const v1::FaultSpec& spec) const override;
  Result<void> apply(const std::string& fault_id, const v1::FaultSpec& spec) override;
  Result<void> revert(const std::string& fault_id) override;
  v1::FaultCounters counters(const std::string& fault_id) const override;

  // What a fault holds (tests): its child cgroups, workers, guardian.
  const PressureGroup* group(const std::string& fault_id) const;

  // The fill file of a fault in DIRECTORY.
  static std::string fill_path(const std::string& directory, const std::string& fault_id);

 private:
  struct Target {
    std::string dir;  // the target's v2 directory
    std::string rel;  // below the v2 root
  };
  struct Active {
    v1::FaultSpec spec;
    std::unique_ptr<PressureGroup> group;
  };

  const bpf::Features& features() const;
  Result<Target> target(const v1::ResourcePressure& r) const;
  Result<uint64_t> fill_bytes(const v1::DiskFill& d) const;
  Result<std::unique_ptr<PressureGroup>> start(const std::string& id, const v1::ResourcePressure& r);

  std::shared_ptr<journal::Journal> journal_;
  std::string workload_cgroup_;
  const bpf::Features* features_;
  mutable std::mutex mu_;  // held across apply and revert
  std::map<std::string, Active> active_;
};

}  // namespace firedrill::agent::resource
