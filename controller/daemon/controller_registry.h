// This controller's row in the store's controllers registry (Store::put_controller):
// its id, the address agents reach it on, its failure domain (--controller-domain) and
// its evidence key, written at start and every `every` while it runs, a follower's as
// well as the leader's. It reads the other rows at the same pace and keeps the failure
// domains of those seen within `live_within`: the guard's controller-domain rule asks
// live_peers() (GuardPolicy::live_peers), so a fault on dc=pangyo is allowed while a
// controller outside pangyo is alive. Liveness is judged by each controller's own
// wall clock when it wrote its row.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "controller/store/store.h"

namespace firedrill::controller {

class ControllerRegistry {
 public:
  ControllerRegistry(Store& store, ControllerRow self, std::chrono::milliseconds live_within,
                     std::chrono::milliseconds every = std::chrono::seconds(1));
  ~ControllerRegistry();
  ControllerRegistry(const ControllerRegistry&) = delete;
  ControllerRegistry& operator=(const ControllerRegistry&) = delete;

  // Writes the row once (an error when the store refuses it), then keeps it fresh.
  Result<void> start();
  void stop();
  // The address agents reach this controller on, once known (the follower binds it).
  void set_address(const std::string& address);

  std::vector<std::map<std::string, std::string>> live_peers() const;

 private:
  Result<void> beat();
  void loop();

  Store& store_;
  std::chrono::milliseconds live_within_, every_;
  mutable std::mutex mu_;
  ControllerRow self_;                                     // under mu_
  std::vector<std::map<std::string, std::string>> peers_;  // under mu_
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace firedrill::controller
