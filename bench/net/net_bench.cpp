// bench/net: the network fault engine against itself and against the tools it replaces,
// side by side in one run (scripts/bench.sh net). Three parts:
//
//   cost        per-packet cost of the classifier (BPF_PROG_TEST_RUN, repeat) with 0, 10,
//               1,000 and 10,000 installed rules that do not match the packet; host
//               rules (/32) and, for comparison, /24 prefixes. Target: 10k <= 1.2 x 0.
//   throughput  iperf3 between two namespaces: no filter, our classifier with 10,000
//               non-matching rules, iptables with 10,000 equivalent rules, one nftables
//               set of 10,000 elements (iptables and nftables inside the bench
//               namespace only). Target: ours >= 0.9 x no filter.
//   latency     from the call that injects a drop to the first packet dropped, for our
//               engine, `iptables -A ... -j DROP` and `tc filter add ... bpf`, measured
//               on a numbered UDP stream. Target: ours p99 < 1 ms and >= 10 x faster.
//
// Prints a table and writes JSON (default bench/results/net.json). Everything it makes
// is named fdn-<pid>-bench-* and removed at the end, also on failure.
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <time.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <stdexcept>
#include <map>
#include <random>
#include <set>

#include <google/protobuf/text_format.h>

#include "agent/net/net_fault_engine.h"
#include "common/log.h"
#include "common/spawn.h"
#include "tests/bpf/net_packet.h"
#include "tests/integration/net_lab.h"

