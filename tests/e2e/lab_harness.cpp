#include "tests/e2e/lab_harness.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include <gtest/gtest.h>

#include "tests/support/process.h"

namespace firedrill::e2e {
namespace fs = std::filesystem;

namespace {

using support::read_file;

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
  return s;
}

std::string cgroup2_mount() {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    auto dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream rest(line.substr(dash + 3));
    std::string type;
    rest >> type;
    if (type != "cgroup2") continue;
    std::istringstream head(line);
    std::string f, mount;
    for (int i = 0; i < 5 && head >> f; ++i) mount = f;
    return mount;
  }
  return {};
}

// Start time (clock ticks since boot) of a live process; nullopt when there is none, or
// only a zombie waiting for init to reap it: that one has died.
std::optional<unsigned long long> start_time(int pid) {
  std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  auto paren = stat.rfind(')');
  if (paren == std::string::npos) return std::nullopt;
  std::istringstream in(stat.substr(paren + 2));
  std::string field;
  in >> field;  // field 3, the state
  if (field == "Z" || field == "X") return std::nullopt;
  for (int i = 4; i < 22; ++i) in >> field;
  unsigned long long t = 0;
  if (!(in >> t)) return std::nullopt;  // field 22, starttime
  return t;
}

}  // namespace

Run sh(const std::string& command) {
  // A lab's set-up and game days take minutes; an hour bounds a wedged one.
  auto e = firedrill::support::sh(command, std::chrono::hours(1));
  return Run{e.code >= 0 && e.code < 128 ? e.code : -1, std::move(e.out)};
}

std::string quote(const std::string& word) {
  std::string q = "'";
  for (char c : word) {
    if (c == '\'') q += "'\\''";
    else q += c;
  }
  return q + "'";
}

std::string build_dir() { return FDL_BUILD_DIR; }

bool alive(const ProcessId& p) {
  auto t = start_time(p.pid);
  return t && *t == p.start;
}

double seconds_between(WallTime a, WallTime b) {
  return std::chrono::duration<double>(b - a).count();
}

std::vector<SwitchMaster> switch_masters(const std::string& log_path) {
  // 14981:X 21 Nov 2026 22:15:00.780 # +switch-master fdl 10.210.1.11 6379 10.211.1.11 6379
  static const std::regex line_re(
      R"(^\d+:X (\d+ \w+ \d+ \d+:\d+:\d+)\.(\d+) # \+switch-master \S+ (\S+) (\d+) (\S+) (\d+))");
  std::vector<SwitchMaster> out;
  std::ifstream in(log_path);
  std::string line;
  std::smatch m;
  while (std::getline(in, line)) {
    if (!std::regex_search(line, m, line_re)) continue;
    struct tm tm = {};
    if (!strptime(m[1].str().c_str(), "%d %b %Y %H:%M:%S", &tm)) continue;
    auto secs = std::chrono::system_clock::from_time_t(timegm(&tm));
    SwitchMaster s;
    s.at = secs + std::chrono::milliseconds(std::stoi(m[2].str()));
    s.from = m[3].str() + ":" + m[4].str();
    s.to = m[5].str() + ":" + m[6].str();
    out.push_back(s);
  }
  return out;
}

