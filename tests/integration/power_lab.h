// One simulated host for the power-loss suites: a network namespace (the "host") wired
// by a veth to a peer namespace (the rest of the network and the controller's side), a
// workload cgroup with a real supervised TCP server, and the real agent binary inside
// the host namespace, driven with `firedrill-agent ctl`. Needs root.
#pragma once

#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "tests/integration/proc_lab.h"

namespace fdp {

using namespace std::chrono_literals;

inline uint64_t counter_value(const std::string& status, const std::string& name) {
  auto p = status.find(name + ": ");
  if (p == std::string::npos) return 0;
  return std::stoull(status.substr(p + name.size() + 2));
}

constexpr uint16_t kWorkloadPort = 7201;  // the host's service, in the workload cgroup
constexpr uint16_t kInfraPort = 7202;     // a listener outside the workload: network only
constexpr uint16_t kMgmtPort = 7443;      // the controller's side: on the allow list
constexpr uint16_t kOtherPort = 7444;     // the peer, not on the allow list

// One simulated host and its neighbour.
struct PowerLab {
  explicit PowerLab(int subnet)
      : host("plh"),
        peer("plp"),
        cg("power" + std::to_string(subnet)),
        host_if("fdp" + std::to_string(::getpid() % 1000000) + "h"),
        peer_if("fdp" + std::to_string(::getpid() % 1000000) + "p"),
        host_ip("10.202." + std::to_string(subnet) + ".1"),
        peer_ip("10.202." + std::to_string(subnet) + ".2") {
    fdp::veth(host, host_if, host_ip + "/24", peer, peer_if, peer_ip + "/24");
    workload = cg.child("workload");
    infra = cg.child("infra");
    agent_dir = cg.child("agent");
    server = fdp::private_copy("/usr/bin/socat", dir, "fdp-wl");
    other = fdp::private_copy("/usr/bin/socat", dir, "fdp-other");
    marker = dir.file("booted");
    supervise = dir.file("supervise.sh");
    std::ofstream(supervise) << "while :; do " << server << " TCP-LISTEN:" << kWorkloadPort << ",bind=" << host_ip
                             << ",reuseaddr,fork SYSTEM:'echo ok'; sleep 0.05; done\n";
    // Boots the host's services as init would: the supervisor, in the background.
    hook = "/bin/sh " + supervise + " >/dev/null 2>&1 & echo booted >> " + marker;
    state = dir.file("state");

    supervisor = Child::spawn({"/bin/sh", supervise}, workload, &host);
    infra_srv = Child::spawn({other, "TCP-LISTEN:" + std::to_string(kInfraPort) + ",bind=" + host_ip +
                                         ",reuseaddr,fork", "SYSTEM:echo infra"},
                             infra, &host);
    mgmt = Child::spawn({other, "TCP-LISTEN:" + std::to_string(kMgmtPort) + ",bind=" + peer_ip + ",reuseaddr,fork",
                         "SYSTEM:echo mgmt"},
                        "", &peer);
    other_srv = Child::spawn({other, "TCP-LISTEN:" + std::to_string(kOtherPort) + ",bind=" + peer_ip +
                                         ",reuseaddr,fork", "SYSTEM:echo other"},
                             "", &peer);
  }

  Agent::Options agent_options(const std::vector<std::string>& more = {}) const {
    Agent::Options o;
    o.args = {"--interface", host_if, "--allow", peer_ip + ",tcp," + std::to_string(kMgmtPort),
              "--workload-cgroup", cg.rel() + "/workload", "--boot-hook", hook};
    o.args.insert(o.args.end(), more.begin(), more.end());
    o.state_dir = state;
    o.cgroup_dir = agent_dir;
    o.ns = &host;
    return o;
  }

  bool service_up() const { return fdp::tcp_answers(&peer, host_ip, kWorkloadPort); }
  bool infra_reachable() const { return fdp::tcp_answers(&peer, host_ip, kInfraPort); }
  bool mgmt_reachable() const { return fdp::tcp_answers(&host, peer_ip, kMgmtPort); }
  bool other_reachable() const { return fdp::tcp_answers(&host, peer_ip, kOtherPort); }
  bool ping_ok() const { return peer.exec("ping -c1 -W1 " + host_ip).code == 0; }
  std::vector<pid_t> workload_procs() const {
    std::vector<pid_t> out;
    std::ifstream in(workload + "/cgroup.procs");
    pid_t p;
    while (in >> p) out.push_back(p);
    return out;
  }
  size_t booted() const {
    auto s = fdp::read_file(marker);
    return static_cast<size_t>(std::count(s.begin(), s.end(), '\n'));
  }

  TempDir dir;
  Netns host, peer;
  TestCgroup cg;
  std::string host_if, peer_if, host_ip, peer_ip;
  std::string workload, infra, agent_dir, server, other, marker, supervise, hook, state;
  Child supervisor, infra_srv, mgmt, other_srv;
};

inline void expect_host_is_dark(PowerLab& lab, const Agent& agent) {
  EXPECT_TRUE(fdp::eventually([&] { return lab.workload_procs().empty(); }, 2s))
      << lab.workload_procs().size() << " workload process(es) left";
  EXPECT_FALSE(lab.service_up());
  EXPECT_FALSE(lab.infra_reachable()) << "a packet reached the host during power loss";
  EXPECT_FALSE(lab.other_reachable()) << "a packet left the host during power loss";
  EXPECT_FALSE(lab.ping_ok()) << "the host answered a ping during power loss";
  EXPECT_TRUE(lab.mgmt_reachable()) << "the management allow list was cut";
  EXPECT_TRUE(lab.infra_srv.alive()) << "a process outside the workload cgroup died";
  // Kept down: whatever starts in the workload dies as it execs.
  Child restart = Child::spawn({lab.server, "TCP-LISTEN:7299,bind=" + lab.host_ip, "SYSTEM:echo x"}, lab.workload,
                               &lab.host);
  EXPECT_EQ(restart.wait(2s), 128 + SIGKILL) << "a workload process started during power loss";
  auto status = agent.ctl({"status"});
  EXPECT_NE(status.out.find("power_loss"), std::string::npos) << status.out;
  EXPECT_GE(counter_value(status.out, "processes_killed"), 3u) << status.out;  // supervisor, server, restart
  EXPECT_GT(counter_value(status.out, "packets_dropped"), 0u) << status.out;
}

inline void expect_host_is_back(PowerLab& lab) {
  EXPECT_TRUE(fdp::eventually([&] { return lab.service_up(); }, 10s)) << "the service did not boot again";
  EXPECT_EQ(lab.booted(), 1u);
  EXPECT_TRUE(lab.infra_reachable());
  EXPECT_TRUE(lab.other_reachable());
  EXPECT_TRUE(lab.ping_ok());
  EXPECT_EQ(std::filesystem::file_size(lab.state + "/journal"), 0u);
  // The booted services live in the workload cgroup, as after a real boot.
  EXPECT_FALSE(lab.workload_procs().empty());
}

}  // namespace fdp
