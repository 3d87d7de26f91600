// Where an auditor finds each requirement's evidence in the report. The requirement
// texts are firedrill's own one-line summaries, not quotations; the status says
// whether this run's report holds the evidence (evidenced), part of it (partial), or
// not (missing), so that a gap is visible before the auditor finds it.
#include "controller/evidence/report_model.h"

namespace firedrill::evidence {

std::vector<ComplianceRow> compliance_rows(const ReportModel& m) {
  const auto& ms = m.timeline.milestones;
  const auto& res = m.results;
  bool faulted = !ms.fault_applied.empty();
  bool lifted = !ms.fault_lifted.empty();
  bool failed_over = !ms.failover.empty();
  bool recovered = !ms.recovery.empty();
  bool finished = res.verdict != "incomplete";
  auto measured = [&](const char* objective) {
    bool declared = false, result = false;
    for (auto& c : m.scenario.criteria) {
      if (c.objective != objective) continue;
      declared = true;
      for (auto& s : res.slos) result |= s.name == c.name && s.result != "no result";
    }
    return std::pair{declared, result};
  };
  auto [rto_declared, rto_measured] = measured("RTO");
  auto [rpo_declared, rpo_measured] = measured("RPO");
  bool failed = res.verdict == "fail" || res.verdict == "aborted" || res.verdict == "refused";
  bool remediation = !m.findings.empty();
  bool signed_chain = m.integrity.events > 0 && !m.integrity.signature.empty();
  auto status = [](bool full, bool some) { return full ? "evidenced" : (some ? "partial" : "missing"); };

  std::vector<ComplianceRow> rows;
  rows.push_back({"EU DORA", "Art. 11",
                  "Business continuity plans are tested, including switchover from primary to redundant capacity.",
                  fmt::format("Scenario and fault steps; per-host apply and revert times; switchover (failover) {}.",
                              failed_over ? "observed after " + human_ms(ms.failover_ms) : "not observed"),
                  {"#scenario", "#timeline", "#hosts"},
                  status(faulted && lifted && failed_over && finished, faulted)});
  rows.push_back({"EU DORA", "Art. 12",
                  "Recovery time and recovery point objectives are set and recovery is shown to meet them.",
                  fmt::format("Success criteria name the RTO ({}) and RPO ({}); results give the measured values.",
                              rto_declared ? (rto_measured ? "measured" : "declared, not measured") : "not declared",
                              rpo_declared ? (rpo_measured ? "measured" : "declared, not measured") : "not declared"),
                  {"#criteria", "#results"},
                  status(rto_measured && rpo_measured, rto_declared || rpo_declared)});
  rows.push_back({"EU DORA", "Art. 24-25",
                  "A resilience testing programme with documented results; weaknesses found are remediated.",
                  fmt::format("Test type {}, identity and results of this run; {} finding(s) with owner and due date.",
                              m.identity.test_type, m.findings.size()),
                  {"#identity", "#results", "#findings"},
                  status(finished && (!failed || remediation), finished)});
  rows.push_back({"KR disaster-management plan", "Redundancy and drills",
                  "Major online services keep redundant capacity and drill the switch to it at least yearly.",
                  fmt::format("Targets by data centre and rack; the drill's failover and recovery times ({}).",
                              recovered ? "recovered after " + human_ms(ms.recovery_ms) : "recovery not observed"),
                  {"#scope", "#timeline", "#results"},
                  status(faulted && failed_over && recovered, faulted)});
  rows.push_back({"KR disaster-management plan", "User notice",
                  "Users are told of an outage that lasts longer than the notice threshold (2 hours by default).",
                  fmt::format("Longest outage seen by probes {} against a threshold of {}: notice {}.",
                              human_ms(res.longest_outage_ms), human_ms(res.user_notice_threshold_ms),
                              res.user_notice_required ? "required" : "not required"),
                  {"#results"},
                  status(res.user_notice_threshold_ms > 0 && !m.probes.empty(), res.user_notice_threshold_ms > 0)});
  rows.push_back({"ISO 22301", "8.5",
                  "Exercises based on scenarios with defined objectives, a post-exercise report, and actions taken.",
                  "Scenario and hypothesis; success criteria; timeline; results; findings and their retests.",
                  {"#scenario", "#criteria", "#timeline", "#results", "#findings"},
                  status(finished && !m.scenario.scenario.empty() && !m.scenario.criteria.empty() &&
                             (!failed || remediation),
                         !m.scenario.scenario.empty())});
  rows.push_back({"SOC 2", "A1.3", "Recovery plan procedures that support system recovery are tested.",
                  fmt::format("Fault lifted at {}; recovery {}; verdict {}.", ms.fault_lifted.empty() ? "-" : ms.fault_lifted,
                              recovered ? "after " + human_ms(ms.recovery_ms) : "not observed", res.verdict),
                  {"#timeline", "#results"}, status(lifted && recovered && finished, faulted)});
  rows.push_back({"NIST SP 800-53", "CP-4",
                  "The contingency plan is tested, results are reviewed, and corrective actions are started.",
                  fmt::format("Approvals ({}), participants, results, findings with owners ({}).",
                              m.people.approvals.size(), m.findings.size()),
                  {"#people", "#results", "#findings"},
                  status(finished && !m.people.approvals.empty() && (!failed || remediation), finished)});
  rows.push_back({"NIST SP 800-53", "AU-9(3)",
                  "The integrity of audit records is protected with cryptography.",
                  fmt::format("{} events in a SHA-256 hash chain; head signed with Ed25519 key {}; findings signed.",
                              m.integrity.events, m.integrity.key_fingerprint.empty() ? "-" : m.integrity.key_fingerprint),
                  {"#integrity"}, status(signed_chain, m.integrity.events > 0)});
  return rows;
}

}  // namespace firedrill::evidence
