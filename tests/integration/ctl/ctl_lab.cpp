#include "tests/integration/ctl/ctl_lab.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>

#include "common/spawn.h"

namespace firedrill::ctltest {
namespace {

using Clock = std::chrono::steady_clock;

using support::in_netns;

sockaddr_in address(const std::string& addr, uint16_t port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  if (::inet_pton(AF_INET, addr.c_str(), &sa.sin_addr) != 1) throw std::runtime_error("bad address " + addr);
  return sa;
}

}  // namespace

Exec exec(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
  return support::exec(argv, timeout);
}

std::string must(const std::vector<std::string>& argv) { return support::must(argv, 60s); }

std::string tag() { return support::run_tag("fdc"); }

Netns::Netns(const std::string& name) : support::Netns(support::fresh_netns_name("fdc", name)) {}

Process::Process(const Netns* ns, const std::vector<std::string>& argv, const std::string& log_path)
    : log_path_(log_path) {
  std::vector<std::string> full;
  if (ns) full = {"ip", "netns", "exec", ns->name()};
  full.insert(full.end(), argv.begin(), argv.end());
  SpawnOptions o;
  o.argv = std::move(full);
  o.output_file = log_path;
  auto pid = start(o);
  if (!pid) throw std::runtime_error(pid.error().describe());
  pid_ = *pid;
}

Process::~Process() { terminate(); }

bool Process::running() {
  if (pid_ <= 0) return false;
  int status;
  if (::waitpid(pid_, &status, WNOHANG) == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

void Process::kill9() {
  if (pid_ <= 0) return;
  // The whole process group: an agent's watcher and the agent under it die together.
  ::kill(-pid_, SIGKILL);
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  auto deadline = Clock::now() + 2s;
  while (::kill(-pid_, 0) == 0 && Clock::now() < deadline) std::this_thread::sleep_for(5ms);
  pid_ = -1;
}

int Process::terminate() {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  auto deadline = Clock::now() + 5s;
  int status = 0;
  while (Clock::now() < deadline) {
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    std::this_thread::sleep_for(20ms);
  }
  kill9();
  return 137;
}

std::string Process::log() const { return support::read_file(log_path_); }

bool Process::wait_log(const std::string& text, std::chrono::milliseconds within) const {
  auto deadline = Clock::now() + within;
  while (Clock::now() < deadline) {
    if (log().find(text) != std::string::npos) return true;
    std::this_thread::sleep_for(50ms);
  }
  return log().find(text) != std::string::npos;
}

TcpListener::TcpListener(const Netns& ns, const std::string& addr, uint16_t port) {
  in_netns(ns, [&] {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    auto sa = address(addr, port);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 || ::listen(fd_, 128) != 0) {
      throw std::runtime_error("listen on " + addr + ":" + std::to_string(port) + " in " + ns.name() + ": " +
                               std::strerror(errno));
    }
  });
  thread_ = std::thread([this] {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c >= 0) ::close(c);
    }
  });
}

TcpListener::~TcpListener() {
  stop_ = true;
  thread_.join();
  ::close(fd_);
}

bool tcp_connects(const Netns& from, const std::string& addr, uint16_t port, std::chrono::milliseconds timeout) {
  bool ok = false;
  in_netns(from, [&] {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    auto sa = address(addr, port);
    int r = ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    if (r == 0) {
      ok = true;
    } else if (errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      if (::poll(&p, 1, static_cast<int>(timeout.count())) == 1) {
        int err = 0;
        socklen_t len = sizeof err;
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        ok = err == 0;
      }
    }
    ::close(fd);
  });
  return ok;
}

std::string firedrill_binary() { return FDC_FIREDRILL_BIN; }
std::string agent_binary() { return FDC_AGENT_BIN; }

Lab::Lab(std::vector<HostSpec> hosts, std::string lease_grace) : specs_(std::move(hosts)), grace_(std::move(lease_grace)) {
  std::string tmpl = "/tmp/" + tag() + "-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  dir_ = ::mkdtemp(buf.data());
  api_ = dir_ + "/api.sock";
  auto fd = firedrill_binary();
  must({fd, "certs", "init", "--dir", dir_ + "/tls"});
  must({fd, "certs", "controller", "--dir", dir_ + "/tls", "--san", kController});
  for (auto& h : specs_) must({fd, "certs", "agent", "--dir", dir_ + "/tls", "--id", h.id});

  hub_ = std::make_unique<Netns>("hub");
  hub_->ip({"link", "add", "br0", "type", "bridge"});
  hub_->ip({"addr", "add", std::string(kController) + "/24", "dev", "br0"});
  hub_->ip({"link", "set", "br0", "up"});
  auto attach = [&](const Netns& ns, const std::string& port, const std::string& addr) {
    must({"ip", "link", "add", "eth0", "netns", ns.name(), "type", "veth", "peer", "name", port, "netns",
          hub_->name()});
    ns.ip({"addr", "add", addr + "/24", "dev", "eth0"});
    ns.ip({"link", "set", "eth0", "up"});
    hub_->ip({"link", "set", port, "master", "br0"});
    hub_->ip({"link", "set", port, "up"});
  };
  client_ns_ = std::make_unique<Netns>("client");
  attach(*client_ns_, "vc", kClient);
  int i = 0;
  for (auto& h : specs_) {
    auto ns = std::make_unique<Netns>("h" + std::to_string(i));
    std::string addr = "10.203.0." + std::to_string(10 + i);
    attach(*ns, "vh" + std::to_string(i), addr);
    listeners_.push_back(std::make_unique<TcpListener>(*ns, addr, kProbePort));
    addrs_[h.id] = addr;
    host_ns_[h.id] = std::move(ns);
    ++i;
  }
}