LabLock::LabLock() {
  std::string path = std::string("/run/lock/firedrill-lab-") + Lab::kName + ".tests.lock";
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd_ < 0) {
    ADD_FAILURE() << "open " << path << ": " << std::strerror(errno);
    return;
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(15);
  while (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    if (std::chrono::steady_clock::now() >= deadline) {
      ADD_FAILURE() << "another lab test held " << path << " for 15 minutes";
      ::close(fd_);
      fd_ = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
}

LabLock::~LabLock() {
  if (fd_ >= 0) ::close(fd_);
}

Lab::Lab(const std::string& placement, Controller controller) : placement_(placement) {
  if (!lock_.held()) return;
  // A lab of this name left by an earlier, killed run would make `up` refuse; its
  // evidence too would mix with this run's.
  sh("deploy/lab/lab.sh down --purge --name " + std::string(kName));
  auto r = sh("deploy/lab/lab.sh up --name " + std::string(kName) + " --placement " + placement +
              " --agent " + quote(build_dir() + "/agent/firedrill-agent") + " --firedrill " +
              quote(build_dir() + "/controller/firedrill") + " --controller " +
              (controller == Controller::kNone ? "no" : "yes") +
              (controller == Controller::kTwoOnPostgres ? " --controllers 2" : ""));
  if (r.status != 0) {
    ADD_FAILURE() << "lab.sh up --placement " << placement << " failed (" << r.status << "):\n" << r.output;
    return;
  }
  up_ = true;
}

Lab::~Lab() {
  if (up_) sh("deploy/lab/lab.sh down --purge --name " + std::string(kName));
}

std::string Lab::controller_state() {
  return std::string("/var/lib/firedrill-lab/") + kName + "/controller";
}

Run Lab::firedrill(const std::string& args) const {
  return sh("FIREDRILL_API=" + quote(api()) + " " + quote(build_dir() + "/controller/firedrill") + " " + args);
}

std::string Lab::dir() const { return std::string("/run/firedrill-lab/") + kName; }
std::string Lab::cgroup_path() { return cgroup2_mount() + "/firedrill-lab/" + kName; }
std::string Lab::host_dir(const std::string& host) const { return dir() + "/hosts/" + host; }
std::string Lab::socket(const std::string& host) const { return host_dir(host) + "/agent.sock"; }
std::string Lab::sentinel_log(const std::string& host) const {
  return host_dir(host) + "/sentinel/sentinel.log";
}

std::vector<std::string> Lab::hosts_in(const std::string& dc) const {
  std::vector<std::string> out;
  for (auto& e : fs::directory_iterator(dir() + "/hosts")) {
    std::string tags = read_file(e.path().string() + "/tags");
    if (tags.find("dc=" + dc + "\n") != std::string::npos) out.push_back(e.path().filename());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string Lab::ip(const std::string& host) const {
  auto r = sh("bash -c " + quote("source deploy/lab/lib/topology.sh && fdl_host_field " + host + " ip"));
  return trim(r.output);
}

Run Lab::ctl(const std::string& host, const std::string& args) const {
  return sh(quote(build_dir() + "/agent/firedrill-agent") + " ctl --socket " + quote(socket(host)) + " " + args);
}

Run Lab::redis(const std::string& args) const {
  return sh("deploy/lab/bin/lab-redis --name " + std::string(kName) + " " + args);
}

std::optional<std::string> Lab::http_get() const {
  auto r = sh("nsenter --net=/run/netns/" + std::string(kName) + "-ops curl -sf -m 2 http://10.212.0.10/");
  if (r.status != 0) return std::nullopt;
  return r.output;
}

Run Lab::status() const { return sh("deploy/lab/lab.sh status --name " + std::string(kName)); }

std::set<ProcessId> Lab::processes() const {
  std::set<ProcessId> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(cgroup(), ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (!it->is_directory()) continue;
    std::ifstream in(it->path() / "cgroup.procs");
    int pid;
    while (in >> pid) {
      if (auto t = start_time(pid)) out.insert({pid, *t});
    }
  }
  return out;
}

std::set<int> Lab::agent_bpf_programs() const {
  // The agents' open BPF program fds, by id (from /proc, not from bpftool's pid view).
  std::set<int> ids;
  std::error_code ec;
  for (auto& host : fs::directory_iterator(dir() + "/hosts", ec)) {
    std::string pid = trim(read_file(host.path().string() + "/agent.pid"));
    if (pid.empty()) continue;
    std::string fd_dir = "/proc/" + pid + "/fd";
    for (auto& fd : fs::directory_iterator(fd_dir, ec)) {
      std::error_code lec;
      auto target = fs::read_symlink(fd.path(), lec);
      if (lec || target.string() != "anon_inode:bpf-prog") continue;
      std::ifstream info("/proc/" + pid + "/fdinfo/" + fd.path().filename().string());
      std::string key;
      while (info >> key) {
        if (key == "prog_id:") {
          int id;
          if (info >> id) ids.insert(id);
        }
      }
    }
  }
  return ids;
}

std::vector<std::string> Lab::down_and_check(const std::set<ProcessId>& processes,
                                             const std::set<int>& programs) {
  std::vector<std::string> problems;
  auto r = sh("deploy/lab/lab.sh down --purge --name " + std::string(kName));
  up_ = false;
  if (r.status != 0) problems.push_back("lab.sh down failed (" + std::to_string(r.status) + "): " + r.output);
  auto ns = sh("ip netns list | grep -E '^" + std::string(kName) + "-' || true");
  if (!trim(ns.output).empty()) problems.push_back("namespaces left: " + trim(ns.output));
  auto links = sh("ip -o link show | grep -E ': " + std::string(kName) + "-' || true");
  if (!trim(links.output).empty()) problems.push_back("links left in the host namespace: " + trim(links.output));
  if (fs::exists(cgroup())) problems.push_back("cgroup left: " + cgroup());
  if (fs::exists(dir())) problems.push_back("state directory left: " + dir());
  // The data images' loop devices and mounts (lab.sh up makes one per Redis host).
  auto loops = sh("losetup -a | grep -F " + quote(dir() + "/") + " || true");
  if (!trim(loops.output).empty()) problems.push_back("loop devices left: " + trim(loops.output));
  auto mounts = sh("grep -F " + quote(" " + dir() + "/") + " /proc/self/mountinfo || true");
  if (!trim(mounts.output).empty()) problems.push_back("mounts left: " + trim(mounts.output));
  if (fs::exists(controller_state())) problems.push_back("controller store left: " + controller_state());
  for (auto& p : processes) {
    if (alive(p)) problems.push_back("process left: pid " + std::to_string(p.pid));
  }
  for (int id : programs) {
    auto b = sh("bpftool prog show id " + std::to_string(id));
    if (b.status == 0) problems.push_back("BPF program left: " + trim(b.output));
  }
  return problems;
}

}  // namespace firedrill::e2e
