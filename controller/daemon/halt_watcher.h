// The leader's side of a halt asked at any controller (Store::request_halt): a thread
// that reads the halts recorded in the database every `every` and halts the fleet for
// each, exactly as `firedrill halt` given to the leader does (every fault reverted,
// every run aborted, new runs refused until `firedrill release` at the leader), then
// clears them. A leader that dies between the two leaves them for the next leader,
// which halts again: halting a halted fleet is harmless, losing a halt is not.
// Only a leader runs it; clearing is fenced by the leader epoch.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "controller/session/fleet.h"
#include "controller/store/store.h"

namespace firedrill::controller {

class HaltWatcher {
 public:
  HaltWatcher(Store& store, Fleet& fleet, std::chrono::milliseconds every = std::chrono::milliseconds(300));
  ~HaltWatcher();
  HaltWatcher(const HaltWatcher&) = delete;
  HaltWatcher& operator=(const HaltWatcher&) = delete;

  void start();
  void stop();

 private:
  void loop();
  void act();

  Store& store_;
  Fleet& fleet_;
  std::chrono::milliseconds every_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace firedrill::controller
