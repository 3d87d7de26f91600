// The lab fleet end to end, below the controller: real namespaces, real agents, real
// Redis Sentinel and HAProxy. The Pangyo data-centre fire is a power loss of every
// pangyo host, sent to each host's agent through its local control socket; the two
// placements must tell the two designs of 2022 apart.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <sstream>
#include <thread>
#include <vector>

#include "tests/e2e/lab_harness.h"

namespace firedrill::e2e {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::system_clock;

// Writes markers 1..n through the Sentinel-discovered primary; all must be acknowledged.
void write_markers(const Lab& lab, int n) {
  ASSERT_EQ(lab.redis("clear").status, 0);
  for (int i = 1; i <= n; ++i) {
    auto r = lab.redis("write " + std::to_string(i));
    ASSERT_EQ(r.status, 0) << "marker " << i << ": " << r.output;
  }
}

std::set<int> markers(const Lab& lab) {
  std::set<int> out;
  auto r = lab.redis("read");
  std::istringstream in(r.output);
  int n;
  while (in >> n) out.insert(n);
  return out;
}

// Power loss of every host of `dc` at once, for `lease`, as the controller would send
// it. Returns the moment it was sent, after every agent applied it.
WallTime power_loss(const Lab& lab, const std::string& dc, const std::string& lease) {
  auto hosts = lab.hosts_in(dc);
  std::vector<Run> runs(hosts.size());
  std::vector<std::thread> senders;
  auto t0 = Clock::now();
  for (size_t i = 0; i < hosts.size(); ++i) {
    senders.emplace_back([&, i] {
      runs[i] = lab.ctl(hosts[i], "apply --id pangyo-fire --for " + lease + " --spec 'power_loss {}'");
    });
  }
  for (auto& t : senders) t.join();
  for (size_t i = 0; i < hosts.size(); ++i) {
    EXPECT_EQ(runs[i].status, 0) << "power loss on " << hosts[i] << ":\n" << runs[i].output;
  }
  return t0;
}

bool every_host_has_no_fault(const Lab& lab, const std::string& dc) {
  for (auto& h : lab.hosts_in(dc)) {
    auto r = lab.ctl(h, "status");
    if (r.status != 0 || r.output.find("active_faults") != std::string::npos) return false;
  }
  return true;
}

TEST(LabTest, TwoSitePangyoPowerLossFailsOverToChuncheon) {
  Lab lab("two-site");
  ASSERT_FALSE(::testing::Test::HasFailure());
  ASSERT_EQ(lab.hosts_in("pangyo").size(), 4u);
  const std::string primary = lab.ip("p1-h1") + ":6379", replica = lab.ip("c1-h1") + ":6379";
  auto before = lab.redis("primary");
  ASSERT_EQ(before.status, 0) << before.output;
  ASSERT_EQ(before.output, primary + "\n");
  write_markers(lab, 20);

  auto t0 = power_loss(lab, "pangyo", "20s");
  auto programs = lab.agent_bpf_programs();
  EXPECT_FALSE(programs.empty()) << "the agents hold no BPF program during a power loss";

  // The pangyo primary is gone at once: killed and black-holed.
  EXPECT_NE(sh("nsenter --net=/run/netns/" + std::string(Lab::kName) + "-ops timeout 1 redis-cli -h " +
               lab.ip("p1-h1") + " PING").output,
            "PONG\n");

  // Sentinel in chuncheon and ops (two of three) promote the chuncheon replica; a client
  // that asks the Sentinels can write again, and HAProxy keeps serving from chuncheon.
  // HTTP in a thread of its own, so that its timeouts do not slow the write attempts.
  std::atomic<bool> stop{false};
  std::atomic<int> http_ok{0}, http_failed_late{0};
  std::atomic<bool> chuncheon_served{false};
  std::thread web([&] {
    while (!stop) {
      if (auto body = lab.http_get()) {
        ++http_ok;
        if (body->find("chuncheon") != std::string::npos) chuncheon_served = true;
      } else if (seconds_between(t0, Clock::now()) > 3) {
        ++http_failed_late;
      }
      std::this_thread::sleep_for(200ms);
    }
  });
  // The first write attempt that is acknowledged, by the time it started (as a probe
  // sample is timed).
  WallTime first_write{};
  bool failed_over = eventually(
      [&] {
        auto attempt = Clock::now();
        if (lab.redis("write 21").status != 0) return false;
        first_write = attempt;
        return true;
      },
      30s, 50ms);
  std::this_thread::sleep_for(1s);
  stop = true;
  web.join();
  ASSERT_TRUE(failed_over) << "no writable primary within 30 s of the power loss\n" << lab.status().output;
  EXPECT_EQ(lab.redis("primary").output, replica + "\n");
  EXPECT_TRUE(chuncheon_served);
  EXPECT_EQ(http_failed_late, 0) << "HAProxy failed requests more than 3 s into the fault";
  EXPECT_GT(http_ok, 0);

  // Sentinel's own record of the switch, from the ops Sentinel, agrees with ours.
  auto switches = switch_masters(lab.sentinel_log("ops"));
  ASSERT_EQ(switches.size(), 1u) << "expected exactly one +switch-master in the ops Sentinel log";
  EXPECT_EQ(switches[0].from, primary);
  EXPECT_EQ(switches[0].to, replica);
  double failover = seconds_between(t0, switches[0].at);
  EXPECT_GT(failover, 0);
  EXPECT_LT(failover, 30) << "Sentinel switched " << failover << " s after the power loss";
  EXPECT_LT(std::abs(seconds_between(switches[0].at, first_write)), 1.0)
      << "first acknowledged write " << seconds_between(t0, first_write) << " s, Sentinel's switch "
      << failover << " s after the power loss";
  std::printf("two-site: Sentinel +switch-master %.2f s after the power loss, first write %.2f s\n",
              failover, seconds_between(t0, first_write));

  // Nothing acknowledged before the fire is lost: the replica had it all.
  auto held = markers(lab);
  for (int i = 1; i <= 21; ++i) EXPECT_TRUE(held.count(i)) << "marker " << i << " lost";

  // Power restored at the end of the lease: the boot hooks start pangyo's services and
  // the old primary comes back as a replica of the new one.
  EXPECT_TRUE(eventually([&] { return every_host_has_no_fault(lab, "pangyo"); }, 30s, 500ms));
  bool rejoined = eventually(
      [&] {
        auto r = sh("nsenter --net=/run/netns/" + std::string(Lab::kName) + "-ops timeout 1 redis-cli -h " +
                    lab.ip("p1-h1") + " INFO replication");
        return r.output.find("master_host:" + lab.ip("c1-h1")) != std::string::npos &&
               r.output.find("master_link_status:up") != std::string::npos;
      },
      40s, 500ms);
  EXPECT_TRUE(rejoined) << "p1-h1 did not rejoin as a replica\n" << lab.status().output;
  EXPECT_TRUE(eventually([&] { return lab.redis("primary").output == replica + "\n"; }, 5s, 500ms));

  auto procs = lab.processes();
  EXPECT_GT(procs.size(), 10u);
  auto problems = lab.down_and_check(procs, programs);
  EXPECT_TRUE(problems.empty()) << ::testing::PrintToString(problems);
}

TEST(LabTest, SingleSitePangyoPowerLossLeavesNoPrimary) {
  Lab lab("single-site");
  ASSERT_FALSE(::testing::Test::HasFailure());
  const std::string primary = lab.ip("p1-h1") + ":6379";
  ASSERT_EQ(lab.redis("primary").output, primary + "\n");
  write_markers(lab, 20);

  auto t0 = power_loss(lab, "pangyo", "15s");
  auto programs = lab.agent_bpf_programs();
  EXPECT_FALSE(programs.empty());

  // For the whole fault, no client finds a primary: the one surviving Sentinel (in
  // chuncheon) is no majority and still names the dead pangyo primary. The web service,
  // with backends in both sites, stays up.
  int probes = 0, writes_ok = 0, http_ok = 0;
  while (seconds_between(t0, Clock::now()) < 13) {
    ++probes;
    if (lab.redis("write 21").status == 0) ++writes_ok;
    if (lab.http_get()) ++http_ok;
    std::this_thread::sleep_for(300ms);
  }
  EXPECT_GT(probes, 5);
  EXPECT_EQ(writes_ok, 0) << "a write was acknowledged while pangyo had no power";
  EXPECT_GT(http_ok, probes / 2);
  EXPECT_NE(lab.redis("primary").status, 0);
  for (auto& h : {"p1-h2", "p2-h2", "c1-h2"}) {
    EXPECT_TRUE(switch_masters(lab.sentinel_log(h)).empty()) << "Sentinel on " << h << " switched";
  }

  // Power restored: pangyo boots, the same primary comes back with its data (AOF).
  EXPECT_TRUE(eventually([&] { return every_host_has_no_fault(lab, "pangyo"); }, 30s, 500ms));
  EXPECT_TRUE(eventually([&] { return lab.redis("primary").output == primary + "\n"; }, 40s, 500ms))
      << lab.status().output;
  auto held = markers(lab);
  for (int i = 1; i <= 20; ++i) EXPECT_TRUE(held.count(i)) << "marker " << i << " lost";

  auto procs = lab.processes();
  auto problems = lab.down_and_check(procs, programs);
  EXPECT_TRUE(problems.empty()) << ::testing::PrintToString(problems);
}

TEST(LabTest, InterruptedUpLeavesNothing) {
  LabLock lock;
  ASSERT_TRUE(lock.held());
  sh("deploy/lab/lab.sh down --purge --name " + std::string(Lab::kName));
  // Interrupt `up` (SIGTERM: a background job of a script ignores SIGINT) once the agents
  // run, half way through booting the services.
  auto r = sh("deploy/lab/lab.sh up --controller no --name " + std::string(Lab::kName) + " --agent " +
              quote(build_dir() + "/agent/firedrill-agent") +
              " & pid=$!; for i in $(seq 1 100); do [ -e /run/firedrill-lab/" + Lab::kName +
              "/hosts/c2-h2/agent.pid ] && break; sleep 0.1; done; kill -TERM $pid; wait $pid");
  EXPECT_NE(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("taking down what was built"), std::string::npos) << r.output;
  EXPECT_EQ(sh("ip netns list | grep -c '^" + std::string(Lab::kName) + "-'").output, "0\n");
  EXPECT_EQ(sh("deploy/lab/lab.sh status --name " + std::string(Lab::kName)).status, 3);
  EXPECT_FALSE(std::filesystem::exists(Lab::cgroup_path()));
  // down of a lab that is not there is fine.
  EXPECT_EQ(sh("deploy/lab/lab.sh down --purge --name " + std::string(Lab::kName)).status, 0);
}

TEST(LabTest, BadArgumentsAreNamed) {
  auto r = sh("deploy/lab/lab.sh up --name " + std::string(Lab::kName) + " --placement three-site");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("--placement 'three-site'"), std::string::npos) << r.output;
  r = sh("deploy/lab/lab.sh up --name lab9");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("--name 'lab9'"), std::string::npos) << r.output;
  r = sh("deploy/lab/lab.sh sideways");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("unknown argument 'sideways'"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace firedrill::e2e
