// The kernel side of connection faults (ebpf/sock_fault.bpf.c): the rules a fault's
// match compiles to, the maps every fault shares, and one fault's hooks attached to its
// cgroups through bpf_links. The links belong to this process and are never pinned:
// when the agent dies the kernel detaches them, and new connections go direct.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent/bpf/skeleton.h"
#include "common/result.h"
#include "firedrill/v1/fault.pb.h"
#include "sock_fault.h"

struct sock_fault;
struct bpf_link;

namespace firedrill::agent::sockfault {

// The rules of a fault's match: one per destination prefix (both families when it
// names none), each with the match's port ranges, or `default_port` when it names none
// (0: any port). Errors name the field below `field` ("connection", "dns").
Result<std::vector<sf_rule>> compile_rules(const v1::TrafficMatch& match, const std::string& field = "connection",
                                           uint16_t default_port = 0);

// sockaddr_in/sockaddr_in6 <-> sf_addr.
sf_addr to_sf_addr(const sockaddr_storage& sa);
sockaddr_storage to_sockaddr(const sf_addr& a, socklen_t* len);
std::string describe(const sf_addr& a);

// sf_steered and sf_pending, made once and handed to every fault's object.
class SteeringMaps {
 public:
  static Result<std::shared_ptr<SteeringMaps>> create();
  // The original destination of a connection the proxy accepted from `peer` (the
  // client's end), forgotten as it is taken; none when no hook steered it.
  std::optional<sf_addr> take(const sf_addr& peer) const;
  // Where a datagram that the proxy's socket `proxy` received from `client` was going:
  // the sending socket is found by UDP socket diagnostics, its cookie in sf_steered.
  // None when no hook steered it (or the kernel cannot tell).
  std::optional<sf_addr> original_of_datagram(const sockaddr_storage& client, const sockaddr_storage& proxy) const;
  int steered_fd() const { return steered_.get(); }
  int pending_fd() const { return pending_.get(); }

 private:
  bpf::UniqueFd steered_, pending_;
};

struct SteeringPlan {
  std::vector<sf_rule> rules;
  uint16_t proxy_port4 = 0;  // host order; 0: IPv4 not steered
  uint16_t proxy_port6 = 0;
  uint32_t proxy_tgid = 0;   // never steered
  int sock_type = SOCK_STREAM;  // SOCK_STREAM: connections; SOCK_DGRAM: DNS datagrams
};

// One fault's object and its links, detached (and unloaded) on destruction.
class Steering {
 public:
  // Loads the hooks and attaches them to each cgroup directory (cgroup v2); on failure
  // nothing stays attached.
  static Result<std::unique_ptr<Steering>> attach(std::shared_ptr<SteeringMaps> maps, const SteeringPlan& plan,
                                                  const std::vector<std::string>& cgroup_dirs);
  ~Steering();
  Steering(const Steering&) = delete;
  Steering& operator=(const Steering&) = delete;

  size_t links() const { return links_.size(); }

 private:
  Steering() = default;
  struct SkelOps;
  std::shared_ptr<SteeringMaps> maps_;
  std::unique_ptr<bpf::BpfSkeleton<sock_fault, SkelOps>> skel_;
  std::vector<bpf_link*> links_;
};

}  // namespace firedrill::agent::sockfault
