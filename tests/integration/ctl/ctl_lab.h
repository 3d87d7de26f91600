// A small fleet for the controller's integration tests: a hub namespace with a bridge
// where the controller listens, host namespaces joined to it by veth pairs, each with
// a real firedrill-agent and a TCP listener to probe, and a client namespace to probe
// from. Names start with fdc-<pid>-; the addresses are 10.203.0.0/24 inside these
// namespaces only. Everything is torn down by RAII, also when a test fails; namespaces
// left by a test process that died are removed by the next one.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/netns.h"
#include "tests/support/process.h"

namespace firedrill::ctltest {

using namespace std::chrono_literals;

using support::Exec;

// Runs argv (no shell), up to `timeout`.
Exec exec(const std::vector<std::string>& argv, std::chrono::milliseconds timeout = 60s);
// Throws std::runtime_error naming the command when it fails.
std::string must(const std::vector<std::string>& argv);

std::string tag();  // "fdc-<pid>"

class Netns : public support::Netns {
 public:
  explicit Netns(const std::string& name);  // fdc-<pid>-<name>, loopback up
};

// A process started in a namespace (or here, with ns null), output to a log file.
class Process {
 public:
  Process(const Netns* ns, const std::vector<std::string>& argv, const std::string& log_path);
  ~Process();  // SIGTERM, then SIGKILL after 5 s
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  bool running();
  void kill9();              // SIGKILL and reap
  int terminate();           // SIGTERM, wait (SIGKILL after 5 s); the exit status
  std::string log() const;
  // Waits until the log holds `text`.
  bool wait_log(const std::string& text, std::chrono::milliseconds within = 15s) const;

 private:
  pid_t pid_ = -1;
  std::string log_path_;
};

// A TCP listener in a namespace that accepts and closes, on its own thread.
class TcpListener {
 public:
  TcpListener(const Netns& ns, const std::string& addr, uint16_t port);
  ~TcpListener();

 private:
  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// True when a TCP connection from `from` to addr:port completes within the timeout.
bool tcp_connects(const Netns& from, const std::string& addr, uint16_t port, std::chrono::milliseconds timeout);

std::string firedrill_binary();
std::string agent_binary();

struct HostSpec {
  std::string id;
  std::map<std::string, std::string> tags;
};

// The fleet: certificates, the controller in the hub, agents in host namespaces.
class Lab {
 public:
  static constexpr const char* kController = "10.203.0.1";
  static constexpr uint16_t kControllerPort = 17400;
  static constexpr uint16_t kProbePort = 17410;
  static constexpr const char* kClient = "10.203.0.2";

  Lab(std::vector<HostSpec> hosts, std::string lease_grace = "2s");
  ~Lab();

  void start_controller(const std::vector<std::string>& extra = {});
  void kill_controller() { controller_->kill9(); }
  Process& controller() { return *controller_; }
  // `extra` is added to every agent's flags.
  void start_agents(const std::vector<std::string>& extra = {});
  // Starts one agent again (after kill9 of its process); its state directory is
  // agent_state_dir(id).
  void start_agent(const std::string& id, const std::vector<std::string>& extra = {});
  std::string agent_state_dir(const std::string& id) const { return dir_ + "/agent-" + id; }
  Process& agent(const std::string& id) { return *agents_.at(id); }

  // `firedrill ARGS --api SOCKET`
  Exec cli(std::vector<std::string> args) const;
  // Waits until `firedrill agents` lists this many live agents.
  bool wait_live(size_t n, std::chrono::milliseconds within = 20s) const;

  std::string host_addr(const std::string& id) const { return addrs_.at(id); }
  bool reachable(const std::string& id, std::chrono::milliseconds timeout = 400ms) const;
  const Netns& client() const { return *client_ns_; }
  const Netns& hub() const { return *hub_; }
  const Netns& host(const std::string& id) const { return *host_ns_.at(id); }
  const std::string& dir() const { return dir_; }
  const std::string& api() const { return api_; }
  const std::string& lease_grace() const { return grace_; }
  std::vector<std::string> ids() const;

 private:
  std::vector<HostSpec> specs_;
  std::string grace_;
  std::string dir_, api_;
  std::unique_ptr<Netns> hub_, client_ns_;
  std::map<std::string, std::unique_ptr<Netns>> host_ns_;
  std::map<std::string, std::string> addrs_;
  std::vector<std::unique_ptr<TcpListener>> listeners_;
  std::unique_ptr<Process> controller_;
  std::map<std::string, std::unique_ptr<Process>> agents_;
  int controller_starts_ = 0;
};

}  // namespace firedrill::ctltest
