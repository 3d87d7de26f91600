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
           "network { corrupt { percent: 1 fix_checksums: true } }",
           "network { duplicate { percent: 100 } }",
           "network { delay { delay_us: 100 jitter_us: 50 match { direction: DIRECTION_EGRESS } } }",
           "connection { workload_cgroups: \"web\" to_server_latency { fixed_us: 1000 jitter_us: 100 } }",
           "connection { cgroups: \"a/b\" match { dst_cidrs: \"10.0.0.0/8\" protocol: L4_TCP } "
           "to_client_bandwidth { bytes_per_sec: 1000 } reset { after_bytes: 10 percent: 50 } }",
           "connection { workload_cgroups: \"\" stall { never_answer: true } }",
           "connection { workload_cgroups: \"\" stall { slow_close_us: 100 } max_connections: 10 }",
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
           {"network { corrupt { percent: 0 } }", "network.corrupt.percent"},
           {"network { corrupt { percent: 100.5 } }", "network.corrupt.percent"},
           {"network { duplicate { percent: -3 } }", "network.duplicate.percent"},
           {"network { delay { match { direction: DIRECTION_EGRESS } } }", "network.delay.delay_us"},
           {"network { delay { delay_us: 20000000 match { direction: DIRECTION_EGRESS } } }", "network.delay.delay_us"},
           {"network { delay { delay_us: 1000 jitter_us: 20000000 match { direction: DIRECTION_EGRESS } } }",
            "network.delay.jitter_us"},
           {"network { delay { delay_us: 1000 } }", "network.delay.match.direction"},
           {"connection { to_server_latency { fixed_us: 1 } }", "connection"},
           {"connection { cgroups: \"\" to_server_latency { fixed_us: 1 } }", "connection.cgroups[0]"},
           {"connection { workload_cgroups: \"w\" }", "connection"},
           {"connection { workload_cgroups: \"w\" to_server_latency { } }", "connection.to_server_latency"},
           {"connection { workload_cgroups: \"w\" to_client_latency { fixed_us: 20000000 } }",
            "connection.to_client_latency.fixed_us"},
           {"connection { workload_cgroups: \"w\" to_server_bandwidth { } }",
            "connection.to_server_bandwidth.bytes_per_sec"},
           {"connection { workload_cgroups: \"w\" to_client_bandwidth { bytes_per_sec: 0 } }",
            "connection.to_client_bandwidth.bytes_per_sec"},
           {"connection { workload_cgroups: \"w\" reset { percent: -1 } }", "connection.reset.percent"},
           {"connection { workload_cgroups: \"w\" reset { percent: 101 } }", "connection.reset.percent"},
           {"connection { workload_cgroups: \"w\" stall { } }", "connection.stall"},
           {"connection { workload_cgroups: \"w\" stall { never_answer: true } reset { } }",
            "connection.stall.never_answer"},
           {"connection { workload_cgroups: \"w\" match { protocol: L4_UDP } reset { } }",
            "connection.match.protocol"},
           {"connection { workload_cgroups: \"w\" match { src_cidrs: \"1.2.3.4\" } reset { } }",
            "connection.match.src_cidrs"},
           {"connection { workload_cgroups: \"w\" match { direction: DIRECTION_EGRESS } reset { } }",
            "connection.match.direction"},
           {"connection { workload_cgroups: \"w\" reset { } max_connections: 100000 }", "connection.max_connections"},
       }) {
    auto problems = fault_value_problems(spec(c.spec));
    ASSERT_FALSE(problems.empty()) << c.spec;
    EXPECT_EQ(problems.front().field, c.field) << c.spec << ": " << problems.front().message;
    EXPECT_FALSE(problems.front().message.empty());
  }
}

TEST(DegradeValues, ADelayLongerThanTheFaultIsRefused) {
  auto s = spec("network { delay { delay_us: 3000000 jitter_us: 1000000 match { direction: DIRECTION_EGRESS } } }");
  EXPECT_TRUE(fault_value_problems(s, std::chrono::seconds(5)).empty());
  auto p = fault_value_problems(s, std::chrono::seconds(4));
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].field, "network.delay.delay_us");
  EXPECT_NE(p[0].message.find("not shorter than the fault"), std::string::npos) << p[0].message;
}

TEST(DegradeValues, AConnectionLatencyLongerThanTheFaultIsRefused) {
  auto s = spec("connection { workload_cgroups: \"w\" to_client_latency { fixed_us: 2000000 jitter_us: 1000000 } }");
  EXPECT_TRUE(fault_value_problems(s, std::chrono::seconds(4)).empty());
  auto p = fault_value_problems(s, std::chrono::seconds(3));
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].field, "connection.to_client_latency.fixed_us");
  EXPECT_NE(p[0].message.find("not shorter than the fault"), std::string::npos) << p[0].message;
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

  const char* late =
      "name: t\n"
      "targets: {selector: a=b}\n"
      "steps:\n"
      "  - fault: {network: {delay: {delay_us: 3000000, match: {direction: DIRECTION_EGRESS}}}}\n"
      "    duration: 2s\n";
  got = experiment::parse_experiment(late, "late.yaml");
  ASSERT_EQ(got.diagnostics.size(), 1u);
  EXPECT_EQ(got.diagnostics[0].field, "steps[0].fault.network.delay.delay_us");
}

// The shipped slow-redis game day asks what its comment says: 150 ms each way from the
// web service to the Redis primary's port, and a p95 latency SLO the fault must break.
TEST(DegradeValues, SlowRedisExperimentSlowsTheWebTiersRedisConnections) {
  auto got = experiment::load_experiment_file("experiments/slow-redis.yaml");
  ASSERT_TRUE(got.ok()) << got.diagnostics.size();
  const auto& e = got.experiment;
  ASSERT_EQ(e.steps_size(), 1);
  const auto& c = e.steps(0).fault().connection();
  EXPECT_EQ(c.workload_cgroups(0), "web");
  EXPECT_EQ(c.match().dst_cidrs(0), "10.210.1.11");
  EXPECT_EQ(c.match().dst_ports(0).first(), 6379u);
  EXPECT_EQ(c.to_server_latency().fixed_us() + c.to_client_latency().fixed_us(), 300000u);
  EXPECT_EQ(e.targets().selector(), "web=true");
  ASSERT_TRUE(e.slo().has_latency());
  // The added round trip alone is past the SLO's bound.
  EXPECT_LT(e.slo().latency().max().seconds() * 1000 + e.slo().latency().max().nanos() / 1000000, 300);
}

}  // namespace
}  // namespace firedrill
