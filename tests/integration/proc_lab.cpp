#include "tests/integration/proc_lab.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "agent/bpf/features.h"
#include "common/spawn.h"

namespace fdp {
namespace fs = std::filesystem;

namespace {

int decode(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

void rmdir_tree(const std::string& dir) {
  std::error_code ec;
  std::vector<std::string> subs;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    if (it->is_directory(ec)) subs.push_back(it->path().string());
  }
  for (auto& s : subs) rmdir_tree(s);
  ::rmdir(dir.c_str());
}

}  // namespace

std::string unique(const std::string& what) { return "fdp-" + std::to_string(::getpid()) + "-" + what; }

TempDir::TempDir() {
  char tmpl[] = "/tmp/fdp-XXXXXX";
  char* p = ::mkdtemp(tmpl);
  if (!p) throw std::runtime_error("mkdtemp failed");
  path_ = p;
  ::chmod(path_.c_str(), 0755);
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::string cgroup_root() {
  auto r = firedrill::agent::bpf::find_cgroup2_mount();
  if (!r) throw std::runtime_error("no cgroup v2 mount: " + r.error().describe());
  return *r;
}

TestCgroup::TestCgroup(const std::string& name) {
  path_ = cgroup_root() + "/fdp-test-" + std::to_string(::getpid()) + "-" + name;
  if (::mkdir(path_.c_str(), 0755) != 0 && errno != EEXIST) {
    throw std::runtime_error("cannot create cgroup " + path_ + ": " + std::strerror(errno));
  }
}

TestCgroup::~TestCgroup() {
  std::ofstream(path_ + "/cgroup.kill") << "1";
  std::ofstream(path_ + "/cgroup.freeze") << "0";
  for (int i = 0; i < 500; ++i) {
    if (read_file(path_ + "/cgroup.events").find("populated 0") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  rmdir_tree(path_);
}

std::string TestCgroup::rel() const { return path_.substr(cgroup_root().size()); }

std::string TestCgroup::child(const std::string& sub) const {
  std::string p = path_ + "/" + sub;
  std::error_code ec;
  fs::create_directories(p, ec);
  return p;
}

std::vector<pid_t> TestCgroup::procs() const {
  std::vector<pid_t> out;
  std::vector<std::string> dirs{path_};
  while (!dirs.empty()) {
    auto d = dirs.back();
    dirs.pop_back();
    std::ifstream in(d + "/cgroup.procs");
    pid_t p;
    while (in >> p) out.push_back(p);
    std::error_code ec;
    for (auto it = fs::directory_iterator(d, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
      if (it->is_directory(ec)) dirs.push_back(it->path().string());
    }
  }
  return out;
}

bool TestCgroup::frozen() const { return read_file(path_ + "/cgroup.events").find("frozen 1") != std::string::npos; }

Netns::Netns(const std::string& what) : firedrill::support::Netns(unique(what)) {}

RunResult Netns::exec(const std::string& command) const {
  return run({"ip", "netns", "exec", name(), "/bin/sh", "-c", command});
}

void veth(const Netns& a, const std::string& a_if, const std::string& a_cidr, const Netns& b,
          const std::string& b_if, const std::string& b_cidr) {
  firedrill::support::veth(a, a_if, {a_cidr}, b, b_if, {b_cidr});
}

Child Child::spawn(const std::vector<std::string>& argv, const std::string& cgroup_dir, const Netns* ns,
                   const std::string& output) {
  firedrill::SpawnOptions o;
  o.argv = argv;
  o.cgroup = cgroup_dir;
  if (ns) o.netns = "/run/netns/" + ns->name();
  o.output_file = output;
  auto pid = firedrill::start(o);
  if (!pid) throw std::runtime_error("start " + argv.at(0) + ": " + pid.error().describe());
  Child c;
  c.pid_ = *pid;
  return c;
}

Child::~Child() { kill9(); }

Child::Child(Child&& o) noexcept : pid_(std::exchange(o.pid_, -1)), status_(o.status_) {}

Child& Child::operator=(Child&& o) noexcept {
  if (this != &o) {
    kill9();
    pid_ = std::exchange(o.pid_, -1);
    status_ = o.status_;
  }
  return *this;
}

bool Child::alive() {
  if (pid_ <= 0) return false;
  int status = 0;
  pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    status_ = decode(status);
    pid_ = -1;
    return false;
  }
  return r == 0;
}

int Child::wait(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return status_;
  bool done = eventually([&] { return !alive(); }, timeout);
  return done ? status_ : -1;
}

void Child::kill9() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  status_ = decode(status);
  pid_ = -1;
}

std::string agent_binary() { return FIREDRILL_AGENT_BIN; }

Agent::Agent(Options o) {
  socket_ = dir_.file("agent.sock");
  state_dir_ = o.state_dir.empty() ? dir_.file("state") : o.state_dir;
  log_path_ = dir_.file("agent.log");
  std::vector<std::string> argv{agent_binary(), "--local-socket", socket_, "--state-dir", state_dir_,
                                "--id", unique("agent"), "--log-level", "debug"};
  argv.insert(argv.end(), o.args.begin(), o.args.end());
  child_ = Child::spawn(argv, o.cgroup_dir, o.ns, log_path_);
  bool up = eventually([&] { return log().find("[agent] ready") != std::string::npos || !child_.alive(); }, 20s);
  if (!up || !child_.alive()) {
    throw std::runtime_error("firedrill-agent did not start; its log:\n" + log());
  }
}

Agent::~Agent() {
  if (child_.alive()) stop();
}

RunResult Agent::ctl(const std::vector<std::string>& args) const {
  std::vector<std::string> argv{agent_binary(), "ctl", "--socket", socket_};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv, 60s);
}

RunResult Agent::apply(const std::string& id, const std::string& lease, const std::string& spec) const {
  return ctl({"apply", "--id", id, "--for", lease, "--spec", spec});
}

void Agent::kill9() {
  // The watcher first (so that it restarts nothing), then the agent under it (which
  // its death signal kills too): both are gone on return.
  std::ifstream children("/proc/" + std::to_string(child_.pid()) + "/task/" + std::to_string(child_.pid()) + "/children");
  pid_t worker = 0;
  children >> worker;
  child_.kill9();
  if (worker > 0) {
    ::kill(worker, SIGKILL);
    eventually([&] { return !process_exists(worker); }, 2s);
  }
}

int Agent::stop() {
  if (!child_.alive()) return -1;
  ::kill(child_.pid(), SIGTERM);
  int s = child_.wait(30s);
  if (s == -1) child_.kill9();
  return s;
}

std::string Agent::log() const { return read_file(log_path_); }

bool Agent::wait_log(const std::string& needle, std::chrono::milliseconds timeout) const {
  return eventually([&] { return log().find(needle) != std::string::npos; }, timeout);
}

bool tcp_answers(const Netns* ns, const std::string& ip, uint16_t port, std::chrono::milliseconds timeout) {
  int fd = -1;
  // A socket belongs to the namespace it was created in: create it from a thread that
  // entered the namespace (setns changes the calling thread only).
  std::thread([&] {
    if (ns) {
      int nfd = ::open(("/run/netns/" + ns->name()).c_str(), O_RDONLY | O_CLOEXEC);
      if (nfd < 0) return;
      int r = ::setns(nfd, CLONE_NEWNET);
      ::close(nfd);
      if (r != 0) return;
    }
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  }).join();
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  ::inet_pton(AF_INET, ip.c_str(), &addr.sin_addr);
  bool answered = false;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto left = [&] {
    return static_cast<int>(std::max<int64_t>(
        0, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count()));
  };
  int r = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  if (r == 0 || errno == EINPROGRESS) {
    pollfd p{fd, POLLOUT, 0};
    if (r == 0 || ::poll(&p, 1, left()) == 1) {
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err == 0) {
        pollfd in{fd, POLLIN, 0};
        char c;
        if (::poll(&in, 1, left()) == 1 && ::recv(fd, &c, 1, 0) == 1) answered = true;
      }
    }
  }
  ::close(fd);
  return answered;
}

std::string private_copy(const std::string& binary, const TempDir& dir, const std::string& name) {
  std::string dst = dir.file(name);
  fs::copy_file(binary, dst, fs::copy_options::overwrite_existing);
  ::chmod(dst.c_str(), 0755);
  return dst;
}

bool process_exists(pid_t pid) {
  // A zombie is dead: only a live process has a state other than Z.
  std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  if (stat.empty()) return false;
  auto close = stat.rfind(')');
  return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] != 'Z';
}

}  // namespace fdp
