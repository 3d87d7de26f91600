// Probes against real local servers and real commands, on loopback ports 17500-17599:
// python3's http.server, a socket server of our own (for answers http.server cannot
// give: silence, Prometheus's API), real commands with exit codes, output and timeouts.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <thread>

#include "controller/experiment/loader.h"
#include "controller/probes/probe.h"
#include "controller/experiment/limits.h"
#include "controller/probes/probe_set.h"

namespace firedrill::probes {
namespace {

using namespace std::chrono_literals;

// A one-thread HTTP server on 127.0.0.1:port that answers each request with what
// `respond` returns for its request line ("" means: say nothing, hold the connection).
class TinyServer {
 public:
  TinyServer(uint16_t port, std::function<std::string(const std::string&)> respond) : respond_(std::move(respond)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << "bind 127.0.0.1:" << port;
    EXPECT_EQ(::listen(fd_, 16), 0);
    thread_ = std::thread([this] { serve(); });
  }
  ~TinyServer() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
    for (int c : held_) ::close(c);
  }
  std::vector<std::string> requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  void serve() {
    while (!stop_) {
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) return;
      std::string req;
      char buf[2048];
      while (req.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        req.append(buf, static_cast<size_t>(n));
      }
      std::string line = req.substr(0, req.find("\r\n"));
      {
        std::lock_guard lock(mu_);
        requests_.push_back(line);
      }
      std::string answer = respond_(line);
      if (answer.empty()) {
        held_.push_back(c);  // silence until the test ends
        continue;
      }
      ::send(c, answer.data(), answer.size(), MSG_NOSIGNAL);
      ::close(c);
    }
  }

  std::function<std::string(const std::string&)> respond_;
  int fd_ = -1;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<std::string> requests_;
  std::vector<int> held_;
};

