// The probes of a run, each on its own thread and its own interval, so that a slow
// probe (a command stuck until its timeout) never delays the others. Samples start on
// a fixed grid (start + k * interval); a sample that overruns its slot skips the slots
// it overran instead of bunching samples up afterwards.
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
    std::thread thread;
    std::atomic<bool> stop{false};
  };
  void loop(Runner* r);

  std::vector<std::unique_ptr<Runner>> runners_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::pair<std::string, slo::Sample>> fresh_;
  bool started_ = false;
};

}  // namespace firedrill::probes
