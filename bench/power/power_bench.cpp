// Power-loss fidelity benchmarks, side by side in one run (scripts/bench.sh power):
//
// spread   the start spread of one power loss across N simulated hosts (8 by default:
//          the lab's size), p50/p99 over repeats, for each part (network cut, freeze,
//          file-system shutdown, kill, last workload process dead): kernel-timed
//          staging (what the agent does) against the old scheduling (0.1.0: a
//          user-space wake-up at not_before, then everything set up and done in that
//          instant), the two interleaved repeat by repeat.
//          Each host is what the lab's host is, minus its services: a network namespace
//          with a veth to a shared peer namespace, a workload cgroup of sleeping
//          processes, a data directory on a loop-mounted ext4 image of its own, and the
//          agent's own engines (network, process, power loss) under the agent's own
//          FaultManager, built inside the host's namespace; one bench process holds
//          them all, as the lab's eight agents share this machine's CPUs. A sender in
//          the peer namespace (real-time, above the instants) sends every host a packet
//          20 us after the instant and every 100 us around it, so that each network cut
//          is timed by the kernel's first drop.
// host     one host alone: network cut (the first drop) to the last workload process
//          dead (a real-time thread blocked on a pidfd per process), staged against the
//          old scheduling; with every stage of staging and of the instant as the agent's
//          clock saw it (power::PowerEffect), so that each millisecond has a name.
// console  the console at the instant, isolated: N threads at the agents' priority log,
//          at one instant, a line as long as ext4's shutdown lines at KERN_ALERT (printed
//          on the console by whoever logs it) against KERN_DEBUG (the log buffer only).
// fs       a data directory on its own loop-mounted ext4 against the same load on the
//          host's file system: 4 KiB write + fsync, random 4 KiB reads (page cache
//          warm), a cold sequential read; as ratios.
// exit     SIGKILL to exit of a process with 1, 64 and 1024 MiB touched: the exit
//          unmaps its memory before the process is gone.
// remount  the restore's remount (unmount, mount, journal replay) of a data file system
//          shut down right after 1 GiB was written without fsync (how much of it was
//          still dirty at the cut is measured and said), against one shut down clean.
//
// Everything is made under /tmp/fdw-<pid>, <cgroup2>/fdp-test-<pid>-power-bench and
// namespaces fdw-<pid>-*, and removed at the end, also on SIGINT/SIGTERM and after a failure;
// a run killed outright is cleaned by the next run (its pid is gone). Needs root with
// CAP_BPF, losetup and mkfs.ext4.
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "agent/bpf/features.h"
#include "agent/core/fault_manager.h"
#include "agent/net/net_fault_engine.h"
#include "agent/power/data_fs.h"
#include "agent/power/instant.h"
#include "agent/power/power_engine.h"
#include "agent/proc/cgroup.h"
#include "agent/proc/proc_engine.h"
#include "common/cli.h"
#include "common/log.h"
#include "tests/integration/proc_lab.h"
#include "tests/support/netns.h"
#include "tests/support/process.h"

namespace po = boost::program_options;
namespace fs = std::filesystem;
using namespace firedrill;
using namespace firedrill::agent;
using namespace std::chrono_literals;
using Json = nlohmann::json;

