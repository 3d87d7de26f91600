// The probes of a run, each with its own timer thread and its own workers, so that a
// slow probe (a command stuck until its timeout) never delays the others. Samples start
// on a fixed grid (start + k * interval) whatever the service does: a probe whose
// timeout is longer than its interval has several samples in flight (up to
// timeout/interval + 1), so an outage is sampled as densely as normal operation and
// availability is not biased toward the fast, successful samples. A slot whose every
// worker is still busy is skipped and counted.
#pragma once

#include <atomic>
#include <condition_variable>
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

 private:
  struct Runner {
    v1::Probe probe;
    std::unique_ptr<Prober> prober;
    std::thread timer;
    std::vector<std::thread> workers;
    std::atomic<bool> stop{false};
    // Sample numbers due and not yet taken; guarded by ProbeSet::mu_.
    std::vector<uint64_t> due;
    size_t idle = 0;
    uint64_t skipped = 0;
  };
  void timer_loop(Runner* r);
  void worker_loop(Runner* r);
  void stop_runner(Runner* r);

 public:
  // Slots skipped because every worker of the probe was busy.
  uint64_t skipped(const std::string& probe);

 private:

  std::vector<std::unique_ptr<Runner>> runners_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::pair<std::string, slo::Sample>> fresh_;
  bool started_ = false;
};

}  // namespace firedrill::probes