namespace {

using namespace firedrill::testing;
using namespace firedrill::agent::net;
namespace v1 = firedrill::v1;
using Clock = std::chrono::steady_clock;

constexpr const char* kSender = "10.201.250.1";
constexpr const char* kReceiver = "10.201.250.2";
constexpr uint32_t kBenchNet = 0x0ac9fa00;  // 10.201.250.0/24: never among the rules

// The machine is shared (2 cores, builds running): without a real-time priority the
// latency figures measure its load, not the mechanisms. The injecting thread (and the
// iptables/tc processes it spawns, which inherit it) and the packet sender run
// SCHED_FIFO alike for all three methods; --no-rt turns it off.
bool g_realtime = true;

void realtime(int priority) {
  if (!g_realtime) return;
  sched_param p{};
  p.sched_priority = priority;
  pthread_setschedparam(pthread_self(), SCHED_FIFO, &p);
}

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

std::string dotted(uint32_t a) {
  return fmt::format("{}.{}.{}.{}", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
}

// n distinct addresses spread over 1.0.0.0-223.255.255.255, masked to `len`, none in
// the bench's own /16 or loopback: rules that exist but never match the traffic.
std::vector<std::string> spread_prefixes(size_t n, int len, uint32_t seed) {
  std::mt19937 rng(seed);
  std::set<uint32_t> seen;
  std::vector<std::string> out;
  uint32_t mask = len == 0 ? 0 : ~0u << (32 - len);
  while (out.size() < n) {
    uint32_t a = (rng() % 0xdf000000u + 0x01000000u) & mask;
    if ((a >> 16) == (kBenchNet >> 16) || (a >> 24) == 127 || !seen.insert(a).second) continue;
    out.push_back(len == 32 ? dotted(a) : fmt::format("{}/{}", dotted(a), len));
  }
  return out;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  double idx = p / 100.0 * (v.size() - 1);
  size_t lo = static_cast<size_t>(idx);
  size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (idx - lo);
}

v1::FaultSpec drop_spec(const std::vector<std::string>& dsts, const std::string& extra = "") {
  v1::FaultSpec s;
  std::string text = "network { drop { match { direction: DIRECTION_EGRESS " + extra + " } } }";
  if (!google::protobuf::TextFormat::ParseFromString(text, &s)) throw std::runtime_error("bad spec " + text);
  auto* m = s.mutable_network()->mutable_drop()->mutable_match();
  for (auto& d : dsts) m->add_dst_cidrs(d);
  return s;
}

CompiledFault compiled(const v1::FaultSpec& s) {
  auto c = compile_network_fault(s.network());
  if (!c) throw std::runtime_error(c.error().describe());
  return *c;
}

// ------------------------------------------------------------------ cost

struct CostRow {
  std::string series;
  size_t rules;
  double ns;
};

std::vector<CostRow> bench_cost(int rounds) {
  auto dp = NetDataplane::load();
  if (!dp) throw std::runtime_error("load the classifier: " + dp.error().describe());
  auto pkt = Packet().eth().ipv4(kSender, kReceiver).tcp(40000, 5201).payload(64).bytes();
  std::vector<CostRow> rows;
  for (auto [series, len] : {std::pair{"host rules (/32)", 32}, std::pair{"prefix rules (/24)", 24}}) {
    for (size_t n : {0, 10, 1000, 10000}) {
      if (n) {
        auto r = (*dp)->install("cost", compiled(drop_spec(spread_prefixes(n, len, 42))), NF_IFACES_ALL);
        if (!r) throw std::runtime_error(r.error().describe());
      }
      std::vector<double> per_packet;
      for (int i = 0; i < rounds + 1; ++i) {
        LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt.data(), .data_size_in = static_cast<uint32_t>(pkt.size()),
                    .repeat = 200000);
        if (bpf_prog_test_run_opts((*dp)->prog_fd(Program::kEgress), &o) != 0) {
          throw std::runtime_error(std::string("BPF_PROG_TEST_RUN: ") + std::strerror(errno));
        }
        if (static_cast<int>(o.retval) != NF_TC_NEXT) throw std::runtime_error("the bench packet was dropped");
        if (i > 0) per_packet.push_back(o.duration);  // the first run warms caches
      }
      rows.push_back({series, n, percentile(per_packet, 50)});
      std::cerr << fmt::format("  cost {:<20} {:>6} rules: {:.1f} ns/packet\n", series, n, rows.back().ns);
      (void)(*dp)->remove("cost");
    }
  }
  return rows;
}

// ------------------------------------------------------------------ the namespaces

struct Lab {
  Lab()
      : a("bench-a"),
        b("bench-b"),
        ifa("fdn" + std::to_string(::getpid()) + "s"),
        ifb("fdn" + std::to_string(::getpid()) + "r") {
    veth(a, ifa, {std::string(kSender) + "/24"}, b, ifb, {std::string(kReceiver) + "/24"});
  }
  // The engine as an agent in namespace a starts it: attached to its interface at once.
  std::unique_ptr<NetFaultEngine> engine() {
    std::unique_ptr<NetFaultEngine> e;
    in_netns(a, [&] {
      NetEngineConfig config;
      config.interfaces = {ifa};
      e = std::make_unique<NetFaultEngine>(config);
    });
    if (e->load_error()) throw std::runtime_error(e->load_error()->describe());
    return e;
  }
  // Runs argv in namespace a (the spawned child inherits the calling thread's namespace).
  Exec in_a(const std::vector<std::string>& argv, std::chrono::milliseconds timeout = 60s) {
    Exec r;
    in_netns(a, [&] { r = exec(argv, timeout); });
    return r;
  }
  Netns a, b;
  std::string ifa, ifb;
};

// A process in a namespace for the length of a scope (the iperf3 server).
class Daemon {
 public:
  Daemon(const Netns& ns, std::vector<std::string> argv) {
    firedrill::SpawnOptions o;
    o.argv = std::move(argv);
    o.netns = "/run/netns/" + ns.name();
    auto pid = firedrill::start(o);
    if (!pid) throw std::runtime_error("start " + o.argv.at(0) + ": " + pid.error().describe());
    pid_ = *pid;
  }
  ~Daemon() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }

 private:
  pid_t pid_ = -1;
};

// ------------------------------------------------------------------ throughput

struct ThroughputRow {
  std::string config;
  double gbps;
  std::vector<double> runs;
};

