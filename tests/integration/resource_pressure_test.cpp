// Resource pressure through the real agent binary (`firedrill-agent ctl`): the target
// cgroup's own statistics move as asked (cpu.stat usage, memory usage, free space), and
// nothing is left after a revert, after the agent is SIGKILLed (its guardian cleans up),
// and after agent and guardian are both SIGKILLed (the journal, at the next start).
// Needs root. Cgroups are made under <cgroup2>/fdp-test-<pid>-* (and the same path in
// the v1 memory hierarchy on a hybrid host), a tmpfs on a directory of the test.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <fstream>
#include <sstream>
#include <thread>

#include "agent/resource/pressure_group.h"
#include "tests/integration/proc_lab.h"

namespace {

using namespace std::chrono_literals;
using fdp::Agent;
using fdp::eventually;
using fdp::TempDir;
using fdp::TestCgroup;
namespace fs = std::filesystem;

constexpr uint64_t kMiB = 1 << 20;

bool exists(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0;
}

uint64_t stat_key(const std::string& text, const std::string& key) {
  std::istringstream in(text);
  std::string k;
  uint64_t v = 0;
  while (in >> k >> v) {
    if (k == key) return v;
  }
  return 0;
}

// The test's cgroup path in the v1 memory hierarchy (hybrid hosts keep memory there),
// with the child `sub`; removed bottom-up on destruction.
class V1Memory {
 public:
  V1Memory(const std::string& rel, const std::string& sub) {
    for (auto& m : firedrill::agent::resource::v1_hierarchies()) {
      if (exists(m + "/memory.usage_in_bytes")) top_ = m + rel;
    }
    if (!top_.empty()) fs::create_directories(top_ + "/" + sub);
    if (!top_.empty()) dir_ = top_ + "/" + sub;
  }
  ~V1Memory() {
    if (top_.empty()) return;
    std::vector<std::string> dirs;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(top_, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec)) {
      if (it->is_directory(ec)) dirs.push_back(it->path());
    }
    std::sort(dirs.begin(), dirs.end(), [](auto& a, auto& b) { return a.size() > b.size(); });
    for (auto& d : dirs) ::rmdir(d.c_str());
    ::rmdir(top_.c_str());
  }
  bool present() const { return !dir_.empty(); }
  const std::string& dir() const { return dir_; }

 private:
  std::string top_, dir_;
};

// A tmpfs of SIZE on a directory of the test.
class Tmpfs {
 public:
  explicit Tmpfs(uint64_t size) {
    path_ = dir_.file("fs");
    fs::create_directories(path_);
    std::string opts = "size=" + std::to_string(size);
    if (::mount("fdp-tmpfs", path_.c_str(), "tmpfs", 0, opts.c_str()) != 0) {
      throw std::runtime_error("mount tmpfs on " + path_ + ": " + std::strerror(errno));
    }
  }
  ~Tmpfs() { ::umount2(path_.c_str(), MNT_DETACH); }
  const std::string& path() const { return path_; }
  uint64_t avail() const {
    struct statvfs v {};
    ::statvfs(path_.c_str(), &v);
    return uint64_t(v.f_bavail) * v.f_frsize;
  }
  size_t entries() const { return std::distance(fs::directory_iterator(path_), fs::directory_iterator()); }

 private:
  TempDir dir_;
  std::string path_;
};

