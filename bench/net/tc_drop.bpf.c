// SPDX-License-Identifier: GPL-2.0
/* The comparator of the injection-latency benchmark: what a classic tool installs with
 * `tc filter add dev X egress bpf da obj tc_drop.bpf.o sec tc` (netlink, cls_bpf):
 * drops UDP to the benchmark's receiver, 10.201.250.2. */
#include "vmlinux.h"

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

SEC("tc")
int tc_drop(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(0x0800))
		return 0; /* TC_ACT_OK */
	struct iphdr *ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > end)
		return 0;
	if (ip->protocol == 17 && ip->daddr == bpf_htonl(0x0ac9fa02))
		return 2; /* TC_ACT_SHOT */
	return 0;
}
