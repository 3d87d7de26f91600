// The lab with two controllers on PostgreSQL (lab.sh up --controllers 2): one controller
// in each data centre's ops segment, the database in chuncheon's, run by the lab as the
// postgres user; pangyo's leads. When pangyo's controller host loses its power,
// chuncheon's takes the lease and every agent comes over to it; `down` leaves nothing,
// PostgreSQL's processes and shared memory included.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/e2e/lab_harness.h"

namespace firedrill::e2e {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The uid a process runs as (its real uid), or -1.
long uid_of(int pid) {
  std::istringstream in(read_text("/proc/" + std::to_string(pid) + "/status"));
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("Uid:", 0) == 0) return std::stol(line.substr(4));
  }
  return -1;
}

std::string ns_of(const std::string& pid, const char* kind) {
  std::error_code ec;
  return fs::read_symlink("/proc/" + pid + "/ns/" + kind, ec).string();
}

TEST(LabControllers, ChuncheonTakesOverWhenPangyosControllerLosesPowerAndDownLeavesNothing) {
  Lab lab("two-site", Lab::Controller::kTwoOnPostgres);
  ASSERT_TRUE(fs::exists(lab.dir() + "/lab.env")) << "the lab did not come up";
  auto st = lab.status();
  EXPECT_NE(st.output.find("controller pg-ops (pangyo): up, leader"), std::string::npos) << st.output;
  EXPECT_NE(st.output.find("controller cc-ops (chuncheon): up, follower"), std::string::npos) << st.output;

  // PostgreSQL: the lab's own cluster, its server the postgres user's, in cc-ops's cgroup.
  std::string data = lab.host_dir("cc-ops") + "/postgres/data";
  int postmaster = 0;
  std::istringstream(read_text(data + "/postmaster.pid")) >> postmaster;
  ASSERT_GT(postmaster, 0) << "no postmaster.pid in " << data;
  struct stat pw {};
  ASSERT_EQ(::stat(data.c_str(), &pw), 0);
  EXPECT_EQ(uid_of(postmaster), static_cast<long>(pw.st_uid)) << "the server runs as the cluster's owner";
  EXPECT_NE(pw.st_uid, 0u) << "the cluster is not root's";
  EXPECT_NE(read_text("/proc/" + std::to_string(postmaster) + "/cgroup").find("/firedrill-lab/fdlt/hosts/cc-ops/postgres"),
            std::string::npos);
  // In cc-ops's network namespace, and an IPC namespace of its own: its SysV shared
  // memory goes with its last process, not into the machine's.
  struct stat netns {}, its_net {};
  ASSERT_EQ(::stat("/run/netns/fdlt-cc-ops", &netns), 0);
  ASSERT_EQ(::stat(("/proc/" + std::to_string(postmaster) + "/ns/net").c_str(), &its_net), 0);
  EXPECT_EQ(its_net.st_ino, netns.st_ino) << "PostgreSQL runs in cc-ops's network namespace";
  EXPECT_NE(ns_of(std::to_string(postmaster), "ipc"), ns_of("self", "ipc"));

  auto agents_at = [&](const std::string& host) {
    return sh("FIREDRILL_API=" + quote(lab.api_of(host)) + " " + quote(build_dir() + "/controller/firedrill") +
              " agents");
  };
  auto leader = agents_at("pg-ops");
  EXPECT_NE(leader.output.find("10 agent(s), 10 live"), std::string::npos) << leader.output;

  // pg-ops loses its power as a power loss does it (every process of its workload
  // cgroup, the controller's supervisor included, SIGKILLed; no boot): its agent
  // stays, and must go over to chuncheon with the rest.
  auto processes = lab.processes();
  auto programs = lab.agent_bpf_programs();
  std::ofstream(lab.cgroup() + "/hosts/pg-ops/cgroup.kill") << "1";
  EXPECT_TRUE(eventually([&] { return lab.status().output.find("controller cc-ops (chuncheon): up, leader") != std::string::npos; },
                         30s, 200ms))
      << lab.status().output << read_text(lab.host_dir("cc-ops") + "/controller/controller.log");
  EXPECT_TRUE(eventually([&] { return agents_at("cc-ops").output.find("10 agent(s), 10 live") != std::string::npos; },
                         30s, 500ms))
      << agents_at("cc-ops").output;

  auto problems = lab.down_and_check(processes, programs);
  for (auto& p : problems) ADD_FAILURE() << p;
  EXPECT_FALSE(fs::exists(data));
}

}  // namespace
}  // namespace firedrill::e2e
