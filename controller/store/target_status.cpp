#include "controller/store/target_status.h"

#include <google/protobuf/unknown_field_set.h>

#include <array>
#include <utility>

namespace firedrill::controller {
namespace {

constexpr std::array<std::pair<v1::TargetStatus, std::string_view>, 10> kNames{{
    {v1::TARGET_STATUS_SENDING, "sending"},
    {v1::TARGET_STATUS_SCHEDULED, "scheduled"},
    {v1::TARGET_STATUS_APPLIED, "applied"},
    {v1::TARGET_STATUS_REFUSED, "refused"},
    {v1::TARGET_STATUS_FAILED, "failed"},
    {v1::TARGET_STATUS_NO_ANSWER, "no answer"},
    {v1::TARGET_STATUS_NOT_IN_EFFECT, "not in effect"},
    {v1::TARGET_STATUS_REVERTED, "reverted"},
    {v1::TARGET_STATUS_ENDED_EARLY, "ended early"},
    {v1::TARGET_STATUS_REVERT_FAILING, "revert failing"},
}};

// Where FaultRecord kept its status as text before schema 4.
constexpr int kTextStatusField = 4;

}  // namespace

std::string target_status_name(v1::TargetStatus status) {
  for (const auto& [s, name] : kNames) {
    if (s == status) return std::string(name);
  }
  return "";
}

std::optional<v1::TargetStatus> target_status_of(std::string_view name) {
  if (name == "lost") return v1::TARGET_STATUS_NO_ANSWER;
  for (const auto& [s, n] : kNames) {
    if (n == name) return s;
  }
  return std::nullopt;
}

Result<bool> upgrade_run_record(v1::RunRecord& run) {
  bool changed = false;
  for (auto& step : *run.mutable_steps()) {
    for (auto& f : *step.mutable_faults()) {
      auto* unknown = f.GetReflection()->MutableUnknownFields(&f);
      for (int i = 0; i < unknown->field_count(); ++i) {
        const auto& field = unknown->field(i);
        if (field.number() != kTextStatusField ||
            field.type() != google::protobuf::UnknownField::TYPE_LENGTH_DELIMITED) {
          continue;
        }
        const std::string& word = field.length_delimited();
        auto s = target_status_of(word);
        if (!s) {
          return make_error("run {}: fault {} on {}: status '{}' is not one firedrill wrote", run.id(), f.fault_id(),
                            f.agent_id(), word);
        }
        f.set_status(*s);
        unknown->DeleteSubrange(i, 1);
        changed = true;
        break;
      }
    }
  }
  return changed;
}

}  // namespace firedrill::controller