std::string http_answer(int status, const std::string& body) {
  return "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

// python3 -m http.server over a directory of our own, stopped (and waited for) at the end.
class PythonHttpServer {
 public:
  PythonHttpServer(uint16_t port, const std::string& dir) {
    SpawnOptions o;
    o.argv = {"python3", "-m", "http.server", std::to_string(port), "--bind", "127.0.0.1", "--directory", dir};
    auto pid = firedrill::start(o);
    if (!pid) {
      ADD_FAILURE() << "python3 -m http.server: " << pid.error().describe();
      return;
    }
    pid_ = *pid;
    // Ready when it accepts connections (bounded wait).
    for (int i = 0; i < 100; ++i) {
      v1::Probe p;
      p.mutable_tcp()->set_address("127.0.0.1:" + std::to_string(port));
      if (make_prober(p)->sample(1).ok) return;
      std::this_thread::sleep_for(50ms);
    }
    ADD_FAILURE() << "python3 -m http.server did not start on port " << port;
  }
  ~PythonHttpServer() {
    if (pid_ > 0) {
      ::kill(-pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }

 private:
  pid_t pid_ = -1;
};

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/fde-probes-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string path;
};

v1::Probe parse_probe(const std::string& yaml_probe) {
  std::string doc = "name: t\ntargets: {selector: a=b}\nsteps: [{fault: {power_loss: {}}, duration: 1s}]\nprobes:\n  - " +
                    yaml_probe + "\n";
  auto loaded = experiment::parse_experiment(doc, "probe.yaml");
  EXPECT_TRUE(loaded.ok()) << (loaded.ok() ? "" : loaded.diagnostics[0].to_string());
  return loaded.experiment.probes(0);
}

slo::Sample sample_of(const std::string& yaml_probe, uint64_t seq = 1) {
  auto prober = make_prober(parse_probe(yaml_probe));
  EXPECT_NE(prober, nullptr);
  return prober->sample(seq);
}

TEST(HttpProbe, AgainstPythonHttpServer) {
  TempDir dir;
  std::ofstream(dir.path + "/health") << "status: ok\n";
  PythonHttpServer server(17510, dir.path);
  auto ok = sample_of("{name: h, http: {url: \"http://127.0.0.1:17510/health\", body_match: \"^status: ok\"}, timeout: 2s}");
  EXPECT_TRUE(ok.ok) << ok.detail;
  EXPECT_NE(ok.detail.find("200 in"), std::string::npos) << ok.detail;
  EXPECT_GT(ok.duration, 0ns);
  auto body = sample_of("{name: h, http: {url: \"http://127.0.0.1:17510/health\", body_match: \"degraded\"}, timeout: 2s}");
  EXPECT_FALSE(body.ok);
  EXPECT_NE(body.detail.find("does not match /degraded/"), std::string::npos) << body.detail;
  auto missing = sample_of("{name: h, http: {url: \"http://127.0.0.1:17510/nothing\"}, timeout: 2s}");
  EXPECT_FALSE(missing.ok);
  EXPECT_NE(missing.detail.find("status 404"), std::string::npos) << missing.detail;
  auto expected_404 = sample_of("{name: h, http: {url: \"http://127.0.0.1:17510/nothing\", expect_status: [404]}, timeout: 2s}");
  EXPECT_TRUE(expected_404.ok) << expected_404.detail;
  auto head = sample_of("{name: h, http: {method: HEAD, url: \"http://127.0.0.1:17510/health\"}, timeout: 2s}");
  EXPECT_TRUE(head.ok) << head.detail;
}

TEST(HttpProbe, RefusedAndSilentServersFail) {
  auto refused = sample_of("{name: h, http: {url: \"http://127.0.0.1:17511/\"}, timeout: 1s}");
  EXPECT_FALSE(refused.ok);
  EXPECT_FALSE(refused.detail.empty());
  TinyServer silent(17512, [](const std::string&) { return std::string(); });
  auto t0 = std::chrono::steady_clock::now();
  auto timeout = sample_of("{name: h, http: {url: \"http://127.0.0.1:17512/\"}, timeout: 300ms}");
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_FALSE(timeout.ok);
  EXPECT_NE(timeout.detail.find("imed out"), std::string::npos) << timeout.detail;
  EXPECT_GE(took, 250ms);
  EXPECT_LT(took, 3s);  // bounded by the probe's timeout, not the server
}

TEST(HttpProbe, MethodHeadersAndBodyAreSent) {
  std::string seen;
  TinyServer server(17513, [&](const std::string& line) { return http_answer(201, "created"); });
  auto s = sample_of("{name: h, http: {method: POST, url: \"http://127.0.0.1:17513/items?x=1\", body: \"{}\", "
                     "expect_status: [201], headers: {X-Drill: pangyo}}, timeout: 2s}");
  EXPECT_TRUE(s.ok) << s.detail;
  ASSERT_EQ(server.requests().size(), 1u);
  EXPECT_EQ(server.requests()[0], "POST /items?x=1 HTTP/1.1");
}

TEST(TcpProbe, ConnectsOrSaysWhy) {
  TinyServer server(17514, [](const std::string&) { return http_answer(200, ""); });
  auto ok = sample_of("{name: t, tcp: {address: \"127.0.0.1:17514\"}}");
  EXPECT_TRUE(ok.ok) << ok.detail;
  auto refused = sample_of("{name: t, tcp: {address: \"127.0.0.1:17515\"}}");
  EXPECT_FALSE(refused.ok);
  EXPECT_NE(refused.detail.find("Connection refused"), std::string::npos) << refused.detail;
  auto v6 = sample_of("{name: t, tcp: {address: \"[::1]:17515\"}}");
  EXPECT_FALSE(v6.ok);
  auto unresolvable = sample_of("{name: t, tcp: {address: \"no-such-host.invalid:80\"}, timeout: 2s}");
  EXPECT_FALSE(unresolvable.ok);
  EXPECT_NE(unresolvable.detail.find("resolve no-such-host.invalid"), std::string::npos) << unresolvable.detail;
}

TEST(CommandProbe, ExitCodeOutputAndTimeout) {
  auto ok = sample_of("{name: c, command: {argv: [sh, -c, \"echo hello $WHO\"], output_match: \"hello drill\", "
                      "env: {WHO: drill}}, timeout: 2s}");
  EXPECT_TRUE(ok.ok) << ok.detail;
  auto exit3 = sample_of("{name: c, command: {argv: [sh, -c, \"echo broken >&2; exit 3\"]}, timeout: 2s}");
  EXPECT_FALSE(exit3.ok);
  EXPECT_EQ(exit3.detail, "exit 3: broken (expected 0)");
  auto expected3 = sample_of("{name: c, command: {argv: [sh, -c, \"exit 3\"], expect_exit: 3}, timeout: 2s}");
  EXPECT_TRUE(expected3.ok) << expected3.detail;
  auto output = sample_of("{name: c, command: {argv: [echo, nope], output_match: \"^yes\"}, timeout: 2s}");
  EXPECT_FALSE(output.ok);
  EXPECT_NE(output.detail.find("does not match /^yes/: nope"), std::string::npos) << output.detail;
  auto missing = sample_of("{name: c, command: {argv: [/nonexistent/fde-probe]}, timeout: 2s}");
  EXPECT_FALSE(missing.ok);
  EXPECT_NE(missing.detail.find("could not start"), std::string::npos) << missing.detail;
}

TEST(CommandProbe, TimeoutKillsTheCommandAndWhatItStarted) {
  TempDir dir;
  std::string pidfile = dir.path + "/pids";
  auto t0 = std::chrono::steady_clock::now();
  auto s = sample_of("{name: c, command: {argv: [sh, -c, \"sleep 30 & echo $! > " + pidfile +
                     "; sleep 30\"]}, timeout: 300ms}");
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_FALSE(s.ok);
  EXPECT_EQ(s.detail, "timed out");
  EXPECT_LT(took, 3s);
  pid_t child = 0;
  std::ifstream(pidfile) >> child;
  ASSERT_GT(child, 0);
  // The background sleep was in the command's process group and is gone (or a zombie
  // about to be reaped by init) within a second.
  bool gone = false;
  for (int i = 0; i < 20 && !gone; ++i) {
    std::ifstream stat("/proc/" + std::to_string(child) + "/stat");
    std::string content;
    std::getline(stat, content);
    gone = !stat.good() || content.find(") Z") != std::string::npos;
    if (!gone) std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(gone) << "pid " << child << " outlived the probe's timeout";
}

TEST(PrometheusProbe, InstantQueryAgainstTheHttpApi) {
  std::string answer = R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"web"},"value":[1763700000.1,"42"]}]}})";
  TinyServer prom(17516, [&](const std::string& line) {
    if (line.find("/api/v1/query?query=") == std::string::npos) return http_answer(404, "not found");
    return http_answer(200, answer);
  });
  auto below = sample_of("{name: p, prometheus: {url: \"http://127.0.0.1:17516/\", query: \"sum(rate(errors_total[1m])) > 0\", "
                         "op: lt, threshold: 100}, timeout: 2s}");
  EXPECT_TRUE(below.ok) << below.detail;
  EXPECT_EQ(below.detail, "42 < 100: true");
  ASSERT_FALSE(prom.requests().empty());
  EXPECT_EQ(prom.requests()[0], "GET /api/v1/query?query=sum%28rate%28errors_total%5B1m%5D%29%29%20%3E%200 HTTP/1.1");
  auto above = sample_of("{name: p, prometheus: {url: \"http://127.0.0.1:17516\", query: \"up\", op: gt, threshold: 100}, timeout: 2s}");
  EXPECT_FALSE(above.ok);
  EXPECT_EQ(above.detail, "42 > 100: false");
  answer = R"({"status":"success","data":{"resultType":"vector","result":[]}})";
  auto none = sample_of("{name: p, prometheus: {url: \"http://127.0.0.1:17516\", query: \"up\"}, timeout: 2s}");
  EXPECT_FALSE(none.ok);
  EXPECT_EQ(none.detail, "the query returned no series");
  answer = R"({"status":"error","errorType":"bad_data","error":"parse error at char 3"})";
  auto bad = sample_of("{name: p, prometheus: {url: \"http://127.0.0.1:17516\", query: \"up{\"}, timeout: 2s}");
  EXPECT_FALSE(bad.ok);
  EXPECT_EQ(bad.detail, "query failed: parse error at char 3");
}

