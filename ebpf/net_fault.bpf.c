// SPDX-License-Identifier: GPL-2.0
/* firedrill's network fault classifier: one program for tc ingress, one for tc egress
 * (tcx links), one for XDP (ingress where tcx is missing). All three run the same
 * inline classifier; the direction is a compile-time constant of each entry point.
 *
 * Per packet: parse (Ethernet, one VLAN tag, IPv4/IPv6, TCP/UDP/SCTP ports), a lookup
 * of the remote address in the rule index (host hash, then LPM trie), then a scan of at most
 * NF_MAX_CANDIDATES rules. The allow list is consulted only once a rule matches, so
 * traffic no rule wants costs nothing more; when consulted it wins over every rule. */
#include "vmlinux.h"

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "net_fault.h"

char LICENSE[] SEC("license") = "GPL";

#define ETH_P_IP_ 0x0800
#define ETH_P_ARP_ 0x0806
#define ETH_P_IPV6_ 0x86DD
#define ETH_P_8021Q_ 0x8100
#define ETH_P_8021AD_ 0x88A8

#define IPPROTO_HOPOPTS_ 0
#define IPPROTO_TCP_ 6
#define IPPROTO_UDP_ 17
#define IPPROTO_ROUTING_ 43
#define IPPROTO_FRAGMENT_ 44
#define IPPROTO_AH_ 51
#define IPPROTO_DSTOPTS_ 60
#define IPPROTO_SCTP_ 132
#define IPPROTO_ICMPV6_ 58

#define ND_NEIGHBOR_SOLICIT 135
#define ND_NEIGHBOR_ADVERT 136

#define XDP_DROP_ 1
#define XDP_PASS_ 2

/* Extension headers skipped before giving up on finding the L4 header. */
#define NF_MAX_EXT_HEADERS 6
/* Bytes of headers the tc path makes linear when they are not. */
#define NF_PULL_BYTES 256

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NF_MAX_RULES);
	__type(key, __u32);
	__type(value, struct nf_rule);
} nf_rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NF_MAX_RULES);
	__type(key, __u32);
	__type(value, struct nf_counter);
} nf_counters SEC(".maps");

/* The index, split by prefix length (see net_fault.h): a hash for the scope's hashed
 * lengths, an LPM trie for the others, and per scope the lengths to probe. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NF_MAX_PREFIXES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct nf_lpm_key);
	__type(value, struct nf_candidates);
} nf_hashed SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, struct nf_scope_info);
} nf_scopes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, NF_MAX_PREFIXES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct nf_lpm_key);
	__type(value, struct nf_candidates);
} nf_index SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, NF_MAX_ALLOW_PREFIXES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct nf_lpm_key);
	__type(value, struct nf_allow_list);
} nf_allow SEC(".maps");

/* Rules that match frames that are neither IPv4 nor IPv6 (a blackhole's), by direction. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct nf_candidates);
} nf_nonip SEC(".maps");

/* ifindex -> bit of a rule's iface_mask, for faults on a subset of the interfaces. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NF_MAX_IFACES);
	__type(key, __u32);
	__type(value, __u32);
} nf_ifaces SEC(".maps");

struct nf_pkt {
	__u32 remote[4]; /* network order */
	__u32 local[4];
	__u16 remote_port; /* host order */
	__u16 local_port;
	__u8 family;       /* NF_FAMILY_* */
	__u8 protocol;
	__u8 has_ports;
	__u8 is_arp;
	__u32 arp_spa;     /* ARP sender and target protocol addresses (network order) */
	__u32 arp_tpa;
	__u8 is_nd;        /* ICMPv6 neighbour solicitation or advertisement */
	__u32 nd_target[4];
	__u16 l4_off;      /* where the L4 header starts (0: not found) */
	__u16 payload_off; /* where the L4 payload starts */
};

/* What nf_decide() asks of the caller beyond a drop. */
struct nf_act {
	__u32 id; /* the rule */
	__u8 action;
	__u8 flags;
	__u64 delay_ns;
	__u64 jitter_ns;
};

#define NF_VERDICT_PASS 0
#define NF_VERDICT_DROP 1
#define NF_VERDICT_ACT 2

struct vlan_hdr_ {
	__be16 tci;
	__be16 encapsulated_proto;
};

