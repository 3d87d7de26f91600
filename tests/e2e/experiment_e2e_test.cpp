// Experiments end to end, as an operator runs them: a controller (`firedrill serve`)
// and two agents, each in a network namespace this test creates (fde-ops, fde-h1,
// fde-h2 on a bridge inside fde-ops, 10.204.0.0/24), a real HTTP server on each host
// and a real HAProxy in fde-ops in front of both. `firedrill run` is the real CLI; its
// exit code is the verdict:
//   - a blackhole on the only host the probe reaches fails availability (exit 1);
//   - a blackhole on one of the two hosts behind HAProxy passes (exit 0);
//   - an abort condition stops a run early (exit 2) and everything is reverted.
// Needs root with CAP_BPF and tcx; fails loudly otherwise. Everything it made is removed
// at the end, also when a test fails.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

namespace {

using namespace std::chrono_literals;

std::string build_dir() { return FDE_BUILD_DIR; }

struct Out {
  int status = -1;
  std::string output;
};

Out sh(const std::string& cmd) {
  Out o;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return o;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) o.output.append(buf, n);
  int st = ::pclose(p);
  o.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return o;
}

// A process of ours, in its own process group, killed with its group at the end.
class Child {
 public:
  Child(const std::vector<std::string>& argv, const std::string& log) {
    pid_ = ::fork();
    if (pid_ == 0) {
      ::setpgid(0, 0);
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execvp(args[0], args.data());
      ::_exit(127);
    }
    ::setpgid(pid_, pid_);
  }
  ~Child() { stop(); }
  void stop() {
    if (pid_ <= 0) return;
    ::kill(-pid_, SIGTERM);
    for (int i = 0; i < 50; ++i) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(100ms);
    }
    ::kill(-pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  bool running() const { return pid_ > 0 && ::waitpid(pid_, nullptr, WNOHANG) == 0; }

 private:
  pid_t pid_ = -1;
};

template <typename F>
bool eventually(F f, std::chrono::milliseconds within) {
  auto end = std::chrono::steady_clock::now() + within;
  while (std::chrono::steady_clock::now() < end) {
    if (f()) return true;
    std::this_thread::sleep_for(100ms);
  }
  return f();
}

constexpr const char* kNamespaces[] = {"fde-ops", "fde-h1", "fde-h2"};

class Fleet {
 public:
  Fleet() {
    if (::geteuid() != 0) {
      ADD_FAILURE() << "the experiment e2e tests need root with CAP_BPF (run as root)";
      return;
    }
    teardown_namespaces();  // what a crashed earlier run may have left
    char tmpl[] = "/tmp/fde-e2e-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    auto must = [&](const std::string& cmd) {
      auto o = sh(cmd);
      if (o.status != 0) ADD_FAILURE() << cmd << " failed (" << o.status << "): " << o.output;
      return o.status == 0;
    };
    bool ok = true;
    for (const char* ns : kNamespaces) ok &= must(std::string("ip netns add ") + ns + " && ip -n " + ns + " link set lo up");
    ok &= must("ip -n fde-ops link add fde-br type bridge && ip -n fde-ops addr add 10.204.0.1/24 dev fde-br && "
               "ip -n fde-ops link set fde-br up");
    for (int i = 1; i <= 2; ++i) {
      std::string h = "h" + std::to_string(i), ns = "fde-" + h, ip = "10.204.0.1" + std::to_string(i);
      ok &= must("ip -n fde-ops link add fde-" + h + "-br type veth peer name eth0 netns " + ns + " && ip -n fde-ops link set fde-" +
                 h + "-br master fde-br up && ip -n " + ns + " addr add " + ip + "/24 dev eth0 && ip -n " + ns +
                 " link set eth0 up");
    }
    if (!ok) return;
    std::filesystem::create_directories(dir_ + "/www");
    std::ofstream(dir_ + "/www/index.html") << "hello from the fleet\n";
    std::ofstream(dir_ + "/haproxy.cfg") << R"(global
  maxconn 256
defaults
  mode http
  timeout connect 300ms
  timeout client 5s
  timeout server 2s
  retries 2
  option redispatch 1
frontend web
  bind 10.204.0.1:17581
  default_backend hosts
backend hosts
  balance roundrobin
  default-server inter 300ms fastinter 200ms downinter 300ms fall 1 rise 2
  server h1 10.204.0.11:17580 check
  server h2 10.204.0.12:17580 check
)";
    api_ = dir_ + "/api.sock";
    children_.emplace_back(std::make_unique<Child>(
        std::vector<std::string>{"ip", "netns", "exec", "fde-ops", build_dir() + "/controller/firedrill", "serve", "--insecure",
                                 "--listen", "10.204.0.1:17540", "--state-dir", dir_ + "/state", "--api", api_,
                                 "--lease-grace", "3s", "--heartbeat", "500ms"},
        dir_ + "/controller.log"));
    for (int i = 1; i <= 2; ++i) {
      std::string h = "h" + std::to_string(i), ns = "fde-" + h;
      children_.emplace_back(std::make_unique<Child>(
          std::vector<std::string>{"ip", "netns", "exec", ns, "python3", "-m", "http.server", "17580", "--bind",
                                   "10.204.0.1" + std::to_string(i), "--directory", dir_ + "/www"},
          dir_ + "/web-" + h + ".log"));
      children_.emplace_back(std::make_unique<Child>(
          std::vector<std::string>{"ip", "netns", "exec", ns, build_dir() + "/agent/firedrill-agent", "--id", ns, "--tag",
                                   "host=" + ns, "--tag", "role=web", "--tag", "dc=dc" + std::to_string(i), "--controller",
                                   "10.204.0.1:17540", "--insecure", "--interface", "eth0", "--allow", "10.204.0.1,tcp,17540",
                                   "--lease-grace", "3s", "--state-dir", dir_ + "/agent-" + h, "--local-socket",
                                   dir_ + "/agent-" + h + ".sock"},
          dir_ + "/agent-" + h + ".log"));
    }
    children_.emplace_back(std::make_unique<Child>(
        std::vector<std::string>{"ip", "netns", "exec", "fde-ops", "haproxy", "-db", "-f", dir_ + "/haproxy.cfg"},
        dir_ + "/haproxy.log"));
    bool registered = eventually(
        [&] {
          auto o = sh(firedrill("agents"));
          return o.status == 0 && o.output.find("fde-h1") != std::string::npos && o.output.find("fde-h2") != std::string::npos;
        },
        20s);
    if (!registered) {
      ADD_FAILURE() << "agents did not register with the controller:\n" << sh(firedrill("agents")).output << "\n"
                    << logs();
      return;
    }
    bool serving = eventually([&] { return reachable("10.204.0.1:17581") && reachable("10.204.0.11:17580"); }, 20s);
    if (!serving) {
      ADD_FAILURE() << "the web service is not up\n" << logs();
      return;
    }
    ready_ = true;
  }

  ~Fleet() {
    for (auto it = children_.rbegin(); it != children_.rend(); ++it) (*it)->stop();
    teardown_namespaces();
    if (!dir_.empty() && !::testing::Test::HasFailure()) std::filesystem::remove_all(dir_);
  }

  bool ready() const { return ready_; }
  const std::string& dir() const { return dir_; }
  const std::string& api() const { return api_; }

  std::string firedrill(const std::string& args) const {
    return build_dir() + "/controller/firedrill " + args + " --api " + api_;
  }

  // An HTTP GET from the controller's namespace (where the probes run).
  bool reachable(const std::string& hostport) const {
    return sh("ip netns exec fde-ops curl -s -m 1 --noproxy '*' -o /dev/null -w '%{http_code}' http://" + hostport + "/")
               .output == "200";
  }

  // What a host's agent holds right now.
  std::string agent_status(const std::string& h) const {
    return sh(build_dir() + "/agent/firedrill-agent ctl --socket " + dir_ + "/agent-" + h + ".sock status").output;
  }

  std::string write(const std::string& name, const std::string& yaml) const {
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << yaml;
    return path;
  }

  std::string logs() const {
    std::string out;
    for (const char* f : {"controller.log", "agent-h1.log", "agent-h2.log", "haproxy.log"}) {
      std::ifstream in(dir_ + "/" + f);
      std::stringstream ss;
      ss << in.rdbuf();
      std::string s = ss.str();
      if (s.size() > 4000) s = "..." + s.substr(s.size() - 4000);
      out += std::string("--- ") + f + "\n" + s + "\n";
    }
    return out;
  }

 private:
  static void teardown_namespaces() {
    for (const char* ns : kNamespaces) sh(std::string("ip netns del ") + ns + " 2>/dev/null");
  }

  std::string dir_, api_;
  std::vector<std::unique_ptr<Child>> children_;
  bool ready_ = false;
};

