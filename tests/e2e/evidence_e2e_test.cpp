// Evidence from a real run, as an auditor receives it: a controller (`firedrill serve`)
// and two agents in network namespaces this test creates (fdv-ops, fdv-h1 in
// dc=pangyo, fdv-h2 in dc=chuncheon, on a bridge in fdv-ops, 10.207.0.0/24), a real
// HTTP server on each host and a real HAProxy in fdv-ops in front of both. A game day
// run through the real CLI (approval, participants given at run time, a data probe),
// a finding recorded afterwards, then `firedrill report` in JSON and HTML: both verify
// against the exported key, and the report holds every section with content.
// Needs root with CAP_BPF and tcx; fails loudly otherwise. Everything it made is
// removed at the end, also when a test fails.
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

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "controller/evidence/report_model.h"

namespace firedrill::evidence {
namespace {

using namespace std::chrono_literals;

std::string build_dir() { return FDV_BUILD_DIR; }

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

// A process this test started, in its own process group; stopped with its group.
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
  ~Child() {
    if (pid_ <= 0) return;
    ::kill(-pid_, SIGTERM);
    for (int i = 0; i < 50; ++i) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) return;
      std::this_thread::sleep_for(100ms);
    }
    ::kill(-pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

 private:
  pid_t pid_ = -1;
};

template <typename F>
bool eventually(F f, std::chrono::milliseconds within) {
  auto end = std::chrono::steady_clock::now() + within;
  while (std::chrono::steady_clock::now() < end) {
    if (f()) return true;
    std::this_thread::sleep_for(200ms);
  }
  return f();
}

constexpr const char* kNamespaces[] = {"fdv-ops", "fdv-h1", "fdv-h2"};

void teardown_namespaces() {
  for (const char* ns : kNamespaces) sh(std::string("ip netns del ") + ns + " 2>/dev/null");
}

class Fleet {
 public:
  Fleet() {
    if (::geteuid() != 0) {
      ADD_FAILURE() << "the evidence e2e test needs root with CAP_BPF (run as root)";
      return;
    }
    teardown_namespaces();  // what a crashed earlier run may have left
    char tmpl[] = "/tmp/fdv-e2e-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    auto must = [&](const std::string& cmd) {
      auto o = sh(cmd);
      if (o.status != 0) ADD_FAILURE() << cmd << " failed (" << o.status << "): " << o.output;
      return o.status == 0;
    };
    bool ok = true;
    for (const char* ns : kNamespaces) ok &= must(std::string("ip netns add ") + ns + " && ip -n " + ns + " link set lo up");
    ok &= must("ip -n fdv-ops link add fdv-br type bridge && ip -n fdv-ops addr add 10.207.0.1/24 dev fdv-br && "
               "ip -n fdv-ops link set fdv-br up");
    for (int i = 1; i <= 2; ++i) {
      std::string h = "h" + std::to_string(i), ns = "fdv-" + h, ip = "10.207.0.1" + std::to_string(i);
      ok &= must("ip -n fdv-ops link add fdv-" + h + "-br type veth peer name eth0 netns " + ns +
                 " && ip -n fdv-ops link set fdv-" + h + "-br master fdv-br up && ip -n " + ns + " addr add " + ip +
                 "/24 dev eth0 && ip -n " + ns + " link set eth0 up");
    }
    if (!ok) return;
    std::filesystem::create_directories(dir_ + "/www");
    std::ofstream(dir_ + "/www/index.html") << "hello from the fleet\n";
    // `balance first` sends every request to h1 while HAProxy thinks it is up, and no
    // retries: the probe sees the outage until the health check marks h1 down, then
    // sustained success through h2 (the failover this drill measures).
    std::ofstream(dir_ + "/haproxy.cfg") << R"(global
  maxconn 256
defaults
  mode http
  timeout connect 300ms
  timeout client 5s
  timeout server 2s
  retries 0
frontend web
  bind 10.207.0.1:17781
  default_backend hosts
backend hosts
  balance first
  default-server inter 300ms fastinter 200ms downinter 300ms fall 2 rise 2
  server h1 10.207.0.11:17780 check
  server h2 10.207.0.12:17780 check
)";
    api_ = dir_ + "/api.sock";
    children_.push_back(std::make_unique<Child>(
        std::vector<std::string>{"ip", "netns", "exec", "fdv-ops", build_dir() + "/controller/firedrill", "serve",
                                 "--insecure", "--listen", "10.207.0.1:17740", "--state-dir", state(), "--api", api_,
                                 "--lease-grace", "3s", "--heartbeat", "500ms"},
        dir_ + "/controller.log"));
    const char* dcs[] = {"pangyo", "chuncheon"};
    for (int i = 1; i <= 2; ++i) {
      std::string h = "h" + std::to_string(i), ns = "fdv-" + h;
      children_.push_back(std::make_unique<Child>(
          std::vector<std::string>{"ip", "netns", "exec", ns, "python3", "-m", "http.server", "17780", "--bind",
                                   "10.207.0.1" + std::to_string(i), "--directory", dir_ + "/www"},
          dir_ + "/web-" + h + ".log"));
      children_.push_back(std::make_unique<Child>(
          std::vector<std::string>{"ip", "netns", "exec", ns, build_dir() + "/agent/firedrill-agent", "--id", ns,
                                   "--tag", "host=" + ns, "--tag", std::string("dc=") + dcs[i - 1], "--tag",
                                   "rack=r" + std::to_string(i), "--controller", "10.207.0.1:17740", "--insecure",
                                   "--interface", "eth0", "--allow", "10.207.0.1,tcp,17740", "--lease-grace", "3s",
                                   "--state-dir", dir_ + "/agent-" + h, "--local-socket", dir_ + "/agent-" + h + ".sock"},
          dir_ + "/agent-" + h + ".log"));
    }
    children_.push_back(std::make_unique<Child>(
        std::vector<std::string>{"ip", "netns", "exec", "fdv-ops", "haproxy", "-db", "-f", dir_ + "/haproxy.cfg"},
        dir_ + "/haproxy.log"));
    bool registered = eventually(
        [&] {
          auto o = sh(firedrill("agents"));
          return o.status == 0 && o.output.find("fdv-h1") != std::string::npos &&
                 o.output.find("fdv-h2") != std::string::npos;
        },
        20s);
    if (!registered) {
      ADD_FAILURE() << "agents did not register:\n" << sh(firedrill("agents")).output << logs();
      return;
    }
    bool serving = eventually(
        [&] {
          return sh("ip netns exec fdv-ops curl -s -m 1 --noproxy '*' -o /dev/null -w '%{http_code}' "
                    "http://10.207.0.1:17781/")
                     .output == "200";
        },
        20s);
    if (!serving) {
      ADD_FAILURE() << "the web service is not up\n" << logs();
      return;
    }
    ready_ = true;
  }

  ~Fleet() {
    while (!children_.empty()) children_.pop_back();  // last started, first stopped
    teardown_namespaces();
    if (!dir_.empty() && !::testing::Test::HasFailure()) std::filesystem::remove_all(dir_);
  }

  bool ready() const { return ready_; }
  const std::string& dir() const { return dir_; }
  std::string state() const { return dir_ + "/state"; }
  std::string firedrill(const std::string& args) const {
    return build_dir() + "/controller/firedrill " + args + " --api " + api_;
  }
  std::string offline(const std::string& args) const {  // verbs that read the state directory
    return build_dir() + "/controller/firedrill " + args + " --state-dir " + state();
  }
  std::string logs() const {
    std::string out;
    for (const char* f : {"controller.log", "agent-h1.log", "agent-h2.log", "haproxy.log"}) {
      std::ifstream in(dir_ + "/" + f);
      std::stringstream ss;
      ss << in.rdbuf();
      std::string s = ss.str();
      if (s.size() > 3000) s = "..." + s.substr(s.size() - 3000);
      out += std::string("--- ") + f + "\n" + s + "\n";
    }
    return out;
  }

 private:
  std::string dir_, api_;
  std::vector<std::unique_ptr<Child>> children_;
  bool ready_ = false;
};