double iperf3_gbps(Lab& lab, int seconds) {
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto r = lab.in_a({"iperf3", "-c", kReceiver, "-p", "5201", "-t", std::to_string(seconds), "-O", "1", "-J"},
                      std::chrono::seconds(seconds + 30));
    auto at = r.out.find("\"sum_received\"");
    if (r.code == 0 && at != std::string::npos) {
      auto bps = r.out.find("\"bits_per_second\":", at);
      if (bps != std::string::npos) return std::stod(r.out.substr(bps + 18)) / 1e9;
    }
    std::this_thread::sleep_for(300ms);  // the server may still be starting
  }
  throw std::runtime_error("iperf3 gave no result");
}

std::vector<ThroughputRow> bench_throughput(Lab& lab, int rounds, int seconds) {
  Daemon server(lab.b, {"iperf3", "-s", "-p", "5201"});
  std::this_thread::sleep_for(500ms);
  auto hosts = spread_prefixes(10000, 32, 7);

  std::string ipt = "/tmp/" + lab_tag() + "-bench-iptables.rules";
  std::string nft = "/tmp/" + lab_tag() + "-bench.nft";
  {
    std::ofstream f(ipt);
    f << "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n";
    for (auto& h : hosts) f << "-A OUTPUT -d " << h << "/32 -j DROP\n";
    f << "COMMIT\n";
    std::ofstream g(nft);
    g << "table inet fdnbench {\n  set blocked {\n    type ipv4_addr\n    elements = {\n";
    for (size_t i = 0; i < hosts.size(); ++i) g << "      " << hosts[i] << (i + 1 < hosts.size() ? ",\n" : "\n");
    g << "    }\n  }\n  chain out {\n    type filter hook output priority 0; policy accept;\n"
         "    ip daddr @blocked drop\n  }\n}\n";
  }
  struct Cleanup {
    std::string a, b;
    ~Cleanup() {
      std::error_code ec;
      std::filesystem::remove(a, ec);
      std::filesystem::remove(b, ec);
    }
  } cleanup{ipt, nft};

  auto engine_ptr = lab.engine();
  auto& engine = *engine_ptr;
  auto spec = drop_spec(hosts);

  struct Config {
    std::string name;
    std::function<void()> setup, teardown;
  };
  std::vector<Config> configs = {
      {"no filter", [] {}, [] {}},
      {"firedrill eBPF, 10k rules",
       [&] {
         firedrill::Result<void> r = firedrill::ok();
         in_netns(lab.a, [&] { r = engine.apply("tput", spec); });
         if (!r) throw std::runtime_error(r.error().describe());
       },
       [&] { (void)engine.revert("tput"); }},
      {"iptables, 10k rules",
       [&] {
         auto r = lab.in_a({"iptables-restore", ipt});
         if (r.code != 0) throw std::runtime_error("iptables-restore: " + r.out);
         auto n = lab.in_a({"iptables", "-S", "OUTPUT"});
         if (std::count(n.out.begin(), n.out.end(), '\n') < 10000) throw std::runtime_error("iptables rules missing");
       },
       [&] { lab.in_a({"iptables", "-F", "OUTPUT"}); }},
      {"nftables set, 10k elements",
       [&] {
         auto r = lab.in_a({"nft", "-f", nft});
         if (r.code != 0) throw std::runtime_error("nft -f: " + r.out);
       },
       [&] { lab.in_a({"nft", "delete", "table", "inet", "fdnbench"}); }},
  };
  std::vector<ThroughputRow> rows;
  for (auto& c : configs) rows.push_back({c.name, 0, {}});
  for (int round = 0; round < rounds; ++round) {
    for (size_t k = 0; k < configs.size(); ++k) {
      size_t i = (k + round) % configs.size();  // rotate the order between rounds
      configs[i].setup();
      double g = 0;
      try {
        g = iperf3_gbps(lab, seconds);
      } catch (...) {
        configs[i].teardown();
        throw;
      }
      configs[i].teardown();
      rows[i].runs.push_back(g);
      std::cerr << fmt::format("  throughput round {} {:<28} {:.2f} Gbit/s\n", round + 1, configs[i].name, g);
    }
  }
  for (auto& r : rows) r.gbps = percentile(r.runs, 50);
  return rows;
}

