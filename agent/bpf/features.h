// What this kernel offers, probed once at start without touching any interface,
// cgroup or process of the host. Faults that need a missing feature are refused with
// its name; the list goes to the controller in Hello.
#pragma once

#include <string>
#include <vector>

#include "common/result.h"
#include "firedrill/v1/agent.pb.h"

namespace firedrill::agent::bpf {

// Attach types that libbpf 1.1's headers may lack.
inline constexpr int kAttachTcxIngress = 46;
inline constexpr int kAttachTcxEgress = 47;

struct Features {
  std::string kernel_release;
  bool tcx = false;            // bpf_link to tc ingress/egress (6.6+)
  bool xdp_link = false;       // bpf_link for XDP (5.9+)
  bool cgroup_link = false;    // bpf_link for cgroup programs (5.7+)
  bool tracepoint = false;     // raw tracepoints / tracefs available
  bool bpf_lsm = false;        // BPF LSM programs load
  bool ringbuf = false;        // BPF_MAP_TYPE_RINGBUF
  bool send_signal = false;    // bpf_send_signal helper
  bool cgroup_v2 = false;      // a cgroup2 mount exists
  bool cgroup_kill = false;    // cgroup.kill
  bool cgroup_freeze = false;  // cgroup.freeze
  bool sch_fq = false;         // the fq qdisc (packet delay by departure time)
  bool sock_hooks = false;     // cgroup connect and getpeername hooks, sock_ops (5.8+)
  bool dns_hooks = false;      // cgroup sendmsg/recvmsg hooks and UDP socket diagnostics
  std::string cgroup2_mount;   // where cgroup v2 lives, e.g. /sys/fs/cgroup/unified
  std::vector<v1::Feature> details;  // one per probe, with why-not

  // "missing kernel feature tcx (...)": an error naming the feature, for refusals.
  Error missing(const std::string& name) const;
  void to_proto(v1::Capabilities* caps) const;
};

// Probes once; later calls return the same answer.
const Features& features();

// Finds the cgroup v2 mount point from /proc/self/mountinfo (hybrid hosts mount it at
// /sys/fs/cgroup/unified, unified hosts at /sys/fs/cgroup).
Result<std::string> find_cgroup2_mount();

}  // namespace firedrill::agent::bpf
