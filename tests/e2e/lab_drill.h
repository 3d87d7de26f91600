// Runs an experiment file through the lab's controller (`firedrill run FILE`) and reads
// the finished run back over the run API, for the e2e tests that judge what a drill
// measured: its SLO rows, its data probes' read-back, its samples.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "firedrill/v1/run.pb.h"
#include "tests/e2e/lab_harness.h"

namespace firedrill::e2e {

WallTime wall(const google::protobuf::Timestamp& t);

struct Drill {
  Run cli;  // `firedrill run FILE --quiet`
  std::string id;
  v1::RunRecord record;
};

// Records a test failure when no run was started.
Drill drill(const Lab& lab, const std::string& file);

const v1::SloRow* slo(const v1::RunRecord& r, const std::string& objective, const std::string& probe);
const v1::DataReadBack* data(const v1::RunRecord& r, const std::string& probe);
// Samples of a probe that began and ended while the fault was in effect.
std::vector<const v1::ProbeSample*> during_fault(const v1::RunRecord& r, const std::string& probe);

// The lab's Prometheus (in ops): GET API_PATH ("/api/v1/query") with the form fields
// given, from the ops namespace as a user of the lab would; the answer's "data", or a
// test failure and null when it did not answer with status "success".
nlohmann::json prometheus(const Lab& lab, const std::string& api_path,
                          const std::vector<std::pair<std::string, std::string>>& fields);
// Instant query: the value of each series, by the value of `label` in it.
std::map<std::string, double> prometheus_values(const Lab& lab, const std::string& query, const std::string& label);

}  // namespace firedrill::e2e
