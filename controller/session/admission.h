// Admission: which runs may hold which hosts under fault, and whether the fleet is
// halted. The guard's fleet-wide ledger (run id -> hosts) and the halt state live
// here, together, because every admission decision reads both: one guard_input()
// builds what the guard checks, for a plan's check() and a run's admit() alike.
//
// A halt is durable (the store's "halt" setting, read back at start) and ordered
// against applies by the gate: an apply holds it shared while it hands its commands to
// the streams (open_for()), a halt takes it exclusively to flip the state, so no fault
// of an admitted run slips out after a halt's RevertAll.
#pragma once

#include <map>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <string>
#include <vector>

#include "common/time.h"
#include "controller/guard/guard.h"
#include "controller/inventory/inventory.h"
#include "controller/store/store.h"
#include "firedrill/v1/targeting.pb.h"

namespace firedrill::controller {

struct HaltState {
  bool halted = false;
  std::string reason;
  std::string by;
  WallTime at{};
};

class Admission {
 public:
  // `store` may be null (tests); both must outlive this.
  Admission(GuardPolicy policy, const Inventory& inventory, Store* store);

  // What the guard checks for `run_id` over `hosts`: the live fleet, the hosts other
  // runs hold, the halt. Call with mu_ held.
  GuardInput guard_input(const std::string& run_id, const std::vector<std::string>& hosts,
                         const v1::BlastRadius& radius) const;

  v1::GuardVerdict check(const std::string& run_id, const std::vector<std::string>& hosts,
                         const v1::BlastRadius& radius) const;
  // check() and, if allowed, the run holds `hosts`: atomically, so two runs racing for
  // the last of the budget cannot both pass.
  v1::GuardVerdict admit(const std::string& run_id, const std::vector<std::string>& hosts,
                         const v1::BlastRadius& radius);
  void set_run_hosts(const std::string& run_id, const std::vector<std::string>& hosts);
  void end_run(const std::string& run_id);
  std::vector<std::string> active_runs() const;
  bool in_flight(const std::string& run_id) const;

  // While the returned lock is held, no halt can start. `refusal` is set (and the lock
  // still returned, to be dropped) when the run is not admitted or the fleet is halted.
  std::shared_lock<std::shared_mutex> open_for(const std::string& run_id, std::string* refusal);

  // Halts (under the gate), ends every run; returns the state and the runs aborted.
  HaltState halt(const std::string& reason, const std::string& by, std::vector<std::string>* aborted);
  // Returns whether the fleet was halted.
  bool release();
  HaltState halt_state() const;
  bool halted() const;
  // Writes the halt state to the store (logged when it fails).
  // Saves the halt state; durably (a full sync) when `durable`.
  Result<void> persist_halt(bool durable = false) const;

 private:
  GuardPolicy policy_;
  const Inventory& inventory_;
  Store* store_;
  std::shared_mutex gate_;
  mutable std::mutex mu_;  // runs_, halt_
  std::map<std::string, std::set<std::string>> runs_;  // run id -> hosts under its fault
  HaltState halt_;
};

}  // namespace firedrill::controller