Lab::~Lab() {
  agents_.clear();
  controller_.reset();
  listeners_.clear();
  host_ns_.clear();
  client_ns_.reset();
  hub_.reset();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

void Lab::start_controller(const std::vector<std::string>& extra) {
  std::vector<std::string> argv = {firedrill_binary(), "serve",
                                   "--listen", std::string(kController) + ":" + std::to_string(kControllerPort),
                                   "--tls-ca", dir_ + "/tls/ca.pem",
                                   "--tls-cert", dir_ + "/tls/controller.pem",
                                   "--tls-key", dir_ + "/tls/controller.key",
                                   "--state-dir", dir_ + "/state",
                                   "--api", api_,
                                   "--lease-grace", grace_,
                                   "--heartbeat", "500ms"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  controller_ = std::make_unique<Process>(hub_.get(), argv,
                                          dir_ + "/controller-" + std::to_string(++controller_starts_) + ".log");
  if (!controller_->wait_log("ready")) throw std::runtime_error("controller did not start:\n" + controller_->log());
}

void Lab::start_agent(const std::string& id, const std::vector<std::string>& extra) {
  auto spec = std::find_if(specs_.begin(), specs_.end(), [&](const HostSpec& h) { return h.id == id; });
  if (spec == specs_.end()) throw std::runtime_error("no host " + id + " in this lab");
  const HostSpec& h = *spec;
  std::vector<std::string> argv = {agent_binary(), "--id", h.id,
                                   "--controller", std::string(kController) + ":" + std::to_string(kControllerPort),
                                   "--tls-ca", dir_ + "/tls/ca.pem",
                                   "--tls-cert", dir_ + "/tls/agent-" + h.id + ".pem",
                                   "--tls-key", dir_ + "/tls/agent-" + h.id + ".key",
                                   "--interface", "eth0",
                                   "--state-dir", agent_state_dir(h.id),
                                   "--local-socket", dir_ + "/agent-" + h.id + ".sock",
                                   "--lease-grace", grace_};
  for (auto& [k, v] : h.tags) {
    argv.push_back("--tag");
    argv.push_back(k + "=" + v);
  }
  argv.insert(argv.end(), extra.begin(), extra.end());
  agents_[h.id] = std::make_unique<Process>(host_ns_.at(h.id).get(), argv, dir_ + "/agent-" + h.id + ".log");
}

void Lab::start_agents(const std::vector<std::string>& extra) {
  for (auto& h : specs_) start_agent(h.id, extra);
  if (!wait_live(specs_.size())) {
    std::string logs;
    for (auto& [id, p] : agents_) logs += "--- " + id + "\n" + p->log();
    throw std::runtime_error("agents did not register:\n" + logs + "--- controller\n" + controller_->log());
  }
}

Exec Lab::cli(std::vector<std::string> args) const {
  args.insert(args.begin(), firedrill_binary());
  args.push_back("--api");
  args.push_back(api_);
  return exec(args);
}

bool Lab::wait_live(size_t n, std::chrono::milliseconds within) const {
  auto deadline = Clock::now() + within;
  std::regex re(R"((\d+) agent\(s\), (\d+) live)");
  while (Clock::now() < deadline) {
    auto r = cli({"agents"});
    std::smatch m;
    if (r.code == 0 && std::regex_search(r.out, m, re) && std::stoul(m[2]) == n) return true;
    std::this_thread::sleep_for(200ms);
  }
  return false;
}

bool Lab::reachable(const std::string& id, std::chrono::milliseconds timeout) const {
  return tcp_connects(*client_ns_, addrs_.at(id), kProbePort, timeout);
}

std::vector<std::string> Lab::ids() const {
  std::vector<std::string> out;
  for (auto& h : specs_) out.push_back(h.id);
  return out;
}

}  // namespace firedrill::ctltest
