// Leadership among controllers that share one PostgreSQL store: a loop that takes the
// leader lease (controller/store/leader_lease.h) when it is free and renews it while it
// holds it. leading() is true only while the last renewal is younger than the lease
// (measured from when it was sent, on this host's steady clock: the database's lease
// outlives it), so a leader cut off from the database stops leading before another can
// take over, whether or not its calls to the database return.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "common/time.h"
#include "controller/store/leader_lease.h"

namespace firedrill::controller::leader {

struct ElectorConfig {
  std::string id;       // this controller, unique among them (host name and pid by default)
  std::string address;  // where it serves agents, for followers to name the leader
  std::chrono::milliseconds ttl{5000};          // the lease: how long a silent leader blocks a takeover
  std::chrono::milliseconds renew_every{0};     // 0: ttl / 3 (followers try as often, with jitter)
};

// What changed: leading with `epoch`, or no longer (with why).
using LeadershipChange = std::function<void(bool leading, int64_t epoch, const std::string& why)>;

class Elector {
 public:
  Elector(LeaderLease& lease, ElectorConfig config, LeadershipChange on_change = {});
  ~Elector();
  Elector(const Elector&) = delete;
  Elector& operator=(const Elector&) = delete;

  void start();
  // Ends the loop; `release`: the store stops writing with the epoch and the lease ends
  // now (a clean stop: another takes over at once); else the lease runs out, and the
  // store keeps its epoch, as a hung leader's would (the database fences it).
  void stop(bool release = true);

  bool leading() const;
  int64_t epoch() const;  // of the lease held; 0 when not leading
  // Until leading, stop() or the timeout; whether leading.
  bool wait_leading(std::chrono::milliseconds timeout);

 private:
  void loop();
  void lose(const std::string& why);
  std::chrono::milliseconds jittered(std::chrono::milliseconds d);

  LeaderLease& lease_;
  ElectorConfig config_;
  LeadershipChange on_change_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  int64_t epoch_ = 0;                          // under mu_
  SteadyClock::time_point valid_until_{};      // under mu_
  std::thread thread_;
};

}  // namespace firedrill::controller::leader
