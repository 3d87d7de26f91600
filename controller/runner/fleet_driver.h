// What the runner asks of the fleet, and nothing more: resolve targets, check and
// admit a blast radius, tell whether targets are live and capable, apply a fault to
// many hosts with one common not_before, revert it, and say which agents were lost
// and whether the fleet is halted. The controller's Fleet (controller/session) is
// behind it in the daemon (fleet_adapter.h); the runner's tests use a fake.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/time.h"
#include "controller/store/target_status.h"
#include "controller/targeting/targets.h"
#include "firedrill/v1/fault.pb.h"
#include "firedrill/v1/targeting.pb.h"

namespace firedrill::runner {

struct HostOutcome {
  std::string agent_id;
  bool ok = false;
  v1::TargetStatus status = v1::TARGET_STATUS_UNSPECIFIED;
  std::string error;
  std::optional<WallTime> acked_at;
  std::optional<WallTime> effective_at;  // the earliest part's
  std::vector<v1::FaultEffect> effects;  // each part's, on the agent's clock
  std::optional<v1::ClockSync> clock;
};

// A fault that ended on a host without the run's revert.
struct HostEnded {
  std::string agent_id;
  std::string why;                // "its lease expired by the agent's clock", "revert failing: ..."
  std::optional<WallTime> at;     // when, by the agent's report
  bool still_in_effect = false;   // its revert is failing: the fault may still be on
};

struct FanoutOutcome {
  std::vector<HostOutcome> hosts;
  std::chrono::nanoseconds ack_spread{0};            // first ack to last
  std::chrono::nanoseconds dispatch_to_last_ack{0};  // commands sent to the last ack
  bool all_ok() const {
    for (const auto& h : hosts) {
      if (!h.ok) return false;
    }
    return true;
  }
  std::vector<std::string> failures() const {
    std::vector<std::string> out;
    for (const auto& h : hosts) {
      if (!h.ok) out.push_back(h.agent_id + ": " + (h.error.empty() ? controller::target_status_name(h.status) : h.error));
    }
    return out;
  }
};

class FleetDriver {
 public:
  virtual ~FleetDriver() = default;

  // Hosts the selection chooses (ids and tags), or why none can be chosen.
  virtual Result<std::vector<controller::Host>> resolve(const v1::Targets& targets) = 0;
  // The guard over `hosts`: `admit` also registers them as this run's in the
  // fleet-wide budget (when allowed); `check` changes nothing.
  virtual v1::GuardVerdict admit(const std::string& run_id, const std::vector<std::string>& hosts,
                                 const v1::BlastRadius& radius) = 0;
  virtual v1::GuardVerdict check(const std::string& run_id, const std::vector<std::string>& hosts,
                                 const v1::BlastRadius& radius) = 0;
  // The hosts the run holds under fault now (between steps).
  virtual void set_run_hosts(const std::string& run_id, const std::vector<std::string>& hosts) = 0;
  // The run no longer holds any host.
  virtual void end_run(const std::string& run_id) = 0;
  // "host: why" for each host that is not live or cannot apply `spec`.
  virtual std::vector<std::string> not_ready(const std::vector<std::string>& hosts, const v1::FaultSpec& spec) = 0;
  // The id of step `step`'s fault of run `run_id` (the fleet recognises its runs' faults).
  virtual std::string fault_id(const std::string& run_id, int step) = 0;
  // Applies to every host with a common not_before; returns when each host answered
  // (and the fault took effect) or timed out.
  virtual FanoutOutcome apply(const std::string& run_id, const std::string& fault_id, const v1::FaultSpec& spec,
                              const std::vector<std::string>& hosts, WallTime not_before, WallTime expires_at) = 0;
  virtual FanoutOutcome revert(const std::string& fault_id, const std::vector<std::string>& hosts) = 0;
  // Hosts among `hosts` whose agent is no longer live.
  virtual std::vector<std::string> lost(const std::vector<std::string>& hosts) = 0;
  // Hosts among `hosts` on which `fault_id` ended by the agent's doing (its expiry by
  // the agent's clock, the dead-man switch, a local revert, a failed scheduled apply,
  // an agent restart), or whose revert there is failing.
  virtual std::vector<HostEnded> ended_early(const std::string& fault_id, const std::vector<std::string>& hosts) = 0;
  // Whether the fleet is halted, and why.
  virtual bool halted(std::string* reason) = 0;
};

}  // namespace firedrill::runner
