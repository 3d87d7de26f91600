// The values a fault spec must keep beyond its schema (ranges, exclusive choices,
// sizes that are not absurd): one list, used by the controller when it checks an
// experiment file and by the agent before it applies a fault, so that both refuse the
// same spec with the same field named.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "firedrill/v1/fault.pb.h"

namespace firedrill {

struct FieldProblem {
  std::string field;    // below the FaultSpec: "resource.cpu.percent"
  std::string message;  // "must be between 1 and 100 (got 150)"
};

// Every problem of the spec's values. `duration`: the fault's lease, when known (a
// delay longer than the fault is refused).
std::vector<FieldProblem> fault_value_problems(const v1::FaultSpec& spec,
                                               std::optional<std::chrono::nanoseconds> duration = {});

// The first problem as "field: message", or "" when there is none.
std::string first_fault_value_problem(const v1::FaultSpec& spec);

}  // namespace firedrill
