// The runner's FleetDriver over the controller's Fleet (controller/session): what the
// daemon runs experiments against.
#pragma once

#include "controller/runner/fleet_driver.h"
#include "controller/session/fleet.h"

namespace firedrill::runner {

class FleetAdapter : public FleetDriver {
 public:
  explicit FleetAdapter(controller::Fleet& fleet) : fleet_(fleet) {}

  Result<std::vector<controller::Host>> resolve(const v1::Targets& targets) override;
  v1::GuardVerdict admit(const std::string& run_id, const std::vector<std::string>& hosts,
                         const v1::BlastRadius& radius) override;
  v1::GuardVerdict check(const std::string& run_id, const std::vector<std::string>& hosts,
                         const v1::BlastRadius& radius) override;
  void set_run_hosts(const std::string& run_id, const std::vector<std::string>& hosts) override;
  void end_run(const std::string& run_id) override;
  std::vector<std::string> not_ready(const std::vector<std::string>& hosts, const v1::FaultSpec& spec) override;
  std::string fault_id(const std::string& run_id, int step) override;
  FanoutOutcome apply(const std::string& run_id, const std::string& fault_id, const v1::FaultSpec& spec,
                      const std::vector<std::string>& hosts, WallTime not_before, WallTime expires_at) override;
  FanoutOutcome revert(const std::string& fault_id, const std::vector<std::string>& hosts) override;
  std::vector<std::string> lost(const std::vector<std::string>& hosts) override;
  std::vector<HostEnded> ended_early(const std::string& fault_id, const std::vector<std::string>& hosts) override;
  bool halted(std::string* reason) override;

 private:
  controller::Fleet& fleet_;
};

}  // namespace firedrill::runner
