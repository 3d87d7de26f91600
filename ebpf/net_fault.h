/* Structures shared by ebpf/net_fault.bpf.c and the agent's network engine
 * (agent/net). Fixed-width fields only: userspace writes them into maps byte for byte.
 *
 * The model: userspace compiles every network fault into internal rules, each of one
 * direction and one family, indexed by its REMOTE prefix (egress: destination,
 * ingress: source). The index maps a prefix to the candidate rules of that prefix AND
 * of every shorter prefix covering it (propagated by userspace), so that a packet finds
 * them with one longest-match lookup and scans at most NF_MAX_CANDIDATES rules,
 * whatever the number installed. The longest match is found in two kinds of maps: a hash
 * keyed by exact prefix, probed once per "hashed" length of the scope (the host length
 * always, and the NF_MAX_HASHED_LENS - 1 lengths holding the most prefixes), and an LPM
 * trie for prefixes of any other length. A hash probe costs the same however many
 * prefixes the hash holds; a trie lookup walks deeper as prefixes multiply. */
#ifndef FIREDRILL_EBPF_NET_FAULT_H
#define FIREDRILL_EBPF_NET_FAULT_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define NF_MAX_RULES 65536      /* rule slots (array map) */
#define NF_MAX_PREFIXES 65536   /* distinct remote prefixes in the index */
#define NF_MAX_CANDIDATES 16    /* rules scanned per packet, at most */
#define NF_MAX_PORT_RANGES 8    /* port ranges per rule side */
#define NF_MAX_ALLOW_PREFIXES 4096
#define NF_MAX_ALLOW 8          /* allow entries per prefix (with covering ones) */
#define NF_MAX_IFACES 64        /* managed interfaces (bits of a rule's iface mask) */
#define NF_MAX_SLOTS 64         /* faults with allow entries of their own, at once */

#define NF_DIR_INGRESS 0
#define NF_DIR_EGRESS 1

#define NF_FAMILY_NONIP 0
#define NF_FAMILY_V4 4
#define NF_FAMILY_V6 6

/* Index and allow keys: prefixlen counts the 32 bits of scope plus the address bits,
 * so scope always matches exactly: prefixlen = 32 + address prefix length. */
#define NF_SCOPE(dir, family) (((__u32)(dir) << 8) | (__u32)(family))

struct nf_lpm_key {
	__u32 prefixlen;
	__u32 scope;
	__u8 addr[16]; /* network order; IPv4 in the first 4 bytes */
};

struct nf_candidates {
	__u32 n;
	__u32 len; /* the prefix length of the entry (longest match across maps) */
	__u32 ids[NF_MAX_CANDIDATES];
};

/* Per scope (NF_SCOPE_INDEX): which lengths live in the hash, longest first, and the
 * longest length in the trie, so that a packet probes only what can match. */
#define NF_MAX_HASHED_LENS 4
#define NF_SCOPE_INDEX(dir, family) ((dir) * 2 + ((family) == NF_FAMILY_V6 ? 1 : 0))

struct nf_scope_info {
	__u8 n_hashed;
	__u8 hashed[NF_MAX_HASHED_LENS];
	__u8 has_trie; /* the trie holds prefixes of this scope */
	__u8 max_trie; /* the longest of them */
	__u8 pad;
};

struct nf_port_range {
	__u16 first; /* host order, inclusive */
	__u16 last;
};

/* Rule flags */
#define NF_RULE_LIVE (1u << 0)         /* cleared first on revert: a dead rule never matches */
#define NF_RULE_ALWAYS (1u << 1)       /* probability 100%: no random draw */
#define NF_RULE_LOCAL (1u << 2)        /* local_addr/local_mask must match */
#define NF_RULE_REMOTE_PORTS (1u << 3) /* remote port must be in remote_ports */
#define NF_RULE_LOCAL_PORTS (1u << 4)  /* local port must be in local_ports */

#define NF_SLOT_NONE 0xffffffffu       /* rule of a fault without allow entries of its own */
#define NF_SLOT_GLOBAL 0xffffffffu     /* allow entry of the agent: exempts from every rule */
#define NF_IFACES_ALL 0xffffffffffffffffull

/* What a matching packet undergoes (the rule's action). Drop works on every
 * attachment; the others need tc (tcx), where the packet can be rewritten, cloned or
 * given a departure time. */
#define NF_ACT_DROP 0
#define NF_ACT_CORRUPT 1   /* flip one random payload bit */
#define NF_ACT_DUPLICATE 2 /* send a copy too (bpf_clone_redirect) */
#define NF_ACT_DELAY 3     /* earliest departure time (skb->tstamp), for fq */

#define NF_ACT_F_FIX_CSUM (1u << 0) /* corrupt: update the TCP/UDP checksum */

/* The mark of a copy made by a duplicate rule: the classifier lets it pass untouched,
 * so that a copy is never copied (or corrupted, or dropped) again. */
#define NF_DUP_MARK 0x46440d00u

struct nf_rule {
	__u32 flags;
	__u32 slot;           /* fault slot whose own allow entries exempt packets from it */
	__u64 iface_mask;     /* bits of nf_ifaces slots; NF_IFACES_ALL: every attachment */
	__u32 drop_threshold; /* drop when bpf_get_prandom_u32() < threshold (unless ALWAYS) */
	__u8 direction;
	__u8 family;          /* 0: matches non-IP frames only */
	__u8 protocol;        /* 0: any */
	__u8 n_remote_ports;
	__u8 n_local_ports;
	__u8 action;          /* NF_ACT_* */
	__u8 action_flags;    /* NF_ACT_F_* */
	__u8 pad;
	__u32 local_addr[4];  /* network order, pre-masked */
	__u32 local_mask[4];
	struct nf_port_range remote_ports[NF_MAX_PORT_RANGES];
	struct nf_port_range local_ports[NF_MAX_PORT_RANGES];
	__u64 delay_ns;       /* NF_ACT_DELAY: added to the departure time */
	__u64 jitter_ns;      /* and uniform in [0, jitter_ns) more */
	/* The kernel starts the rule: it matches nothing before this CLOCK_MONOTONIC time
	 * (bpf_ktime_get_ns); 0: from its install. Faults are staged ahead of their
	 * not_before with it, so that no user-space wake-up lies between the instant and
	 * the first drop, on every host alike. */
	__u64 start_ns;
};

struct nf_counter {
	__u64 packets_matched;
	__u64 bytes_matched;
	__u64 packets_dropped;
	__u64 bytes_dropped;
	__u64 packets_altered; /* corrupted, duplicated or delayed */
	__u64 first_drop_ns; /* bpf_ktime_get_ns of this CPU's first drop; 0: none yet */
};

/* An allow entry: the far end's protocol (0: any) and port range (0-65535: any). */
struct nf_allow_entry {
	__u8 protocol;
	__u8 pad;
	__u16 port_first;
	__u16 port_last;
	__u16 pad2;
	__u32 slot; /* NF_SLOT_GLOBAL or the slot of the fault that owns it */
};

struct nf_allow_list {
	__u32 n;
	struct nf_allow_entry e[NF_MAX_ALLOW];
};

/* Verdicts of the classifier in tc (tcx) */
#define NF_TC_NEXT (-1) /* TCX_NEXT: let the next program decide */
#define NF_TC_DROP 2    /* TCX_DROP */

#endif /* FIREDRILL_EBPF_NET_FAULT_H */
