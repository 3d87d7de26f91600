// The runner's clock: wall time for records, and sleeps that a state change (an
// approval, an abort) can cut short. The real one is the system clock; the runner's
// tests give it a fake one whose sleeps advance time instantly.
#pragma once

#include <condition_variable>
#include <mutex>

#include "common/time.h"

namespace firedrill::runner {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual WallTime now() = 0;
  // Returns at `t`, or earlier after wake().
  virtual void sleep_until(WallTime t) = 0;
  virtual void wake() = 0;
};

class SystemClock : public Clock {
 public:
  WallTime now() override { return WallClock::now(); }
  void sleep_until(WallTime t) override {
    std::unique_lock lock(mu_);
    // Wall-clock deadlines are turned into steady ones so that a clock step does not
    // stall a run.
    auto left = t - WallClock::now();
    if (left > WallClock::duration::zero()) {
      cv_.wait_for(lock, left, [&] { return woken_; });
    }
    woken_ = false;
  }
  void wake() override {
    std::lock_guard lock(mu_);
    woken_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool woken_ = false;
};

}  // namespace firedrill::runner