std::string game_day(const std::string& dir) {
  return R"(name: fdv-web-site-loss
version: "2"
description: Every host of dc=pangyo drops off the network; the web tier must keep answering from chuncheon.
hypothesis: HAProxy takes the pangyo backend out within 5 s and no acknowledged marker is lost.
owner: web-sre
test_type: game_day
environment: lab
targets: {selector: "dc=pangyo"}
blast_radius:
  max_domains: {key: dc, count: 1}
  keep_untouched: {key: dc, min: 1}
steps:
  - name: pangyo off the network
    fault: {network: {blackhole: {}}}
    duration: 8s
probes:
  - name: web
    http: {url: "http://10.207.0.1:17781/", expect_status: [200], body_match: "hello"}
    interval: 100ms
    timeout: 1s
  - name: markers
    data:
      write: [sh, -c, "echo {marker} >> )" + dir + R"(/markers"]
      read: [cat, )" + dir + R"(/markers]
    interval: 250ms
steady_state: {hold: 2s, timeout: 30s}
recovery: {hold: 2s, timeout: 30s}
slo:
  availability: {min: 0.8, probes: [web]}
  failover_time: {max: 5s, consecutive: 3, probes: [web]}
  recovery_time: {max: 10s, probes: [web]}
  data_loss: {max_markers: 0, probes: [markers]}
approvals: {required: 1}
report: {user_notice_threshold: 2h}
)";
}

