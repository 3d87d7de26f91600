#include "controller/metrics/controller_metrics.h"

#include "common/fault_kind.h"
#include "common/log.h"
#include "controller/runner/run.h"

namespace firedrill::controller {
namespace {

std::string tag(const AgentRecord& a, const std::string& key) {
  auto it = a.tags.find(key);
  return it == a.tags.end() ? "" : it->second;
}

}  // namespace

void register_controller_metrics(metrics::Registry& registry, const Fleet& fleet, Store& store) {
  auto& connected = registry.gauge("firedrill_controller_agents_connected",
                                   "Agents with a live stream, by their dc and rack tags.", {"dc", "rack"});
  auto& lost = registry.gauge("firedrill_controller_agents_lost",
                              "Agents known to the controller whose stream is gone.", {"dc", "rack"});
  auto& faults = registry.gauge("firedrill_controller_fleet_faults_in_effect",
                                "Faults live agents last reported in effect, by kind.", {"kind"});
  auto& runs = registry.gauge("firedrill_controller_runs_in_flight", "Runs not yet done, by phase.", {"phase"});
  auto& halted = registry.gauge("firedrill_controller_halted", "1 while the fleet is halted, else 0.");
  auto& store_errors = registry.counter("firedrill_controller_metrics_store_errors_total",
                                        "Scrapes that could not read the runs from the store.");
  registry.on_scrape([&] {
    connected.clear();
    lost.clear();
    faults.clear();
    runs.clear();
    for (auto& a : fleet.agents(true)) {
      (a.live ? connected : lost).with({tag(a, "dc"), tag(a, "rack")}).inc();
      if (!a.live) continue;
      for (auto& f : a.active_faults) {
        if (f.has_applied_at()) faults.with({fault_kind(f.spec())}).inc();
      }
    }
    if (auto in_flight = store.runs_in_flight(); in_flight) {
      for (auto& r : *in_flight) runs.with({runner::phase_name(r.phase())}).inc();
    } else {
      store_errors.with({}).inc();
      logger("controller.metrics")->warn("metrics: {}", in_flight.error().describe());
    }
    halted.with({}).set(fleet.halted() ? 1 : 0);
  });
}

}  // namespace firedrill::controller
