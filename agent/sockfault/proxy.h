// The agent's fault proxy: connections that the hooks (steering.h) send to it are
// accepted on loopback, the real connection is opened by the proxy, and what flows
// between the two is shaped as the fault asks (latency, bandwidth, resets, stalls).
//
// One thread and one epoll loop carry every connection of every fault; timers are one
// timerfd armed to the earliest deadline. Bounded: at most Shape::max_connections per
// fault (past it a new connection is reset), and at most kMaxQueued bytes held per
// direction of a connection (past it the proxy stops reading that side, so TCP's own
// flow control pushes back). When the proxy goes (revert of the last fault, or agent
// death) the connections still inside it are cut.
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "agent/sockfault/dns.h"
#include "common/result.h"
#include "firedrill/v1/fault.pb.h"
#include "sock_fault.h"

namespace firedrill::agent::sockfault {

using Clock = std::chrono::steady_clock;

struct Delay {
  std::chrono::nanoseconds fixed{0};
  std::chrono::nanoseconds jitter{0};  // uniform in [0, jitter)
};

// What a fault does to its connections (ConnectionFault, with defaults applied).
struct Shape {
  Delay to_server, to_client;
  uint64_t to_server_rate = 0;  // bytes per second; 0: unlimited
  uint64_t to_client_rate = 0;
  bool reset = false;
  uint64_t reset_after_bytes = 0;
  double reset_percent = 100;
  bool never_answer = false;
  std::chrono::nanoseconds slow_close{0};
  uint32_t max_connections = 1024;

  static Shape from(const v1::ConnectionFault& f);
};

struct ProxyCounters {
  uint64_t accepted = 0;        // connections steered into the proxy
  uint64_t reset = 0;           // reset by the fault (reset, over the limit, no destination)
  uint64_t over_limit = 0;      // of those, past max_connections
  uint64_t upstream_failed = 0; // the real destination refused or failed
  uint64_t bytes_to_server = 0;
  uint64_t bytes_to_client = 0;
  uint64_t open = 0;            // inside the proxy now
};

// Bytes the proxy holds per direction of a connection, at most.
inline constexpr size_t kMaxQueued = 64 * 1024;

struct DnsShape {
  DnsRules rules;
  uint32_t max_queries = 1024;

  static Result<DnsShape> from(const v1::DnsFault& f);
};

struct DnsCounters {
  uint64_t queries = 0;   // steered into the proxy
  uint64_t faulted = 0;   // answered NXDOMAIN/SERVFAIL, dropped or delayed by a rule
  uint64_t passed = 0;    // answered by the resolver through the proxy
  uint64_t dropped = 0;   // over max_queries, no recorded destination, or the resolver unreachable
  uint64_t open = 0;      // held now
};

inline constexpr std::chrono::seconds kDnsTimeout{5};

class Proxy {
 public:
  // Where a connection accepted from `peer` was going (none: it was not steered).
  using Resolve = std::function<std::optional<sf_addr>(const sf_addr& peer)>;

  static Result<std::unique_ptr<Proxy>> start();
  ~Proxy();  // stops the loop; connections still inside are cut
  Proxy(const Proxy&) = delete;
  Proxy& operator=(const Proxy&) = delete;

  struct Ports {
    uint16_t v4 = 0;  // 127.0.0.1, host order
    uint16_t v6 = 0;  // ::1; 0 when the host has no IPv6 loopback
  };
  // Listens for a fault's connections on ephemeral loopback ports.
  Result<Ports> add(const std::string& fault_id, const Shape& shape, Resolve resolve);
  // Stops taking connections for the fault; the ones inside go on unshaped until they
  // end (never-answered ones, which have no server, are reset).
  void lift(const std::string& fault_id);
  ProxyCounters counters(const std::string& fault_id) const;

  // Where a datagram the proxy's socket `proxy` received from `client` was going.
  using ResolveDatagram =
      std::function<std::optional<sf_addr>(const sockaddr_storage& client, const sockaddr_storage& proxy)>;
  // Listens for a DNS fault's queries on ephemeral loopback UDP ports. lift() stops
  // taking queries; those held are sent on at once and answered as they come.
  Result<Ports> add_dns(const std::string& fault_id, DnsShape shape, ResolveDatagram resolve);
  DnsCounters dns_counters(const std::string& fault_id) const;
  // Connections inside the proxy, every fault together.
  size_t connections() const;

 private:
  struct Impl;
  explicit Proxy(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace firedrill::agent::sockfault