struct arp_eth_ipv4_ {
	__be16 hrd;
	__be16 pro;
	__u8 hln;
	__u8 pln;
	__be16 op;
	__u8 sha[6];
	__u8 spa[4];
	__u8 tha[6];
	__u8 tpa[4];
} __attribute__((packed));

static __always_inline void set_addrs(struct nf_pkt *p, __u32 dir, const __u32 *src,
				      const __u32 *dst, int words)
{
	const __u32 *remote = dir == NF_DIR_EGRESS ? dst : src;
	const __u32 *local = dir == NF_DIR_EGRESS ? src : dst;
	for (int i = 0; i < 4; i++) {
		p->remote[i] = i < words ? remote[i] : 0;
		p->local[i] = i < words ? local[i] : 0;
	}
}

/* Neighbour discovery is IPv6's ARP: its target address decides, like ARP's. */
static __always_inline void parse_nd(void *data, void *data_end, __u32 off, struct nf_pkt *p)
{
	if (off > NF_PULL_BYTES)
		return;
	__u8 *icmp = data + off;
	if ((void *)(icmp + 24) > data_end)
		return;
	if (icmp[0] != ND_NEIGHBOR_SOLICIT && icmp[0] != ND_NEIGHBOR_ADVERT)
		return;
	__builtin_memcpy(p->nd_target, icmp + 8, 16);
	p->is_nd = 1;
}

/* Reads the L4 ports at `off` for TCP, UDP and SCTP (their first 4 bytes agree). */
static __always_inline void parse_ports(void *data, void *data_end, __u32 off, __u32 dir,
					struct nf_pkt *p)
{
	if (p->protocol != IPPROTO_TCP_ && p->protocol != IPPROTO_UDP_ &&
	    p->protocol != IPPROTO_SCTP_)
		return;
	if (off > NF_PULL_BYTES)
		return;
	__be16 *ports = data + off;
	if ((void *)(ports + 2) > data_end)
		return;
	__u16 sport = bpf_ntohs(ports[0]), dport = bpf_ntohs(ports[1]);
	p->remote_port = dir == NF_DIR_EGRESS ? dport : sport;
	p->local_port = dir == NF_DIR_EGRESS ? sport : dport;
	p->has_ports = 1;
	if (p->protocol == IPPROTO_UDP_) {
		p->payload_off = off + 8;
	} else if (p->protocol == IPPROTO_SCTP_) {
		p->payload_off = off + 12;
	} else {
		__u8 *doff = data + off + 12;
		if ((void *)(doff + 1) > data_end)
			return;
		p->payload_off = off + (*doff >> 4) * 4;
	}
}

/* Fills p; a frame that is not well-formed IP is left as non-IP (family 0), which
 * only non-IP rules (a blackhole's) match. */