// ------------------------------------------------------------------ latency

// A numbered UDP stream, one datagram every `gap`, remembering when each left.
class Stream {
 public:
  Stream(const Netns& from, uint64_t first_seq, std::chrono::nanoseconds gap) : first_(first_seq), sent_(kCap) {
    in_netns(from, [&] { fd_ = Fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)); });
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(9100);
    inet_pton(AF_INET, kReceiver, &to.sin_addr);
    thread_ = std::thread([this, to, gap] {
      // Sleeps between datagrams (never spins), so that the receive path gets the CPU;
      // real-time priority and a tight timer slack keep the pace under load.
      realtime(10);
      ::prctl(PR_SET_TIMERSLACK, 1000);
      char payload[32] = {};
      timespec next{};
      clock_gettime(CLOCK_MONOTONIC, &next);
      for (size_t i = 0; i < kCap && !stop_; ++i) {
        next.tv_nsec += gap.count();
        while (next.tv_nsec >= 1000000000) {
          next.tv_nsec -= 1000000000;
          ++next.tv_sec;
        }
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, nullptr);
        uint64_t seq = first_ + i;
        std::memcpy(payload, &seq, 8);
        sent_[i] = now_ns();
        (void)::sendto(fd_.get(), payload, sizeof payload, 0, reinterpret_cast<const sockaddr*>(&to), sizeof to);
        n_ = i + 1;
      }
    });
  }
  ~Stream() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  size_t sent() const { return n_; }
  int64_t sent_at(size_t i) const { return sent_[i]; }
  uint64_t first() const { return first_; }

 private:
  static constexpr size_t kCap = 200000;
  uint64_t first_;
  std::vector<int64_t> sent_;
  Fd fd_;
  std::atomic<bool> stop_{false};
  std::atomic<size_t> n_{0};
  std::thread thread_;
};

constexpr int kGapUs = 20;  // the stream's pace: the resolution of the measurement

struct LatencyRow {
  std::string method;
  std::vector<double> us;        // call to first dropped packet
  std::vector<double> call_us;   // the call itself
  double p50 = 0, p99 = 0, max = 0;
};

