// Run and fault ids, made by the runner. The fleet (controller/session) recognises its
// runs' faults only through run_of_fault(), which the daemon hands it.
#pragma once

#include <string>

namespace firedrill::runner {

// A run id, unique and sortable: "r-20261121T090000-3f9a1c".
std::string make_run_id();
// "<run_id>.<step>"; run_of_fault() gives the run back ("" for faults of no run).
std::string make_fault_id(const std::string& run_id, int step);
std::string run_of_fault(const std::string& fault_id);

}  // namespace firedrill::runner