TEST(PrometheusProbe, AnswerShapes) {
  EXPECT_EQ(*prometheus_value(R"({"status":"success","data":{"resultType":"scalar","result":[1,"0.5"]}})"), 0.5);
  EXPECT_FALSE(prometheus_value(R"({"status":"success","data":{"resultType":"vector","result":[{"value":[1,"1"]},{"value":[1,"2"]}]}})").ok());
  EXPECT_FALSE(prometheus_value(R"({"status":"success","data":{"resultType":"scalar","result":[1,"NaN"]}})").ok());
  EXPECT_FALSE(prometheus_value(R"({"status":"success","data":{"resultType":"matrix","result":[]}})").ok());
  EXPECT_FALSE(prometheus_value("<html>").ok());
  EXPECT_TRUE(compare(1, v1::COMPARISON_UNSPECIFIED, 1));  // default <=
  EXPECT_FALSE(compare(1, v1::COMPARISON_NE, 1));
}

TEST(DataProbe, MarkersWrittenAndReadBackThroughAProbeSet) {
  TempDir dir;
  std::string file = dir.path + "/markers";
  // The store "loses" markers 2 and 3: the read command leaves them out.
  std::string yaml = "name: t\ntargets: {selector: a=b}\nsteps: [{fault: {power_loss: {}}, duration: 1s}]\nprobes:\n"
                     "  - {name: d, interval: 100ms, timeout: 700ms, data: {write: [sh, -c, \"echo {marker} >> " + file +
                     "\"], read: [grep, -v, -x, -e, \"2\", -e, \"3\", " + file + "]}}\n";
  auto loaded = experiment::parse_experiment(yaml, "data.yaml");
  ASSERT_TRUE(loaded.ok()) << loaded.diagnostics[0].to_string();
  ProbeSet set(loaded.experiment);
  set.start();
  std::this_thread::sleep_for(800ms);
  auto data = set.read_back();
  auto samples = set.take_new();
  set.stop();
  ASSERT_GE(samples.size(), 4u);
  std::vector<slo::Sample> writes;
  for (auto& [probe, s] : samples) {
    EXPECT_EQ(probe, "d");
    EXPECT_TRUE(s.ok) << s.detail;
    writes.push_back(s);
  }
  EXPECT_EQ(writes[0].marker, 1u);
  EXPECT_EQ(writes[1].marker, 2u);
  ASSERT_TRUE(data.count("d"));
  ASSERT_TRUE(data["d"].read_ok) << data["d"].error;
  auto loss = slo::data_loss(writes, data["d"]);
  ASSERT_TRUE(loss.measured);
  EXPECT_EQ(loss.acknowledged, writes.size());
  EXPECT_EQ(loss.lost, (std::vector<uint64_t>{2, 3}));
  EXPECT_GT(loss.span, 0ns);
}