// A pressure target and the agent beside it (in a cgroup of its own, outside the target).
struct Lab {
  Lab() : cg("res"), v1(cg.rel(), "target") {
    target = cg.child("target");
    agent_dir = cg.child("agent");
    state = dir.file("state");
  }
  Agent::Options agent_options() const {
    Agent::Options o;
    // Without the watcher: guardians are the agent's own children, found by its pid.
    o.args = {"--workload-cgroup", cg.rel(), "--no-watcher"};
    o.state_dir = state;
    o.cgroup_dir = agent_dir;
    return o;
  }
  std::string pressure_dir(const std::string& id) const { return target + "/firedrill-" + id; }
  std::string pressure_v1(const std::string& id) const { return v1.dir() + "/firedrill-" + id; }
  uint64_t cpu_usec() const { return stat_key(fdp::read_file(target + "/cpu.stat"), "usage_usec"); }
  uint64_t memory() const {
    if (exists(target + "/memory.current")) return std::stoull(fdp::read_file(target + "/memory.current"));
    return std::stoull(fdp::read_file(v1.dir() + "/memory.usage_in_bytes"));
  }
  // Nothing of fault ID is left: no child cgroup in either tree.
  bool clean(const std::string& id) const {
    return !exists(pressure_dir(id)) && (!v1.present() || !exists(pressure_v1(id)));
  }

  TempDir dir;
  TestCgroup cg;
  V1Memory v1;
  std::string target, agent_dir, state;
};

std::vector<pid_t> procs_in(const std::string& cgroup_dir) {
  std::vector<pid_t> out;
  std::ifstream in(cgroup_dir + "/cgroup.procs");
  pid_t p;
  while (in >> p) out.push_back(p);
  return out;
}

std::vector<pid_t> procs_named(const std::string& comm) {
  std::vector<pid_t> out;
  for (auto& e : fs::directory_iterator("/proc")) {
    auto name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(e.path() / "comm");
    std::string c;
    if (std::getline(in, c) && c == comm) out.push_back(std::stoi(name));
  }
  return out;
}

pid_t parent_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string s;
  std::getline(in, s);
  auto p = s.rfind(')');
  if (p == std::string::npos) return 0;
  std::istringstream f(s.substr(p + 2));
  char state;
  pid_t ppid = 0;
  f >> state >> ppid;
  return ppid;
}

// The guardians of this agent (forked by it: their parent is the agent).
std::vector<pid_t> guardians_of(pid_t agent) {
  std::vector<pid_t> out;
  for (pid_t p : procs_named("fd-guardian")) {
    if (parent_of(p) == agent) out.push_back(p);
  }
  return out;
}

void expect_applied(const fdp::RunResult& r) {
  ASSERT_EQ(r.code, 0) << r.out;
  ASSERT_EQ(r.out.find("ACK_REFUSED"), std::string::npos) << r.out;
}

// CPU used per second of wall time by each cgroup, over `window`.
std::vector<double> cpus_used(const std::vector<std::string>& cgroups, std::chrono::milliseconds window) {
  auto usage = [&] {
    std::vector<uint64_t> u;
    for (auto& c : cgroups) u.push_back(stat_key(fdp::read_file(c + "/cpu.stat"), "usage_usec"));
    return u;
  };
  auto t0 = std::chrono::steady_clock::now();
  auto u0 = usage();
  std::this_thread::sleep_for(window);
  auto u1 = usage();
  double wall_us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
  std::vector<double> out;
  for (size_t i = 0; i < cgroups.size(); ++i) out.push_back(double(u1[i] - u0[i]) / wall_us);
  return out;
}

