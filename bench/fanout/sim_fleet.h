// What the benches that drive a real controller with simulated agents (fanout, ha, web)
// share around sim_agents.h: the fleet's TLS material, a `firedrill serve` process, the
// simulated agents in a child process, and reading a process's CPU and a log.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "bench/fanout/process_figures.h"
#include "bench/fanout/sim_agents.h"
#include "controller/session/certs.h"
#include "firedrill/v1/controller.grpc.pb.h"

namespace firedrill::bench {

std::string read_file(const std::string& path);
// Raises this process's open-file limit to `need` (root may raise the hard limit);
// says so on stderr when it cannot.
void raise_fd_limit(size_t need);

// A directory of the run's own (removed with the Fleet): the fleet's CA, the
// controllers' certificate (127.0.0.1) and one certificate per simulated agent
// (sim-00000, ...), and the controllers' state, sockets and logs.
struct Fleet {
  std::string dir;
  controller::Pem ca;
  std::vector<SimAgentIdentity> agents;
  ~Fleet();
};
// Fills `f` with `agents` agents; "" or what failed.
std::string make_fleet(Fleet& f, int agents, const std::string& tag);

// One `firedrill serve`, its own process (and process group), with its log in the
// fleet's directory.
struct Controller {
  std::string name, log, api;
  std::vector<std::string> argv;
  pid_t pid = -1;

  bool start();
  // `sig`, then SIGKILL after 10 s; reaped.
  void kill(int sig);
  size_t log_size() const;
  // Whether the log says `what` after byte `from`.
  bool says(const std::string& what, size_t from) const;
  bool wait_says(const std::string& what, size_t from, std::chrono::seconds limit) const;
};
// `binary` serve on 127.0.0.1:`port` with the fleet's TLS material, its state, API
// socket and log named after `name`, then `extra`.
Controller make_controller(const Fleet& f, const std::string& binary, const std::string& name, int port,
                           std::vector<std::string> extra);

// The simulated agents (the first `count` of the fleet's; all when 0): a child process
// of their own, stopped by "stop" on a pipe.
class Sims {
 public:
  Sims(Fleet& f, int port, std::vector<int> more_ports, std::chrono::milliseconds heartbeat, size_t count = 0);
  ~Sims() { stop(); }
  Sims(const Sims&) = delete;
  Sims& operator=(const Sims&) = delete;
  bool ok() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  void stop();
  // Drains the progress lines ("R <registered> <ended> <first error>"); the last says.
  void drain();
  int registered = 0;

 private:
  pid_t pid_ = -1;
  int report_fd_ = -1, command_fd_ = -1;
  std::string pending_;
};

std::unique_ptr<v1::ControllerService::Stub> api_stub(const std::string& socket);
uint32_t live_agents(v1::ControllerService::Stub& api);
// Until the controller counts `n` agents live, at most `limit`.
bool wait_live(v1::ControllerService::Stub& api, int n, std::chrono::seconds limit);

}  // namespace firedrill::bench