namespace {

constexpr const char* kPrefix = "fdw";
std::atomic<bool> g_stop{false};

int64_t us_between(WallTime a, WallTime b) {
  return std::chrono::duration_cast<std::chrono::microseconds>(b - a).count();
}

struct Pct {
  double p50 = 0, p99 = 0, max = 0;
  size_t n = 0;
};

Pct pct(std::vector<double> v) {
  Pct p;
  if (v.empty()) return p;
  std::sort(v.begin(), v.end());
  auto at = [&](double q) { return v[std::min(v.size() - 1, static_cast<size_t>(q * double(v.size() - 1) + 0.5))]; };
  p.n = v.size();
  p.p50 = at(0.5);
  p.p99 = at(0.99);
  p.max = v.back();
  return p;
}

Json json_of(const Pct& p) { return Json{{"p50", p.p50}, {"p99", p.p99}, {"max", p.max}, {"n", p.n}}; }

double median(std::vector<double> v) { return pct(std::move(v)).p50; }

// A name "<prefix><pid>" of a run whose process is gone (never one that is not ours).
bool stale_name(const std::string& name, const std::string& prefix) {
  if (name.rfind(prefix, 0) != 0) return false;
  auto pid = name.substr(prefix.size());
  if (pid.empty() || pid.size() > 9 || pid.find_first_not_of("0123456789") != std::string::npos) return false;
  return ::kill(std::stoi(pid), 0) != 0 && errno == ESRCH;
}

// Mount points under `dir`, deepest first.
std::vector<std::string> mounts_under(const std::string& dir) {
  std::vector<std::string> out;
  std::ifstream in("/proc/self/mountinfo");
  for (std::string line; std::getline(in, line);) {
    std::istringstream s(line);
    std::string id, parent, dev, root, point;
    s >> id >> parent >> dev >> root >> point;
    if (point.rfind(dir + "/", 0) == 0) out.push_back(point);
  }
  std::sort(out.rbegin(), out.rend());
  return out;
}

// Unmounts, detaches the loop devices of and removes a scratch directory.
void remove_scratch_dir(const std::string& dir) {
  for (auto& m : mounts_under(dir)) {
    if (support::exec({"umount", m}).code != 0) support::exec({"umount", "-l", m});
  }
  if (fs::exists(dir)) {
    for (auto& e : fs::directory_iterator(dir)) {
      if (e.path().extension() != ".img") continue;
      auto loops = support::exec({"losetup", "-j", e.path().string()});
      std::istringstream in(loops.out);
      for (std::string line; std::getline(in, line);) {
        auto colon = line.find(':');
        if (colon != std::string::npos) support::exec({"losetup", "-d", line.substr(0, colon)});
      }
    }
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
}

// What a run that was killed outright left: its pid is gone.
void remove_stale() {
  std::error_code ec;
  for (auto& e : fs::directory_iterator("/tmp", ec)) {
    if (e.is_directory() && !e.is_symlink() && stale_name(e.path().filename().string(), std::string(kPrefix) + "-")) {
      remove_scratch_dir(e.path().string());
    }
  }
  support::remove_stale_netns(kPrefix);
}

// The bench's own directory and cgroup subtree (its processes killed), removed on
// destruction.
struct Scratch {
  Scratch() : cg("power-bench") {
    remove_stale();
    dir = fmt::format("/tmp/{}-{}", kPrefix, ::getpid());
    fs::create_directories(dir);
  }
  ~Scratch() { remove_scratch_dir(dir); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;

  // An ext4 image of `mib` MiB (sparse) mounted at `mnt` through a loop device; the
  // loop device.
  std::string loop_ext4(const std::string& name, uint64_t mib, const std::string& mnt, const std::string& options) {
    auto image = dir + "/" + name + ".img";
    { std::ofstream(image).flush(); }
    fs::resize_file(image, mib << 20);
    support::must({"mkfs.ext4", "-q", "-F", image}, 120s);
    auto loop = support::must({"losetup", "--find", "--show", image});
    while (!loop.empty() && loop.back() == '\n') loop.pop_back();
    fs::create_directories(mnt);
    support::must({"mount", "-t", "ext4", "-o", options, loop, mnt});
    return loop;
  }

  fdp::TestCgroup cg;
  std::string dir;
};

// ------------------------------------------------------------------ the hosts

// The events one host's agent would send: the applied events with their parts.
class Sink : public EventSink {
 public:
  void emit(const v1::Event& ev) override {
    if (!ev.has_applied()) return;
    std::lock_guard l(mu_);
    applied_[ev.applied().fault_id()] = ev.applied();
  }
  std::optional<v1::FaultApplied> applied(const std::string& id) const {
    std::lock_guard l(mu_);
    auto it = applied_.find(id);
    if (it == applied_.end()) return std::nullopt;
    return it->second;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, v1::FaultApplied> applied_;
};

// The power engine as the FaultManager sees it; with `wake_at_not_before`, as 0.1.0 ran
// it (bench only): nothing staged, the manager's timer wakes at not_before and the
// whole fault is set up and applied from then.
class Scheduling : public FaultEngine {
 public:
  // `stage_ahead` > 0 replaces the engine's own (bench only: to see what staging done
  // long before the instant changes).
  Scheduling(FaultEngine& inner, bool wake_at_not_before, std::chrono::milliseconds stage_ahead)
      : inner_(inner), wake_(wake_at_not_before), stage_ahead_(stage_ahead) {}
  std::string_view name() const override { return inner_.name(); }
  bool handles(const v1::FaultSpec& spec) const override { return inner_.handles(spec); }
  Result<void> check(const v1::FaultSpec& spec) const override { return inner_.check(spec); }
  Result<void> apply(const std::string& id, const v1::FaultSpec& spec) override { return inner_.apply(id, spec); }
  Result<void> revert(const std::string& id) override { return inner_.revert(id); }
  v1::FaultCounters counters(const std::string& id) const override { return inner_.counters(id); }
  Result<void> prepare(const std::string& id, const v1::FaultSpec& spec) override { return inner_.prepare(id, spec); }
  std::chrono::milliseconds prepare_ahead() const override { return wake_ ? 0ms : inner_.prepare_ahead(); }
  std::chrono::milliseconds stage_ahead() const override {
    return wake_ ? 0ms : stage_ahead_ > 0ms ? stage_ahead_ : inner_.stage_ahead();
  }
  Result<void> apply_at(const std::string& id, const v1::FaultSpec& spec, WallTime start) override {
    return wake_ ? inner_.apply(id, spec) : inner_.apply_at(id, spec, start);
  }
  std::vector<v1::FaultEffect> effects(const std::string& id) const override { return inner_.effects(id); }

 private:
  FaultEngine& inner_;
  bool wake_;
  std::chrono::milliseconds stage_ahead_;
};

// When the last workload process died: a real-time thread blocked on a pidfd per
// process, armed before each power loss. A pidfd wakes its pollers when the process
// has exited (its memory unmapped, its files closed), at once; cgroup.events would
// not do: the kernel notifies a cgroup file at most once per 10 ms
// (CGROUP_FILE_NOTIFY_MIN_INTV, 12 ms at HZ=250), and the freeze just spent it.
class DeathWatch {
 public:
  explicit DeathWatch(const std::string& cgroup) {
    ep_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (ep_ < 0) throw std::runtime_error(std::string("epoll_create1: ") + std::strerror(errno));
    auto procs = proc::cgroup_procs(cgroup, true);
    if (!procs) throw std::runtime_error(procs.error().describe());
    for (pid_t p : *procs) {
      int fd = static_cast<int>(::syscall(SYS_pidfd_open, p, 0));
      if (fd < 0) continue;
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.fd = fd;
      ::epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev);
      fds_.push_back(fd);
    }
    left_ = fds_.size();
    thread_ = std::thread([this] { loop(); });
  }
  ~DeathWatch() {
    stop_ = true;
    thread_.join();
    for (int fd : fds_) ::close(fd);
    ::close(ep_);
  }
  DeathWatch(const DeathWatch&) = delete;
  DeathWatch& operator=(const DeathWatch&) = delete;

  size_t watched() const { return fds_.size(); }
  bool seen() const { return dead_us_.load() != 0; }
  WallTime dead() const { return from_unix_micros(dead_us_.load()); }

 private:
  void loop() {
    sched_param p{};
    p.sched_priority = 20;  // above the agents' instant (10): it only takes the time
    ::pthread_setschedparam(::pthread_self(), SCHED_FIFO, &p);
    epoll_event evs[64];
    while (!stop_ && left_ > 0) {
      int n = ::epoll_wait(ep_, evs, 64, 20);
      auto now = WallClock::now();
      for (int i = 0; i < n; ++i) {
        ::epoll_ctl(ep_, EPOLL_CTL_DEL, evs[i].data.fd, nullptr);
        --left_;
      }
      if (n > 0 && left_ == 0) dead_us_ = to_unix_micros(now);
    }
  }
  int ep_ = -1;
  std::vector<int> fds_;
  size_t left_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> dead_us_{0};
  std::thread thread_;
};

struct HostSetup {
  int procs = 10;          // workload processes per host
  uint64_t data_mib = 64;  // the data file system's image
  std::chrono::milliseconds lead{900};  // the command before not_before
  std::chrono::milliseconds stage_ahead{0};  // 0: the engine's own
};

class Host {
 public:
  Host(Scratch& s, const support::Netns& peer, int index, const HostSetup& setup)
      : index_(index), name_("h" + std::to_string(index)) {
    ns_ = std::make_unique<support::Netns>(support::fresh_netns_name(kPrefix, name_));
    ip_ = fmt::format("10.203.{}.1", index);
    peer_ip_ = fmt::format("10.203.{}.2", index);
    support::veth(*ns_, "eth0", {ip_ + "/24"}, peer, fmt::format("{}{}p{}", kPrefix, ::getpid() % 100000, index),
                  {peer_ip_ + "/24"});
    auto base = s.dir + "/" + name_;
    fs::create_directories(base + "/state");
    workload_rel_ = s.cg.rel() + "/" + name_;
    workload_ = s.cg.child(name_);
    data_ = base + "/data";
    s.loop_ext4(name_, setup.data_mib, data_, "commit=30");
    // The host's services: sleeping processes (and the boot hook starts them again).
    hook_ = fmt::format("i=0; while [ $i -lt {} ]; do sleep 3600 & i=$((i+1)); done", setup.procs);

    AgentConfig c;
    c.workload_cgroup = workload_rel_;
    c.boot_hooks = {hook_};
    c.data_dirs = {data_};
    c.state_dir = base + "/state";
    c.interfaces = {"eth0"};
    // Built inside the host's namespace: the classifier attaches to its eth0, and the
    // managers' timer threads (which apply) and the boot thread live there.
    support::in_netns(*ns_, [&] {
      net::NetEngineConfig nc;
      nc.interfaces = c.interfaces;
      net_ = std::make_unique<net::NetFaultEngine>(nc);
      if (net_->load_error()) throw std::runtime_error(net_->load_error()->describe());
      auto journal = journal::Journal::shared(c.state_dir);
      if (!journal) throw std::runtime_error(journal.error().describe());
      proc_ = std::make_unique<proc::ProcFaultEngine>(*journal, &sink_, c.workload_cgroup);
      // As the agent does at start (make_engines).
      if (auto r = proc_->preload(); !r) throw std::runtime_error(r.error().describe());
      power_ = std::make_unique<power::PowerLossEngine>(*net_, *proc_, c, *journal, &sink_);
      for (bool wake : {false, true}) {
        std::vector<std::unique_ptr<FaultEngine>> engines;
        engines.push_back(std::make_unique<Scheduling>(*power_, wake, setup.stage_ahead));
        (wake ? woken_ : staged_) = std::make_unique<FaultManager>(std::move(engines), &sink_);
      }
    });
    boot();
  }
  ~Host() {
    staged_.reset();
    woken_.reset();
    power_.reset();
    proc_.reset();
    net_.reset();
  }
  Host(const Host&) = delete;
  Host& operator=(const Host&) = delete;

  const std::string& name() const { return name_; }
  const std::string& ip() const { return ip_; }
  FaultManager& manager(bool old) { return old ? *woken_ : *staged_; }
  Sink& sink() { return sink_; }
  const std::string& workload() const { return workload_; }
  power::PowerLossEngine& power() { return *power_; }
  size_t workload_procs() const {
    auto p = proc::cgroup_procs(workload_, true);
    return p ? p->size() : 0;
  }
  // Starts the services when the workload is empty (first start; a boot that failed).
  void boot() {
    if (workload_procs() > 0) return;
    auto r = proc::run_in_cgroup(hook_, workload_, "", 10s);
    if (!r || *r != 0) throw std::runtime_error(name_ + ": the workload did not start");
  }

 private:
  int index_;
  std::string name_, ip_, peer_ip_, workload_rel_, workload_, data_, hook_;
  std::unique_ptr<support::Netns> ns_;
  Sink sink_;
  std::unique_ptr<net::NetFaultEngine> net_;
  std::unique_ptr<proc::ProcFaultEngine> proc_;
  std::unique_ptr<power::PowerLossEngine> power_;
  std::unique_ptr<FaultManager> staged_, woken_;
};

// Keeps a datagram in flight to every host from the peer namespace, round robin, from
// 2 ms before `not_before` to `until` (bounded), so that the kernel's first drop on each
// host comes within a few tens of microseconds of its cut.
void send_around(const support::Netns& peer, const std::vector<std::unique_ptr<Host>>& hosts, WallTime not_before,
                 WallTime until) {
  support::in_netns(peer, [&] {
    int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
    std::vector<sockaddr_in> to;
    for (auto& h : hosts) {
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(9);
      ::inet_pton(AF_INET, h->ip().c_str(), &a.sin_addr);
      to.push_back(a);
    }
    char byte = 0;
    // Real-time above the agents' instant threads (10): they spin at the instant, and
    // from a fraction of a millisecond after it their file-system shutdowns print on the
    // console, where neither CPU can be preempted for milliseconds; below that priority
    // the sender waited for them, and the first drops timed the sender, not the cut. A
    // round is eight datagrams, microseconds of CPU. Rounds on an absolute grid from 2 ms
    // before the instant, one 20 us after it, every 100 us until 6 ms after, then every 200 us;
    // slept to, never spun to (that would hold the instants off).
    sched_param rt{};
    rt.sched_priority = 15;
    ::pthread_setschedparam(::pthread_self(), SCHED_FIFO, &rt);
    auto instant = not_before + 20us;
    auto round_at = not_before - 2ms;
    while (round_at < until && !g_stop) {
      auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(round_at.time_since_epoch()).count();
      timespec ts{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
      while (::clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
      }
      for (auto& a : to) ::sendto(fd, &byte, 1, 0, reinterpret_cast<const sockaddr*>(&a), sizeof a);
      auto step = round_at >= instant + 6ms ? 200us : 100us;
      auto next = round_at + step;
      // A round that would straddle the instant is moved onto it.
      if (round_at < instant && next > instant) next = instant;
      round_at = next;
    }
    sched_param other{};
    ::pthread_setschedparam(::pthread_self(), SCHED_OTHER, &other);
    ::close(fd);
  });
}

// ------------------------------------------------------------------ spread

const std::vector<std::string> kParts = {"network cut", "freeze", "fs shutdown", "kill", "last process dead"};
// Each stage of one host's instant in its order (the agent's clock read after each;
// the network cut is the kernel's first drop, the last death the pidfd watch's).
const std::vector<std::string> kStages = {"staging begun", "journaled", "net staged", "staged", "woke",      "network cut", "freeze", "listed",
                                          "fs shutdown", "kept down",   "kill",   "thawed",
                                          "last process dead", "agent saw empty"};

struct Spreads {
  std::map<std::string, std::vector<double>> spread_us;       // per part: across hosts, per repeat
  std::map<std::string, std::vector<double>> from_not_before;  // per part: each host, each repeat
  std::vector<double> cut_to_dead_us;                          // each host: network cut -> last process dead
  size_t cuts_by_kernel = 0, cuts = 0;
  int failures = 0;
  std::map<std::string, int> scheduling;  // how the instant's thread ran, per host and repeat
};

// One power loss on every host at a common not_before; the parts as each host's agent
// reported them, and when each workload emptied.
bool one_power_loss(const support::Netns& peer, std::vector<std::unique_ptr<Host>>& hosts, bool old,
                    const std::string& id, std::chrono::milliseconds lead, Spreads& out) {
  auto not_before = WallClock::now() + lead;
  v1::ApplyFault cmd;
  cmd.set_fault_id(id);
  cmd.mutable_spec()->mutable_power_loss()->set_lose_unsynced(true);
  *cmd.mutable_not_before() = to_proto(not_before);
  // Long enough that each host's stages are read while the fault is in effect.
  *cmd.mutable_expires_at() = to_proto(not_before + 1500ms);
  std::vector<std::unique_ptr<DeathWatch>> deaths;
  for (auto& h : hosts) deaths.push_back(std::make_unique<DeathWatch>(h->workload()));
  for (auto& h : hosts) {
    auto r = h->manager(old).apply(cmd);
    if (!r) {
      std::cerr << "power_bench: " << h->name() << ": " << r.error().describe() << "\n";
      return false;
    }
  }
  send_around(peer, hosts, not_before, not_before + 60ms);
  std::map<std::string, std::vector<WallTime>> at;
  for (size_t hi = 0; hi < hosts.size(); ++hi) {
    auto& h = hosts[hi];
    auto& death = *deaths[hi];
    std::optional<v1::FaultApplied> a;
    for (int i = 0; i < 200 && !(a = h->sink().applied(id)); ++i) std::this_thread::sleep_for(5ms);
    if (!a) {
      std::cerr << "power_bench: " << h->name() << ": " << id << " was never told applied\n";
      ++out.failures;
      continue;
    }
    std::map<std::string, WallTime> parts;
    for (auto& e : a->effects()) parts[e.part()] = from_proto(e.at());
    for (int i = 0; i < 100 && !death.seen(); ++i) std::this_thread::sleep_for(5ms);
    if (death.seen()) parts["last process dead"] = death.dead();
    // The agent's own stages of the instant (while the fault is in effect).
    if (auto e = h->power().effect(id)) {
      for (auto [stage, t] : {std::pair{"staging begun", e->begun}, {"journaled", e->journaled},
                              {"net staged", e->net_staged}, {"staged", e->staged}, {"woke", e->woke}, {"listed", e->listed}, {"kept down", e->kept_down},
                              {"thawed", e->thawed}, {"agent saw empty", e->dead}}) {
        if (t != WallTime{}) parts[stage] = t;
      }
      out.scheduling[e->scheduling]++;
    }
    for (auto& e : a->effects()) {
      if (e.part() != "network cut") continue;
      ++out.cuts;
      if (e.source().rfind("kernel", 0) == 0) ++out.cuts_by_kernel;
    }
    for (auto& [part, t] : parts) {
      at[part].push_back(t);
      out.from_not_before[part].push_back(double(us_between(not_before, t)));
    }
    if (parts.count("network cut") && parts.count("last process dead")) {
      out.cut_to_dead_us.push_back(double(us_between(parts["network cut"], parts["last process dead"])));
    }
  }
  for (auto& [part, ts] : at) {
    if (ts.size() < hosts.size()) continue;
    auto [lo, hi] = std::minmax_element(ts.begin(), ts.end());
    out.spread_us[part].push_back(double(us_between(*lo, *hi)));
  }
  // Power back (the lease's end), then the boots, before the next repeat.
  for (auto& h : hosts) {
    for (int i = 0; i < 400 && !h->manager(old).empty(); ++i) std::this_thread::sleep_for(10ms);
    if (!h->manager(old).empty() || !h->power().wait_booted(20s)) {
      std::cerr << "power_bench: " << h->name() << ": " << id << " did not end and boot\n";
      return false;
    }
    h->boot();
  }
  return true;
}

Json spread_json(const Spreads& s) {
  Json parts = Json::object();
  for (auto& p : kStages) {
    if (!s.from_not_before.count(p)) continue;
    parts[p]["from_not_before_us"] = json_of(pct(s.from_not_before.at(p)));
    if (s.spread_us.count(p)) parts[p]["spread_us"] = json_of(pct(s.spread_us.at(p)));
  }
  return Json{{"parts", parts},
              {"instant_thread_scheduling", s.scheduling},
              {"network_cut_to_last_process_dead_us", json_of(pct(s.cut_to_dead_us))},
              {"network_cuts_timed_by_the_kernel", s.cuts_by_kernel},
              {"network_cuts", s.cuts},
              {"failures", s.failures}};
}

Json bench_spread(Scratch& s, int n_hosts, int repeats, const HostSetup& setup, const std::string& title) {
  support::Netns peer(support::fresh_netns_name(kPrefix, "peer" + std::to_string(n_hosts)));
  std::vector<std::unique_ptr<Host>> hosts;
  for (int i = 0; i < n_hosts; ++i) hosts.push_back(std::make_unique<Host>(s, peer, i + (n_hosts == 1 ? 100 : 0), setup));
  // Neighbours resolved before the first cut (a cut host answers no ARP).
  for (auto& h : hosts) support::exec({"ip", "netns", "exec", peer.name(), "ping", "-c1", "-W1", h->ip()});
  Spreads staged, old;
  for (int r = 0; r < repeats && !g_stop; ++r) {
    for (bool is_old : {true, false}) {
      auto id = fmt::format("pl-{}-{}-{}", n_hosts, is_old ? "old" : "staged", r);
      if (!one_power_loss(peer, hosts, is_old, id, setup.lead, is_old ? old : staged)) {
        throw std::runtime_error(id + " failed");
      }
    }
    std::fprintf(stderr, "\r%s: %d/%d", title.c_str(), r + 1, repeats);
  }
  std::fprintf(stderr, "\n");
  std::printf("\n%s: %d host(s), %d repeats each, interleaved (us)\n", title.c_str(), n_hosts, repeats);
  auto row = [](const char* what, const Pct& a, const Pct& b) {
    std::printf("  %-34s %10.0f %10.0f %10.0f   %10.0f %10.0f %10.0f\n", what, a.p50, a.p99, a.max, b.p50, b.p99, b.max);
  };
  std::printf("  %-34s %32s   %32s\n", "", "old: wake-up at not_before", "kernel-timed (staged)");
  std::printf("  %-34s %10s %10s %10s   %10s %10s %10s\n", "", "p50", "p99", "max", "p50", "p99", "max");
  for (auto& p : kParts) {
    if (n_hosts > 1 && old.spread_us.count(p) && staged.spread_us.count(p)) {
      row(("spread: " + p).c_str(), pct(old.spread_us[p]), pct(staged.spread_us[p]));
    }
  }
  for (auto& p : kStages) {
    if (old.from_not_before.count(p) && staged.from_not_before.count(p)) {
      row(("from not_before: " + p).c_str(), pct(old.from_not_before[p]), pct(staged.from_not_before[p]));
    }
  }
  row("network cut -> last process dead", pct(old.cut_to_dead_us), pct(staged.cut_to_dead_us));
  std::printf("  network cuts timed by the kernel's first drop: old %zu/%zu, staged %zu/%zu\n", old.cuts_by_kernel,
              old.cuts, staged.cuts_by_kernel, staged.cuts);
  for (auto& [what, n] : staged.scheduling) std::printf("  the instant's thread ran %s (%d of %zu)\n", what.c_str(), n, staged.cuts);
  auto ratio = [](const std::vector<double>& a, const std::vector<double>& b) {
    double pb = pct(b).p99;
    return pb > 0 ? pct(a).p99 / pb : 0.0;
  };
  Json j{{"hosts", n_hosts}, {"repeats", repeats}, {"workload_processes_per_host", setup.procs},
         {"old_wake_up_at_not_before", spread_json(old)}, {"kernel_timed", spread_json(staged)}};
  if (n_hosts > 1) {
    for (auto& p : {"network cut", "kill"}) {
      if (old.spread_us.count(p) && staged.spread_us.count(p)) {
        j["p99_spread_old_over_kernel_timed"][p] = ratio(old.spread_us[p], staged.spread_us[p]);
      }
    }
  }
  j["p99_cut_to_dead_old_over_kernel_timed"] = ratio(old.cut_to_dead_us, staged.cut_to_dead_us);
  return j;
}

// ------------------------------------------------------------------ console

// What the console costs at the instant, isolated: N threads, parked and raised as the
// agents' instants are (power::park_until, power::RealtimeScope), each write at a common
// instant one kernel log line as long as what ext4 logs at a shutdown with NOLOGFLUSH
// ("EXT4-fs (loopN): shut down requested (2)" at KERN_ALERT, "Aborting journal on
// device loopN-8." at KERN_ERR): at KERN_ALERT, which a console at this machine's
// console_loglevel prints in the writer's own system call (a legacy console prints in
// the context of whoever logs), against KERN_DEBUG, which only goes to the log buffer.
// Through /dev/kmsg: a line of its own in the kernel log per write, and nothing else.
Json bench_console(int n_threads, int repeats) {
  std::string printk;
  std::getline(std::ifstream("/proc/sys/kernel/printk"), printk);
  std::string consoles;
  {
    std::ifstream in("/proc/consoles");
    for (std::string line; std::getline(in, line);) consoles += (consoles.empty() ? "" : "; ") + line;
  }
  std::map<std::string, std::vector<double>> last_done, per_write;
  for (int r = 0; r < repeats && !g_stop; ++r) {
    for (auto [level, name] : {std::pair{1, "KERN_ALERT"}, {7, "KERN_DEBUG"}}) {
      auto at = WallClock::now() + 300ms;  // the threads started and parked well before it
      std::vector<int64_t> done(static_cast<size_t>(n_threads)), took(static_cast<size_t>(n_threads));
      std::vector<std::thread> threads;
      for (int t = 0; t < n_threads; ++t) {
        threads.emplace_back([&, t, level = level] {
          int fd = ::open("/dev/kmsg", O_WRONLY | O_CLOEXEC);
          // 77 characters with its newline, as ext4's two lines.
          auto text = fmt::format("power_bench: console probe {} {}, as long as ext4's shutdown lines ", t, r);
          text.resize(76, '.');
          auto line = fmt::format("<{}>{}\n", level, text);
          power::RealtimeScope rt;
          power::park_until(at, rt.wake_early());
          auto t0 = WallClock::now();
          if (fd >= 0) (void)!::write(fd, line.data(), line.size());
          auto t1 = WallClock::now();
          done[static_cast<size_t>(t)] = us_between(at, t1);
          took[static_cast<size_t>(t)] = us_between(t0, t1);
          if (fd >= 0) ::close(fd);
        });
      }
      for (auto& th : threads) th.join();
      last_done[name].push_back(double(*std::max_element(done.begin(), done.end())));
      for (auto v : took) per_write[name].push_back(double(v));
    }
    std::fprintf(stderr, "\rconsole: %d/%d", r + 1, repeats);
  }
  std::fprintf(stderr, "\n");
  std::printf("\nthe console at the instant: %d threads at the agents' priority each log one 77-character line at "
              "one instant, %d repeats (us)\n  /proc/sys/kernel/printk: %s; consoles: %s\n",
              n_threads, repeats, printk.c_str(), consoles.c_str());
  std::printf("  %-44s %10s %10s %10s\n", "", "p50", "p99", "max");
  Json j{{"threads", n_threads}, {"repeats", repeats}, {"printk", printk}, {"consoles", consoles}};
  for (auto name : {"KERN_ALERT", "KERN_DEBUG"}) {
    auto a = pct(last_done[name]), b = pct(per_write[name]);
    std::printf("  %-44s %10.0f %10.0f %10.0f\n", fmt::format("{}: instant to the last write done", name).c_str(), a.p50,
                a.p99, a.max);
    std::printf("  %-44s %10.0f %10.0f %10.0f\n", fmt::format("{}: one write", name).c_str(), b.p50, b.p99, b.max);
    j[name] = Json{{"instant_to_last_write_done_us", json_of(a)}, {"one_write_us", json_of(b)}};
  }
  return j;
}

// ------------------------------------------------------------------ fs

double secs_of(const std::function<void()>& f) {
  auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void must_io(bool ok, const std::string& what) {
  if (!ok) throw std::runtime_error(what + ": " + std::strerror(errno));
}

// 4 KiB written and fsynced, `n` times, in one file: the load of a database's log.
double fsync_ops_per_s(const std::string& dir, int n) {
  auto path = dir + "/fsync.bin";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  must_io(fd >= 0, "open " + path);
  std::string block(4096, 'x');
  double s = secs_of([&] {
    for (int i = 0; i < n; ++i) {
      must_io(::pwrite(fd, block.data(), block.size(), off_t(i) * 4096) == 4096, "pwrite " + path);
      must_io(::fsync(fd) == 0, "fsync " + path);
    }
  });
  ::close(fd);
  ::unlink(path.c_str());
  return n / s;
}

std::string make_file(const std::string& dir, uint64_t mib) {
  auto path = dir + "/read.bin";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  must_io(fd >= 0, "open " + path);
  std::string chunk(1 << 20, 'r');
  for (uint64_t i = 0; i < mib; ++i) must_io(::write(fd, chunk.data(), chunk.size()) == ssize_t(chunk.size()), "write");
  must_io(::fsync(fd) == 0, "fsync " + path);
  ::close(fd);
  return path;
}

// Random 4 KiB reads of a file in the page cache.
double random_reads_per_s(const std::string& path, uint64_t mib, int n) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  must_io(fd >= 0, "open " + path);
  char buf[4096];
  uint64_t blocks = (mib << 20) / 4096, x = 88172645463325252ull;
  for (uint64_t b = 0; b < blocks; ++b) (void)!::pread(fd, buf, sizeof buf, off_t(b) * 4096);  // warm
  double s = secs_of([&] {
    for (int i = 0; i < n; ++i) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      must_io(::pread(fd, buf, sizeof buf, off_t(x % blocks) * 4096) == 4096, "pread " + path);
    }
  });
  ::close(fd);
  return n / s;
}

// The whole file read from the device, its page cache dropped first (for the loop
// device, the image's cache on the host's file system too).
double cold_read_mib_per_s(const std::string& path, uint64_t mib, const std::string& image) {
  ::sync();
  for (auto& p : {path, image}) {
    if (p.empty()) continue;
    int f = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
    if (f >= 0) {
      ::posix_fadvise(f, 0, 0, POSIX_FADV_DONTNEED);
      ::close(f);
    }
  }
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  must_io(fd >= 0, "open " + path);
  std::vector<char> buf(1 << 20);
  double s = secs_of([&] {
    while (::read(fd, buf.data(), buf.size()) > 0) {
    }
  });
  ::close(fd);
  return double(mib) / s;
}

Json bench_fs(Scratch& s, int fsyncs, int reads, uint64_t file_mib, int rounds) {
  auto host_dir = s.dir + "/hostfs";
  fs::create_directories(host_dir);
  auto loop_dir = s.dir + "/loopfs";
  s.loop_ext4("loopfs", file_mib * 2 + 64, loop_dir, "defaults");
  auto host_fs = support::must({"findmnt", "-n", "-o", "FSTYPE,SOURCE", "-T", host_dir});
  while (!host_fs.empty() && host_fs.back() == '\n') host_fs.pop_back();
  std::map<std::string, std::vector<double>> host, loop;
  for (int r = 0; r < rounds && !g_stop; ++r) {
    for (bool on_loop : {false, true}) {
      auto& out = on_loop ? loop : host;
      auto dir = on_loop ? loop_dir : host_dir;
      out["fsync"].push_back(fsync_ops_per_s(dir, fsyncs));
      auto file = make_file(dir, file_mib);
      out["random read"].push_back(random_reads_per_s(file, file_mib, reads));
      out["cold read"].push_back(cold_read_mib_per_s(file, file_mib, on_loop ? s.dir + "/loopfs.img" : ""));
      ::unlink(file.c_str());
    }
    std::fprintf(stderr, "\rfs: %d/%d", r + 1, rounds);
  }
  std::fprintf(stderr, "\n");
  std::printf("\ndata directory on its own loop-mounted ext4 against the host's file system (%s), median of %d\n",
              host_fs.c_str(), rounds);
  std::printf("  %-44s %14s %14s %10s\n", "load", "host fs", "loop ext4", "loop/host");
  Json j{{"host_fs", host_fs}, {"rounds", rounds}};
  auto row = [&](const std::string& key, const std::string& what, const std::string& unit) {
    double h = median(host[key]), l = median(loop[key]);
    std::printf("  %-44s %14.0f %14.0f %10.2f\n", (what + " (" + unit + ")").c_str(), h, l, l / h);
    j[key] = {{"host", h}, {"loop", l}, {"unit", unit}, {"loop_over_host", l / h}};
  };
  row("fsync", fmt::format("4 KiB write + fsync, {} times", fsyncs), "ops/s");
  row("random read", fmt::format("random 4 KiB reads, {} MiB cached", file_mib), "reads/s");
  row("cold read", fmt::format("sequential read of {} MiB, cache dropped", file_mib), "MiB/s");
  return j;
}

// ------------------------------------------------------------------ exit

// SIGKILL to exit (its pidfd readable) of a process in the bench's cgroup with `mib` MiB
// of its own memory touched: what bounds "last process dead" for a big workload.
double exit_us(Scratch& s, uint64_t mib) {
  int go[2], ready[2];
  must_io(::pipe2(go, O_CLOEXEC) == 0 && ::pipe2(ready, O_CLOEXEC) == 0, "pipe2");
  pid_t pid = ::fork();
  if (pid == 0) {
    // Only system calls here: the bench has threads.
    char c;
    if (::read(go[0], &c, 1) != 1) ::_exit(1);
    auto* m = static_cast<char*>(::mmap(nullptr, mib << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    if (m == MAP_FAILED) ::_exit(1);
    std::memset(m, 1, mib << 20);
    (void)!::write(ready[1], "x", 1);
    ::pause();
    ::_exit(0);
  }
  must_io(pid > 0, "fork");
  ::close(go[0]);
  ::close(ready[1]);
  // In the bench's own cgroup, killed with it should the bench die.
  auto moved = proc::write_cgroup_file(s.cg.path(), "cgroup.procs", std::to_string(pid));
  (void)!::write(go[1], "g", 1);
  ::close(go[1]);
  char c;
  bool up = moved && ::read(ready[0], &c, 1) == 1;
  ::close(ready[0]);
  int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  auto t0 = std::chrono::steady_clock::now();
  ::kill(pid, SIGKILL);
  pollfd p{fd, POLLIN, 0};
  ::poll(&p, 1, 30000);
  double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
  ::close(fd);
  ::waitpid(pid, nullptr, 0);
  if (!up) throw std::runtime_error(fmt::format("exit: a process with {} MiB did not start", mib));
  return us;
}

Json bench_exit(Scratch& s, int rounds) {
  std::printf("\nexit: SIGKILL to the process gone (pidfd readable), by memory touched, median of %d (us)\n", rounds);
  Json j{{"rounds", rounds}};
  for (uint64_t mib : {1, 64, 1024}) {
    std::vector<double> us;
    for (int r = 0; r < rounds && !g_stop; ++r) us.push_back(exit_us(s, mib));
    std::printf("  %6llu MiB %12.0f\n", static_cast<unsigned long long>(mib), median(us));
    j["sigkill_to_exit_us"][std::to_string(mib) + " MiB"] = median(us);
  }
  return j;
}

// ------------------------------------------------------------------ remount

int64_t dirty_kib() {
  std::ifstream in("/proc/meminfo");
  for (std::string k; in >> k;) {
    int64_t v;
    in >> v;
    if (k == "Dirty:") return v;
    in.ignore(64, '\n');
  }
  return -1;
}

Json bench_remount(Scratch& s, uint64_t dirty_mib, int rounds) {
  auto mnt = s.dir + "/remountfs";
  // How much of what was written is still dirty at the cut is the kernel's writeback's
  // doing (measured and said): the bench does not change the machine's dirty limits.
  s.loop_ext4("remountfs", dirty_mib + dirty_mib / 2 + 256, mnt, "defaults");
  auto data = power::inspect_data_dir(mnt);
  if (!data) throw std::runtime_error(data.error().describe());
  std::map<bool, std::vector<double>> ms;
  std::vector<double> dirty_at_cut;
  for (int r = 0; r < rounds && !g_stop; ++r) {
    for (bool dirty : {false, true}) {
      auto path = mnt + "/dirty.bin";
      int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      must_io(fd >= 0, "open " + path);
      std::string chunk(1 << 20, 'd');
      uint64_t mib = dirty ? dirty_mib : 1;
      auto dirty_before = dirty_kib();
      for (uint64_t i = 0; i < mib; ++i) must_io(::write(fd, chunk.data(), chunk.size()) == ssize_t(chunk.size()), "write");
      if (!dirty) must_io(::syncfs(fd) == 0, "syncfs");
      ::close(fd);
      auto before = dirty_kib();
      auto dir = power::open_for_shutdown(*data);
      if (!dir) throw std::runtime_error(dir.error().describe());
      if (auto x = power::shut_down(*data, dir->get()); !x) throw std::runtime_error(x.error().describe());
      dir->reset();
      if (dirty) dirty_at_cut.push_back(double(before - dirty_before) / 1024.0);
      double took = secs_of([&] {
        if (auto x = power::remount(*data); !x) throw std::runtime_error(x.error().describe());
      });
      ms[dirty].push_back(took * 1000);
      ::unlink(path.c_str());
      ::sync();
    }
    std::fprintf(stderr, "\rremount: %d/%d", r + 1, rounds);
  }
  std::fprintf(stderr, "\n");
  double clean = median(ms[false]), dirty = median(ms[true]);
  std::printf("\nrestore: the data file system unmounted and mounted again after the cut (ext4 on loop), median of %d\n",
              rounds);
  std::printf("  %-44s %10.1f ms\n", "clean at the cut", clean);
  std::printf("  %-44s %10.1f ms   (%.0f MiB more dirty at the cut than before it; x%.2f clean)\n",
              fmt::format("{} MiB written, unsynced, at the cut", dirty_mib).c_str(), dirty, median(dirty_at_cut),
              dirty / clean);
  return Json{{"rounds", rounds},
              {"written_unsynced_mib", dirty_mib},
              {"dirty_mib_at_cut", median(dirty_at_cut)},  // /proc/meminfo Dirty: at the cut less before writing
              {"remount_ms_dirty", dirty},
              {"remount_ms_clean", clean},
              {"dirty_over_clean", dirty / clean}};
}

}  // namespace

int main(int argc, char** argv) {
  po::options_description desc("power_bench: power-loss fidelity (scripts/bench.sh power)");
  std::string json, only;
  int hosts = 8, repeats = 30, procs = 10, fsyncs = 400, reads = 200000, fs_rounds = 3, remount_rounds = 3;
  int lead_ms = 900, stage_ahead_ms = 0;
  uint64_t dirty_mib = 1024, file_mib = 64;
  desc.add_options()("help", "this text")("json", po::value(&json), "write the results as JSON here")(
      "only", po::value(&only), "one part: spread, host, console, exit, fs, remount")(
      "hosts", po::value(&hosts)->default_value(hosts), "simulated hosts for the spread (1-16)")(
      "repeats", po::value(&repeats)->default_value(repeats), "power losses per scheduling (spread, host)")(
      "procs", po::value(&procs)->default_value(procs), "workload processes per host")(
      "fsyncs", po::value(&fsyncs)->default_value(fsyncs), "4 KiB write+fsync per round (fs)")(
      "reads", po::value(&reads)->default_value(reads), "random reads per round (fs)")(
      "file-mib", po::value(&file_mib)->default_value(file_mib), "the read file's size (fs)")(
      "fs-rounds", po::value(&fs_rounds)->default_value(fs_rounds), "rounds of the fs loads")(
      "dirty-mib", po::value(&dirty_mib)->default_value(dirty_mib), "unsynced data at the cut (remount)")(
      "remount-rounds", po::value(&remount_rounds)->default_value(remount_rounds), "cuts per case (remount)")(
      "lead-ms", po::value(&lead_ms)->default_value(lead_ms), "the command this long before not_before (spread, host)")(
      "stage-ahead-ms", po::value(&stage_ahead_ms)->default_value(stage_ahead_ms),
      "stage this long before not_before instead of the engine's 600 ms (0: the engine's; spread, host)");
  po::variables_map vm;
  if (auto r = parse_verb_options(argc, argv, desc, vm, "power_bench")) return *r;
  if (hosts < 1 || hosts > 16 || repeats < 1 || repeats > 1000 || procs < 1 || procs > 1000) {
    return usage_error("power_bench", "--hosts 1-16, --repeats 1-1000, --procs 1-1000");
  }
  if (!only.empty() && only != "spread" && only != "host" && only != "console" && only != "exit" && only != "fs" && only != "remount") {
    return usage_error("power_bench", "--only: spread, host, console, exit, fs or remount, not '" + only + "'");
  }
  if (::geteuid() != 0) return usage_error("power_bench", "needs root with CAP_BPF", 1);
  // The bench's file systems are mounted in a mount namespace of its own (before any
  // thread starts): no process elsewhere on the machine that makes a mount namespace
  // meanwhile gets a copy of them, which would keep a shut-down file system alive past
  // its remount; and they go with the bench, however it ends.
  if (::unshare(CLONE_NEWNS) != 0) {
    std::perror("power_bench: unshare(CLONE_NEWNS)");
    return 1;
  }
  init_logging(LogConfig{.level = spdlog::level::warn});

  // SIGINT/SIGTERM/SIGHUP end the run between power losses, and everything is removed.
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&set, sig);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::thread([set] {
    int sig = 0;
    sigwait(&set, &sig);
    std::fprintf(stderr, "power_bench: signal %d, stopping and cleaning up\n", sig);
    g_stop = true;
  }).detach();

  auto want = [&](const char* part) { return only.empty() || only == part; };
  Json out{{"suite", "power"}};
  // Absolute times on a shared machine follow its load: said beside them.
  auto load = [] {
    std::string l;
    std::getline(std::ifstream("/proc/loadavg"), l);
    return l;
  };
  out["cpus"] = std::thread::hardware_concurrency();
  out["loadavg_at_start"] = load();
  std::printf("power_bench: %u CPUs, load average at start %s\n", std::thread::hardware_concurrency(),
              load().c_str());
  try {
    Scratch s;
    HostSetup setup{procs, 64, std::chrono::milliseconds(lead_ms), std::chrono::milliseconds(stage_ahead_ms)};
    if (want("spread")) out["spread"] = bench_spread(s, hosts, repeats, setup, "start spread across hosts");
    if (want("host") && !g_stop) out["one_host"] = bench_spread(s, 1, repeats, setup, "one host");
    if (want("console") && !g_stop) out["console"] = bench_console(hosts, repeats);
    if (want("fs") && !g_stop) out["data_dir"] = bench_fs(s, fsyncs, reads, file_mib, fs_rounds);
    if (want("exit") && !g_stop) out["exit"] = bench_exit(s, remount_rounds);
    if (want("remount") && !g_stop) out["remount"] = bench_remount(s, dirty_mib, remount_rounds);
  } catch (const std::exception& e) {
    std::cerr << "power_bench: " << e.what() << "\n";
    return 1;
  }
  if (g_stop) return 130;
  out["loadavg_at_end"] = load();
  std::printf("\nload average at the end %s\n", load().c_str());
  if (!json.empty()) std::ofstream(json) << out.dump(2) << "\n";
  return 0;
}
