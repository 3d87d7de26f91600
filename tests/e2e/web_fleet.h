// Two web hosts behind HAProxy, run by a real controller: the fleet of the e2e suites
// that drive `firedrill run` on real agents (experiments, evidence). Namespaces
// <prefix>-ops, <prefix>-h1 and <prefix>-h2 (the hosts on a bridge <prefix>-br in
// <prefix>-ops, <net>.0/24: ops .1, hosts .11 and .12), a python http.server and an
// agent on each host, the controller and HAProxy in <prefix>-ops. Everything it made
// is removed at the end, also when a test fails; what a crashed run left under the
// same names is removed first.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/lab_harness.h"

namespace firedrill::e2e {

// A process of ours in its own process group, stopped with its group: SIGTERM, then
// SIGKILL after 5 s.
class Child {
 public:
  Child(const std::vector<std::string>& argv, const std::string& log);
  ~Child() { stop(); }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  void stop();

 private:
  pid_t pid_ = -1;
};

// Polls f every 100 ms until it holds or `within` passes.
template <typename F>
bool eventually(F f, std::chrono::milliseconds within) {
  auto end = std::chrono::steady_clock::now() + within;
  while (std::chrono::steady_clock::now() < end) {
    if (f()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return f();
}

struct WebFleetSpec {
  std::string suite;             // names the suite in the root message: "the evidence e2e test"
  std::string prefix;            // "fdv"
  std::string net;               // "10.207.0"
  int controller_port = 0;       // on <net>.1
  int web_port = 0;              // each host's http.server
  int front_port = 0;            // HAProxy on <net>.1
  std::string haproxy_defaults;  // lines added to `defaults` (retries, redispatch)
  std::string haproxy_backend;   // lines of `backend hosts` before the servers
  std::vector<std::vector<std::string>> host_tags;  // more KEY=VALUE tags of h1, h2
  size_t log_tail = 4000;        // bytes of each log shown by logs()
  // More `firedrill serve` flags (roles, approval policy). Callers other than root
  // (firedrill_as) need "--api-mode", "0666" here.
  std::vector<std::string> serve_args;
};

class WebFleet {
 public:
  explicit WebFleet(WebFleetSpec spec);
  ~WebFleet();
  WebFleet(const WebFleet&) = delete;
  WebFleet& operator=(const WebFleet&) = delete;

  bool ready() const { return ready_; }
  const std::string& dir() const { return dir_; }
  const std::string& api() const { return api_; }
  std::string state() const { return dir_ + "/state"; }
  // `firedrill ARGS --api SOCKET`, a command line for sh().
  std::string firedrill(const std::string& args) const;
  // The same, run as `uid` (no user entry, no groups): the controller knows the caller
  // from the connection only, so other people are other uids.
  std::string firedrill_as(uid_t uid, const std::string& args) const;
  // An HTTP GET from the controller's namespace (where the probes run) answers 200.
  bool reachable(const std::string& hostport) const;
  // What a host's agent ("h1", "h2") holds right now.
  std::string agent_status(const std::string& h) const;
  // Writes a file into the fleet's directory; its path.
  std::string write(const std::string& name, const std::string& text) const;
  // The tails of the controller's, agents' and HAProxy's logs.
  std::string logs() const;

 private:
  std::string ns(const std::string& what) const { return spec_.prefix + "-" + what; }
  std::string addr(int host) const { return spec_.net + "." + std::to_string(host); }
  void teardown_namespaces() const;

  WebFleetSpec spec_;
  std::string dir_, api_;
  std::vector<std::unique_ptr<Child>> children_;
  bool ready_ = false;
};

}  // namespace firedrill::e2e
