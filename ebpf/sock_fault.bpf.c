// SPDX-License-Identifier: GPL-2.0
/* firedrill's connection fault hooks (see sock_fault.h): cgroup connect4/connect6 steer
 * matching TCP connections into the agent's proxy, sock_ops tells the proxy where each
 * was going, getpeername4/getpeername6 keep the original address visible. For DNS
 * faults (sf_sock_type SOCK_DGRAM) connect and sendmsg steer UDP datagrams instead and
 * recvmsg makes the proxy's answers come from the original address. The hooks
 * never refuse anything (they return 1): a connection they do not want goes on as
 * asked. Connections of the proxy itself (the agent's thread group) are never steered. */
#include "vmlinux.h"

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "sock_fault.h"

char LICENSE[] SEC("license") = "GPL";

#define AF_INET_ 2
#define AF_INET6_ 10
#define SOCK_STREAM_ 1
#define SOCK_DGRAM_ 2

const volatile __u32 sf_nrules = 0;
const volatile struct sf_rule sf_rules[SF_MAX_RULES] = {};
const volatile __u16 sf_proxy_port4 = 0;  /* host order; 0: no IPv4 listener */
const volatile __u16 sf_proxy_port6 = 0;  /* host order; 0: no IPv6 listener */
const volatile __u32 sf_proxy_tgid = 0;
const volatile __u32 sf_sock_type = SOCK_STREAM_;  /* the sockets this object steers */

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SF_MAX_STEERED);
	__type(key, __u64);  /* socket cookie */
	__type(value, struct sf_steer);
} sf_steered SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SF_MAX_PENDING);
	__type(key, struct sf_addr);  /* the client's local address and port */
	__type(value, struct sf_addr);
} sf_pending SEC(".maps");

static __always_inline int prefix_matches(const volatile struct sf_rule *r, const __u8 *addr)
{
	__u32 bits = r->prefixlen;
#pragma unroll
	for (int i = 0; i < 16; i++) {
		__u8 mask = bits >= 8 ? 0xff : (__u8)(0xff << (8 - bits));
		if (bits == 0)
			mask = 0;
		if ((addr[i] ^ r->addr[i]) & mask)
			return 0;
		bits = bits >= 8 ? bits - 8 : 0;
	}
	return 1;
}

static __always_inline int port_matches(const volatile struct sf_rule *r, __u16 port)
{
	__u32 n = r->nports;
	if (n == 0)
		return 1;
#pragma unroll
	for (int i = 0; i < SF_MAX_PORT_RANGES; i++) {
		if (i < n && port >= r->port_first[i] && port <= r->port_last[i])
			return 1;
	}
	return 0;
}

static __always_inline int wanted(__u8 family, const __u8 *addr, __u16 port)
{
	for (int i = 0; i < SF_MAX_RULES; i++) {
		if (i >= sf_nrules)
			break;
		const volatile struct sf_rule *r = &sf_rules[i];
		if (r->family == family && prefix_matches(r, addr) && port_matches(r, port))
			return 1;
	}
	return 0;
}

static __always_inline int own(void)
{
	return (__u32)(bpf_get_current_pid_tgid() >> 32) == sf_proxy_tgid;
}

static __always_inline int same_addr(const struct sf_addr *a, const struct sf_addr *b)
{
	if (a->family != b->family || a->port != b->port)
		return 0;
#pragma unroll
	for (int i = 0; i < 16; i++) {
		if (a->addr[i] != b->addr[i])
			return 0;
	}
	return 1;
}

/* Remembers where the socket was going and where it is sent instead; 0 when it must go
 * on as asked: a connection another fault's hook took first, a datagram another DNS
 * fault's hook has just sent to its proxy, or no room to remember. A datagram socket
 * may go to another resolver at each send: the last one is remembered. */
static __always_inline int remember(void *ctx, const struct sf_addr *orig, const struct sf_addr *via)
{
	__u64 cookie = bpf_get_socket_cookie(ctx);
	struct sf_steer *cur = bpf_map_lookup_elem(&sf_steered, &cookie);
	if (cur && (sf_sock_type == SOCK_STREAM_ || same_addr(&cur->via, orig)))
		return 0;
	struct sf_steer st = {.orig = *orig, .via = *via};
	__u64 flags = sf_sock_type == SOCK_STREAM_ ? BPF_NOEXIST : BPF_ANY;
	return bpf_map_update_elem(&sf_steered, &cookie, &st, flags) == 0;
}

static __always_inline int steer4(struct bpf_sock_addr *ctx)
{
	if (ctx->type != sf_sock_type || sf_proxy_port4 == 0 || own())
		return 1;
	struct sf_addr orig = {.family = 4, .port = (__u16)ctx->user_port};
	__u32 ip = ctx->user_ip4;
	__builtin_memcpy(orig.addr, &ip, 4);
	struct sf_addr via = {.family = 4, .port = bpf_htons(sf_proxy_port4)};
	__u32 lo = bpf_htonl(0x7f000001);
	__builtin_memcpy(via.addr, &lo, 4);
	if (!wanted(4, orig.addr, bpf_ntohs(orig.port)) || !remember(ctx, &orig, &via))
		return 1;
	ctx->user_ip4 = lo;
	ctx->user_port = via.port;
	return 1;
}