TEST(DataProbe, ParseMarkers) {
  EXPECT_EQ(*parse_markers("1\n2 3,4\n[\"5\", \"6\"]\n"), (std::vector<uint64_t>{1, 2, 3, 4, 5, 6}));
  EXPECT_FALSE(parse_markers("1 two 3").ok());
  EXPECT_TRUE(parse_markers("").ok());
}

TEST(ProbeSet, ASlowProbeDoesNotDelayTheOthers) {
  TinyServer server(17517, [](const std::string&) { return http_answer(200, "ok"); });
  const char* yaml = R"(name: t
targets: {selector: a=b}
steps: [{fault: {power_loss: {}}, duration: 1s}]
probes:
  - {name: slow, interval: 1s, timeout: 5s, command: {argv: [sleep, "3"]}}
  - {name: fast, interval: 100ms, tcp: {address: "127.0.0.1:17517"}}
)";
  auto loaded = experiment::parse_experiment(yaml, "set.yaml");
  ASSERT_TRUE(loaded.ok());
  ProbeSet set(loaded.experiment);
  set.start();
  std::this_thread::sleep_for(1200ms);
  auto samples = set.take_new();
  size_t fast = 0, slow = 0;
  std::vector<WallTime> fast_starts;
  for (auto& [probe, s] : samples) {
    if (probe == "fast") {
      ++fast;
      fast_starts.push_back(s.start);
    } else {
      ++slow;
    }
  }
  EXPECT_EQ(slow, 0u);   // still in its first sample
  EXPECT_GE(fast, 8u);   // ~12 on an idle machine
  for (size_t i = 1; i < fast_starts.size(); ++i) EXPECT_GT(fast_starts[i], fast_starts[i - 1]);
  auto t0 = std::chrono::steady_clock::now();
  set.stop();  // waits for the slow sample in flight, bounded by its timeout
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 6s);
}