std::vector<LatencyRow> bench_latency(Lab& lab, int trials) {
  UdpSink sink(lab.b, kReceiver, 9100);
  auto engine_ptr = lab.engine();
  auto& engine = *engine_ptr;
  auto spec = drop_spec({kReceiver}, "protocol: L4_UDP");
  auto must_a = [&](const std::vector<std::string>& argv) {
    auto r = lab.in_a(argv);
    if (r.code != 0) throw std::runtime_error(argv[0] + ": " + r.out);
  };
  must_a({"tc", "qdisc", "add", "dev", lab.ifa, "clsact"});  // set-up, not timed

  struct Method {
    std::string name;
    std::function<int64_t()> inject;  // returns t0, the moment the call started
    std::function<void()> revert;
  };
  // Runs `call` on a thread in lab.a at real-time priority; returns when it started.
  auto timed_in_a = [&](const std::function<void()>& call) {
    int64_t t0 = 0;
    in_netns(lab.a, [&] {
      realtime(20);
      t0 = now_ns();
      call();
    });
    return t0;
  };
  // Injection by a command (iptables, tc) run in lab.a.
  auto command = [&](const std::string& name, const std::vector<std::string>& argv) {
    return [&timed_in_a, name, argv] {
      Exec r;
      int64_t t0 = timed_in_a([&] { r = exec(argv); });
      if (r.code != 0) throw std::runtime_error(name + ": " + r.out);
      return t0;
    };
  };
  std::vector<Method> methods = {
      {"firedrill eBPF",
       [&] {
         firedrill::Result<void> r = firedrill::ok();
         int64_t t0 = timed_in_a([&] { r = engine.apply("lat", spec); });
         if (!r) throw std::runtime_error(r.error().describe());
         return t0;
       },
       [&] { (void)engine.revert("lat"); }},
      {"iptables -A", command("iptables -A", {"iptables", "-A", "OUTPUT", "-d", kReceiver, "-p", "udp", "-j", "DROP"}),
       [&] { must_a({"iptables", "-D", "OUTPUT", "-d", kReceiver, "-p", "udp", "-j", "DROP"}); }},
      {"tc filter add",
       command("tc filter add",
               {"tc", "filter", "add", "dev", lab.ifa, "egress", "bpf", "da", "obj", FD_TC_DROP_OBJ, "sec", "tc"}),
       [&] { must_a({"tc", "filter", "del", "dev", lab.ifa, "egress"}); }},
  };

  std::vector<LatencyRow> rows;
  for (auto& m : methods) rows.push_back({m.name, {}, {}});
  uint64_t seq = 1;
  for (int t = 0; t < trials; ++t) {
    for (size_t i = 0; i < methods.size(); ++i) {
      Stream stream(lab.a, seq, std::chrono::microseconds(kGapUs));
      std::this_thread::sleep_for(5ms);
      int64_t t0 = methods[i].inject();
      int64_t t1 = now_ns();
      std::this_thread::sleep_for(15ms);
      stream.stop();
      // Let the receiver drain: until its count holds still for 20 ms (at most 2 s).
      for (int k = 0; k < 100; ++k) {
        auto before = sink.received();
        std::this_thread::sleep_for(20ms);
        if (sink.received() == before) break;
      }
      methods[i].revert();
      size_t n = stream.sent();
      seq += n + 1000;
      auto seen = sink.seen_range(stream.first(), n);
      size_t last = n;  // the last datagram that arrived
      for (size_t k = n; k-- > 0;) {
        if (seen[k]) {
          last = k;
          break;
        }
      }
      if (last == n || last + 1 >= n) {
        std::cerr << fmt::format("  latency {}: trial {} shows no drop in {} datagrams, last arrived {} (ignored)\n",
                                 methods[i].name, t, n, last == n ? -1 : static_cast<long>(last));
        continue;
      }
      double us = std::max<int64_t>(0, stream.sent_at(last + 1) - t0) / 1000.0;
      rows[i].us.push_back(us);
      rows[i].call_us.push_back((t1 - t0) / 1000.0);
    }
  }
  lab.in_a({"tc", "qdisc", "del", "dev", lab.ifa, "clsact"});
  for (auto& r : rows) {
    r.p50 = percentile(r.us, 50);
    r.p99 = percentile(r.us, 99);
    r.max = r.us.empty() ? 0 : *std::max_element(r.us.begin(), r.us.end());
    std::cerr << fmt::format("  latency {:<16} p50 {:.0f} us, p99 {:.0f} us ({} trials)\n", r.method, r.p50, r.p99,
                             r.us.size());
  }
  return rows;
}

// ------------------------------------------------------------------ report

std::string json_str(const std::string& s) { return "\"" + s + "\""; }

std::string json_list(const std::vector<double>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += fmt::format("{}{:.3f}", i ? ", " : "", v[i]);
  return s + "]";
}

// `tc filter add ... bpf obj` (iproute2) mounts a bpffs at /sys/fs/bpf where there is
// none and leaves tc/globals and the ip and xdp links in it. The benchmark runs in a
// mount namespace of its own with a bpffs of its own there, so whatever tc leaves goes
// with the namespace when the benchmark exits (also when it fails). The namespaces the
// Lab makes are bound in this mount namespace too, and go with it.
bool private_bpffs() {
  if (::unshare(CLONE_NEWNS) != 0) {
    std::cerr << "net_bench: unshare(CLONE_NEWNS): " << std::strerror(errno) << "\n";
    return false;
  }
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    std::cerr << "net_bench: make / private in the benchmark's mount namespace: " << std::strerror(errno) << "\n";
    return false;
  }
  if (::mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700") != 0) {
    std::cerr << "net_bench: mount a private bpffs at /sys/fs/bpf: " << std::strerror(errno) << "\n";
    return false;
  }
  return true;
}