std::string experiment(const std::string& name, const std::string& selector, const std::string& url,
                       const std::string& duration, const std::string& extra) {
  return "name: " + name + R"(
owner: e2e
test_type: ad_hoc
targets: {selector: ")" + selector + R"("}
blast_radius: {max_hosts: 1}
steps:
  - fault: {network: {blackhole: {}}}
    duration: )" + duration + R"(
probes:
  - name: web
    http: {url: ")" + url + R"(", expect_status: [200], body_match: "hello"}
    interval: 200ms
    timeout: 1s
steady_state: {hold: 2s, timeout: 30s}
recovery: {hold: 2s, timeout: 30s}
slo:
  availability: {min: 0.9}
  failover_time: {max: 5s}
)" + extra;
}

class ExperimentE2E : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { fleet_ = new Fleet(); }
  static void TearDownTestSuite() {
    delete fleet_;
    fleet_ = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(fleet_ && fleet_->ready()) << "the test fleet is not up"; }

  // Runs `firedrill run`, and checks that afterwards nothing is left in effect.
  Out run(const std::string& file) {
    auto o = sh(fleet_->firedrill("run " + file + " --quiet"));
    std::cout << o.output;  // the operator's transcript, for the test log
    for (const char* h : {"h1", "h2"}) {
      EXPECT_EQ(fleet_->agent_status(h).find("fault_id"), std::string::npos)
          << "agent " << h << " still holds a fault:\n" << fleet_->agent_status(h);
    }
    EXPECT_TRUE(eventually([] { return fleet_->reachable("10.204.0.11:17580"); }, 5s)) << "h1 not reachable after the run";
    return o;
  }

  static Fleet* fleet_;
};