static __always_inline void parse(void *data, void *data_end, __u32 dir, struct nf_pkt *p)
{
	struct ethhdr *eth = data;
	__u32 off = sizeof(*eth);
	if ((void *)(eth + 1) > data_end)
		return;
	__u16 proto = bpf_ntohs(eth->h_proto);
	if (proto == ETH_P_8021Q_ || proto == ETH_P_8021AD_) {
		struct vlan_hdr_ *vh = data + off;
		if ((void *)(vh + 1) > data_end)
			return;
		proto = bpf_ntohs(vh->encapsulated_proto);
		off += sizeof(*vh);
	}

	if (proto == ETH_P_IP_) {
		struct iphdr *ip = data + off;
		if ((void *)(ip + 1) > data_end)
			return;
		__u32 ihl = ip->ihl * 4;
		if (ihl < sizeof(*ip))
			return;
		p->family = NF_FAMILY_V4;
		p->protocol = ip->protocol;
		set_addrs(p, dir, &ip->saddr, &ip->daddr, 1);
		/* A non-first fragment carries no L4 header: only port-less rules match it. */
		if (bpf_ntohs(ip->frag_off) & 0x1fff)
			return;
		p->l4_off = off + ihl;
		p->payload_off = off + ihl;
		parse_ports(data, data_end, off + ihl, dir, p);
		return;
	}

	if (proto == ETH_P_IPV6_) {
		struct ipv6hdr *ip6 = data + off;
		if ((void *)(ip6 + 1) > data_end)
			return;
		p->family = NF_FAMILY_V6;
		set_addrs(p, dir, (const __u32 *)&ip6->saddr, (const __u32 *)&ip6->daddr, 4);
		__u8 next = ip6->nexthdr;
		off += sizeof(*ip6);
		for (int i = 0; i < NF_MAX_EXT_HEADERS; i++) {
			if (next != IPPROTO_HOPOPTS_ && next != IPPROTO_ROUTING_ &&
			    next != IPPROTO_FRAGMENT_ && next != IPPROTO_AH_ &&
			    next != IPPROTO_DSTOPTS_)
				break;
			if (off > NF_PULL_BYTES)
				return;
			__u8 *ext = data + off;
			if ((void *)(ext + 8) > data_end)
				return;
			if (next == IPPROTO_FRAGMENT_) {
				__u16 frag = bpf_ntohs(*(__be16 *)(ext + 2));
				next = ext[0];
				off += 8;
				if (frag & 0xfff8) {
					p->protocol = next;
					return; /* non-first fragment: no ports */
				}
				continue;
			}
			__u32 len = next == IPPROTO_AH_ ? ((__u32)ext[1] + 2) * 4
							  : ((__u32)ext[1] + 1) * 8;
			next = ext[0];
			off += len;
		}
		p->protocol = next;
		p->l4_off = off;
		p->payload_off = off;
		if (next == IPPROTO_ICMPV6_)
			parse_nd(data, data_end, off, p);
		else
			parse_ports(data, data_end, off, dir, p);
		return;
	}

	if (proto == ETH_P_ARP_) {
		struct arp_eth_ipv4_ *arp = data + off;
		if ((void *)(arp + 1) > data_end)
			return;
		if (arp->hln == 6 && arp->pln == 4 && bpf_ntohs(arp->pro) == ETH_P_IP_) {
			p->is_arp = 1;
			__builtin_memcpy(&p->arp_spa, arp->spa, 4);
			__builtin_memcpy(&p->arp_tpa, arp->tpa, 4);
		}
	}
}

static __always_inline int port_in(__u16 port, const struct nf_port_range *ranges, __u8 n)
{
	for (int i = 0; i < NF_MAX_PORT_RANGES; i++) {
		if (i >= n)
			break;
		if (port >= ranges[i].first && port <= ranges[i].last)
			return 1;
	}
	return 0;
}

/* The functions below are global (not inlined) so that the verifier checks each once,
 * on its own, instead of once per path through the candidate loop that calls them. */
__noinline int nf_rule_matches(const struct nf_rule *r, const struct nf_pkt *p, __u32 dir,
			       __u64 iface_bit)
{
	if (!r || !p)
		return 0;
	if (!(r->flags & NF_RULE_LIVE) || r->direction != dir || r->family != p->family)
		return 0;
	if (r->iface_mask != NF_IFACES_ALL && !(r->iface_mask & iface_bit))
		return 0;
	if (r->protocol && r->protocol != p->protocol)
		return 0;
	if (r->flags & NF_RULE_LOCAL) {
		for (int i = 0; i < 4; i++)
			if ((p->local[i] & r->local_mask[i]) != r->local_addr[i])
				return 0;
	}
	if (r->flags & (NF_RULE_REMOTE_PORTS | NF_RULE_LOCAL_PORTS)) {
		if (!p->has_ports)
			return 0;
		if ((r->flags & NF_RULE_REMOTE_PORTS) &&
		    !port_in(p->remote_port, r->remote_ports, r->n_remote_ports))
			return 0;
		if ((r->flags & NF_RULE_LOCAL_PORTS) &&
		    !port_in(p->local_port, r->local_ports, r->n_local_ports))
			return 0;
	}
	return 1;
}

/* Allow entries covering `addr` (in scope) that apply to this packet: returns 1 when
 * an agent-wide entry matches (pass, whatever the rules), and ORs the slots of
 * matching per-fault entries into *slots. `any_port` is for ARP, which has neither
 * protocol nor ports: any entry of the address lets it through. */
