// Everything firedrill-agent is started with, filled and validated once from the
// command line (agent/core/options.cpp).
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "common/log.h"
#include "common/result.h"
#include "firedrill/v1/fault.pb.h"

namespace firedrill::agent {

struct AgentConfig {
  std::string id;                              // unique in the fleet; default: hostname
  std::map<std::string, std::string> tags;     // dc, rack, host, ...
  // host:port of each controller, tried in this order (--controller a:7443,b:7443);
  // empty: local control only. The agent stays with the one that accepts its stream.
  std::vector<std::string> controllers;
  std::string tls_ca, tls_cert, tls_key;       // mutual TLS material
  bool insecure = false;                       // plaintext to the controller (lab only)
  std::chrono::nanoseconds lease_grace = std::chrono::seconds(5);
  std::string workload_cgroup;                 // cgroup v2 subtree of the host's workloads
  std::vector<std::string> boot_hooks;         // commands run when power is restored
  std::chrono::milliseconds boot_hook_timeout = std::chrono::seconds(60);  // per hook
  std::vector<std::string> data_dirs;          // each on its own file system: lose_unsynced shuts them down
  std::string state_dir = "/var/lib/firedrill-agent";
  std::vector<std::string> interfaces;         // data interfaces faults may act on
  std::vector<v1::AllowEntry> allow;           // management plane, never dropped
  std::string local_socket;                    // local control socket; empty: none
  // Processes no fault touches, by comm (with the agent, its parent and pid 1, always).
  std::vector<std::string> protected_comms = {"sshd", "systemd-journal"};
  bool watcher = true;                         // run under firedrill-agent's own watcher
  int watcher_max_restarts = 5;                // a minute; then the watcher finishes the journal
  std::string metrics_listen;                  // ADDR:PORT of /metrics; empty: not served
  LogConfig log;
};

// "CIDR[,PROTO[,PORT[-PORT]]]": "10.9.0.0/24", "10.9.0.1,tcp,7443", "fd00::1,udp,53-54".
Result<v1::AllowEntry> parse_allow(const std::string& text);

// "a:7443,b:7443" (or one address): each host:port or [v6]:port, none twice.
Result<std::vector<std::string>> parse_controller_list(const std::string& text);

// "key=value"
Result<std::pair<std::string, std::string>> parse_tag(const std::string& text);

}  // namespace firedrill::agent
