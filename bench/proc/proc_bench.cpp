// Process fault benchmarks, side by side in one run (scripts/bench.sh proc):
//
// kill       time from the call to every selected process gone, for 1, 100 and 1,000
//            processes: the agent's engine (cgroup.kill on a cgroup selector; pidfd
//            signals on an exe selector) against `pkill -9 -f PATTERN` and a bash
//            `kill -9` loop over the pids. "Gone" is seen the same way for all: every
//            target's pidfd reports its exit.
// keep-down  1,000 restarts of a real TCP server (socat) under keep-down: time from
//            exec (the kernel's timestamp in the kill event) to the restarting
//            parent's waitpid() seeing it dead, and the connections a client hammering
//            the port got accepted meanwhile; with a control run without keep-down.
//
// A "bare cgroup.kill" row shows the kernel's kill with none of the agent's checks
// around it and a spinning waiter: its minimum approaches what the kernel alone
// takes, and its median shows what a waiter that competes for CPU costs. The
// "signalled only" row times the cgroup.kill write alone: from then on no selected
// process runs user code; the rest of every row is the kernel's exit work.
//
// Everything runs on processes, cgroups (<cgroup2>/fdp-bench-*) and a network
// namespace of its own; nothing else is signalled.
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <arpa/inet.h>
#include <sched.h>
#include <signal.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "agent/bpf/features.h"
#include "agent/proc/proc_engine.h"
#include "common/log.h"
#include "common/spawn.h"

namespace {

namespace fs = std::filesystem;
using namespace firedrill;
using namespace firedrill::agent;
using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

uint64_t mono_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

struct Stats {
  double min = 0, median = 0, p90 = 0, p99 = 0, max = 0, mean = 0;
  size_t n = 0;
};

Stats stats_of(std::vector<double> v) {
  Stats s;
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  auto at = [&](double q) { return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5))]; };
  s.n = v.size();
  s.min = v.front();
  s.max = v.back();
  s.median = at(0.5);
  s.p90 = at(0.9);
  s.p99 = at(0.99);
  double sum = 0;
  for (double x : v) sum += x;
  s.mean = sum / static_cast<double>(v.size());
  return s;
}

