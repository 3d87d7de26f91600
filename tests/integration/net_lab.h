// A small network lab for the network engine's tests and benchmark: named network
// namespaces joined by veth pairs, sockets opened inside a namespace, real TCP, UDP
// and ICMP probes, and firedrill-agent processes started inside a namespace.
// Everything is named fdn-<pid>-... and torn down by RAII, also when a test fails;
// namespaces left by a test process that died are removed by the next one.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "tests/support/netns.h"
#include "tests/support/process.h"

namespace firedrill::testing {

using namespace std::chrono_literals;

using support::Exec;

// Runs argv (no shell) and waits, up to `timeout`.
using support::exec;
// Like exec, but throws std::runtime_error naming the command when it fails.
using support::must;

// This process's name prefix: "fdn-<pid>".
std::string lab_tag();

class Netns : public support::Netns {
 public:
  // Creates fdn-<pid>-<name> with its loopback up.
  explicit Netns(const std::string& name);
};

// A veth pair between two namespaces; runs f inside a namespace (support/netns.h).
using support::in_netns;
using support::veth;

// An owned fd.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept;
  ~Fd();
  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

// A TCP server in a namespace that accepts and echoes, on its own thread.
class TcpEcho {
 public:
  TcpEcho(const Netns& ns, const std::string& addr, uint16_t port);
  ~TcpEcho();

 private:
  Fd listen_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// A UDP socket in a namespace that counts what it receives (payload: a u64 sequence).
class UdpSink {
 public:
  UdpSink(const Netns& ns, const std::string& addr, uint16_t port);
  ~UdpSink();
  uint64_t received() const { return received_.load(); }
  // Sequence numbers seen (for loss analysis), up to `max_seq`.
  std::vector<bool> seen(size_t max_seq) const;
  // Which of [first, first + n) were seen.
  std::vector<bool> seen_range(uint64_t first, size_t n) const;

 private:
  Fd fd_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> received_{0};
  mutable std::mutex mu_;
  std::vector<uint64_t> seqs_;
  std::thread thread_;
};

// A connected TCP client, opened from a namespace.
class TcpClient {
 public:
  // Empty (fd -1) when it does not connect within `timeout`.
  static TcpClient connect(const Netns& ns, const std::string& addr, uint16_t port,
                           std::chrono::milliseconds timeout);
  bool ok() const { return static_cast<bool>(fd_); }
  // Sends a line and reads the echo, within timeout.
  bool round_trip(std::chrono::milliseconds timeout);

 private:
  Fd fd_;
};

// Probes: true when the traffic got through within the timeout.
bool tcp_connects(const Netns& from, const std::string& addr, uint16_t port, std::chrono::milliseconds timeout);
bool icmp_echo(const Netns& from, const std::string& addr, std::chrono::milliseconds timeout);
// Sends `count` UDP datagrams (sequence numbers from `first_seq`), `gap` apart.
void udp_send(const Netns& from, const std::string& addr, uint16_t port, size_t count,
              std::chrono::microseconds gap = 0us, uint64_t first_seq = 0);
// Sends a few datagrams and reports whether the sink got at least one.
bool udp_gets_through(const Netns& from, const std::string& addr, uint16_t port, const UdpSink& sink,
                      std::chrono::milliseconds timeout);

// How many BPF programs are attached to an interface of a namespace (tcx ingress +
// egress + XDP).
int attached_programs(const Netns& ns, const std::string& ifname);

// The firedrill-agent binary (built beside the tests).
std::string agent_binary();

// firedrill-agent running inside a namespace, with a local control socket.
class AgentProcess {
 public:
  AgentProcess(const Netns& ns, const std::vector<std::string>& args);
  ~AgentProcess();  // SIGTERM, then SIGKILL if it lingers
  AgentProcess(const AgentProcess&) = delete;
  AgentProcess& operator=(const AgentProcess&) = delete;

  // `firedrill-agent ctl --socket S args...`
  Exec ctl(const std::vector<std::string>& args) const;
  Exec apply(const std::string& id, const std::string& spec, const std::string& lease = "30s") const;
  Exec revert(const std::string& id) const;
  // The counters of a fault from `ctl status` (0 when absent).
  uint64_t packets_dropped(const std::string& id) const;

  void kill9();  // SIGKILL and reap
  pid_t pid() const { return pid_; }
  std::string log() const;

 private:
  std::string socket_, log_path_, state_dir_;
  pid_t pid_ = -1;
};

}  // namespace firedrill::testing
