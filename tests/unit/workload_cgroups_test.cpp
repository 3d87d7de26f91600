// ProcessSelector.workload_cgroups: a service named once for every host, resolved below
// each agent's own workload cgroup, and never outside it.
#include <gtest/gtest.h>

#include "agent/proc/selector.h"

namespace firedrill::agent::proc {
namespace {

v1::ProcessSelector with(std::initializer_list<const char*> rels) {
  v1::ProcessSelector s;
  for (auto r : rels) s.add_workload_cgroups(r);
  return s;
}

TEST(WorkloadCgroups, ResolvedBelowTheWorkloadCgroup) {
  struct Case {
    const char* rel;
    const char* want;
  } cases[] = {
      {"redis", "firedrill-lab/fdl/hosts/p1-h1/redis"},
      {"", "firedrill-lab/fdl/hosts/p1-h1"},
      {".", "firedrill-lab/fdl/hosts/p1-h1"},
      {"web/", "firedrill-lab/fdl/hosts/p1-h1/web"},
      {"a//b/./c", "firedrill-lab/fdl/hosts/p1-h1/a/b/c"},
  };
  for (auto& c : cases) {
    auto r = expand_workload_cgroups(with({c.rel}), "firedrill-lab/fdl/hosts/p1-h1");
    ASSERT_TRUE(r) << c.rel << ": " << r.error().describe();
    EXPECT_EQ(r->workload_cgroups_size(), 0);
    ASSERT_EQ(r->cgroups_size(), 1) << c.rel;
    EXPECT_EQ(r->cgroups(0), c.want) << c.rel;
  }
}

TEST(WorkloadCgroups, KeepsTheRestOfTheSelector) {
  auto s = with({"redis", "sentinel"});
  s.add_cgroups("other");
  s.add_comms("redis-server");
  s.add_pids(42);
  auto r = expand_workload_cgroups(s, "/w");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->cgroups_size(), 3);
  EXPECT_EQ(r->cgroups(0), "other");
  EXPECT_EQ(r->cgroups(1), "/w/redis");
  EXPECT_EQ(r->cgroups(2), "/w/sentinel");
  EXPECT_EQ(r->comms(0), "redis-server");
  EXPECT_EQ(r->pids(0), 42u);
}

TEST(WorkloadCgroups, RefusesToLeaveTheWorkloadCgroup) {
  for (const char* rel : {"..", "redis/../..", "../p2-h1/redis", "/firedrill-lab"}) {
    auto r = expand_workload_cgroups(with({rel}), "firedrill-lab/fdl/hosts/p1-h1");
    ASSERT_FALSE(r) << rel;
    EXPECT_NE(r.error().message.find(rel), std::string::npos) << r.error().describe();
  }
}

TEST(WorkloadCgroups, RefusedWithoutAWorkloadCgroup) {
  auto r = expand_workload_cgroups(with({"redis"}), "");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("--workload-cgroup"), std::string::npos) << r.error().describe();
  // A selector without workload_cgroups needs none.
  v1::ProcessSelector plain;
  plain.add_comms("x");
  EXPECT_TRUE(expand_workload_cgroups(plain, ""));
}

}  // namespace
}  // namespace firedrill::agent::proc