static __always_inline int allow_lookup(__u32 scope, const __u32 *addr, int words,
					const struct nf_pkt *p, int any_port, __u64 *slots)
{
	struct nf_lpm_key key = {};
	key.prefixlen = 32 + words * 32;
	key.scope = scope;
	for (int i = 0; i < 4; i++)
		if (i < words)
			__builtin_memcpy(&key.addr[i * 4], &addr[i], 4);
	struct nf_allow_list *a = bpf_map_lookup_elem(&nf_allow, &key);
	if (!a)
		return 0;
	for (int i = 0; i < NF_MAX_ALLOW; i++) {
		if (i >= a->n)
			break;
		struct nf_allow_entry *e = &a->e[i];
		if (!any_port) {
			if (e->protocol && e->protocol != p->protocol)
				continue;
			if (e->port_first != 0 || e->port_last != 0xffff) {
				if (!p->has_ports || p->remote_port < e->port_first ||
				    p->remote_port > e->port_last)
					continue;
			}
		}
		if (e->slot == NF_SLOT_GLOBAL)
			return 1;
		if (e->slot < NF_MAX_SLOTS)
			*slots |= 1ull << e->slot;
	}
	return 0;
}

/* 1: allow-listed for every rule; else *slots holds the faults it is exempt from. */
__noinline int nf_allowed(const struct nf_pkt *p, __u32 dir, __u64 *slots)
{
	if (!p || !slots)
		return 0;
	if (p->family == NF_FAMILY_V4)
		return allow_lookup(NF_SCOPE(dir, NF_FAMILY_V4), p->remote, 1, p, 0, slots);
	if (p->family == NF_FAMILY_V6) {
		__u32 scope = NF_SCOPE(dir, NF_FAMILY_V6);
		if (allow_lookup(scope, p->remote, 4, p, 0, slots))
			return 1;
		/* Neighbour discovery of an allow-listed address passes, as ARP does. */
		if (p->is_nd) {
			if (allow_lookup(scope, p->remote, 4, p, 1, slots))
				return 1;
			return allow_lookup(scope, p->nd_target, 4, p, 1, slots);
		}
		return 0;
	}
	if (p->is_arp) {
		/* ARP of an allow-listed address passes either way, so that the management
		 * path keeps resolving its neighbours. */
		if (allow_lookup(NF_SCOPE(dir, NF_FAMILY_V4), &p->arp_spa, 1, p, 1, slots))
			return 1;
		return allow_lookup(NF_SCOPE(dir, NF_FAMILY_V4), &p->arp_tpa, 1, p, 1, slots);
	}
	return 0;
}

/* The remote address masked to `bits`, in network order. */
static __always_inline void mask_remote(__u32 *out, const __u32 *addr, __u32 bits)
{
	for (int i = 0; i < 4; i++) {
		__u32 first = i * 32;
		__u32 m = bits >= first + 32 ? 0xffffffffu : bits <= first ? 0 : ~0u << (32 - (bits - first));
		out[i] = addr[i] & bpf_htonl(m);
	}
}

/* The index entry of the longest prefix covering the packet's remote address: hashed
 * lengths first, longest first; the trie only when it may hold a longer one. */
static __always_inline struct nf_candidates *nf_longest_match(const struct nf_pkt *p, __u32 dir)
{
	__u32 si = NF_SCOPE_INDEX(dir, p->family);
	struct nf_scope_info *info = bpf_map_lookup_elem(&nf_scopes, &si);
	if (!info)
		return 0;
	struct nf_lpm_key key = {};
	key.scope = NF_SCOPE(dir, p->family);
	struct nf_candidates *best = 0;
	__u32 best_len = 0;
	for (int i = 0; i < NF_MAX_HASHED_LENS; i++) {
		if (i >= info->n_hashed)
			break;
		__u32 bits = info->hashed[i];
		key.prefixlen = 32 + bits;
		mask_remote((__u32 *)key.addr, p->remote, bits);
		best = bpf_map_lookup_elem(&nf_hashed, &key);
		if (best) {
			best_len = bits;
			break;
		}
	}
	if (info->has_trie && (!best || info->max_trie > best_len)) {
		key.prefixlen = 32 + (p->family == NF_FAMILY_V4 ? 32 : 128);
		__builtin_memcpy(key.addr, p->remote, 16);
		struct nf_candidates *t = bpf_map_lookup_elem(&nf_index, &key);
		if (t && (!best || t->len > best_len))
			best = t;
	}
	return best;
}

