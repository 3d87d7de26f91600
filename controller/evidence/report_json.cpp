// The report model as JSON: the "report" member of a report document.
#include "controller/evidence/report_model.h"

namespace firedrill::evidence {

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Identity, run_id, experiment_name, experiment_version, experiment_sha256,
                                   experiment_file, test_type, environment, started_at, ended_at, duration_ms,
                                   controller_version, controller_host, agent_versions, overrides)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(HostRow, host, agent_id, dc, rack, agent_version)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Scope, selector, mode, fleet_size, hosts, domains, excluded, blast_radius, guard,
                                   from_command)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(CriterionRow, name, kind, probe, target, objective)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Scenario, scenario, hypothesis, steps, probes, criteria, abort_unavailability_ms,
                                   user_notice_threshold_ms)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ApprovalRow, approver, role, decision, at, comment)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(People, owner, required_approvals, approvals, participants)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(TimelineEntry, at, offset_ms, kind, what, source)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(HostTiming, host, step, fault_id, fault_kind, not_before, applied_at,
                                   start_offset_us, reverted_at, revert_reason, ok, error)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(StepTiming, index, name, first_applied, last_applied, start_spread_us, lifted_at,
                                   hosts, refused)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Milestones, fault_applied, first_failed_probe, detection, failover, fault_lifted,
                                   recovery, aborted, time_to_detect_ms, failover_ms, recovery_ms, source_detection,
                                   source_failover, source_recovery, failover_started, recovery_started,
                                   failover_started_ms, recovery_started_ms)
void to_json(Json& j, const Timeline& t) {
  j = Json{{"milestones", t.milestones}, {"entries", t.entries},           {"hosts", t.hosts},
           {"steps", t.steps},           {"window_start", t.window_start}, {"window_end", t.window_end}};
  if (!t.handovers.empty()) j["handovers"] = t.handovers;
}
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(FidelityPart, part, at, offset_us, source)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(FidelityHost, host, step, fault_kind, parts, did, clock)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(FidelitySpread, step, part, hosts, spread_us, max_clock_error_us)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Fidelity, hosts, spreads, data_lost_markers)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ProbePoint, at, offset_ms, ok, latency_us, total, good)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ProbeSeries, name, kind, target, summarized, points, total, good, availability,
                                   longest_outage_ms, longest_outage_from, first_failure, latency_p50_us,
                                   latency_p99_us)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(SloRow, name, kind, objective, target, measured, result, detail)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Results, verdict, verdict_reason, abort_reason, abort_by, slos, data,
                                   data_lost_markers, data_lost_span_ms, data_checked, longest_outage_ms,
                                   longest_outage_probe, user_notice_threshold_ms, user_notice_required)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(FindingRow, id, rev, severity, owner, due, title, status, run, retest_run,
                                   retest_verdict, opened_at, relation, hash, key)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ComplianceRow, framework, clause, requirement, evidence, sections, status)
void to_json(Json& j, const Integrity& in) {
  j = Json{{"events", in.events},
           {"first_hash", in.first_hash},
           {"head", in.head},
           {"signature", in.signature},
           {"key_fingerprint", in.key_fingerprint},
           {"canonical_form", in.canonical_form},
           {"finding_records", in.finding_records}};
  if (in.signed_by.size() > 1) j["signed_by"] = in.signed_by;
}
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Summary, verdict, headline, figures)

Json to_json(const ReportModel& m) {
  return Json{{"summary", m.summary},   {"identity", m.identity}, {"scope", m.scope},
              {"scenario", m.scenario}, {"people", m.people},     {"timeline", m.timeline}, {"fidelity", m.fidelity},
              {"probes", m.probes},     {"results", m.results},   {"findings", m.findings},
              {"compliance", m.compliance}, {"integrity", m.integrity}, {"notes", m.notes}};
}

}  // namespace firedrill::evidence
