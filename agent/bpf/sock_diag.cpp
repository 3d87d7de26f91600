#include "agent/bpf/sock_diag.h"

#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cstring>

#include "agent/bpf/skeleton.h"

namespace firedrill::agent::bpf {
namespace {

// Port (network order) and address (16 bytes, IPv4 in the first 4) of a sockaddr.
bool split(const sockaddr_storage& sa, uint16_t* port, uint32_t addr[4]) {
  if (sa.ss_family == AF_INET) {
    const auto& in = reinterpret_cast<const sockaddr_in&>(sa);
    *port = in.sin_port;
    std::memcpy(addr, &in.sin_addr, 4);
    return true;
  }
  if (sa.ss_family == AF_INET6) {
    const auto& in6 = reinterpret_cast<const sockaddr_in6&>(sa);
    *port = in6.sin6_port;
    std::memcpy(addr, &in6.sin6_addr, 16);
    return true;
  }
  return false;
}

}  // namespace

std::optional<uint64_t> udp_socket_cookie(const sockaddr_storage& from, const sockaddr_storage& to) {
  struct {
    nlmsghdr nlh;
    inet_diag_req_v2 req;
  } msg{};
  msg.nlh.nlmsg_len = sizeof msg;
  msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  msg.nlh.nlmsg_flags = NLM_F_REQUEST;
  msg.req.sdiag_family = static_cast<uint8_t>(to.ss_family);
  msg.req.sdiag_protocol = IPPROTO_UDP;
  msg.req.idiag_states = ~0u;
  msg.req.id.idiag_cookie[0] = msg.req.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
  // The kernel looks the socket up as it would deliver a datagram from idiag_src to
  // idiag_dst.
  if (from.ss_family != to.ss_family || !split(from, &msg.req.id.idiag_sport, msg.req.id.idiag_src) ||
      !split(to, &msg.req.id.idiag_dport, msg.req.id.idiag_dst)) {
    return std::nullopt;
  }
  UniqueFd nl(::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
  if (!nl || ::send(nl.get(), &msg, sizeof msg, 0) != static_cast<ssize_t>(sizeof msg)) return std::nullopt;
  alignas(nlmsghdr) char buf[4096];
  ssize_t n = ::recv(nl.get(), buf, sizeof buf, 0);
  auto* h = reinterpret_cast<nlmsghdr*>(buf);
  if (n <= 0 || !NLMSG_OK(h, static_cast<uint32_t>(n)) || h->nlmsg_type != SOCK_DIAG_BY_FAMILY) return std::nullopt;
  const auto* reply = static_cast<const inet_diag_msg*>(NLMSG_DATA(h));
  return uint64_t(reply->id.idiag_cookie[0]) | (uint64_t(reply->id.idiag_cookie[1]) << 32);
}

}  // namespace firedrill::agent::bpf