TEST(ResourcePressure, CpuWorkersCompeteInsideTheTarget) {
  Lab lab;
  std::string half = lab.cg.child("half"), ref = lab.cg.child("reference");
  Agent agent(lab.agent_options());
  // A busy loop of the test's own beside them: what one CPU-bound process gets here now
  // (the machine may be shared: absolute shares are judged against it).
  auto spinner = fdp::Child::spawn({"/bin/sh", "-c", "while :; do :; done"}, ref);
  expect_applied(agent.apply("cpu1", "60s", "resource { workload_cgroup: \"target\" cpu { workers: 2 } }"));
  expect_applied(agent.apply("cpu2", "60s", "resource { workload_cgroup: \"half\" cpu { workers: 1 percent: 50 } }"));
  std::vector<pid_t> workers;
  ASSERT_TRUE(eventually([&] {
    workers = procs_in(lab.pressure_dir("cpu1"));
    return workers.size() == 2;
  }, 5s));
  ASSERT_EQ(procs_in(half + "/firedrill-cpu2").size(), 1u);
  auto used = cpus_used({lab.target, half, ref}, 3s);
  double full = used[0] / 2, halfw = used[1], reference = used[2];
  std::string why = fmt::format("per worker: full {:.3f}, half {:.3f}; reference busy loop {:.3f}", full, halfw,
                                reference);
  // A full worker gets at least what a busy process gets (more where its cgroup is a
  // scheduling group of its own, as in a v1 cpu hierarchy); a 50% one never takes more
  // than asked.
  EXPECT_GT(full, 0.5 * reference) << why;
  EXPECT_LT(halfw, 0.56) << why;
  EXPECT_GT(halfw, 0.02) << why;
  // Where a busy loop gets most of a CPU, the half worker gets its half.
  if (reference > 0.8) EXPECT_GT(halfw, 0.4) << why;
  std::cout << why << "\n";

  auto r = agent.ctl({"revert", "--id", "cpu1"});
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(lab.clean("cpu1"));
  for (pid_t p : workers) EXPECT_FALSE(fdp::process_exists(p)) << p;
  EXPECT_EQ(guardians_of(agent.pid()).size(), 1u);  // cpu2's
  auto after = cpus_used({lab.target}, 300ms);
  EXPECT_LT(after[0], 0.02) << "the target still burns CPU after revert";
}

TEST(ResourcePressure, ExpiryLiftsThePressure) {
  Lab lab;
  Tmpfs tmp(16 * kMiB);
  Agent agent(lab.agent_options());
  uint64_t before = tmp.avail();
  expect_applied(agent.apply("e-cpu", "2s", "resource { workload_cgroup: \"target\" cpu { workers: 1 percent: 10 } }"));
  expect_applied(agent.apply("e-fill", "2s", "resource { disk_fill { directory: \"" + tmp.path() +
                                                 "\" bytes: 4194304 } }"));
  EXPECT_FALSE(lab.clean("e-cpu"));
  EXPECT_LT(tmp.avail(), before);
  EXPECT_TRUE(eventually([&] { return lab.clean("e-cpu") && tmp.avail() == before; }, 6s));
  EXPECT_EQ(tmp.entries(), 0u);
  EXPECT_TRUE(eventually([&] { return guardians_of(agent.pid()).empty(); }, 2s));
}

TEST(ResourcePressure, MemoryIsChargedToTheTarget) {
  Lab lab;
  Agent agent(lab.agent_options());
  uint64_t before = lab.memory();
  expect_applied(agent.apply("mem1", "60s", "resource { workload_cgroup: \"target\" memory { bytes: 67108864 } }"));
  uint64_t during = lab.memory();
  EXPECT_GE(during, before + 64 * kMiB) << "before " << before << " during " << during;
  EXPECT_LT(during, before + 80 * kMiB) << "before " << before << " during " << during;
  auto r = agent.ctl({"revert", "--id", "mem1"});
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(lab.clean("mem1"));
  EXPECT_LT(lab.memory(), before + 4 * kMiB);
}