TEST(EvidenceE2E, AGameDayOnRealAgentsMakesAVerifiedCompleteReport) {
  Fleet fleet;
  ASSERT_TRUE(fleet.ready()) << "the test fleet is not up";
  std::string file = fleet.dir() + "/game-day.yaml";
  std::ofstream(file) << game_day(fleet.dir());

  auto start = sh(fleet.firedrill("run " + file + " --detach --as web-sre --participant kim:observer "
                                  "--participant 'lee:incident commander'"));
  ASSERT_EQ(start.status, 0) << start.output;
  ASSERT_EQ(start.output.rfind("run ", 0), 0u) << start.output;
  std::string id = start.output.substr(4, start.output.find_first_of(" \n", 4) - 4);
  auto approve = sh(fleet.firedrill("approve " + id + " --as head-of-sre --comment 'game day GD-7'"));
  ASSERT_EQ(approve.status, 0) << approve.output;
  bool done = eventually(
      [&] {
        auto out = sh(fleet.firedrill("show " + id)).output;
        for (const char* v : {"verdict: PASSED", "verdict: FAILED", "verdict: ABORTED", "verdict: REFUSED"}) {
          if (out.find(v) != std::string::npos) return true;
        }
        return false;
      },
      120s);
  auto show = sh(fleet.firedrill("show " + id));
  ASSERT_TRUE(done) << show.output << fleet.logs();
  std::cout << show.output;
  ASSERT_NE(show.output.find("verdict: PASSED"), std::string::npos) << show.output << fleet.logs();

  // A finding after the run: its own signed record; the run's log is unchanged.
  auto finding = sh(fleet.offline("finding add " + id + " --severity low --owner web-team --due 2026-12-31 "
                                  "--title 'first requests after the cut waited for a connect timeout'"));
  ASSERT_EQ(finding.status, 0) << finding.output;
  EXPECT_THAT(finding.output, ::testing::HasSubstr("F-0001"));

  std::string json = fleet.dir() + "/report.json", html = fleet.dir() + "/report.html", pub = fleet.dir() + "/pub.pem";
  ASSERT_EQ(sh(fleet.offline("keys export -o " + pub)).status, 0);
  for (auto [format, path] : {std::pair{"json", json}, {"html", html}}) {
    auto r = sh(fleet.offline("report " + id + " --format " + format + " -o " + path));
    ASSERT_EQ(r.status, 0) << r.output;
    auto v = sh(build_dir() + "/controller/firedrill report verify " + path + " --key " + pub);
    EXPECT_EQ(v.status, 0) << v.output;
    EXPECT_THAT(v.output, ::testing::HasSubstr("VERIFIED"));
    auto py = sh("scripts/verify-evidence.py " + path + " --key " + pub);
    EXPECT_EQ(py.status, 0) << py.output;
  }

  // Every section of the report has content, from the real run's log alone.
  std::ifstream in(json);
  Json doc = Json::parse(in);
  auto model = build_model(doc["evidence"]);
  ASSERT_TRUE(model) << model.error().message;
  auto missing = missing_sections(*model);
  EXPECT_TRUE(missing.empty()) << "missing: " << ::testing::PrintToString(missing);
  const auto& m = *model;
  EXPECT_EQ(m.summary.verdict, "pass");
  EXPECT_EQ(m.identity.run_id, id);
  ASSERT_EQ(m.scope.hosts.size(), 1u);
  EXPECT_EQ(m.scope.hosts[0].host, "fdv-h1");
  EXPECT_EQ(m.scope.hosts[0].dc, "pangyo");
  ASSERT_EQ(m.people.approvals.size(), 1u);
  EXPECT_EQ(m.people.approvals[0].approver, "head-of-sre");
  EXPECT_GE(m.people.participants.size(), 2u);
  ASSERT_EQ(m.timeline.hosts.size(), 1u);
  EXPECT_FALSE(m.timeline.hosts[0].applied_at.empty());
  EXPECT_FALSE(m.timeline.hosts[0].reverted_at.empty());
  EXPECT_GE(m.timeline.milestones.failover_ms, 0);
  EXPECT_LE(m.timeline.milestones.failover_ms, 5000);
  EXPECT_EQ(m.results.data_lost_markers, 0);
  EXPECT_GT(m.results.data[0].acknowledged, 10);
  for (auto& c : m.compliance) EXPECT_EQ(c.status, "evidenced") << c.framework << " " << c.clause;
  std::cout << "report: " << m.integrity.events << " events, head " << m.integrity.head << ", failover "
            << m.timeline.milestones.failover_ms << " ms, " << m.probes.at(0).total << " web samples\n";

  // The run is over: nothing is left on the agents.
  for (const char* h : {"h1", "h2"}) {
    auto st = sh(build_dir() + "/agent/firedrill-agent ctl --socket " + fleet.dir() + "/agent-" + h + ".sock status");
    EXPECT_EQ(st.output.find("fault_id"), std::string::npos) << h << ": " << st.output;
  }
}

}  // namespace
}  // namespace firedrill::evidence