/* NF_VERDICT_DROP, NF_VERDICT_PASS, or NF_VERDICT_ACT with *act filled: the first
 * matching rule whose draw fires decides. */
__noinline int nf_decide(const struct nf_pkt *p, __u32 dir, __u32 ifindex, __u64 len,
			 struct nf_act *act)
{
	if (!p || !act)
		return 0;
	struct nf_candidates *c;
	if (p->family == NF_FAMILY_NONIP) {
		__u32 k = dir;
		c = bpf_map_lookup_elem(&nf_nonip, &k);
	} else {
		c = nf_longest_match(p, dir);
	}
	if (!c || c->n == 0)
		return 0;

	__u64 iface_bit = 0;
	int iface_known = 0;
	int allow_checked = 0;
	__u64 exempt = 0;
	__u64 now = 0;
	for (int i = 0; i < NF_MAX_CANDIDATES; i++) {
		if (i >= c->n)
			break;
		__u32 id = c->ids[i];
		struct nf_rule *r = bpf_map_lookup_elem(&nf_rules, &id);
		if (!r)
			continue;
		if (r->iface_mask != NF_IFACES_ALL && !iface_known) {
			__u32 *slot = bpf_map_lookup_elem(&nf_ifaces, &ifindex);
			iface_bit = slot && *slot < NF_MAX_IFACES ? 1ull << *slot : 0;
			iface_known = 1;
		}
		if (r->start_ns) {
			/* Staged ahead: the kernel's clock starts it. */
			if (!now)
				now = bpf_ktime_get_ns();
			if (now < r->start_ns)
				continue;
		}
		if (!nf_rule_matches(r, p, dir, iface_bit))
			continue;
		if (!allow_checked) {
			if (nf_allowed(p, dir, &exempt))
				return 0;
			allow_checked = 1;
		}
		if (r->slot < NF_MAX_SLOTS && (exempt & (1ull << r->slot)))
			continue;
		struct nf_counter *cnt = bpf_map_lookup_elem(&nf_counters, &id);
		if (cnt) {
			cnt->packets_matched++;
			cnt->bytes_matched += len;
		}
		if ((r->flags & NF_RULE_ALWAYS) || bpf_get_prandom_u32() < r->drop_threshold) {
			if (r->action != NF_ACT_DROP) {
				act->id = id;
				act->action = r->action;
				act->flags = r->action_flags;
				act->delay_ns = r->delay_ns;
				act->jitter_ns = r->jitter_ns;
				return NF_VERDICT_ACT;
			}
			if (cnt) {
				cnt->packets_dropped++;
				cnt->bytes_dropped += len;
				if (!cnt->first_drop_ns)
					cnt->first_drop_ns = now ? now : bpf_ktime_get_ns();
			}
			return NF_VERDICT_DROP;
		}
	}
	return 0;
}

static __always_inline int classify(void *data, void *data_end, __u32 dir, __u32 ifindex,
				    __u64 len, struct nf_pkt *p, struct nf_act *act)
{
	parse(data, data_end, dir, p);
	return nf_decide(p, dir, ifindex, len, act);
}

static __always_inline void count_altered(__u32 id)
{
	struct nf_counter *cnt = bpf_map_lookup_elem(&nf_counters, &id);
	if (cnt)
		cnt->packets_altered++;
}

/* Flips one random bit of the payload; with NF_ACT_F_FIX_CSUM the TCP/UDP checksum
 * follows (bpf_l4_csum_replace on the 16-bit word that holds the byte). A packet
 * without payload is left alone. Returns 1 when it changed the packet. */
