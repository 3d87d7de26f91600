// The kernel's socket diagnostics (NETLINK_SOCK_DIAG), for the one question the DNS
// proxy asks: which socket of this network namespace sent a datagram. Its answer is
// the socket's cookie, the key eBPF hooks remember sockets by (bpf_get_socket_cookie).
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <optional>

namespace firedrill::agent::bpf {

// The cookie of the UDP socket that a datagram from `from` to `to` would reach (IPv4 or
// IPv6, one family for both); none when there is none or the kernel cannot tell.
std::optional<uint64_t> udp_socket_cookie(const sockaddr_storage& from, const sockaddr_storage& to);

}  // namespace firedrill::agent::bpf
