// The report: everything an auditor reads, derived from a run's signed events (and
// the signed finding records linked to it) alone. build_model is a pure function of
// that evidence, so `report verify` can derive it again and show that nothing in the
// rendered report differs from what the log says.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "controller/evidence/canonical.h"
#include "controller/evidence/events.h"
#include "controller/evidence/findings.h"

namespace firedrill::evidence {

struct Identity {
  std::string run_id;
  std::string experiment_name;
  std::string experiment_version;
  std::string experiment_sha256;
  std::string experiment_file;
  std::string test_type;
  std::string environment;
  std::string started_at;
  std::string ended_at;  // "" while the run has no verdict
  int64_t duration_ms = 0;
  std::string controller_version;
  std::string controller_host;
  std::vector<std::string> agent_versions;  // "0.1.0 (p1-h1, p1-h2)"
  std::vector<std::string> overrides;       // the command line's changes to the file
};

struct HostRow {
  std::string host;
  std::string agent_id;
  std::string dc;
  std::string rack;
  std::string agent_version;
};

struct Scope {
  std::string selector;
  std::string mode;
  int fleet_size = 0;
  std::vector<HostRow> hosts;
  std::vector<std::string> domains;  // "dc=pangyo: rack p1 (2 hosts), rack p2 (1 host)"
  std::vector<Exclusion> excluded;
  std::vector<std::string> blast_radius;
  std::vector<GuardVerdict> guard;
  std::vector<TargetCommand> from_command;  // the commands that chose targets at preflight
};

struct CriterionRow {
  std::string name;
  std::string kind;
  std::string probe;
  std::string target;     // "<= 60s"
  std::string objective;  // RTO | RPO | ""
};

struct Scenario {
  std::string scenario;
  std::string hypothesis;
  std::vector<StepPlan> steps;
  std::vector<ProbePlan> probes;
  std::vector<CriterionRow> criteria;
  int64_t abort_unavailability_ms = 0;
  int64_t user_notice_threshold_ms = 0;
};

struct ApprovalRow {
  std::string approver;
  std::string role;
  std::string decision;
  std::string at;
  std::string comment;
};

struct People {
  std::string owner;
  int required_approvals = 0;
  std::vector<ApprovalRow> approvals;
  std::vector<Participant> participants;
};

struct TimelineEntry {
  std::string at;
  int64_t offset_ms = 0;  // from the fault's start (negative before it)
  std::string kind;       // state | guard | fault | revert | probe | milestone | abort | verdict | note | approval
  std::string what;
  std::string source;  // "stated" (an event said so) or "derived" (computed from samples)
};

struct HostTiming {
  std::string host;
  int step = 0;
  std::string fault_id;
  std::string fault_kind;
  std::string not_before;
  std::string applied_at;
  int64_t start_offset_us = 0;  // applied_at - not_before
  std::string reverted_at;
  std::string revert_reason;
  bool ok = true;
  std::string error;
};

struct StepTiming {
  int index = 0;
  std::string name;
  std::string first_applied;
  std::string last_applied;
  int64_t start_spread_us = 0;  // last - first apply of the coordinated start
  std::string lifted_at;
  int hosts = 0;
  int refused = 0;
};

// The key moments; "" when not observed.
struct Milestones {
  std::string fault_applied;
  std::string first_failed_probe;
  std::string detection;
  std::string failover;
  std::string fault_lifted;
  std::string recovery;
  std::string aborted;
  int64_t time_to_detect_ms = -1;    // detection - fault applied
  int64_t failover_ms = -1;          // failover - fault applied
  int64_t recovery_ms = -1;          // recovery - fault lifted
  std::string source_detection;      // stated | derived
  std::string source_failover;
  std::string source_recovery;
  // Failover and recovery are when the success that ended them was observed (its
  // sample completed); these are the lower bounds, when that sample started. Derived
  // milestones only.
  std::string failover_started;
  std::string recovery_started;
  int64_t failover_started_ms = -1;  // failover_started - fault applied
  int64_t recovery_started_ms = -1;  // recovery_started - fault lifted
};

struct Timeline {
  Milestones milestones;
  std::vector<TimelineEntry> entries;
  std::vector<HostTiming> hosts;
  std::vector<StepTiming> steps;
  std::string window_start;  // what the charts span
  std::string window_end;
  std::vector<Handover> handovers;  // takeovers during the run (none: left out of the JSON)
};

struct ProbePoint {
  std::string at;
  int64_t offset_ms = 0;  // from window_start
  bool ok = true;
  int64_t latency_us = 0;
  int64_t total = 1;  // > 1 for a summary bucket
  int64_t good = 1;
};

struct ProbeSeries {
  std::string name;
  std::string kind;
  std::string target;
  bool summarized = false;  // built from probe_summary buckets rather than samples
  std::vector<ProbePoint> points;
  int64_t total = 0;
  int64_t good = 0;
  double availability = 0;  // good / total
  int64_t longest_outage_ms = 0;
  std::string longest_outage_from;
  std::string first_failure;
  int64_t latency_p50_us = 0;
  int64_t latency_p99_us = 0;
};

struct SloRow {
  std::string name;
  std::string kind;
  std::string objective;
  std::string target;
  std::string measured;  // "23.4s", "0.931", "0 markers", "not measured"
  std::string result;    // pass | fail | no result
  std::string detail;
};

struct Results {
  std::string verdict;  // pass | fail | aborted | incomplete
  std::string verdict_reason;
  std::string abort_reason;
  std::string abort_by;
  std::vector<SloRow> slos;
  std::vector<DataCheck> data;
  int64_t data_lost_markers = 0;
  int64_t data_lost_span_ms = 0;
  bool data_checked = false;
  int64_t longest_outage_ms = 0;
  std::string longest_outage_probe;
  int64_t user_notice_threshold_ms = 0;
  bool user_notice_required = false;
};

struct FindingRow {
  std::string id;
  int64_t rev = 0;
  std::string severity;
  std::string owner;
  std::string due;
  std::string title;
  std::string status;
  std::string run;
  std::string retest_run;
  std::string retest_verdict;
  std::string opened_at;  // the revision's time (that of rev 1 is in the record chain)
  std::string relation;   // "found in this run" | "retested by this run"
  std::string hash;
  std::string key;
};

struct ComplianceRow {
  std::string framework;    // "EU DORA"
  std::string clause;       // "Art. 11"
  std::string requirement;  // in our words
  std::string evidence;     // what in this report answers it
  std::vector<std::string> sections;  // anchors: #timeline, #results, ...
  std::string status;       // evidenced | partial | missing
};

struct Integrity {
  int64_t events = 0;
  std::string first_hash;
  std::string head;
  std::string signature;
  std::string key_fingerprint;
  // Every key that signed a part of the log, in order (a run continued at another
  // controller after a takeover has several); shown when there is more than one.
  std::vector<std::string> signed_by;
  std::string canonical_form;
  int64_t finding_records = 0;
};

struct Summary {
  std::string verdict;
  std::string headline;
  std::vector<std::string> figures;  // "failover 23.4s (RTO <= 60s)"
};

// What a fault did on each host, part by part, as the agents saw it (their clocks),
// and how far apart in time the hosts were: the fidelity of a simulated power loss.
struct FidelityPart {
  std::string part;       // "network cut", "freeze", "fs shutdown", "kill"
  std::string at;
  int64_t offset_us = 0;  // from not_before
  std::string source;
};

struct FidelityHost {
  std::string host;
  int step = 0;
  std::string fault_kind;
  std::vector<FidelityPart> parts;
  std::vector<std::string> did;  // "SIGKILL with no SIGTERM ...", "data file systems shut down ..."
  std::string clock;             // "synchronised, max error 12.5 ms" / "not synchronised" / "not reported"
};

struct FidelitySpread {
  int step = 0;
  std::string part;
  int hosts = 0;
  int64_t spread_us = 0;         // last host - first host
  int64_t max_clock_error_us = -1;  // the largest max error the hosts' clocks reported (-1: unknown)
};

struct Fidelity {
  std::vector<FidelityHost> hosts;
  std::vector<FidelitySpread> spreads;
  int64_t data_lost_markers = -1;  // what the data probes lost (-1: none ran)
};

struct ReportModel {
  Summary summary;
  Identity identity;
  Scope scope;
  Scenario scenario;
  People people;
  Timeline timeline;
  Fidelity fidelity;
  std::vector<ProbeSeries> probes;
  Results results;
  std::vector<FindingRow> findings;
  std::vector<ComplianceRow> compliance;
  Integrity integrity;
  std::vector<TimelineEntry> notes;
};

Json to_json(const ReportModel& m);

// Builds the report from the "evidence" member of a report document (document.h):
// the events with their hashes, the seal and the finding records. It reads the
// events as they are; verify.cpp checks them before trusting the result.
Result<ReportModel> build_model(const Json& evidence);

// The report's sections that are empty: the names of what is missing ("people.approvals",
// "timeline.failover", ...). Empty when the report is complete. Used by the tests and by
// the runner's end-to-end test on a real run.
std::vector<std::string> missing_sections(const ReportModel& m);

// The clause-to-evidence table (compliance.cpp).
std::vector<ComplianceRow> compliance_rows(const ReportModel& m);

// "23.4s", "1h2m", "350ms": durations as the report writes them.
std::string human_ms(int64_t ms);

}  // namespace firedrill::evidence
