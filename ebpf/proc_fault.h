/* Structs shared by ebpf/proc_fault.bpf.c and the agent's process engine
 * (agent/proc). Fixed-width fields only: the same bytes are read on both sides. */
#ifndef FIREDRILL_EBPF_PROC_FAULT_H
#define FIREDRILL_EBPF_PROC_FAULT_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* One bit per keep-down fault in effect, so one exec can be attributed to every fault
 * that selects it; the engine refuses a 65th concurrent keep-down. */
#define FD_PROC_MAX_FAULTS 64
/* Distinct cgroups selected at once (slots of the cgroup array). */
#define FD_PROC_MAX_CGROUPS 64
#define FD_PROC_MAX_EXES 256
#define FD_PROC_MAX_COMMS 256
#define FD_PROC_MAX_PIDS 4096
/* Killed at exec, not yet seen exiting. */
#define FD_PROC_MAX_DYING 8192
#define FD_PROC_COMM_LEN 16
#define FD_PROC_FILENAME_LEN 128

/* How an exec was selected (bits of fd_proc_event.matched_by). */
#define FD_MATCH_CGROUP 1u
#define FD_MATCH_EXE 2u
#define FD_MATCH_COMM 4u
#define FD_MATCH_PID 8u

/* The executable's identity: the inode of mm->exe_file, the same file /proc/PID/exe
 * names, so that symlinks and relative exec paths select what they resolve to.
 * dev is the kernel's encoding (major << 20 | minor). */
struct fd_exe_key {
  __u64 ino;
  __u32 dev;
  __u32 pad;
};

struct fd_comm_key {
  char comm[FD_PROC_COMM_LEN];
};

/* Global knobs, element 0 of the config array. */
struct fd_proc_config {
  __u32 agent_tgid;      /* never killed, whatever the maps say */
  __u32 nr_cgroup_slots; /* highest used cgroup slot + 1: bounds the loop */
};

/* Event kinds (fd_proc_event.kind). */
#define FD_EV_KILLED 0 /* SIGKILL sent at exec */
#define FD_EV_GONE 1   /* that process has exited: exec-to-death in kernel time */

/* One kill at exec, or the death that followed it, sent through the ring buffer. */
struct fd_proc_event {
  __u64 ktime_ns;      /* bpf_ktime_get_ns() at exec: CLOCK_MONOTONIC */
  __u64 gone_ktime_ns; /* FD_EV_GONE: at exit */
  __u64 fault_mask;    /* faults that selected it */
  __u64 cgroup_id;     /* the task's cgroup v2 id */
  __u32 pid;           /* thread group id (the pid users see) */
  __u32 tid;
  __u32 matched_by;    /* FD_MATCH_* */
  __u32 cgroup_slot;   /* first matching cgroup slot, when FD_MATCH_CGROUP */
  __u32 signal_ret;    /* bpf_send_signal's return value (0: sent) */
  __u32 filename_len;  /* bytes of filename copied (0: not available) */
  __u32 kind;          /* FD_EV_* */
  __u32 pad;
  char comm[FD_PROC_COMM_LEN];
  char filename[FD_PROC_FILENAME_LEN]; /* the path given to exec, truncated */
};

/* Per-CPU counters (array index). */
#define FD_STAT_EXECS_SEEN 0
#define FD_STAT_KILLED 1
#define FD_STAT_EVENTS_LOST 2
#define FD_STAT_MAX 3

#endif /* FIREDRILL_EBPF_PROC_FAULT_H */
