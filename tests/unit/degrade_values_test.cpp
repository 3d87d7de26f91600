// Degradation fault specs with bad values: refused with the field named, by the one
// check the agent and the controller share, and in an experiment file at its line.
#include <gtest/gtest.h>

#include <google/protobuf/text_format.h>

#include "common/fault_values.h"
#include "controller/experiment/loader.h"

namespace firedrill {
namespace {

v1::FaultSpec spec(const std::string& text) {
  v1::FaultSpec s;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &s)) << text;
  return s;
}

TEST(DegradeValues, GoodSpecsHaveNoProblem) {
  for (const char* t : {
           "resource { workload_cgroup: \"\" cpu { } }",
           "resource { cgroup: \"a/b\" cpu { workers: 4 percent: 30 } }",
           "resource { workload_cgroup: \"redis\" memory { bytes: 1048576 } }",
           "resource { disk_fill { directory: \"/var/lib/x\" leave_free_bytes: 1000 } }",
           "resource { workload_cgroup: \"db\" io { directory: \"/data\" workers: 2 } }",
       }) {
    EXPECT_TRUE(fault_value_problems(spec(t)).empty()) << t << ": " << first_fault_value_problem(spec(t));
  }
}

TEST(DegradeValues, BadValuesNameTheirField) {
  struct Case {
    const char* spec;
    const char* field;
  };
  for (const Case& c : std::vector<Case>{
           {"resource { workload_cgroup: \"\" cpu { percent: 101 } }", "resource.cpu.percent"},
           {"resource { workload_cgroup: \"\" cpu { percent: -5 } }", "resource.cpu.percent"},
           {"resource { workload_cgroup: \"\" cpu { percent: nan } }", "resource.cpu.percent"},
           {"resource { workload_cgroup: \"\" cpu { workers: 5000 } }", "resource.cpu.workers"},
           {"resource { workload_cgroup: \"\" memory { } }", "resource.memory.bytes"},
           {"resource { workload_cgroup: \"\" memory { bytes: 18446744073709551615 } }", "resource.memory.bytes"},
           {"resource { cpu { } }", "resource"},
           {"resource { cgroup: \"\" cpu { } }", "resource.cgroup"},
           {"resource { disk_fill { directory: \"/d\" bytes: 1 leave_free_bytes: 1 } }", "resource.disk_fill"},
           {"resource { disk_fill { bytes: 1 } }", "resource.disk_fill.directory"},
           {"resource { workload_cgroup: \"\" io { directory: \"d\" } }", "resource.io.directory"},
           {"resource { workload_cgroup: \"\" io { directory: \"/d\" file_bytes: 18446744073709551615 } }",
            "resource.io.file_bytes"},
           {"resource { workload_cgroup: \"\" io { directory: \"/d\" workers: 65 } }", "resource.io.workers"},
           {"resource { workload_cgroup: \"\" }", "resource"},
       }) {
    auto problems = fault_value_problems(spec(c.spec));
    ASSERT_FALSE(problems.empty()) << c.spec;
    EXPECT_EQ(problems.front().field, c.field) << c.spec << ": " << problems.front().message;
    EXPECT_FALSE(problems.front().message.empty());
  }
}

TEST(DegradeValues, ExperimentFileErrorsPointAtTheField) {
  const char* yaml =
      "name: t\n"
      "targets: {selector: a=b}\n"
      "steps:\n"
      "  - fault: {resource: {workload_cgroup: redis, cpu: {percent: 250}}}\n"
      "    duration: 1m\n";
  auto got = experiment::parse_experiment(yaml, "x.yaml");
  ASSERT_EQ(got.diagnostics.size(), 1u);
  EXPECT_EQ(got.diagnostics[0].field, "steps[0].fault.resource.cpu.percent");
  EXPECT_EQ(got.diagnostics[0].pos.line, 4);
  EXPECT_NE(got.diagnostics[0].message.find("250"), std::string::npos) << got.diagnostics[0].message;
}

}  // namespace
}  // namespace firedrill
