// What the connection and DNS fault suites share: a namespace and a cgroup of the
// test with a selected child (target), one left alone (other) and the agent's own,
// the agent's options, commands run inside, and the hooks a cgroup has attached.
// Made here: namespace fdp-<pid>-<what>, cgroups <cgroup2>/fdp-test-<pid>-<what>/...
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/integration/proc_lab.h"

namespace fdp {

struct Out {
  int code = -1;
  std::string out;
};

struct SockLab {
  explicit SockLab(const std::string& what) : ns(what), cg(what) {
    target = cg.child("target");
    other = cg.child("other");
    agent_dir = cg.child("agent");
  }

  Agent::Options agent_options() const {
    Agent::Options o;
    o.args = {"--workload-cgroup", cg.rel(), "--no-watcher"};
    o.cgroup_dir = agent_dir;
    o.ns = &ns;
    return o;
  }

  // Runs argv inside `cgroup_dir` and the namespace; its output.
  Out run(const std::string& cgroup_dir, const std::vector<std::string>& argv, std::chrono::milliseconds timeout = 30s) {
    std::string file = dir.file("out-" + std::to_string(n++));
    auto child = Child::spawn(argv, cgroup_dir, &ns, file);
    Out o;
    o.code = child.wait(timeout);
    o.out = read_file(file);
    return o;
  }

  // The programs attached to a cgroup, as bpftool lists them.
  std::string attached(const std::string& cgroup_dir) const {
    return fdp::run({"/usr/sbin/bpftool", "cgroup", "show", cgroup_dir}).out;
  }

  TempDir dir;
  Netns ns;
  TestCgroup cg;
  std::string target, other, agent_dir;
  int n = 0;
};

// An apply the agent acknowledged as applied.
inline void expect_applied(const RunResult& r) {
  ASSERT_EQ(r.code, 0) << r.out;
  ASSERT_EQ(r.out.find("ACK_REFUSED"), std::string::npos) << r.out;
}

// A spec the agent must refuse, and what its refusal must name (the field).
struct Refusal {
  std::string spec, expect;
};

inline void expect_refused(const Agent& agent, const std::vector<Refusal>& cases) {
  int i = 0;
  for (const auto& c : cases) {
    auto r = agent.apply("bad" + std::to_string(i++), "30s", c.spec);
    EXPECT_NE(r.out.find("ACK_REFUSED"), std::string::npos) << c.spec << "\n" << r.out;
    EXPECT_NE(r.out.find(c.expect), std::string::npos) << c.spec << "\nexpected: " << c.expect << "\n" << r.out;
  }
}

}  // namespace fdp
