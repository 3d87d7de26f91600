#include "tests/e2e/web_fleet.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "common/spawn.h"

namespace firedrill::e2e {

using namespace std::chrono_literals;

Child::Child(const std::vector<std::string>& argv, const std::string& log) {
  std::filesystem::remove(log);
  SpawnOptions o;
  o.argv = argv;
  o.output_file = log;
  auto pid = start(o);
  if (!pid) throw std::runtime_error("start " + argv.at(0) + ": " + pid.error().describe());
  pid_ = *pid;
}

void Child::stop() {
  if (pid_ <= 0) return;
  ::kill(-pid_, SIGTERM);
  for (int i = 0; i < 50; ++i) {
    if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(100ms);
  }
  ::kill(-pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

WebFleet::WebFleet(WebFleetSpec spec) : spec_(std::move(spec)) {
  if (::geteuid() != 0) {
    ADD_FAILURE() << spec_.suite << ": needs root with CAP_BPF (run as root)";
    return;
  }
  teardown_namespaces();  // what a crashed earlier run may have left
  std::string tmpl_text = "/tmp/" + spec_.prefix + "-e2e-XXXXXX";
  std::vector<char> tmpl(tmpl_text.begin(), tmpl_text.end());
  tmpl.push_back('\0');
  dir_ = ::mkdtemp(tmpl.data());
  if (!spec_.serve_args.empty()) ::chmod(dir_.c_str(), 0755);  // other uids reach the API socket
  auto must = [&](const std::string& cmd) {
    auto o = sh(cmd);
    if (o.status != 0) ADD_FAILURE() << cmd << " failed (" << o.status << "): " << o.output;
    return o.status == 0;
  };
  const std::string ops = ns("ops"), br = ns("br");
  bool ok = true;
  for (const auto& n : {ops, ns("h1"), ns("h2")}) ok &= must("ip netns add " + n + " && ip -n " + n + " link set lo up");
  ok &= must("ip -n " + ops + " link add " + br + " type bridge && ip -n " + ops + " addr add " + addr(1) +
             "/24 dev " + br + " && ip -n " + ops + " link set " + br + " up");
  for (int i = 1; i <= 2; ++i) {
    std::string h = "h" + std::to_string(i), host_ns = ns(h), port = ns(h) + "-br";
    ok &= must("ip -n " + ops + " link add " + port + " type veth peer name eth0 netns " + host_ns + " && ip -n " +
               ops + " link set " + port + " master " + br + " up && ip -n " + host_ns + " addr add " + addr(10 + i) +
               "/24 dev eth0 && ip -n " + host_ns + " link set eth0 up");
  }
  if (!ok) return;
  std::filesystem::create_directories(dir_ + "/www");
  std::ofstream(dir_ + "/www/index.html") << "hello from the fleet\n";
  std::string web = std::to_string(spec_.web_port), front = std::to_string(spec_.front_port);
  std::ofstream(dir_ + "/haproxy.cfg") << "global\n  maxconn 256\ndefaults\n  mode http\n  timeout connect 300ms\n"
                                       << "  timeout client 5s\n  timeout server 2s\n" << spec_.haproxy_defaults
                                       << "frontend web\n  bind " << addr(1) << ":" << front << "\n"
                                       << "  default_backend hosts\nbackend hosts\n" << spec_.haproxy_backend
                                       << "  server h1 " << addr(11) << ":" << web << " check\n"
                                       << "  server h2 " << addr(12) << ":" << web << " check\n";
  api_ = dir_ + "/api.sock";
  std::string controller = addr(1) + ":" + std::to_string(spec_.controller_port);
  std::vector<std::string> serve{"ip", "netns", "exec", ops, build_dir() + "/controller/firedrill", "serve", "--insecure",
                                 "--listen", controller, "--state-dir", state(), "--api", api_, "--lease-grace", "3s",
                                 "--heartbeat", "500ms"};
  serve.insert(serve.end(), spec_.serve_args.begin(), spec_.serve_args.end());
  children_.push_back(std::make_unique<Child>(serve, dir_ + "/controller.log"));
  for (int i = 1; i <= 2; ++i) {
    std::string h = "h" + std::to_string(i), host_ns = ns(h);
    children_.push_back(std::make_unique<Child>(
        std::vector<std::string>{"ip", "netns", "exec", host_ns, "python3", "-m", "http.server", web, "--bind",
                                 addr(10 + i), "--directory", dir_ + "/www"},
        dir_ + "/web-" + h + ".log"));
    std::vector<std::string> agent{"ip", "netns", "exec", host_ns, build_dir() + "/agent/firedrill-agent", "--id",
                                   host_ns, "--tag", "host=" + host_ns};
    if (static_cast<size_t>(i) <= spec_.host_tags.size()) {
      for (const auto& t : spec_.host_tags[i - 1]) agent.insert(agent.end(), {"--tag", t});
    }
    agent.insert(agent.end(), {"--controller", controller, "--insecure", "--interface", "eth0", "--allow",
                               addr(1) + ",tcp," + std::to_string(spec_.controller_port), "--lease-grace", "3s",
                               "--state-dir", dir_ + "/agent-" + h, "--local-socket", dir_ + "/agent-" + h + ".sock"});
    children_.push_back(std::make_unique<Child>(agent, dir_ + "/agent-" + h + ".log"));
  }
  children_.push_back(std::make_unique<Child>(
      std::vector<std::string>{"ip", "netns", "exec", ops, "haproxy", "-db", "-f", dir_ + "/haproxy.cfg"},
      dir_ + "/haproxy.log"));
  bool registered = eventually(
      [&] {
        auto o = sh(firedrill("agents"));
        return o.status == 0 && o.output.find(ns("h1")) != std::string::npos &&
               o.output.find(ns("h2")) != std::string::npos;
      },
      20s);
  if (!registered) {
    ADD_FAILURE() << "agents did not register with the controller:\n" << sh(firedrill("agents")).output << "\n"
                  << logs();
    return;
  }
  bool serving = eventually([&] { return reachable(addr(1) + ":" + front) && reachable(addr(11) + ":" + web); }, 20s);
  if (!serving) {
    ADD_FAILURE() << "the web service is not up\n" << logs();
    return;
  }
  ready_ = true;
}

WebFleet::~WebFleet() {
  while (!children_.empty()) children_.pop_back();  // last started, first stopped
  teardown_namespaces();
  if (!dir_.empty() && !::testing::Test::HasFailure()) std::filesystem::remove_all(dir_);
}

void WebFleet::teardown_namespaces() const {
  for (const char* what : {"ops", "h1", "h2"}) sh("ip netns del " + ns(what) + " 2>/dev/null");
}

std::string WebFleet::firedrill(const std::string& args) const {
  return build_dir() + "/controller/firedrill " + args + " --api " + api_;
}

std::string WebFleet::firedrill_as(uid_t uid, const std::string& args) const {
  return fmt::format("setpriv --reuid={} --regid={} --clear-groups {}", uid, uid, firedrill(args));
}

bool WebFleet::reachable(const std::string& hostport) const {
  return sh("ip netns exec " + ns("ops") + " curl -s -m 1 --noproxy '*' -o /dev/null -w '%{http_code}' http://" +
            hostport + "/")
             .output == "200";
}

std::string WebFleet::agent_status(const std::string& h) const {
  return sh(build_dir() + "/agent/firedrill-agent ctl --socket " + dir_ + "/agent-" + h + ".sock status").output;
}

std::string WebFleet::write(const std::string& name, const std::string& text) const {
  std::string path = dir_ + "/" + name;
  std::ofstream(path) << text;
  return path;
}

std::string WebFleet::logs() const {
  std::string out;
  for (const char* f : {"controller.log", "agent-h1.log", "agent-h2.log", "haproxy.log"}) {
    std::ifstream in(dir_ + "/" + f);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string s = ss.str();
    if (s.size() > spec_.log_tail) s = "..." + s.substr(s.size() - spec_.log_tail);
    out += std::string("--- ") + f + "\n" + s + "\n";
  }
  return out;
}

}  // namespace firedrill::e2e
