// The controller's /metrics. Read from the fleet and the store when a scrape comes: the
// agents connected and lost by dc and rack, the faults they hold, the runs in flight by
// phase and the halt. Counted as it happens: how long each fan-out (apply, revert,
// halt) took to its last answer, the guard's refusals by rule, the probes' samples by
// result, and each write to the evidence log.
#pragma once

#include <memory>

#include "common/metrics/registry.h"
#include "controller/runner/run.h"
#include "controller/session/fleet.h"
#include "controller/store/store.h"

namespace firedrill::evidence {
class RunRecorder;
}

namespace firedrill::controller {

class ControllerMetrics {
 public:
  // Registers every family in `registry` and hooks the fleet's fan-outs; the registry,
  // the fleet and the store must outlive it.
  ControllerMetrics(metrics::Registry& registry, Fleet& fleet, Store& store);

  // Times the recorder's writes to the evidence log (before its first run).
  void watch(evidence::RunRecorder& recorder);
  // An observer of one run: its guard refusals and probe samples.
  std::unique_ptr<runner::RunObserver> for_run();

  struct Families {
    metrics::HistogramFamily* fanout_seconds = nullptr;
    metrics::CounterFamily* fanout_unanswered = nullptr;
    metrics::CounterFamily* guard_refusals = nullptr;
    metrics::CounterFamily* probe_samples = nullptr;
    metrics::HistogramFamily* evidence_append_seconds = nullptr;
    metrics::CounterFamily* evidence_append_failures = nullptr;
  };

 private:
  Families f_;
};

}  // namespace firedrill::controller