Fleet* ExperimentE2E::fleet_ = nullptr;

TEST_F(ExperimentE2E, BlackholeOnTheOnlyHostFailsAvailability) {
  auto file = fleet_->write("single.yaml", experiment("fde-single-host", "host=fde-h1", "http://10.204.0.11:17580/", "6s", ""));
  auto o = run(file);
  EXPECT_EQ(o.status, 1) << o.output << fleet_->logs();
  EXPECT_NE(o.output.find("verdict: FAILED"), std::string::npos) << o.output;
  EXPECT_NE(o.output.find("availability"), std::string::npos) << o.output;
  EXPECT_NE(o.output.find("never"), std::string::npos) << o.output;  // no failover without a second host
}

TEST_F(ExperimentE2E, BlackholeOnOneOfTwoHostsBehindHaproxyPasses) {
  auto file = fleet_->write("haproxy.yaml", experiment("fde-behind-haproxy", "host=fde-h1", "http://10.204.0.1:17581/", "6s", ""));
  auto o = run(file);
  EXPECT_EQ(o.status, 0) << o.output << fleet_->logs();
  EXPECT_NE(o.output.find("verdict: PASSED"), std::string::npos) << o.output;
  // The run is kept: `firedrill show` reads it back with its per-host fault record.
  auto id_at = o.output.find("run r-");
  ASSERT_NE(id_at, std::string::npos) << o.output;
  std::string id = o.output.substr(id_at + 4, o.output.find(' ', id_at + 4) - id_at - 4);
  auto show = sh(fleet_->firedrill("show " + id));
  EXPECT_EQ(show.status, 0) << show.output;
  EXPECT_NE(show.output.find("fde-h1"), std::string::npos) << show.output;
  EXPECT_NE(show.output.find("reverted"), std::string::npos) << show.output;
  // `firedrill runs` lists experiment runs with the ad hoc ones.
  auto runs = sh(fleet_->firedrill("runs"));
  EXPECT_NE(runs.output.find(id), std::string::npos) << runs.output;
  // Its signed evidence log renders a report that verifies.
  std::string report = fleet_->dir() + "/" + id + ".json";
  auto r = sh(build_dir() + "/controller/firedrill report " + id + " --format json -o " + report + " --state-dir " +
              fleet_->dir() + "/state");
  EXPECT_EQ(r.status, 0) << r.output;
  auto v = sh(build_dir() + "/controller/firedrill report verify " + report);
  EXPECT_EQ(v.status, 0) << v.output;
}

