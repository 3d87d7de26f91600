// The probes of a run, sampled by one scheduler thread and a bounded pool of workers
// shared by every probe (at most kMaxPoolThreads, however many probes), so that a slow
// probe (a command stuck until its timeout) never delays the others while it is not
// the pool's bottleneck. Samples are due on a fixed grid (start + k * interval)
// whatever the service does: a probe whose timeout is longer than its interval has
// several samples in flight (up to timeout/interval + 1, at most
// experiment::kMaxSamplesInFlight), so an outage is sampled as densely as normal
// operation and availability is not biased toward the fast, successful samples. Due
// slots wait for a worker in one queue, in order; a slot that finds its probe's
// samples all in flight, or that waited longer than its interval, is skipped and
// counted. Each sample records when it really started.
#pragma once

#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "controller/probes/probe.h"

namespace firedrill::probes {

// What the runner needs from probes; the runner's tests give it a scripted one.
class ProbeSource {
 public:
  virtual ~ProbeSource() = default;
  virtual void start() = 0;
  // Stops every probe and waits for the samples in flight (bounded by the timeouts).
  virtual void stop() = 0;
  // Samples completed since the last call, each with its probe's name.
  virtual std::vector<std::pair<std::string, slo::Sample>> take_new() = 0;
  // Stops the data probes' writers (waiting for a write in flight) and reads every
  // data probe's markers back.
  virtual std::map<std::string, slo::DataCheck> read_back() = 0;
};

class ProbeSet : public ProbeSource {
 public:
  explicit ProbeSet(const v1::Experiment& e);
  ~ProbeSet() override;
  ProbeSet(const ProbeSet&) = delete;
  ProbeSet& operator=(const ProbeSet&) = delete;

  void start() override;
  void stop() override;
  std::vector<std::pair<std::string, slo::Sample>> take_new() override;
  std::map<std::string, slo::DataCheck> read_back() override;

 // Slots skipped because the probe's samples were all in flight or the pool was busy.
  uint64_t skipped(const std::string& probe);
  // Threads this set runs (the scheduler and the pool), 0 before start.
  size_t threads() const;

  static constexpr size_t kMaxPoolThreads = 32;

 private:
  struct Runner {
    v1::Probe probe;
    std::unique_ptr<Prober> prober;
    std::chrono::nanoseconds interval{};
    size_t cap = 1;          // samples in flight at most
    int64_t next_slot = 0;   // guarded by mu_, as everything below
    uint64_t seq = 0;        // samples taken: a data probe's markers are 1, 2, 3, ...
    size_t in_flight = 0;    // queued or running
    bool stopped = false;
    uint64_t skipped = 0;
  };
  struct Job {
    Runner* runner;
    std::chrono::steady_clock::time_point due;
  };
  void scheduler_loop();
  void worker_loop();
  // Takes no more samples of `r` and waits for those in flight. Holds `lock`.
  void stop_runner(Runner* r, std::unique_lock<std::mutex>& lock);

  std::vector<std::unique_ptr<Runner>> runners_;
  mutable std::mutex mu_;
  std::condition_variable cv_;       // scheduler and workers: work, or stopping
  std::condition_variable drained_;  // a sample finished
  std::deque<Job> queue_;
  std::thread scheduler_;
  std::vector<std::thread> pool_;
  std::vector<std::pair<std::string, slo::Sample>> fresh_;
  bool started_ = false;
  bool stopping_ = false;
};

}  // namespace firedrill::probes
