// What a run's evidence log records: one struct per event kind. The runner fills
// these and appends them through EvidenceLog (evidence_log.h); the report is built
// from them alone. Times are wall-clock UTC (agent times as the agents reported them);
// a default-constructed WallTime means "not known" and is written as "".
//
// Each struct maps to the "data" member of an event; the JSON names are the member
// names below. Adding a member is compatible (old events read it as its default);
// renaming or removing one breaks the verification of old reports, so never do it.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/time.h"
#include "controller/evidence/canonical.h"

namespace firedrill::evidence {

enum class EventKind {
  kRunCreated,       // first event of every run
  kApproval,         // an approver's decision
  kTargetsResolved,  // which hosts, which excluded and why
  kGuardVerdict,     // the blast-radius guard, at preflight and before each step
  kRunState,         // the runner's state machine moved
  kFaultApplied,     // one host acknowledged (or refused) one fault
  kFaultReverted,    // one host reverted one fault
  kProbeSamples,     // raw probe samples, in batches
  kProbeSummary,     // a faithful summary of samples, when raw samples are too many
  kDataCheck,        // the RPO probe's markers written and read back
  kSloResult,        // one SLO measured and judged
  kMilestone,        // detection / failover / fault lifted / recovery, stated by the runner
  kAbort,            // the run was aborted
  kVerdict,          // last event of every finished run
  kNote,             // an operator's remark during the run
  kHandover,         // the run went on at another controller (a takeover)
};

std::string_view to_string(EventKind kind);
Result<EventKind> parse_event_kind(std::string_view text);

enum class TestType { kGameDay, kContinuous, kAdHoc };
std::string_view to_string(TestType t);
Result<TestType> parse_test_type(std::string_view text);

struct Participant {
  std::string name;
  std::string role;  // "incident commander", "observer", ...
};

// A success criterion as the experiment declared it.
struct SloTarget {
  std::string name;        // "messaging failover"
  std::string kind;        // availability, failover_time, recovery_time, max_unavailability,
                           // time_to_detect, latency_p99, data_loss, ...
  std::string probe;       // the probe it is computed from
  std::string comparator;  // "<=" or ">="
  double threshold = 0;    // in `unit`
  std::string unit;        // "s", "ms", "ratio", "markers"
  std::string objective;   // "RTO", "RPO" or "" : names the regulator's term it evidences
  std::string target_text;  // the target as the SLO engine writes it ("<= 30s"); wins over the above
};

struct StepPlan {
  int index = 0;
  std::string name;
  std::string fault;  // the fault in words or text proto ("power_loss {}")
  std::string selector;
  int64_t duration_ms = 0;
};

struct ProbePlan {
  std::string name;
  std::string kind;    // http, tcp, command, prometheus, data
  std::string target;  // "http://10.0.2.10:8080/health"
  int64_t interval_ms = 0;
  std::string location;  // where it runs from (outside the blast radius)
};

struct RunCreated {
  std::string experiment_name;
  std::string experiment_version;
  std::string experiment_sha256;  // of the experiment file as run
  std::string experiment_file;
  std::string scenario;    // in words
  std::string hypothesis;  // in words
  TestType test_type = TestType::kAdHoc;
  std::string environment;  // "staging", "production"
  std::string controller_version;
  std::string controller_host;
  std::string owner;
  std::vector<Participant> participants;
  int required_approvals = 0;
  std::string selector;  // targets as declared
  std::string mode;      // all, count(n), percent(p), one per domain
  std::vector<std::string> blast_radius;  // each declared rule in words
  std::vector<StepPlan> steps;
  std::vector<ProbePlan> probes;
  std::vector<SloTarget> slos;
  int64_t abort_unavailability_ms = 0;
  int64_t user_notice_threshold_ms = 2 * 3600 * 1000;  // outage users must be told of
  int sustain_samples = 3;  // consecutive good samples that make "sustained" success
  // What `firedrill run` changed in the file: "--set steps.0.duration=30s", "-l rack=p2"
  // (the plan above is the file with these applied).
  std::vector<std::string> overrides;
};

struct Approval {
  std::string approver;
  std::string role;
  std::string decision = "approved";  // approved | rejected
  std::string comment;
  WallTime at;
};

struct TargetHost {
  std::string host;
  std::string agent_id;
  std::string dc;
  std::string rack;
  std::string agent_version;
  std::map<std::string, std::string> tags;
};

struct Exclusion {
  std::string host;
  std::string reason;  // "protected selector role=controller", "agent not live", ...
};

// The targets.from_command that chose a step's hosts at preflight.
struct TargetCommand {
  std::string command;
  std::string status;  // "exit 0", "exit 2: ...", "timed out after 30s"
  std::string output;  // its stdout (at most 64 KiB)
  std::string stderr_text;
  std::string chose;   // "hosts p1-h1,p1-h2" or "selector rack=p2"; "" when refused
  std::string error;   // why its output chose no targets
};

struct TargetsResolved {
  std::string selector;
  std::string mode;
  std::vector<TargetHost> hosts;
  std::vector<Exclusion> excluded;
  int fleet_size = 0;
  std::vector<TargetCommand> from_command;  // at most one: the command behind `selector`
};

struct GuardRule {
  std::string rule;  // "max_domains dc <= 1"
  bool ok = true;
  std::string detail;  // "touches dc=pangyo only"
};

struct GuardVerdict {
  std::string phase;  // "preflight", "step 1"
  bool allowed = true;
  std::vector<GuardRule> rules;
  std::string summary;
};

struct RunState {
  std::string state;  // pending, preflight, steady_state, inject, observe, revert, recover, verdict
  int step = 0;
  std::string detail;
};

// One part of a fault as the agent saw it take effect (its own clock).
struct EffectPart {
  std::string part;    // "network cut", "freeze", "fs shutdown", "kill"
  WallTime at;
  std::string source;  // "kernel: first dropped packet", "agent"
};

struct FaultApplied {
  std::string host;
  std::string agent_id;
  int step = 0;
  std::string fault_id;
  std::string fault_kind;  // blackhole, power_loss, kill, ...
  WallTime not_before;     // the common start the controller asked for
  WallTime applied_at;     // when the agent says it took effect (its earliest part)
  WallTime expires_at;     // the lease
  bool ok = true;
  std::string error;  // why the agent refused
  std::vector<EffectPart> effects;
  // The agent's clock when it reported them (adjtimex): -1 when not reported.
  int clock_synchronized = -1;
  int64_t clock_max_error_us = -1;
  int64_t clock_est_error_us = -1;
  bool lose_unsynced = false;  // a power loss that shut its data file systems down
};

struct FaultReverted {
  std::string host;
  std::string agent_id;
  int step = 0;
  std::string fault_id;
  WallTime reverted_at;
  std::string reason;  // "duration over", "abort", "lease expired", "operator halt"
  bool ok = true;
  std::string error;
};

struct ProbeSample {
  WallTime at;
  bool ok = true;
  int64_t latency_us = 0;
  std::string error;
};

struct ProbeSamples {
  std::string probe;
  std::vector<ProbeSample> samples;
};

// A faithful summary: the window cut into buckets, each with counts and latency, and
// every failed interval exactly (so outages keep their true start and end).
struct SummaryBucket {
  WallTime from;
  WallTime to;
  int64_t total = 0;
  int64_t good = 0;
  int64_t latency_p50_us = 0;
  int64_t latency_max_us = 0;
};

struct FailedInterval {
  WallTime from;  // first failed sample
  WallTime to;    // first good sample after it (or the last failed one)
  int64_t samples = 0;
  std::string error;
};

struct ProbeSummary {
  std::string probe;
  std::vector<SummaryBucket> buckets;
  std::vector<FailedInterval> failures;
};

struct DataCheck {
  std::string probe;
  int64_t written = 0;
  int64_t acknowledged = 0;
  int64_t read_back = 0;
  int64_t lost = 0;          // acknowledged but not read back
  int64_t lost_span_ms = 0;  // time between the first and last lost marker's writes
  WallTime first_lost_at;
  WallTime last_lost_at;
};

struct SloResult {
  std::string name;  // matches SloTarget::name
  double measured = 0;
  std::string unit;
  bool pass = false;
  bool measured_set = true;  // false: could not be measured (then it fails)
  std::string detail;
  std::string measured_text;  // as the SLO engine writes it ("12.3s", "never"); wins over measured
};

struct Milestone {
  std::string name;  // detection | failover | fault_lifted | recovery | any other word
  WallTime at;
  std::string detail;
};

struct Abort {
  std::string reason;
  std::string by;  // "slo:messaging availability", "operator alice", "lost agent p1-h3"
  WallTime at;
};

struct Verdict {
  std::string outcome;  // pass | fail | aborted | refused (never injected)
  std::string reason;
};

struct Note {
  std::string by;
  std::string text;
};

// The controller that led the run was lost and another took over: from then on the
// run's events are signed with the new controller's key. Nothing was measured in
// [probe_gap_from, probe_gap_to) (each probe has one sample there that is no success).
struct Handover {
  std::string from_controller;
  WallTime lost_at;            // the lost controller's last lease renewal
  std::string to_controller;
  int64_t epoch = 0;           // the new leader's (the database fences the old one's writes)
  WallTime led_at;             // when the new one took the lease
  WallTime probe_gap_from;
  WallTime probe_gap_to;
  bool within_grace = false;   // false: the agents had reverted the faults; the run ends aborted
};

// JSON of each payload: member names as written above, every member always written
// (so the canonical form does not depend on which were set).
NLOHMANN_JSON_SERIALIZE_ENUM(TestType, {{TestType::kGameDay, "game_day"},
                                        {TestType::kContinuous, "continuous"},
                                        {TestType::kAdHoc, "ad_hoc"}})
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(Participant, name, role)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(SloTarget, name, kind, probe, comparator, threshold, unit, objective,
                                               target_text)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(StepPlan, index, name, fault, selector, duration_ms)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(ProbePlan, name, kind, target, interval_ms, location)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(RunCreated, experiment_name, experiment_version, experiment_sha256, experiment_file, scenario, hypothesis, test_type, environment, controller_version, controller_host, owner, participants, required_approvals, selector, mode, blast_radius, steps, probes, slos, abort_unavailability_ms, user_notice_threshold_ms, sustain_samples, overrides)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(Approval, approver, role, decision, comment, at)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(TargetHost, host, agent_id, dc, rack, agent_version, tags)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(Exclusion, host, reason)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(TargetCommand, command, status, output, stderr_text, chose, error)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(TargetsResolved, selector, mode, hosts, excluded, fleet_size, from_command)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(GuardRule, rule, ok, detail)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(GuardVerdict, phase, allowed, rules, summary)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(RunState, state, step, detail)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(EffectPart, part, at, source)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(FaultApplied, host, agent_id, step, fault_id, fault_kind, not_before,
                                               applied_at, expires_at, ok, error, effects, clock_synchronized,
                                               clock_max_error_us, clock_est_error_us, lose_unsynced)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(FaultReverted, host, agent_id, step, fault_id, reverted_at, reason, ok, error)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(ProbeSample, at, ok, latency_us, error)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(ProbeSamples, probe, samples)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(SummaryBucket, from, to, total, good, latency_p50_us, latency_max_us)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(FailedInterval, from, to, samples, error)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(ProbeSummary, probe, buckets, failures)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(DataCheck, probe, written, acknowledged, read_back, lost, lost_span_ms, first_lost_at, last_lost_at)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(SloResult, name, measured, unit, pass, measured_set, detail,
                                               measured_text)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(Milestone, name, at, detail)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(Abort, reason, by, at)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(Verdict, outcome, reason)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(Note, by, text)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(Handover, from_controller, lost_at, to_controller, epoch, led_at,
                                               probe_gap_from, probe_gap_to, within_grace)

template <typename T>
struct EventKindOf;
#define FD_EVIDENCE_KIND(T, K) \
  template <>                  \
  struct EventKindOf<T> {      \
    static constexpr EventKind kKind = EventKind::K; \
  };
FD_EVIDENCE_KIND(RunCreated, kRunCreated)
FD_EVIDENCE_KIND(Approval, kApproval)
FD_EVIDENCE_KIND(TargetsResolved, kTargetsResolved)
FD_EVIDENCE_KIND(GuardVerdict, kGuardVerdict)
FD_EVIDENCE_KIND(RunState, kRunState)
FD_EVIDENCE_KIND(FaultApplied, kFaultApplied)
FD_EVIDENCE_KIND(FaultReverted, kFaultReverted)
FD_EVIDENCE_KIND(ProbeSamples, kProbeSamples)
FD_EVIDENCE_KIND(ProbeSummary, kProbeSummary)
FD_EVIDENCE_KIND(DataCheck, kDataCheck)
FD_EVIDENCE_KIND(SloResult, kSloResult)
FD_EVIDENCE_KIND(Milestone, kMilestone)
FD_EVIDENCE_KIND(Abort, kAbort)
FD_EVIDENCE_KIND(Verdict, kVerdict)
FD_EVIDENCE_KIND(Note, kNote)
FD_EVIDENCE_KIND(Handover, kHandover)
#undef FD_EVIDENCE_KIND

// Reads a payload, turning nlohmann's exceptions into an Error naming the kind.
template <typename T>
Result<T> payload_from_json(const Json& j) {
  try {
    return j.get<T>();
  } catch (const std::exception& e) {
    return make_error("{} event data: {}", to_string(EventKindOf<T>::kKind), e.what());
  }
}

}  // namespace firedrill::evidence
