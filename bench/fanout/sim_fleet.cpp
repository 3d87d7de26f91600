#include "bench/fanout/sim_fleet.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <grpcpp/grpcpp.h>

#include "common/spawn.h"

namespace firedrill::bench {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void raise_fd_limit(size_t need) {
  rlimit r{};
  ::getrlimit(RLIMIT_NOFILE, &r);
  r.rlim_cur = std::max<rlim_t>(r.rlim_max, need);
  r.rlim_max = std::max<rlim_t>(r.rlim_max, need);
  if (::setrlimit(RLIMIT_NOFILE, &r) != 0) std::cerr << "bench: cannot raise the fd limit to " << need << "\n";
}

Fleet::~Fleet() {
  std::error_code ec;
  if (!dir.empty()) std::filesystem::remove_all(dir, ec);
}

std::string make_fleet(Fleet& f, int agents, const std::string& tag) {
  char tmpl[] = "/tmp/fd-bench-fleet-XXXXXX";
  if (!::mkdtemp(tmpl)) return "mkdtemp failed";
  f.dir = tmpl;
  auto ca = controller::make_ca("bench CA (" + tag + ")", controller::KeyType::kP256, 1);
  if (!ca) return ca.error().describe();
  f.ca = *ca;
  auto ctl = controller::issue_cert(*ca, controller::CertRole::kController, "controller", {"127.0.0.1"},
                                    controller::KeyType::kP256, 1);
  if (!ctl) return ctl.error().describe();
  for (auto [stem, pem] : {std::pair{"ca", &*ca}, std::pair{"controller", &*ctl}}) {
    if (auto r = controller::write_pem(f.dir, stem, *pem, true); !r) return r.error().describe();
  }
  f.agents.reserve(static_cast<size_t>(agents));
  for (int i = 0; i < agents; ++i) {
    auto id = fmt::format("sim-{:05d}", i);
    auto p = controller::issue_cert(*ca, controller::CertRole::kAgent, id, {}, controller::KeyType::kP256, 1);
    if (!p) return p.error().describe();
    f.agents.push_back({id, std::move(p->cert), std::move(p->key)});
  }
  return "";
}


Controller make_controller(const Fleet& f, const std::string& binary, const std::string& name, int port,
                           std::vector<std::string> extra) {
  Controller c;
  c.name = name;
  c.log = f.dir + "/" + name + ".log";
  c.api = f.dir + "/" + name + ".sock";
  c.argv = {binary, "serve", "--listen", fmt::format("127.0.0.1:{}", port), "--tls-ca",
            f.dir + "/ca.pem", "--tls-cert", f.dir + "/controller.pem", "--tls-key", f.dir + "/controller.key",
            "--state-dir", f.dir + "/state-" + name, "--api", c.api,
            // One host, one clock: an offset measured here is a heartbeat queued behind a
            // busy fan-out on the shared CPUs (over 1 s at 10,000 agents), not a clock.
            "--max-clock-offset", "30s"};
  c.argv.insert(c.argv.end(), extra.begin(), extra.end());
  return c;
}


bool Controller::start() {
  SpawnOptions o;
  o.argv = argv;
  o.output_file = log;
  auto p = firedrill::start(o);
  if (!p) return false;
  pid = *p;
  return true;
}

void Controller::kill(int sig) {
  if (pid <= 0) return;
  ::kill(pid, sig);
  int status = 0;
  auto deadline = Clock::now() + 10s;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (Clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(5ms);
  }
  pid = -1;
}

size_t Controller::log_size() const {
  std::error_code ec;
  auto n = std::filesystem::file_size(log, ec);
  return ec ? 0 : n;
}

bool Controller::says(const std::string& what, size_t from) const {
  auto text = read_file(log);
  return text.size() > from && text.find(what, from) != std::string::npos;
}

bool Controller::wait_says(const std::string& what, size_t from, std::chrono::seconds limit) const {
  for (auto deadline = Clock::now() + limit; Clock::now() < deadline; std::this_thread::sleep_for(20ms)) {
    if (says(what, from)) return true;
    if (pid > 0 && ::waitpid(pid, nullptr, WNOHANG) == pid) return false;
  }
  return false;
}

Sims::Sims(Fleet& f, int port, std::vector<int> more_ports, std::chrono::milliseconds heartbeat, size_t count) {
  int report[2], command[2];
  if (::pipe2(report, O_CLOEXEC) != 0 || ::pipe2(command, O_CLOEXEC) != 0) return;
  SimAgentsConfig c;
  c.port = port;
  c.more_ports = std::move(more_ports);
  c.ca_pem = f.ca.cert;
  c.heartbeat = heartbeat;
  c.agents = f.agents;
  if (count > 0 && count < c.agents.size()) c.agents.resize(count);
  c.report_fd = report[1];
  c.command_fd = command[0];
  pid_ = ::fork();
  if (pid_ == 0) ::_exit(run_sim_agents(c));
  ::close(report[1]);
  ::close(command[0]);
  report_fd_ = report[0];
  command_fd_ = command[1];
}

void Sims::stop() {
  if (pid_ <= 0) return;
  (void)!::write(command_fd_, "stop\n", 5);
  ::close(command_fd_);
  ::waitpid(pid_, nullptr, 0);
  ::close(report_fd_);
  pid_ = -1;
}

void Sims::drain() {
  pollfd p{report_fd_, POLLIN, 0};
  while (::poll(&p, 1, 0) > 0) {
    char buf[4096];
    ssize_t n = ::read(report_fd_, buf, sizeof buf);
    if (n <= 0) return;
    pending_.append(buf, static_cast<size_t>(n));
    for (size_t nl; (nl = pending_.find('\n')) != std::string::npos; pending_.erase(0, nl + 1)) {
      std::istringstream line(pending_.substr(0, nl));
      std::string tag;
      line >> tag >> registered;
    }
  }
}

std::unique_ptr<v1::ControllerService::Stub> api_stub(const std::string& socket) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(256 << 20);
  return v1::ControllerService::NewStub(
      grpc::CreateCustomChannel("unix:" + socket, grpc::InsecureChannelCredentials(), args));
}

uint32_t live_agents(v1::ControllerService::Stub& api) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 2s);
  v1::ControllerStatus st;
  return api.GetStatus(&ctx, {}, &st).ok() ? st.live_agents() : 0;
}

bool wait_live(v1::ControllerService::Stub& api, int n, std::chrono::seconds limit) {
  for (auto deadline = Clock::now() + limit; Clock::now() < deadline; std::this_thread::sleep_for(10ms)) {
    if (live_agents(api) >= static_cast<uint32_t>(n)) return true;
  }
  return false;
}

}  // namespace firedrill::bench
