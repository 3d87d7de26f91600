#include "agent/metrics/agent_metrics.h"

#include <map>

#include "agent/session/controller_session.h"
#include "common/fault_kind.h"
#include "common/time.h"

namespace firedrill::agent {

void register_agent_metrics(metrics::Registry& registry, const FaultManager& faults,
                            const ControllerSession* session, const journal::Journal& journal) {
  auto& in_effect = registry.gauge("firedrill_agent_faults_in_effect", "Faults in effect on this host, by kind.", {"kind"});
  auto& scheduled = registry.gauge("firedrill_agent_faults_scheduled",
                                   "Faults accepted and waiting for their start, by kind.", {"kind"});
  auto& packets_dropped = registry.counter("firedrill_agent_fault_packets_dropped_total",
                                           "Packets the fault's classifier rules dropped.", {"fault_id", "kind"});
  auto& bytes_dropped = registry.counter("firedrill_agent_fault_bytes_dropped_total",
                                         "Bytes of the packets the fault's classifier rules dropped.", {"fault_id", "kind"});
  auto& packets_matched = registry.counter("firedrill_agent_fault_packets_matched_total",
                                           "Packets the fault's classifier rules matched.", {"fault_id", "kind"});
  auto& killed = registry.counter(
      "firedrill_agent_fault_processes_killed_total",
      "Processes the fault killed (kind=\"process.keep_down\": kills at exec while kept down).", {"fault_id", "kind"});
  auto& lease_left = registry.gauge("firedrill_agent_fault_lease_seconds_left",
                                    "Seconds until the fault's lease ends and the agent reverts it.", {"fault_id", "kind"});
  auto& revert_failing = registry.gauge(
      "firedrill_agent_fault_revert_attempts_failed",
      "Failed attempts to revert a fault still held (retried with backoff); absent while none fails.",
      {"fault_id", "kind"});
  auto& connected = registry.gauge("firedrill_agent_controller_connected",
                                   "1 while the stream to the controller is up, else 0.");
  auto& owed = registry.gauge("firedrill_agent_journal_entries_owed",
                              "Undo entries in the journal that the agent still owes (finished at revert or next start).");

  registry.on_scrape([&, session] {
    for (auto* f : {&in_effect, &scheduled, &lease_left, &revert_failing}) f->clear();
    for (auto* f : {&packets_dropped, &bytes_dropped, &packets_matched, &killed}) f->clear();
    auto now = WallClock::now();
    for (auto& a : faults.active()) {
      auto kind = fault_kind(a.spec());
      std::vector<std::string> labels = {a.fault_id(), kind};
      if (!a.has_applied_at()) {
        scheduled.with({kind}).inc();
        continue;
      }
      in_effect.with({kind}).inc();
      auto& c = a.counters();
      packets_dropped.with(labels).set(static_cast<double>(c.packets_dropped()));
      bytes_dropped.with(labels).set(static_cast<double>(c.bytes_dropped()));
      packets_matched.with(labels).set(static_cast<double>(c.packets_matched()));
      killed.with(labels).set(static_cast<double>(c.processes_killed()));
      auto left = std::chrono::duration<double>(from_proto(a.expires_at()) - now).count();
      lease_left.with(labels).set(left > 0 ? left : 0);
      if (a.revert_attempts() > 0) revert_failing.with(labels).set(a.revert_attempts());
    }
    if (session) connected.with({}).set(session->connected() ? 1 : 0);
    owed.with({}).set(static_cast<double>(journal.owed().size()));
  });
}

}  // namespace firedrill::agent