int usage() {
  std::cerr << "usage: net_bench [--out FILE] [--only cost|throughput|latency]... [--rounds N] "
               "[--iperf-seconds S] [--trials N] [--no-rt]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string out = "bench/results/net.json";
  std::set<std::string> parts;
  int rounds = 3, seconds = 3, trials = 30;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--out") out = next();
    else if (a == "--only") parts.insert(next());
    else if (a == "--rounds") rounds = std::stoi(next());
    else if (a == "--iperf-seconds") seconds = std::stoi(next());
    else if (a == "--trials") trials = std::stoi(next());
    else if (a == "--no-rt") g_realtime = false;
    else return usage();
  }
  if (parts.empty()) parts = {"cost", "throughput", "latency"};
  // Before any thread starts: unshare(CLONE_NEWNS) refuses a multi-threaded process.
  if (!private_bpffs()) return 1;
  firedrill::init_logging({firedrill::LogFormat::kText, spdlog::level::warn});
  (void)firedrill::agent::bpf::features();  // probed once, as the agent does at start

  std::vector<CostRow> cost;
  std::vector<ThroughputRow> tput;
  std::vector<LatencyRow> lat;
  try {
    if (parts.count("cost")) cost = bench_cost(9);
    if (parts.count("throughput") || parts.count("latency")) {
      Lab lab;
      if (parts.count("throughput")) tput = bench_throughput(lab, rounds, seconds);
      if (parts.count("latency")) lat = bench_latency(lab, trials);
    }
  } catch (const std::exception& e) {
    std::cerr << "net_bench: " << e.what() << "\n";
    return 1;
  }

  std::string json = "{\n  \"suite\": \"net\",\n";
  json += fmt::format("  \"kernel\": {},\n", json_str(firedrill::agent::bpf::features().kernel_release));
  std::cout << "\n== network fault engine (bench/net) ==\n";
  if (!cost.empty()) {
    std::cout << "\nPer-packet cost, BPF_PROG_TEST_RUN (tc egress, non-matching TCP packet, median)\n";
    std::cout << fmt::format("  {:<20} {:>8} {:>10} {:>10}\n", "rules", "count", "ns/packet", "x at 0");
    json += "  \"cost\": [\n";
    std::map<std::string, double> base;
    for (size_t i = 0; i < cost.size(); ++i) {
      auto& r = cost[i];
      if (r.rules == 0) base[r.series] = r.ns;
      double ratio = r.ns / base[r.series];
      std::cout << fmt::format("  {:<20} {:>8} {:>10.1f} {:>10.2f}\n", r.series, r.rules, r.ns, ratio);
      json += fmt::format("    {{\"series\": {}, \"rules\": {}, \"ns_per_packet\": {:.2f}, \"ratio_to_0\": {:.3f}}}{}\n",
                          json_str(r.series), r.rules, r.ns, ratio, i + 1 < cost.size() ? "," : "");
    }
    json += "  ],\n";
    double host_ratio = cost[3].ns / cost[0].ns;
    std::cout << fmt::format("  target: 10k host rules <= 1.2 x 0 rules: {:.2f} -> {}\n", host_ratio,
                             host_ratio <= 1.2 ? "met" : "NOT met");
    json += fmt::format("  \"cost_target_met\": {},\n", host_ratio <= 1.2 ? "true" : "false");
  }
  if (!tput.empty()) {
    std::cout << fmt::format("\nThroughput, iperf3 TCP between two namespaces (median of {} runs of {} s)\n", rounds,
                             seconds);
    std::cout << fmt::format("  {:<30} {:>10} {:>12}\n", "filter", "Gbit/s", "x no filter");
    json += "  \"throughput\": [\n";
    for (size_t i = 0; i < tput.size(); ++i) {
      auto& r = tput[i];
      std::cout << fmt::format("  {:<30} {:>10.2f} {:>12.2f}\n", r.config, r.gbps, r.gbps / tput[0].gbps);
      json += fmt::format("    {{\"config\": {}, \"gbps\": {:.3f}, \"ratio_to_no_filter\": {:.3f}, \"runs\": {}}}{}\n",
                          json_str(r.config), r.gbps, r.gbps / tput[0].gbps, json_list(r.runs),
                          i + 1 < tput.size() ? "," : "");
    }
    json += "  ],\n";
    double ours = tput[1].gbps / tput[0].gbps;
    std::cout << fmt::format("  target: ours >= 0.9 x no filter: {:.2f} -> {}; ours / iptables {:.2f}, ours / nftables {:.2f}\n",
                             ours, ours >= 0.9 ? "met" : "NOT met", tput[1].gbps / tput[2].gbps,
                             tput[1].gbps / tput[3].gbps);
    json += fmt::format("  \"throughput_target_met\": {}, \"ours_vs_iptables\": {:.3f}, \"ours_vs_nftables\": {:.3f},\n",
                        ours >= 0.9 ? "true" : "false", tput[1].gbps / tput[2].gbps, tput[1].gbps / tput[3].gbps);
  }
  if (!lat.empty()) {
    std::cout << fmt::format("\nInjection latency: call -> first dropped packet (UDP stream every {} us{})\n", kGapUs,
                             g_realtime ? ", SCHED_FIFO" : "");
    std::cout << fmt::format("  {:<18} {:>10} {:>10} {:>10} {:>14} {:>7}\n", "method", "p50 us", "p99 us", "max us",
                             "call p50 us", "trials");
    json += "  \"latency\": [\n";
    for (size_t i = 0; i < lat.size(); ++i) {
      auto& r = lat[i];
      std::cout << fmt::format("  {:<18} {:>10.0f} {:>10.0f} {:>10.0f} {:>14.0f} {:>7}\n", r.method, r.p50, r.p99, r.max,
                               percentile(r.call_us, 50), r.us.size());
      json += fmt::format(
          "    {{\"method\": {}, \"p50_us\": {:.1f}, \"p99_us\": {:.1f}, \"max_us\": {:.1f}, \"call_p50_us\": {:.1f}, "
          "\"samples_us\": {}}}{}\n",
          json_str(r.method), r.p50, r.p99, r.max, percentile(r.call_us, 50), json_list(r.us),
          i + 1 < lat.size() ? "," : "");
    }
    json += "  ],\n";
    double vs_ipt = lat[1].p50 / std::max(lat[0].p50, 1.0), vs_tc = lat[2].p50 / std::max(lat[0].p50, 1.0);
    double vs_ipt99 = lat[1].p99 / std::max(lat[0].p99, 1.0), vs_tc99 = lat[2].p99 / std::max(lat[0].p99, 1.0);
    bool met = lat[0].p99 < 1000 && std::min({vs_ipt, vs_tc, vs_ipt99, vs_tc99}) >= 10;
    std::cout << fmt::format(
        "  target: ours p99 < 1 ms and >= 10x faster: p99 {:.0f} us; faster than iptables {:.1f}x (p50) {:.1f}x (p99), "
        "than tc {:.1f}x (p50) {:.1f}x (p99) -> {}\n",
        lat[0].p99, vs_ipt, vs_ipt99, vs_tc, vs_tc99, met ? "met" : "NOT met");
    json += fmt::format("  \"latency_target_met\": {},\n", met ? "true" : "false");
  }
  json += fmt::format("  \"latency_realtime_priority\": {},\n", g_realtime ? "true" : "false");
  json += fmt::format("  \"host_cpus\": {}\n}}\n", std::thread::hardware_concurrency());
  std::filesystem::create_directories(std::filesystem::path(out).parent_path());
  std::ofstream(out) << json;
  std::cout << "\nJSON: " << out << "\n";
  return 0;
}
