// Runs across a takeover: a controller that takes the leader lease from another that
// was lost (PostgreSQL store) continues the runs it left in flight instead of ending
// them, when it leads again within the agents' lease grace:
//
//   - the run's state is read from the store (its record, its samples, its evidence);
//   - the faults the agents report in their Hello are re-adopted when they are what
//     the run's record holds (same fault id, same host, same spec); a fault that does
//     not match is reverted (Fleet::set_adoption);
//   - the probes start again; from the last sample the old leader stored (or its last
//     lease renewal) to the takeover nothing was measured: the probe gap. Each probe gets
//     one sample over the gap that is not a success ("unmeasured"), so no SLO counts
//     the gap as up; the evidence records the handover and the report shows it.
//
// A takeover slower than the grace finds the faults reverted by the agents: the run is
// aborted (reverted again where an agent still holds something) and recorded so.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "common/time.h"
#include "firedrill/v1/agent.pb.h"
#include "firedrill/v1/run.pb.h"

namespace firedrill::runner {

// The handover, as the controller that took over knows it.
struct Takeover {
  std::string from;                  // the controller that led before ("" when not known)
  WallTime lost_at{};                // its last lease renewal (the database's clock)
  std::string to;                    // this controller
  int64_t epoch = 0;                 // the epoch this one leads with
  WallTime led_at{};                 // when this one took the lease
  std::chrono::nanoseconds grace{};  // the agents' lease grace
  // Within the grace: the agents still hold their faults.
  bool within_grace() const { return led_at - lost_at < std::chrono::duration_cast<WallClock::duration>(grace); }
};

// What a sample over the probe gap says (its detail).
inline constexpr const char* kUnmeasured = "unmeasured: the controller handover";

// The faults continued runs expect their agents to report again, and what the agents
// reported. Thread-safe: agents register on the stream threads, runs poll.
class Readoption {
 public:
  // Run `run_id` expects `fault.fault_id()` on `fault.agent_id()`, of spec `spec`.
  void expect(const std::string& run_id, const v1::FaultRecord& fault, const v1::FaultSpec& spec);
  // For Fleet::set_adoption: whether the agent's fault is one a run expects there.
  bool adopt(const v1::Hello& hello, const v1::ActiveFault& fault);
  // Every Hello: an expected fault the agent no longer holds is missing.
  void seen(const v1::Hello& hello);

  struct State {
    std::vector<std::string> waiting;  // "FAULT on AGENT" not reported yet
    std::vector<std::string> missing;  // "FAULT on AGENT: why"
    std::vector<std::string> adopted;  // agent ids
  };
  State state(const std::string& run_id) const;

 private:
  struct Expected {
    std::string run_id;
    v1::FaultSpec spec;
    enum { kWaiting, kAdopted, kMissing } status = kWaiting;
    std::string why;
  };
  mutable std::mutex mu_;
  std::map<std::pair<std::string, std::string>, Expected> expected_;  // (fault id, agent) -> what
};

}  // namespace firedrill::runner
