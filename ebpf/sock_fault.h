/* Structures shared by ebpf/sock_fault.bpf.c and the agent's connection fault engine
 * (agent/sockfault). Fixed-width fields only.
 *
 * The model: one BPF object per connection fault, attached (bpf_link) to each selected
 * cgroup. Its connect hooks compare a TCP connection's destination with the fault's
 * rules (rodata, set before load) and, on a match, rewrite it to the agent's proxy on
 * loopback, remembering the original by the socket's cookie (sf_steered). Its sock_ops
 * program copies that original, once the kernel has chosen the local port, to
 * sf_pending keyed by the client's local address and port: what the proxy sees as the
 * peer of the connection it accepts. getpeername answers the original, so the
 * application sees the address it asked for. sf_steered and sf_pending are shared by
 * every fault's object (one map each, made by the engine), so a connection is steered
 * once however many faults match it.
 *
 * DNS faults load the same object for datagrams (sf_sock_type SOCK_DGRAM): connect
 * steers a connected UDP socket, sendmsg each datagram of an unconnected one, both
 * remembering the original and the proxy's address (via) by cookie; recvmsg turns an
 * answer from via back into one from the original, getpeername answers the original.
 * The proxy finds a datagram's socket cookie through UDP socket diagnostics. */
#ifndef FIREDRILL_EBPF_SOCK_FAULT_H
#define FIREDRILL_EBPF_SOCK_FAULT_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define SF_MAX_RULES 32        /* destination prefixes per fault (each with its ports) */
#define SF_MAX_PORT_RANGES 8   /* destination port ranges per rule */
#define SF_MAX_STEERED 65536   /* connections remembered by cookie (LRU) */
#define SF_MAX_PENDING 16384   /* steered connections not yet accepted by the proxy (LRU) */

/* One destination prefix and its port ranges (none: any port). */
struct sf_rule {
	__u8 family;     /* 4 or 6 */
	__u8 prefixlen;  /* bits of addr that must match */
	__u8 nports;     /* used entries of port_first/port_last */
	__u8 pad;
	__u8 addr[16];   /* network order; IPv4 in the first 4 bytes */
	__u16 port_first[SF_MAX_PORT_RANGES];  /* host order, inclusive */
	__u16 port_last[SF_MAX_PORT_RANGES];
};

/* An address and port: the original destination (value), or the client's end of a
 * steered connection (sf_pending's key). */
struct sf_addr {
	__u8 family;     /* 4 or 6 */
	__u8 pad;
	__u16 port;      /* network order */
	__u8 addr[16];   /* network order; IPv4 in the first 4 bytes */
};

/* What sf_steered holds per socket cookie: where it was going, and where the hooks sent
 * it instead (the proxy's address, to recognise its answers and a second fault's hook). */
struct sf_steer {
	struct sf_addr orig;
	struct sf_addr via;
};

#endif
