#include "controller/evidence/events.h"

#include <array>
#include <utility>

namespace firedrill::evidence {

namespace {

constexpr std::array<std::pair<EventKind, std::string_view>, 16> kKindNames{{
    {EventKind::kRunCreated, "run_created"},
    {EventKind::kApproval, "approval"},
    {EventKind::kTargetsResolved, "targets_resolved"},
    {EventKind::kGuardVerdict, "guard_verdict"},
    {EventKind::kRunState, "run_state"},
    {EventKind::kFaultApplied, "fault_applied"},
    {EventKind::kFaultReverted, "fault_reverted"},
    {EventKind::kProbeSamples, "probe_samples"},
    {EventKind::kProbeSummary, "probe_summary"},
    {EventKind::kDataCheck, "data_check"},
    {EventKind::kSloResult, "slo_result"},
    {EventKind::kMilestone, "milestone"},
    {EventKind::kAbort, "abort"},
    {EventKind::kVerdict, "verdict"},
    {EventKind::kNote, "note"},
    {EventKind::kHandover, "handover"},
}};

}  // namespace

std::string_view to_string(EventKind kind) {
  for (auto& [k, name] : kKindNames) {
    if (k == kind) return name;
  }
  return "unknown";
}

Result<EventKind> parse_event_kind(std::string_view text) {
  for (auto& [k, name] : kKindNames) {
    if (name == text) return k;
  }
  return make_error("unknown event kind '{}'", text);
}

std::string_view to_string(TestType t) {
  switch (t) {
    case TestType::kGameDay: return "game_day";
    case TestType::kContinuous: return "continuous";
    case TestType::kAdHoc: return "ad_hoc";
  }
  return "ad_hoc";
}

Result<TestType> parse_test_type(std::string_view text) {
  if (text == "game_day" || text == "game-day") return TestType::kGameDay;
  if (text == "continuous") return TestType::kContinuous;
  if (text == "ad_hoc" || text == "ad-hoc") return TestType::kAdHoc;
  return make_error("unknown test type '{}' (use game_day, continuous or ad_hoc)", text);
}

}  // namespace firedrill::evidence