size_t threads_of_this_process() {
  size_t n = 0;
  for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator("/proc/self/task")) ++n;
  return n;
}

// Issue 13: every probe had a timer thread and up to eight workers of its own (a file
// with many probes took thousands of threads). The probes of a run share one scheduler
// and a bounded pool, and each is still sampled.
TEST(ProbeSet, ManyProbesShareABoundedPool) {
  TinyServer server(17519, [](const std::string&) { return http_answer(200, "ok"); });
  std::string yaml = "name: t\ntargets: {selector: a=b}\nsteps: [{fault: {power_loss: {}}, duration: 1s}]\nprobes:\n";
  for (size_t i = 0; i < experiment::kMaxProbes; ++i) {
    yaml += fmt::format("  - {{name: p{}, interval: 200ms, timeout: 1s, tcp: {{address: \"127.0.0.1:17519\"}}}}\n", i);
  }
  auto loaded = experiment::parse_experiment(yaml, "many.yaml");
  ASSERT_TRUE(loaded.ok()) << loaded.diagnostics[0].to_string();
  ProbeSet set(loaded.experiment);
  size_t before = threads_of_this_process();
  set.start();
  size_t during = threads_of_this_process();
  std::this_thread::sleep_for(1500ms);
  set.stop();
  EXPECT_LE(set.threads(), ProbeSet::kMaxPoolThreads + 1);
  EXPECT_LE(during - before, ProbeSet::kMaxPoolThreads + 1) << "threads for " << experiment::kMaxProbes << " probes";
  std::map<std::string, size_t> per_probe;
  for (auto& [probe, s] : set.take_new()) per_probe[probe] += s.ok;
  EXPECT_EQ(per_probe.size(), experiment::kMaxProbes);
  for (auto& [probe, ok] : per_probe) EXPECT_GE(ok, 2u) << probe;
}

// A probe whose timeout is longer than its interval keeps its grid during an outage:
// failing samples overlap instead of pushing the next ones back, so an outage is sampled
// as densely as normal operation.
TEST(ProbeSet, AnOutageIsSampledOnTheGrid) {
  TinyServer silent(17518, [](const std::string&) { return std::string(); });
  const char* yaml = R"(name: t
targets: {selector: a=b}
steps: [{fault: {power_loss: {}}, duration: 1s}]
probes:
  - {name: hung, interval: 100ms, timeout: 400ms, http: {url: "http://127.0.0.1:17518/"}}
)";
  auto loaded = experiment::parse_experiment(yaml, "grid.yaml");
  ASSERT_TRUE(loaded.ok());
  ProbeSet set(loaded.experiment);
  set.start();
  std::this_thread::sleep_for(1500ms);
  set.stop();
  auto samples = set.take_new();
  // Slots at 0, 100, ..., 1400 ms; each sample takes 400 ms, so up to 5 are in flight.
  EXPECT_GE(samples.size(), 10u);
  std::vector<WallTime> starts;
  for (auto& [probe, s] : samples) {
    EXPECT_FALSE(s.ok);
    EXPECT_GE(s.duration, 350ms) << s.detail;
    starts.push_back(s.start);
  }
  std::sort(starts.begin(), starts.end());
  for (size_t i = 1; i < starts.size(); ++i) {
    EXPECT_LT(starts[i] - starts[i - 1], 250ms) << "sample " << i << " started late";
  }
  EXPECT_EQ(set.skipped("hung"), 0u);
}

}  // namespace
}  // namespace firedrill::probes