struct Scratch {
  Scratch() {
    char tmpl[] = "/tmp/fdp-bench-XXXXXX";
    dir = ::mkdtemp(tmpl);
    ::chmod(dir.c_str(), 0755);
    auto root = bpf::find_cgroup2_mount();
    if (!root) throw std::runtime_error(root.error().describe());
    cgroup = *root + "/fdp-bench-" + std::to_string(::getpid());
    fs::create_directories(cgroup);
  }
  ~Scratch() {
    std::ofstream(cgroup + "/cgroup.kill") << "1";
    for (int i = 0; i < 300; ++i) {
      std::ifstream ev(cgroup + "/cgroup.events");
      std::string all((std::istreambuf_iterator<char>(ev)), {});
      if (all.find("populated 0") != std::string::npos) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    while (::waitpid(-1, nullptr, WNOHANG) > 0) {
    }
    std::vector<std::string> dirs;
    for (auto& e : fs::recursive_directory_iterator(cgroup)) {
      if (e.is_directory()) dirs.push_back(e.path().string());
    }
    std::sort(dirs.rbegin(), dirs.rend());
    for (auto& d : dirs) ::rmdir(d.c_str());
    ::rmdir(cgroup.c_str());
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  std::string copy(const std::string& binary, const std::string& name) const {
    std::string dst = dir + "/" + name;
    fs::copy_file(binary, dst, fs::copy_options::overwrite_existing);
    ::chmod(dst.c_str(), 0755);
    return dst;
  }
  std::string dir, cgroup;
};

// argv started in `cgroup_dir` (common/spawn.h: it moves itself in before exec); -1
// when it cannot start.
pid_t spawn(const std::vector<std::string>& argv, const std::string& cgroup_dir) {
  firedrill::SpawnOptions o;
  o.argv = argv;
  o.cgroup = cgroup_dir;
  auto pid = firedrill::start(o);
  if (!pid) std::cerr << "proc_bench: " << pid.error().describe() << "\n";
  return pid ? *pid : -1;
}

// A set of target processes, with a pidfd each so that "gone" is observed the same
// way whatever killed them.
struct Targets {
  std::vector<pid_t> pids;
  std::vector<int> pidfds;
  ~Targets() {
    for (int fd : pidfds) ::close(fd);
    for (pid_t p : pids) {
      ::kill(p, SIGKILL);
      ::waitpid(p, nullptr, 0);
    }
  }
  // True when every target has exited, within `timeout`.
  bool wait_gone(std::chrono::milliseconds timeout) {
    int ep = ::epoll_create1(EPOLL_CLOEXEC);
    size_t left = 0;
    for (int fd : pidfds) {
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.fd = fd;
      if (::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0) ++left;
    }
    auto deadline = Clock::now() + timeout;
    epoll_event evs[256];
    while (left > 0 && Clock::now() < deadline) {
      int n = ::epoll_wait(ep, evs, 256, 50);
      for (int i = 0; i < n; ++i) {
        ::epoll_ctl(ep, EPOLL_CTL_DEL, evs[i].data.fd, nullptr);
        --left;
      }
    }
    ::close(ep);
    return left == 0;
  }
  void reap() {
    for (pid_t p : pids) ::waitpid(p, nullptr, 0);
    pids.clear();
  }
};

std::unique_ptr<Targets> start_targets(const std::string& sleeper, size_t n, const std::string& cgroup_dir) {
  auto t = std::make_unique<Targets>();
  for (size_t i = 0; i < n; ++i) t->pids.push_back(spawn({sleeper, "600"}, cgroup_dir));
  // Ready when all have exec'd (and moved into the cgroup): their comm is the copy's.
  std::string comm = fs::path(sleeper).filename().string().substr(0, 15);
  for (pid_t p : t->pids) {
    for (int i = 0; i < 2000; ++i) {
      std::ifstream in("/proc/" + std::to_string(p) + "/comm");
      std::string c;
      std::getline(in, c);
      if (c == comm) break;
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    t->pidfds.push_back(static_cast<int>(::syscall(SYS_pidfd_open, p, 0)));
  }
  return t;
}

// Not a "gone" time: the kill's own cost, so that the rest of a row is seen to be the
// kernel's exit work.
constexpr const char* kSignalledRow = "bare cgroup.kill write (signalled only)";

struct KillRow {
  size_t n;
  std::string method;
  Stats ms;
  size_t failures = 0;  // runs where not every target was gone within 10 s
};

struct Bench {
  Scratch scratch;
  std::shared_ptr<journal::Journal> journal;
  std::unique_ptr<proc::ProcFaultEngine> engine;
  std::string sleeper, server;
  int fault_seq = 0;

  Bench() {
    auto j = journal::Journal::open(scratch.dir + "/state");
    if (!j) throw std::runtime_error(j.error().describe());
    journal = std::move(*j);
    engine = std::make_unique<proc::ProcFaultEngine>(journal, nullptr);
    sleeper = scratch.copy("/bin/sleep", "fdp-bsleep");
    server = scratch.copy("/usr/bin/socat", "fdp-bsrv");
  }

  std::string rel(const std::string& path) const {
    return path.substr(bpf::find_cgroup2_mount()->size());
  }

  Result<void> engine_kill(const v1::ProcessSelector& s) {
    v1::FaultSpec spec;
    *spec.mutable_process()->mutable_kill()->mutable_select() = s;
    std::string id = "bench-kill-" + std::to_string(++fault_seq);
    auto r = engine->apply(id, spec);
    (void)engine->revert(id);
    return r;
  }

  KillRow kill_case(size_t n, const std::string& method, int runs) {
    std::vector<double> times;
    KillRow row{n, method, {}, 0};
    for (int run = 0; run < runs; ++run) {
      std::string cg = scratch.cgroup + "/k" + std::to_string(n) + "-" + std::to_string(run) + "-" +
                       std::to_string(fault_seq);
      fs::create_directories(cg);
      auto targets = start_targets(sleeper, n, cg);
      auto t0 = Clock::now();
      std::optional<double> signalled_ms;
      if (method == "agent: cgroup selector (cgroup.kill)") {
        v1::ProcessSelector s;
        s.add_cgroups(rel(cg));
        auto r = engine_kill(s);
        if (!r) throw std::runtime_error(r.error().describe());
      } else if (method == "agent: exe selector (pidfd)") {
        v1::ProcessSelector s;
        s.add_exe_paths(sleeper);
        auto r = engine_kill(s);
        if (!r) throw std::runtime_error(r.error().describe());
      } else if (method == "bare cgroup.kill, busy-polling waiter") {
        // The kernel's cgroup.kill with none of the agent's work around it; the waiter
        // spins, and on a small machine takes CPU from the dying processes.
        std::ofstream(cg + "/cgroup.kill") << "1";
        while (true) {
          std::ifstream ev(cg + "/cgroup.events");
          std::string all((std::istreambuf_iterator<char>(ev)), {});
          if (all.find("populated 0") != std::string::npos) break;
        }
      } else if (method == kSignalledRow) {
        // The write alone: when it returns every process of the cgroup has SIGKILL
        // pending and none runs user code again; what follows is the kernel tearing
        // them down (the rows above wait for that).
        std::ofstream(cg + "/cgroup.kill") << "1";
        signalled_ms = ms_since(t0);
      } else if (method == "pkill -9 -f PATTERN") {
        // The copy's directory is unique to this run: only our processes match.
        pid_t p = spawn({"/usr/bin/pkill", "-9", "-f", scratch.dir + "/fdp-bsleep"}, "");
        ::waitpid(p, nullptr, 0);
      } else if (method == "bash kill -9 loop") {
        std::string pids;
        for (pid_t p : targets->pids) pids += std::to_string(p) + " ";
        pid_t p = spawn({"/bin/bash", "-c", "for p in " + pids + "; do kill -9 $p; done"}, "");
        ::waitpid(p, nullptr, 0);
      }
      bool gone = targets->wait_gone(std::chrono::seconds(10));
      double ms = signalled_ms ? *signalled_ms : ms_since(t0);
      if (!gone) ++row.failures;
      times.push_back(ms);
      targets->reap();
      ::rmdir(cg.c_str());
    }
    row.ms = stats_of(times);
    return row;
  }
};

// ---------------------------------------------------------------- keep-down

struct KeepDownResult {
  std::string select;
  size_t restarts = 0;
  size_t killed_at_exec = 0;      // restarts whose kill event arrived
  size_t survived = 0;            // restarts that were not killed
  size_t accepted = 0;            // connections the client got accepted
  size_t attempts = 0;            // connection attempts
  Stats exec_to_death_us;         // kernel time: exec to the process's exit
  Stats exec_to_reaped_us;        // exec to the restarting parent's waitpid() returning
  double wall_s = 0;
};

bool bring_up_loopback() {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  bool up = ::ioctl(fd, SIOCGIFFLAGS, &ifr) == 0;
  ifr.ifr_flags |= IFF_UP;
  up = up && ::ioctl(fd, SIOCSIFFLAGS, &ifr) == 0;
  ::close(fd);
  return up;
}

struct Hammer {
  explicit Hammer(uint16_t port) : port_(port) {
    thread_ = std::thread([this] { loop(); });
  }
  ~Hammer() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  void loop() {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port_);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    while (!stop_) {
      // Non-blocking with a short wait: a full accept queue drops SYNs, and a blocking
      // connect would sit out a one-second retransmission.
      int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
      ++attempts;
      int r = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
      if (r == 0) {
        ++accepted;
      } else if (errno == EINPROGRESS) {
        pollfd p{fd, POLLOUT, 0};
        int err = 0;
        socklen_t len = sizeof err;
        if (::poll(&p, 1, 100) == 1 && ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0) {
          ++accepted;
        }
      }
      ::close(fd);
    }
  }
  uint16_t port_;
  std::atomic<bool> stop_{false};
  std::atomic<size_t> attempts{0}, accepted{0};
  std::thread thread_;
};

KeepDownResult keep_down_case(Bench& b, bool by_cgroup, size_t restarts) {
  KeepDownResult res;
  res.select = by_cgroup ? "cgroup" : "exe path";
  std::string cg = b.scratch.cgroup + "/kd-" + (by_cgroup ? "cgroup" : "exe");
  fs::create_directories(cg);
  std::mutex mu;
  std::map<pid_t, uint64_t> exec_ns, gone_ns;
  b.engine->on_exec_kill([&](const std::string&, const proc::ExecKill& k) {
    std::lock_guard l(mu);
    if (k.gone) gone_ns[k.pid] = k.gone_ktime_ns - k.ktime_ns;
    else exec_ns[k.pid] = k.ktime_ns;
  });
  v1::FaultSpec spec;
  auto* sel = spec.mutable_process()->mutable_keep_down()->mutable_select();
  if (by_cgroup) sel->add_cgroups(b.rel(cg));
  else sel->add_exe_paths(b.server);
  std::string id = std::string("bench-kd-") + (by_cgroup ? "cg" : "exe");
  auto r = b.engine->apply(id, spec);
  if (!r) throw std::runtime_error(r.error().describe());

  const uint16_t port = 7301;
  Hammer hammer(port);
  std::vector<std::pair<pid_t, uint64_t>> deaths;
  deaths.reserve(restarts);
  auto t0 = Clock::now();
  for (size_t i = 0; i < restarts; ++i) {
    pid_t p = spawn({b.server, "TCP-LISTEN:" + std::to_string(port) + ",bind=127.0.0.1,reuseaddr,fork,backlog=128",
                     "SYSTEM:echo ok"},
                    by_cgroup ? cg : "");
    int st = 0;
    ::waitpid(p, &st, 0);
    uint64_t dead = mono_ns();
    if (!(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL)) ++res.survived;
    deaths.emplace_back(p, dead);
  }
  res.wall_s = ms_since(t0) / 1000.0;
  hammer.stop();
  res.attempts = hammer.attempts;
  res.accepted = hammer.accepted;
  (void)b.engine->revert(id);  // drains the ring buffer
  b.engine->on_exec_kill(nullptr);
  std::vector<double> reaped, gone;
  {
    std::lock_guard l(mu);
    for (auto& [pid, dead] : deaths) {
      auto it = exec_ns.find(pid);
      if (it == exec_ns.end()) continue;
      ++res.killed_at_exec;
      reaped.push_back(static_cast<double>(dead - it->second) / 1000.0);
      if (auto g = gone_ns.find(pid); g != gone_ns.end()) gone.push_back(static_cast<double>(g->second) / 1000.0);
    }
  }
  res.restarts = restarts;
  res.exec_to_death_us = stats_of(gone);
  res.exec_to_reaped_us = stats_of(reaped);
  ::rmdir(cg.c_str());
  return res;
}

// The same client against the same server without keep-down, for a second: shows that
// the client does count accepted connections.
size_t control_accepted(Bench& b) {
  const uint16_t port = 7302;
  pid_t p = spawn({b.server, "TCP-LISTEN:" + std::to_string(port) + ",bind=127.0.0.1,reuseaddr,fork,backlog=128", "OPEN:/dev/null"}, "");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  size_t accepted;
  {
    Hammer h(port);
    std::this_thread::sleep_for(std::chrono::seconds(1));
    h.stop();
    accepted = h.accepted;
  }
  ::kill(p, SIGKILL);
  ::waitpid(p, nullptr, 0);
  return accepted;
}

std::string json_stats(const Stats& s) {
  return fmt::format("{{\"n\": {}, \"min\": {:.3f}, \"median\": {:.3f}, \"p90\": {:.3f}, \"p99\": {:.3f}, \"max\": {:.3f}, \"mean\": {:.3f}}}",
                     s.n, s.min, s.median, s.p90, s.p99, s.max, s.mean);
}

}  // namespace

int main(int argc, char** argv) {
  std::string json_path;
  int runs_scale = 1;
  size_t restarts = 1000;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--json" && i + 1 < argc) json_path = argv[++i];
    else if (a == "--quick") { runs_scale = 0; restarts = 100; }
    else {
      std::cerr << "usage: proc_bench [--json FILE] [--quick]\n";
      return 2;
    }
  }
  if (::geteuid() != 0) {
    std::cerr << "proc_bench: needs root (cgroups, BPF)\n";
    return 1;
  }
  init_logging({LogFormat::kText, spdlog::level::warn});
  rlimit nofile{};
  ::getrlimit(RLIMIT_NOFILE, &nofile);
  nofile.rlim_cur = nofile.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &nofile);
  // A network namespace of our own: the servers and the client live in it.
  if (::unshare(CLONE_NEWNET) != 0 || !bring_up_loopback()) {
    std::cerr << "proc_bench: cannot make a network namespace\n";
    return 1;
  }

  try {
    Bench b;
    std::vector<KillRow> rows;
    const std::vector<std::string> methods = {"agent: cgroup selector (cgroup.kill)", "agent: exe selector (pidfd)",
                                              "pkill -9 -f PATTERN", "bash kill -9 loop",
                                              "bare cgroup.kill, busy-polling waiter", kSignalledRow};
    for (size_t n : {size_t{1}, size_t{100}, size_t{1000}}) {
      int runs = n == 1000 ? 5 : n == 100 ? 10 : 20;
      if (runs_scale == 0) runs = 2;
      for (auto& m : methods) {
        rows.push_back(b.kill_case(n, m, runs));
        std::cerr << "." << std::flush;
      }
    }
    std::cerr << "\n";
    auto kd_exe = keep_down_case(b, false, restarts);
    auto kd_cg = keep_down_case(b, true, restarts);
    size_t control = control_accepted(b);

    utsname u{};
    ::uname(&u);
    std::cout << "proc benchmarks on " << u.release << ", " << std::thread::hardware_concurrency() << " CPUs\n\n";
    std::cout << "Kill: time from the call to every selected process gone (ms; median [min-max] over runs)\n";
    std::cout << fmt::format("{:>6}  {:<40} {:>9} {:>9} {:>9}  {:>8}\n", "procs", "method", "median", "min", "max",
                             "x agent");
    std::map<size_t, double> agent_median;
    for (auto& r : rows) {
      if (r.method.rfind("agent: cgroup", 0) == 0) agent_median[r.n] = r.ms.median;
    }
    for (auto& r : rows) {
      double ratio = agent_median[r.n] > 0 ? r.ms.median / agent_median[r.n] : 0;
      std::cout << fmt::format("{:>6}  {:<40} {:>9.3f} {:>9.3f} {:>9.3f}  {:>7.2f}x{}\n", r.n, r.method, r.ms.median,
                               r.ms.min, r.ms.max, ratio, r.failures ? "  (SOME SURVIVED)" : "");
    }
    double agent1000 = agent_median[1000];
    std::cout << fmt::format("target: 1,000 processes gone in under 50 ms -> agent median {:.1f} ms: {}\n\n",
                             agent1000, agent1000 < 50 ? "met" : "NOT met");
    std::cout << "Keep-down: restarts of a TCP server (socat) killed at exec\n";
    std::cout << "  exec->death: the kernel's clock from the exec to the process's exit (sched_process_exit)\n";
    std::cout << "  exec->reaped: from the exec to the restarting parent's waitpid() returning (includes its wake-up)\n";
    std::cout << fmt::format("{:<9} {:>8} {:>7} {:>8} {:>8} {:>8} | {:>9} {:>9} {:>9} | {:>9} {:>9}\n", "select",
                             "restarts", "killed", "survived", "accepted", "attempts", "death p50", "death p99",
                             "death max", "reap p50", "reap p99");
    for (auto* k : {&kd_exe, &kd_cg}) {
      std::cout << fmt::format("{:<9} {:>8} {:>7} {:>8} {:>8} {:>8} | {:>7.1f}us {:>7.1f}us {:>7.1f}us | {:>7.1f}us {:>7.1f}us\n",
                               k->select, k->restarts, k->killed_at_exec, k->survived, k->accepted, k->attempts,
                               k->exec_to_death_us.median, k->exec_to_death_us.p99, k->exec_to_death_us.max,
                               k->exec_to_reaped_us.median, k->exec_to_reaped_us.p99);
    }
    std::cout << fmt::format("control: the same client got {} connection(s) accepted in 1 s without keep-down\n",
                             control);
    double p99 = std::max(kd_exe.exec_to_death_us.p99, kd_cg.exec_to_death_us.p99);
    std::cout << fmt::format("targets: exec to death p99 under 1 ms -> {:.1f} us: {}; 0 accepted over {} restarts -> {}: {}\n",
                             p99, p99 < 1000 ? "met" : "NOT met", restarts, kd_exe.accepted + kd_cg.accepted,
                             kd_exe.accepted + kd_cg.accepted == 0 ? "met" : "NOT met");

    if (!json_path.empty()) {
      std::ostringstream j;
      j << "{\n  \"suite\": \"proc\",\n  \"kernel\": \"" << u.release << "\",\n  \"cpus\": "
        << std::thread::hardware_concurrency() << ",\n  \"kill_ms\": [\n";
      for (size_t i = 0; i < rows.size(); ++i) {
        auto& r = rows[i];
        j << fmt::format("    {{\"procs\": {}, \"method\": \"{}\", \"failures\": {}, \"ms\": {}}}{}\n", r.n, r.method,
                         r.failures, json_stats(r.ms), i + 1 < rows.size() ? "," : "");
      }
      j << "  ],\n  \"keep_down\": [\n";
      for (auto* k : {&kd_exe, &kd_cg}) {
        j << fmt::format("    {{\"select\": \"{}\", \"restarts\": {}, \"killed_at_exec\": {}, \"survived\": {}, "
                         "\"accepted\": {}, \"attempts\": {}, \"wall_s\": {:.3f}, \"exec_to_death_us\": {}, "
                         "\"exec_to_reaped_us\": {}}}{}\n",
                         k->select, k->restarts, k->killed_at_exec, k->survived, k->accepted, k->attempts, k->wall_s,
                         json_stats(k->exec_to_death_us), json_stats(k->exec_to_reaped_us), k == &kd_exe ? "," : "");
      }
      j << fmt::format("  ],\n  \"control_accepted_1s\": {},\n", control);
      j << fmt::format("  \"targets\": {{\"kill_1000_under_50ms\": {}, \"exec_to_death_p99_under_1ms\": {}, "
                       "\"zero_accepted\": {}}}\n}}\n",
                       agent1000 < 50 ? "true" : "false", p99 < 1000 ? "true" : "false",
                       kd_exe.accepted + kd_cg.accepted == 0 ? "true" : "false");
      std::ofstream(json_path) << j.str();
    }
  } catch (const std::exception& e) {
    std::cerr << "proc_bench: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