TEST_F(ExperimentE2E, ApprovalsFromTheCommandLine) {
  auto file = fleet_->write("approve.yaml", experiment("fde-approvals", "host=fde-h1", "http://10.204.0.1:17581/", "2s",
                                                       "approvals: {required: 2, approvers: [kim, lee]}\n"));
  auto start = sh(fleet_->firedrill("run " + file + " --detach --as tester"));
  ASSERT_EQ(start.status, 0) << start.output;
  std::string id = start.output.substr(4, start.output.find(' ', 4) - 4);
  auto first = sh(fleet_->firedrill("approve " + id + " --as kim --comment 'change CHG-1'"));
  EXPECT_EQ(first.status, 0) << first.output;
  EXPECT_NE(first.output.find("(1 of 2)"), std::string::npos) << first.output;
  auto again = sh(fleet_->firedrill("approve " + id + " --as kim"));
  EXPECT_EQ(again.status, 1);
  EXPECT_NE(again.output.find("approvals must come from distinct people"), std::string::npos) << again.output;
  auto stranger = sh(fleet_->firedrill("approve " + id + " --as mallory"));
  EXPECT_EQ(stranger.status, 1);
  EXPECT_NE(stranger.output.find("mallory may not approve this run"), std::string::npos) << stranger.output;
  // Nothing was injected while it waited.
  EXPECT_EQ(fleet_->agent_status("h1").find("fault_id"), std::string::npos);
  EXPECT_EQ(sh(fleet_->firedrill("approve " + id + " --as lee")).status, 0);
  bool done = eventually([&] { return sh(fleet_->firedrill("show " + id)).status == 0; }, 60s);
  auto show = sh(fleet_->firedrill("show " + id));
  EXPECT_TRUE(done) << show.output;
  EXPECT_NE(show.output.find("approved    by kim"), std::string::npos) << show.output;
  EXPECT_NE(show.output.find("change CHG-1"), std::string::npos) << show.output;
  EXPECT_NE(show.output.find("approved    by lee"), std::string::npos) << show.output;
  EXPECT_NE(show.output.find("verdict: PASSED"), std::string::npos) << show.output;
}