__noinline int nf_corrupt(struct __sk_buff *skb, const struct nf_pkt *p, __u8 flags)
{
	if (!skb || !p || p->payload_off == 0)
		return 0;
	__u32 start = p->payload_off, len = skb->len;
	if (start >= len)
		return 0;
	__u32 off = start + bpf_get_prandom_u32() % (len - start);
	__u8 bit = 1 << (bpf_get_prandom_u32() & 7);
	if ((flags & NF_ACT_F_FIX_CSUM) && p->l4_off &&
	    (p->protocol == IPPROTO_TCP_ || p->protocol == IPPROTO_UDP_)) {
		__u32 rel = off - p->l4_off;
		__u32 word_off = off - (rel & 1);
		__u8 w[2];
		if (bpf_skb_load_bytes(skb, word_off, w, 2))
			return 0;
		__u16 from, to;
		__builtin_memcpy(&from, w, 2);
		if (rel & 1)
			w[1] ^= bit;
		else
			w[0] ^= bit;
		__builtin_memcpy(&to, w, 2);
		__u32 csum_off = p->l4_off + (p->protocol == IPPROTO_TCP_ ? 16 : 6);
		__u64 f = 2 | (p->protocol == IPPROTO_UDP_ ? BPF_F_MARK_MANGLED_0 : 0);
		if (bpf_l4_csum_replace(skb, csum_off, from, to, f))
			return 0;
		return bpf_skb_store_bytes(skb, word_off, w, 2, 0) == 0;
	}
	__u8 b;
	if (bpf_skb_load_bytes(skb, off, &b, 1))
		return 0;
	b ^= bit;
	return bpf_skb_store_bytes(skb, off, &b, 1, 0) == 0;
}

/* The departure time of a delayed packet: its own (a pacing TCP sets one) or now,
 * plus the delay and the jitter drawn. For fq; CLOCK_MONOTONIC like fq's clock. */
static __always_inline void nf_delay(struct __sk_buff *skb, const struct nf_act *a)
{
	__u64 now = bpf_ktime_get_ns();
	__u64 base = skb->tstamp > now ? skb->tstamp : now;
	__u64 jitter = a->jitter_ns ? ((__u64)bpf_get_prandom_u32() * a->jitter_ns) >> 32 : 0;
	bpf_skb_set_tstamp(skb, base + a->delay_ns + jitter, 1 /* BPF_SKB_CLOCK_MONOTONIC */);
}

static __always_inline int tc_classify(struct __sk_buff *skb, __u32 dir)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	__u32 want = skb->len < NF_PULL_BYTES ? skb->len : NF_PULL_BYTES;
	if (data + want > data_end) {
		/* Headers in fragments: make them linear once, then look again. */
		bpf_skb_pull_data(skb, want);
		data = (void *)(long)skb->data;
		data_end = (void *)(long)skb->data_end;
	}
	/* A copy made by a duplicate rule passes untouched. */
	if (skb->mark == NF_DUP_MARK)
		return NF_TC_NEXT;
	struct nf_pkt p = {};
	struct nf_act act = {};
	int v = classify(data, data_end, dir, skb->ifindex, skb->len, &p, &act);
	if (v == NF_VERDICT_DROP)
		return NF_TC_DROP;
	if (v != NF_VERDICT_ACT)
		return NF_TC_NEXT;
	if (act.action == NF_ACT_CORRUPT) {
		if (nf_corrupt(skb, &p, act.flags))
			count_altered(act.id);
	} else if (act.action == NF_ACT_DUPLICATE) {
		__u32 mark = skb->mark;
		skb->mark = NF_DUP_MARK;
		long r = bpf_clone_redirect(skb, skb->ifindex, dir == NF_DIR_INGRESS ? BPF_F_INGRESS : 0);
		skb->mark = mark;
		if (r == 0)
			count_altered(act.id);
	} else if (act.action == NF_ACT_DELAY && dir == NF_DIR_EGRESS) {
		nf_delay(skb, &act);
		count_altered(act.id);
	}
	return NF_TC_NEXT;
}

SEC("tc")
int net_fault_ingress(struct __sk_buff *skb)
{
	return tc_classify(skb, NF_DIR_INGRESS);
}

SEC("tc")
int net_fault_egress(struct __sk_buff *skb)
{
	return tc_classify(skb, NF_DIR_EGRESS);
}

SEC("xdp")
int net_fault_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct nf_pkt p = {};
	struct nf_act act = {};
	/* Only drops here: the engine installs no other action where XDP is the attachment. */
	return classify(data, data_end, NF_DIR_INGRESS, ctx->ingress_ifindex,
			(__u64)(data_end - data), &p, &act) == NF_VERDICT_DROP
		       ? XDP_DROP_
		       : XDP_PASS_;
}