TEST(ResourcePressure, MemoryPastTheTargetsLimitFailsAndLeavesNothing) {
  Lab lab;
  if (exists(lab.target + "/memory.max")) {
    std::ofstream(lab.target + "/memory.max") << 32 * kMiB;
  } else {
    ASSERT_TRUE(lab.v1.present()) << "no memory controller in either cgroup tree";
    std::ofstream(lab.v1.dir() + "/memory.limit_in_bytes") << 32 * kMiB;
  }
  Agent agent(lab.agent_options());
  auto r = agent.apply("mem2", "60s", "resource { workload_cgroup: \"target\" memory { bytes: 67108864 } }");
  EXPECT_NE(r.out.find("ACK_REFUSED"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("OOM killer"), std::string::npos) << r.out;
  EXPECT_TRUE(lab.clean("mem2"));
  EXPECT_TRUE(guardians_of(agent.pid()).empty());
}

TEST(ResourcePressure, DiskFillLeavesWhatWasAskedAndIsRemoved) {
  Lab lab;
  Tmpfs tmp(64 * kMiB);
  Agent agent(lab.agent_options());
  uint64_t before = tmp.avail();
  expect_applied(agent.apply("fill1", "60s", "resource { disk_fill { directory: \"" + tmp.path() +
                                                 "\" leave_free_bytes: 16777216 } }"));
  uint64_t during = tmp.avail();
  EXPECT_LE(during, 16 * kMiB);
  EXPECT_GE(during, 15 * kMiB);
  EXPECT_TRUE(exists(tmp.path() + "/.firedrill-fill-fill1"));
  // More than there is: refused with the field named, nothing made.
  auto big = agent.apply("fill2", "60s", "resource { disk_fill { directory: \"" + tmp.path() +
                                             "\" bytes: 1073741824 } }");
  EXPECT_NE(big.out.find("ACK_REFUSED"), std::string::npos) << big.out;
  EXPECT_NE(big.out.find("disk_fill.bytes"), std::string::npos) << big.out;
  auto r = agent.ctl({"revert", "--id", "fill1"});
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(tmp.avail(), before);
  EXPECT_EQ(tmp.entries(), 0u);
}

TEST(ResourcePressure, IoWorkersWriteAScratchFileThatLeavesNoName) {
  Lab lab;
  Tmpfs tmp(64 * kMiB);
  Agent agent(lab.agent_options());
  uint64_t before = tmp.avail();
  expect_applied(agent.apply("io1", "60s", "resource { workload_cgroup: \"target\" io { directory: \"" + tmp.path() +
                                               "\" workers: 2 file_bytes: 8388608 } }"));
  EXPECT_EQ(procs_in(lab.pressure_dir("io1")).size(), 2u);
  // Both workers write their 8 MiB: the space is in use, under no name.
  EXPECT_TRUE(eventually([&] { return before - tmp.avail() >= 16 * kMiB; }, 5s)) << before - tmp.avail();
  EXPECT_EQ(tmp.entries(), 0u);
  auto r = agent.ctl({"revert", "--id", "io1"});
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(lab.clean("io1"));
  EXPECT_TRUE(eventually([&] { return tmp.avail() == before; }, 2s));
}

TEST(ResourcePressure, AgentSigkillLeavesNothingTheGuardianCleansUp) {
  Lab lab;
  Tmpfs tmp(64 * kMiB);
  auto agent = std::make_unique<Agent>(lab.agent_options());
  uint64_t free_before = tmp.avail();
  uint64_t mem_before = lab.memory();
  expect_applied(agent->apply("k-cpu", "60s", "resource { workload_cgroup: \"target\" cpu { workers: 1 } }"));
  expect_applied(agent->apply("k-mem", "60s", "resource { workload_cgroup: \"target\" memory { bytes: 33554432 } }"));
  expect_applied(agent->apply("k-fill", "60s", "resource { disk_fill { directory: \"" + tmp.path() +
                                                   "\" bytes: 33554432 } }"));
  std::vector<pid_t> guardians;  // named once they ran their first instructions
  EXPECT_TRUE(eventually([&] { return (guardians = guardians_of(agent->pid())).size() == 3; }, 5s));
  auto workers = procs_in(lab.pressure_dir("k-cpu"));
  ASSERT_EQ(workers.size(), 1u);
  agent->kill9();
  EXPECT_TRUE(eventually([&] { return lab.clean("k-cpu") && lab.clean("k-mem"); }, 10s));
  EXPECT_TRUE(eventually([&] { return tmp.avail() == free_before && tmp.entries() == 0; }, 5s));
  EXPECT_FALSE(fdp::process_exists(workers[0]));
  EXPECT_LT(lab.memory(), mem_before + 4 * kMiB);
  for (pid_t g : guardians) EXPECT_TRUE(eventually([&] { return !fdp::process_exists(g); }, 5s)) << g;

  // The next start finds the journal owing the faults and reports them recovered.
  agent = std::make_unique<Agent>(lab.agent_options());
  EXPECT_TRUE(agent->wait_log("recovered fault k-fill", 5s)) << agent->log();
  agent.reset();
  EXPECT_FALSE(exists(lab.state + "/journal") && fs::file_size(lab.state + "/journal") > 0);
}

TEST(ResourcePressure, AgentAndGuardianSigkilledTheJournalCleansUpAtTheNextStart) {
  Lab lab;
  Tmpfs tmp(64 * kMiB);
  auto agent = std::make_unique<Agent>(lab.agent_options());
  uint64_t free_before = tmp.avail();
  expect_applied(agent->apply("j-cpu", "60s", "resource { workload_cgroup: \"target\" cpu { workers: 1 percent: 20 } }"));
  expect_applied(agent->apply("j-fill", "60s", "resource { disk_fill { directory: \"" + tmp.path() +
                                                   "\" bytes: 16777216 } }"));
  std::vector<pid_t> guardians;
  ASSERT_TRUE(eventually([&] { return (guardians = guardians_of(agent->pid())).size() == 2; }, 5s));
  for (pid_t g : guardians) ::kill(g, SIGKILL);
  agent->kill9();
  std::this_thread::sleep_for(300ms);
  // Nobody is left to clean: the worker runs on, the file stays.
  EXPECT_FALSE(lab.clean("j-cpu"));
  EXPECT_LT(tmp.avail(), free_before);

  agent = std::make_unique<Agent>(lab.agent_options());
  EXPECT_TRUE(agent->wait_log("recovered fault j-cpu", 15s)) << agent->log();
  EXPECT_TRUE(agent->wait_log("recovered fault j-fill", 5s)) << agent->log();
  EXPECT_TRUE(lab.clean("j-cpu"));
  EXPECT_EQ(tmp.avail(), free_before);
  EXPECT_EQ(tmp.entries(), 0u);
}

TEST(ResourcePressure, BadValuesAreRefusedWithTheFieldNamed) {
  Lab lab;
  Tmpfs tmp(16 * kMiB);
  Agent agent(lab.agent_options());
  struct Case {
    std::string spec, expect;
  };
  std::vector<Case> cases = {
      {"resource { workload_cgroup: \"target\" cpu { percent: 150 } }", "resource.cpu.percent"},
      {"resource { workload_cgroup: \"target\" cpu { percent: -1 } }", "resource.cpu.percent"},
      {"resource { workload_cgroup: \"target\" cpu { workers: 100000 } }", "resource.cpu.workers"},
      {"resource { workload_cgroup: \"target\" memory { } }", "resource.memory.bytes"},
      {"resource { workload_cgroup: \"target\" memory { bytes: 1000000000000000 } }", "resource.memory.bytes"},
      {"resource { memory { bytes: 1000 } }", "the target cgroup"},
      {"resource { disk_fill { directory: \"" + tmp.path() + "\" } }", "resource.disk_fill"},
      {"resource { disk_fill { directory: \"relative\" bytes: 1 } }", "resource.disk_fill.directory"},
      {"resource { workload_cgroup: \"target\" io { directory: \"/x/../y\" } }", "resource.io.directory"},
      {"resource { workload_cgroup: \"nope\" cpu { } }", "nope"},
      {"resource { workload_cgroup: \"agent\" cpu { } }", "holds the agent itself"},
      {"resource { workload_cgroup: \"target\" }", "choose the kind of resource pressure"},
  };
  int n = 0;
  for (auto& c : cases) {
    auto r = agent.apply("bad" + std::to_string(n++), "30s", c.spec);
    EXPECT_NE(r.out.find("ACK_REFUSED"), std::string::npos) << c.spec << "\n" << r.out;
    EXPECT_NE(r.out.find(c.expect), std::string::npos) << c.spec << "\nexpected: " << c.expect << "\n" << r.out;
  }
  EXPECT_TRUE(guardians_of(agent.pid()).empty());
  EXPECT_EQ(tmp.entries(), 0u);
}

}  // namespace