TEST_F(ExperimentE2E, CtrlCAbortsTheRunAndRevertsIt) {
  auto file = fleet_->write("ctrlc.yaml", experiment("fde-ctrl-c", "host=fde-h1", "http://10.204.0.1:17581/", "2m", ""));
  std::string log = fleet_->dir() + "/ctrlc.out";
  pid_t pid = ::fork();
  if (pid == 0) {
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    std::string api = fleet_->api();
    ::execl((build_dir() + "/controller/firedrill").c_str(), "firedrill", "run", file.c_str(), "--quiet", "--api",
            api.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  // Interrupt once the fault is on.
  bool faulted = eventually([] { return fleet_->agent_status("h1").find("fault_id") != std::string::npos; }, 30s);
  EXPECT_TRUE(faulted);
  ::kill(pid, SIGINT);
  int status = 0;
  bool exited = eventually([&] { return ::waitpid(pid, &status, WNOHANG) == pid; }, 30s);
  if (!exited) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
  }
  std::ifstream in(log);
  std::stringstream out;
  out << in.rdbuf();
  EXPECT_TRUE(exited) << out.str();
  EXPECT_EQ(WIFEXITED(status) ? WEXITSTATUS(status) : -1, 2) << out.str();
  EXPECT_NE(out.str().find("verdict: ABORTED - interrupted from the terminal"), std::string::npos) << out.str();
  EXPECT_EQ(fleet_->agent_status("h1").find("fault_id"), std::string::npos) << fleet_->agent_status("h1");
}

TEST_F(ExperimentE2E, SchedulesFromTheCommandLine) {
  auto file = fleet_->write("sched.yaml", experiment("fde-scheduled", "host=fde-h1", "http://10.204.0.1:17581/", "2s",
                                                     "schedule: {cron: \"0 3 * * mon\", time_zone: Asia/Seoul, "
                                                     "blackout_dates: [\"2026-12-28\"]}\n"));
  auto add = sh(fleet_->firedrill("schedule add " + file));
  ASSERT_EQ(add.status, 0) << add.output;
  std::string id = add.output.substr(9, add.output.find(' ', 9) - 9);
  auto list = sh(fleet_->firedrill("schedule list"));
  EXPECT_NE(list.output.find(id), std::string::npos) << list.output;
  EXPECT_NE(list.output.find("Asia/Seoul"), std::string::npos) << list.output;
  EXPECT_NE(list.output.find("active"), std::string::npos) << list.output;
  auto pause = sh(fleet_->firedrill("schedule pause " + id));
  EXPECT_EQ(pause.status, 0) << pause.output;
  EXPECT_NE(pause.output.find("paused"), std::string::npos) << pause.output;
  EXPECT_EQ(sh(fleet_->firedrill("schedule resume " + id)).status, 0);
  EXPECT_EQ(sh(fleet_->firedrill("schedule remove " + id)).status, 0);
  EXPECT_EQ(sh(fleet_->firedrill("schedule list")).output.find(id), std::string::npos);
  auto none = sh(fleet_->firedrill("schedule add " + fleet_->write("nosched.yaml",
      experiment("fde-unscheduled", "host=fde-h1", "http://10.204.0.1:17581/", "2s", ""))));
  EXPECT_NE(none.status, 0);
  EXPECT_NE(none.output.find("has no schedule"), std::string::npos) << none.output;
}

TEST_F(ExperimentE2E, AbortConditionStopsTheRunEarlyAndRevertsEverything) {
  auto file = fleet_->write("abort.yaml", experiment("fde-abort", "host=fde-h1", "http://10.204.0.11:17580/", "2m",
                                                     "abort: {unavailability_over: 2s}\n"));
  auto t0 = std::chrono::steady_clock::now();
  auto o = run(file);
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(o.status, 2) << o.output << fleet_->logs();
  EXPECT_NE(o.output.find("verdict: ABORTED"), std::string::npos) << o.output;
  EXPECT_NE(o.output.find("abort.unavailability_over 2s"), std::string::npos) << o.output;
  EXPECT_LT(took, 60s);  // far before the fault's 2 minutes
}

TEST_F(ExperimentE2E, AnInvalidFileIsRefusedWithEveryError) {
  auto file = fleet_->write("bad.yaml", "name: bad\ntargets: {selector: \"\"}\nsteps: [{fault: {power_loss: {}}, duration: 5 min}]\n");
  auto o = sh(fleet_->firedrill("run " + file));
  EXPECT_EQ(o.status, 2);
  EXPECT_NE(o.output.find("bad.yaml:2:21: targets.selector: empty selector"), std::string::npos) << o.output;
  EXPECT_NE(o.output.find("steps[0].duration: bad duration '5 min'"), std::string::npos) << o.output;
}

}  // namespace
