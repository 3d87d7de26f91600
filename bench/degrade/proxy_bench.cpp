// The connection fault proxy against a direct connection, side by side in one run
// (scripts/bench.sh degrade): how close the added latency comes to what was asked
// (p50 and p99 of request/answer round trips, 1, 10 and 100 ms asked), throughput and
// CPU per GiB through the proxy and direct, and memory per proxied connection. Runs in
// a network namespace of its own with a cgroup of its own (<cgroup2>/fdb-<pid>); the
// clients are child processes in that cgroup (the proxy never steers its own process),
// the server is a thread here. Bounded: every phase has a fixed size and a deadline.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include <google/protobuf/text_format.h>
#include <nlohmann/json.hpp>

#include "agent/bpf/features.h"
#include "agent/sockfault/sock_fault_engine.h"
#include "common/cli.h"
#include "common/spawn.h"

namespace po = boost::program_options;
using namespace firedrill;
using Clock = std::chrono::steady_clock;

namespace {

constexpr uint16_t kPort = 7000;
const char* kAddr = "127.0.0.2";

double cpu_seconds(int who) {
  rusage u{};
  ::getrusage(who, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

uint64_t rss_bytes() {
  std::ifstream in("/proc/self/status");
  std::string k;
  while (in >> k) {
    if (k == "VmRSS:") {
      uint64_t kb;
      in >> kb;
      return kb * 1024;
    }
    in.ignore(1 << 20, '\n');
  }
  return 0;
}

int connect_server() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(kPort);
  ::inet_pton(AF_INET, kAddr, &sa.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    ::close(fd);
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

// The server: echoes 64-byte requests ('e'), swallows bulk ('s'), holds idle ('h').
void serve(int lfd, std::atomic<bool>& stop) {
  std::vector<std::thread> workers;
  while (!stop) {
    int fd = ::accept(lfd, nullptr, nullptr);
    if (fd < 0) continue;
    workers.emplace_back([fd] {
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      char buf[1 << 16];
      ssize_t n;
      while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) {
        if (buf[0] == 'e' && n == 64) ::send(fd, buf, 64, MSG_NOSIGNAL);
      }
      ::close(fd);
    });
  }
  for (auto& w : workers) w.join();
}

// Runs f in a child process inside the cgroup; its result pipe carries doubles.
std::vector<double> in_child(const std::string& cgroup, const std::function<std::vector<double>()>& f) {
  int p[2];
  if (::pipe(p) != 0) return {};
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(p[0]);
    std::ofstream(cgroup + "/cgroup.procs") << 0;
    auto v = f();
    size_t n = v.size();
    [[maybe_unused]] auto w1 = ::write(p[1], &n, sizeof n);
    [[maybe_unused]] auto w2 = ::write(p[1], v.data(), n * sizeof(double));
    ::_exit(0);
  }
  ::close(p[1]);
  size_t n = 0;
  std::vector<double> v;
  if (::read(p[0], &n, sizeof n) == sizeof n && n < (1 << 24)) {
    v.resize(n);
    size_t got = 0;
    while (got < n * sizeof(double)) {
      ssize_t r = ::read(p[0], reinterpret_cast<char*>(v.data()) + got, n * sizeof(double) - got);
      if (r <= 0) break;
      got += size_t(r);
    }
  }
  ::close(p[0]);
  int status;
  ::waitpid(pid, &status, 0);
  return v;
}

// Round trips in ms of `n` 64-byte requests on one connection (after a first one).
std::vector<double> round_trips(int n) {
  int fd = connect_server();
  if (fd < 0) return {};
  char buf[64];
  std::memset(buf, 'e', sizeof buf);
  std::vector<double> out;
  for (int i = 0; i <= n; ++i) {
    auto t0 = Clock::now();
    ::send(fd, buf, 64, 0);
    size_t got = 0;
    while (got < 64) {
      ssize_t r = ::recv(fd, buf + got, 64 - got, 0);
      if (r <= 0) return out;
      got += size_t(r);
    }
    if (i > 0) out.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  ::close(fd);
  return out;
}

// Sends `bytes` of bulk; {seconds, client CPU seconds}.
std::vector<double> bulk(uint64_t bytes) {
  int fd = connect_server();
  if (fd < 0) return {};
  std::vector<char> buf(1 << 16, 's');
  double c0 = cpu_seconds(RUSAGE_SELF);
  auto t0 = Clock::now();
  uint64_t sent = 0;
  while (sent < bytes) {
    ssize_t n = ::send(fd, buf.data(), std::min<uint64_t>(buf.size(), bytes - sent), 0);
    if (n <= 0) break;
    sent += uint64_t(n);
  }
  ::shutdown(fd, SHUT_WR);
  char c;
  while (::recv(fd, &c, 1, 0) > 0) {
  }
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  ::close(fd);
  return {secs, cpu_seconds(RUSAGE_SELF) - c0, double(sent)};
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, size_t(p / 100 * double(v.size())))];
}

v1::FaultSpec spec(const std::string& text) {
  v1::FaultSpec s;
  google::protobuf::TextFormat::ParseFromString(text, &s);
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  po::options_description desc("proxy_bench: the connection fault proxy against a direct connection");
  std::string json;
  uint64_t mib = 512;
  int conns = 500;
  desc.add_options()("help", "this text")("json", po::value(&json), "write the results as JSON here")(
      "mib", po::value(&mib)->default_value(mib), "bulk MiB per throughput run")(
      "connections", po::value(&conns)->default_value(conns), "idle connections for the memory figure");
  po::variables_map vm;
  if (auto r = parse_verb_options(argc, argv, desc, vm, "proxy_bench")) return *r;
  if (::unshare(CLONE_NEWNET) != 0) {
    std::perror("proxy_bench: unshare(CLONE_NEWNET) (needs root)");
    return 1;
  }
  SpawnOptions lo;
  lo.argv = {"ip", "link", "set", "lo", "up"};
  if (auto r = spawn(lo); r.status() != 0) {
    std::cerr << "proxy_bench: ip link set lo up: " << r.describe() << "\n";
    return 1;
  }
  const auto& f = agent::bpf::features();
  if (!f.sock_hooks) {
    std::cerr << "proxy_bench: " << f.missing("sock_hooks").describe() << "\n";
    return 1;
  }
  std::string top = f.cgroup2_mount + "/fdb-" + std::to_string(::getpid());
  std::string client_cg = top + "/client";
  std::filesystem::create_directories(client_cg);
  struct Cleanup {
    std::string top, cg;
    ~Cleanup() {
      ::rmdir(cg.c_str());
      ::rmdir(top.c_str());
    }
  } cleanup{top, client_cg};

  int lfd = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(kPort);
  ::inet_pton(AF_INET, kAddr, &sa.sin_addr);
  if (::bind(lfd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 || ::listen(lfd, 4096) != 0) {
    std::perror("proxy_bench: server");
    return 1;
  }
  timeval tv{0, 200000};
  ::setsockopt(lfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::atomic<bool> stop{false};
  std::thread server([&] { serve(lfd, stop); });

  agent::sockfault::SockFaultEngine engine(top.substr(f.cgroup2_mount.size()));
  const std::string match = std::string("workload_cgroups: \"client\" match { dst_cidrs: \"") + kAddr + "\" } ";
  nlohmann::json out;
  auto fail = [&](const Error& e) {
    std::cerr << "proxy_bench: " << e.describe() << "\n";
    stop = true;
    server.join();
    return 1;
  };

  // Added latency: one-way to_client latency L on an established connection adds L to
  // each round trip; the error is against the direct round trip's own percentile.
  auto direct_rtt = in_child(client_cg, [] { return round_trips(300); });
  std::printf("%-34s %10s %10s %10s %10s\n", "added latency (ms)", "asked", "p50 err", "p99 err", "samples");
  for (int ms : {1, 10, 100}) {
    int n = ms == 100 ? 30 : 200;
    std::string id = "lat" + std::to_string(ms);
    auto r = engine.apply(id, spec("connection { " + match + "to_client_latency { fixed_us: " +
                                   std::to_string(ms * 1000) + " } }"));
    if (!r) return fail(r.error());
    auto v = in_child(client_cg, [n] { return round_trips(n); });
    (void)engine.revert(id);
    double e50 = percentile(v, 50) - percentile(direct_rtt, 50) - ms;
    double e99 = percentile(v, 99) - percentile(direct_rtt, 99) - ms;
    std::printf("%-34s %10d %10.3f %10.3f %10zu\n", "", ms, e50, e99, v.size());
    out["latency"].push_back({{"asked_ms", ms}, {"p50_error_ms", e50}, {"p99_error_ms", e99}, {"samples", v.size()}});
  }

  // Throughput and CPU per GiB (client, server and proxy together: this process and the
  // child), direct and through a proxy that shapes nothing measurable (1 us).
  uint64_t bytes = mib << 20;
  auto run_bulk = [&] {
    double self0 = cpu_seconds(RUSAGE_SELF);
    auto v = in_child(client_cg, [bytes] { return bulk(bytes); });
    double self = cpu_seconds(RUSAGE_SELF) - self0;
    if (v.size() < 3) return std::pair<double, double>{0, 0};
    double gib = v[2] / double(1 << 30);
    return std::pair<double, double>{v[2] / v[0] / 1e6, (self + v[1]) / gib};
  };
  auto [direct_mbs, direct_cpu] = run_bulk();
  if (auto r = engine.apply("bulk", spec("connection { " + match + "to_server_latency { fixed_us: 1 } }")); !r) {
    return fail(r.error());
  }
  auto [proxy_mbs, proxy_cpu] = run_bulk();
  (void)engine.revert("bulk");
  std::printf("%-34s %10s %10s %10s\n", "bulk transfer", "direct", "proxied", "ratio");
  std::printf("%-34s %10.1f %10.1f %10.3f\n", "  throughput (MB/s)", direct_mbs, proxy_mbs, proxy_mbs / direct_mbs);
  std::printf("%-34s %10.3f %10.3f %10.3f\n", "  CPU seconds per GiB", direct_cpu, proxy_cpu, proxy_cpu / direct_cpu);
  out["throughput"] = {{"direct_mb_s", direct_mbs}, {"proxied_mb_s", proxy_mbs}, {"ratio", proxy_mbs / direct_mbs}};
  out["cpu_per_gib"] = {{"direct_s", direct_cpu}, {"proxied_s", proxy_cpu}, {"ratio", proxy_cpu / direct_cpu}};

  // Memory per proxied connection: idle connections that each passed one request, the
  // growth of this process's RSS (proxy and server) through the proxy less the growth
  // with the same connections direct (the server's share).
  auto rss_growth = [&] {
    uint64_t rss0 = rss_bytes();
    int go[2];
    if (::pipe(go) != 0) return 0.0;
    std::atomic<uint64_t> rss1{0};
    std::thread sampler([&] {
      char c;
      if (::read(go[0], &c, 1) == 1) rss1 = rss_bytes();
    });
    in_child(client_cg, [conns, go] {
      std::vector<int> fds;
      char buf[64];
      std::memset(buf, 'e', sizeof buf);
      for (int i = 0; i < conns; ++i) {
        int fd = connect_server();
        if (fd < 0) break;
        ::send(fd, buf, 64, 0);
        ::recv(fd, buf, 64, MSG_WAITALL);
        fds.push_back(fd);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      [[maybe_unused]] auto w = ::write(go[1], "x", 1);
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      for (int fd : fds) ::close(fd);
      return std::vector<double>{double(fds.size())};
    });
    sampler.join();
    ::close(go[0]);
    ::close(go[1]);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    return double(rss1.load()) - double(rss0);
  };
  double direct_growth = rss_growth();
  if (auto r = engine.apply("mem", spec("connection { " + match + "to_server_latency { fixed_us: 1 } }")); !r) {
    return fail(r.error());
  }
  double proxied_growth = rss_growth();
  (void)engine.revert("mem");
  double per_conn = (proxied_growth - direct_growth) / conns;
  std::printf("%-34s %10.0f   (%d idle connections; RSS growth %.0f proxied, %.0f direct)\n",
              "memory per proxied connection (B)", per_conn, conns, proxied_growth, direct_growth);
  out["memory_per_connection_bytes"] = per_conn;
  out["connections"] = conns;

  stop = true;
  server.join();
  ::close(lfd);
  if (!json.empty()) std::ofstream(json) << out.dump(2) << "\n";
  return 0;
}
