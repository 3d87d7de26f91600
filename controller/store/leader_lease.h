// The database's side of leadership among several controllers that share one
// PostgreSQL store: one lease row, held by one controller at a time, with an epoch that
// only grows (a fencing token). Times are the database's clock, so that controllers'
// clocks never decide who leads. The store that owns the lease writes with the epoch it
// holds, and the database refuses a write whose epoch is not the lease's (a trigger on
// every table of the controller's state): a leader that was cut off and comes back
// after another took over cannot write. controller/leader runs the loop over this.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "common/result.h"
#include "common/time.h"

namespace firedrill::controller {

struct LeaseHolder {
  std::string holder;   // "" when nobody ever held it
  std::string address;  // where the holder serves agents (what followers tell them)
  int64_t epoch = 0;    // 0: never held
  bool live = false;    // not expired by the database's clock
  WallTime expires_at;  // the database's clock
};

// This host's clock against the database's, read over the least-delayed of a few round
// trips (the NTP way: queueing delay only widens a sample's error, so the sample with
// the shortest round trip is the one to believe).
struct ClockComparison {
  std::chrono::microseconds offset{0};       // this host's clock minus the database's
  std::chrono::microseconds uncertainty{0};  // half that sample's round trip
};

// Why a controller whose clock is `c` away from the database's must not lead (the
// takeover's timing and the controllers' registry compare the two clocks, and a
// controller's clock is the one its agents are held to): "" when within `bound`.
std::string clock_refusal(const ClockComparison& c, std::chrono::nanoseconds bound);

class LeaderLease {
 public:
  virtual ~LeaderLease() = default;
  // Takes the lease when it is expired (or was released), with the next epoch; nullopt
  // when another holds it. From then on the store's writes carry that epoch.
  virtual Result<std::optional<int64_t>> acquire(const std::string& holder, const std::string& address,
                                                 std::chrono::milliseconds ttl) = 0;
  // Extends the lease by ttl from now; false when it is no longer this holder's at this
  // epoch (expired or taken): the store's writes are refused from then on.
  virtual Result<bool> renew(const std::string& holder, int64_t epoch, std::chrono::milliseconds ttl) = 0;
  // Ends it now (a clean stop), so that another takes over at once.
  virtual Result<void> release(const std::string& holder, int64_t epoch) = 0;
  // No longer leading by this host's clock (the renewals failed): the store stops
  // writing with `epoch` at once, whatever the database would still accept.
  virtual void step_down(int64_t epoch) = 0;
  virtual Result<LeaseHolder> current() = 0;
  // Reads the database's clock `samples` times (at least 1).
  virtual Result<ClockComparison> compare_clock(int samples) = 0;
};

}  // namespace firedrill::controller