static __always_inline int steer6(struct bpf_sock_addr *ctx)
{
	if (ctx->type != sf_sock_type || sf_proxy_port6 == 0 || own())
		return 1;
	struct sf_addr orig = {.family = 6, .port = (__u16)ctx->user_port};
	__u32 ip[4] = {ctx->user_ip6[0], ctx->user_ip6[1], ctx->user_ip6[2], ctx->user_ip6[3]};
	/* v4-mapped destinations go over IPv4 inside the kernel: not steered. */
	if (ip[0] == 0 && ip[1] == 0 && ip[2] == bpf_htonl(0xffff))
		return 1;
	__builtin_memcpy(orig.addr, ip, 16);
	struct sf_addr via = {.family = 6, .port = bpf_htons(sf_proxy_port6)};
	via.addr[15] = 1;
	if (!wanted(6, orig.addr, bpf_ntohs(orig.port)) || !remember(ctx, &orig, &via))
		return 1;
	ctx->user_ip6[0] = 0;
	ctx->user_ip6[1] = 0;
	ctx->user_ip6[2] = 0;
	ctx->user_ip6[3] = bpf_htonl(1);
	ctx->user_port = via.port;
	return 1;
}

SEC("cgroup/connect4")
int sf_connect4(struct bpf_sock_addr *ctx)
{
	return steer4(ctx);
}

SEC("cgroup/connect6")
int sf_connect6(struct bpf_sock_addr *ctx)
{
	return steer6(ctx);
}

/* Datagrams of unconnected sockets (connected ones were steered at connect). */
SEC("cgroup/sendmsg4")
int sf_sendmsg4(struct bpf_sock_addr *ctx)
{
	return steer4(ctx);
}

SEC("cgroup/sendmsg6")
int sf_sendmsg6(struct bpf_sock_addr *ctx)
{
	return steer6(ctx);
}

SEC("sockops")
int sf_sockops(struct bpf_sock_ops *skops)
{
	if (skops->op != BPF_SOCK_OPS_TCP_CONNECT_CB)
		return 1;
	__u64 cookie = bpf_get_socket_cookie(skops);
	struct sf_steer *st = bpf_map_lookup_elem(&sf_steered, &cookie);
	if (!st)
		return 1;
	struct sf_addr local = {.port = bpf_htons((__u16)skops->local_port)};
	if (skops->family == AF_INET_) {
		__u32 ip = skops->local_ip4;
		local.family = 4;
		__builtin_memcpy(local.addr, &ip, 4);
	} else {
		__u32 ip[4] = {skops->local_ip6[0], skops->local_ip6[1], skops->local_ip6[2], skops->local_ip6[3]};
		local.family = 6;
		__builtin_memcpy(local.addr, ip, 16);
	}
	bpf_map_update_elem(&sf_pending, &local, &st->orig, BPF_ANY);
	return 1;
}

static __always_inline struct sf_steer *steered(void *ctx)
{
	__u64 cookie = bpf_get_socket_cookie(ctx);
	return bpf_map_lookup_elem(&sf_steered, &cookie);
}

static __always_inline void show_orig4(struct bpf_sock_addr *ctx, const struct sf_addr *orig)
{
	__u32 ip;
	__builtin_memcpy(&ip, orig->addr, 4);
	ctx->user_ip4 = ip;
	ctx->user_port = orig->port;
}

static __always_inline void show_orig6(struct bpf_sock_addr *ctx, const struct sf_addr *orig)
{
	__u32 ip[4];
	__builtin_memcpy(ip, orig->addr, 16);
	ctx->user_ip6[0] = ip[0];
	ctx->user_ip6[1] = ip[1];
	ctx->user_ip6[2] = ip[2];
	ctx->user_ip6[3] = ip[3];
	ctx->user_port = orig->port;
}

SEC("cgroup/getpeername4")
int sf_getpeername4(struct bpf_sock_addr *ctx)
{
	struct sf_steer *st = steered(ctx);
	if (st && st->orig.family == 4)
		show_orig4(ctx, &st->orig);
	return 1;
}

SEC("cgroup/getpeername6")
int sf_getpeername6(struct bpf_sock_addr *ctx)
{
	struct sf_steer *st = steered(ctx);
	if (st && st->orig.family == 6)
		show_orig6(ctx, &st->orig);
	return 1;
}

/* An answer from the proxy looks as if the resolver had sent it. */
SEC("cgroup/recvmsg4")
int sf_recvmsg4(struct bpf_sock_addr *ctx)
{
	struct sf_steer *st = steered(ctx);
	if (!st || st->orig.family != 4 || st->via.family != 4)
		return 1;
	__u32 via_ip;
	__builtin_memcpy(&via_ip, st->via.addr, 4);
	if (ctx->user_ip4 == via_ip && (__u16)ctx->user_port == st->via.port)
		show_orig4(ctx, &st->orig);
	return 1;
}

SEC("cgroup/recvmsg6")
int sf_recvmsg6(struct bpf_sock_addr *ctx)
{
	struct sf_steer *st = steered(ctx);
	if (!st || st->orig.family != 6 || st->via.family != 6)
		return 1;
	if (ctx->user_ip6[0] == 0 && ctx->user_ip6[1] == 0 && ctx->user_ip6[2] == 0 &&
	    ctx->user_ip6[3] == bpf_htonl(1) && (__u16)ctx->user_port == st->via.port)
		show_orig6(ctx, &st->orig);
	return 1;
}
