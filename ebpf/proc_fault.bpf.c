// SPDX-License-Identifier: GPL-2.0
/* Keep-down: every process that execs while selected (by cgroup with its descendants,
 * by executable, by comm, by pid) is SIGKILLed before its first instruction in user
 * space, so a supervisor's restart brings nothing back. One event per kill goes to the
 * agent through a ring buffer.
 *
 * Written to load under kernel lockdown (confidentiality), where reading kernel memory
 * through helpers is refused: the task is reached through bpf_get_current_task_btf()
 * (BTF pointer loads), and the exec path is read from the new process's own stack. */
#include "vmlinux.h"

#include <bpf/bpf_helpers.h>

#include "proc_fault.h"

char LICENSE[] SEC("license") = "GPL";

#define SIGKILL 9

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct fd_proc_config);
} proc_config SEC(".maps");

/* Slot i holds a cgroup (by fd from userspace); cgroup_masks[i] the faults on it. */
struct {
  __uint(type, BPF_MAP_TYPE_CGROUP_ARRAY);
  __uint(max_entries, FD_PROC_MAX_CGROUPS);
  __type(key, __u32);
  __type(value, __u32);
} cgroup_targets SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, FD_PROC_MAX_CGROUPS);
  __type(key, __u32);
  __type(value, __u64);
} cgroup_masks SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, FD_PROC_MAX_EXES);
  __type(key, struct fd_exe_key);
  __type(value, __u64);
} exe_targets SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, FD_PROC_MAX_COMMS);
  __type(key, struct fd_comm_key);
  __type(value, __u64);
} comm_targets SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, FD_PROC_MAX_PIDS);
  __type(key, __u32);
  __type(value, __u64);
} pid_targets SEC(".maps");

/* pid -> exec time of what was killed at exec, until its exit is seen. LRU: a kill
 * whose exit is somehow missed does not pin an entry. */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, FD_PROC_MAX_DYING);
  __type(key, __u32);
  __type(value, __u64);
} dying SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 256 * 1024);
} events SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, FD_STAT_MAX);
  __type(key, __u32);
  __type(value, __u64);
} stats SEC(".maps");

static __always_inline void count(__u32 which) {
  __u64 *v = bpf_map_lookup_elem(&stats, &which);
  if (v) *v += 1;
}

/* The exec path as given to execve: the kernel copies it onto the new stack just above
 * the environment strings, so it starts at mm->env_end. A user-memory read, which
 * lockdown allows (the record's own copy lies past the fields a tracepoint program
 * may read, and reading kernel memory is what lockdown refuses). */
static __always_inline __u32 copy_filename(struct task_struct *task, char *out) {
  unsigned long at = task->mm->env_end;
  if (!at) return 0;
  long n = bpf_probe_read_user_str(out, FD_PROC_FILENAME_LEN, (const void *)at);
  return n > 0 ? (__u32)n - 1 : 0;
}

SEC("tracepoint/sched/sched_process_exec")
int fd_keep_down(struct trace_event_raw_sched_process_exec *ctx) {
  __u32 zero = 0;
  struct fd_proc_config *cfg = bpf_map_lookup_elem(&proc_config, &zero);
  if (!cfg) return 0;
  count(FD_STAT_EXECS_SEEN);

  __u64 pid_tgid = bpf_get_current_pid_tgid();
  __u32 tgid = pid_tgid >> 32;
  if (tgid == cfg->agent_tgid || tgid <= 1) return 0;

  __u64 mask = 0;
  __u32 matched_by = 0, slot_hit = 0;
  __u64 *v;

  v = bpf_map_lookup_elem(&pid_targets, &tgid);
  if (v && *v) {
    mask |= *v;
    matched_by |= FD_MATCH_PID;
  }

  struct fd_comm_key comm = {};
  bpf_get_current_comm(comm.comm, sizeof comm.comm);
  v = bpf_map_lookup_elem(&comm_targets, &comm);
  if (v && *v) {
    mask |= *v;
    matched_by |= FD_MATCH_COMM;
  }

  struct task_struct *task = bpf_get_current_task_btf();
  struct file *exe = task->mm->exe_file;
  if (exe) {
    struct fd_exe_key key = {};
    key.ino = exe->f_inode->i_ino;
    key.dev = exe->f_inode->i_sb->s_dev;
    v = bpf_map_lookup_elem(&exe_targets, &key);
    if (v && *v) {
      mask |= *v;
      matched_by |= FD_MATCH_EXE;
    }
  }

  __u32 slots = cfg->nr_cgroup_slots;
  for (__u32 i = 0; i < FD_PROC_MAX_CGROUPS; i++) {
    if (i >= slots) break;
    if (bpf_current_task_under_cgroup(&cgroup_targets, i) != 1) continue;
    __u32 idx = i;
    v = bpf_map_lookup_elem(&cgroup_masks, &idx);
    if (v && *v) {
      if (!(matched_by & FD_MATCH_CGROUP)) slot_hit = i;
      mask |= *v;
      matched_by |= FD_MATCH_CGROUP;
    }
  }

  if (!mask) return 0;
  long sent = bpf_send_signal(SIGKILL);
  count(FD_STAT_KILLED);

  struct fd_proc_event *e = bpf_ringbuf_reserve(&events, sizeof *e, 0);
  if (!e) {
    count(FD_STAT_EVENTS_LOST);
    return 0;
  }
  e->ktime_ns = bpf_ktime_get_ns();
  e->gone_ktime_ns = 0;
  e->kind = FD_EV_KILLED;
  e->pad = 0;
  e->fault_mask = mask;
  e->cgroup_id = bpf_get_current_cgroup_id();
  e->pid = tgid;
  e->tid = (__u32)pid_tgid;
  e->matched_by = matched_by;
  e->cgroup_slot = slot_hit;
  e->signal_ret = (__u32)sent;
  __builtin_memcpy(e->comm, comm.comm, sizeof e->comm);
  __builtin_memset(e->filename, 0, sizeof e->filename);
  e->filename_len = copy_filename(task, e->filename);
  __u64 at = e->ktime_ns;
  bpf_map_update_elem(&dying, &tgid, &at, BPF_ANY);
  bpf_ringbuf_submit(e, 0);
  return 0;
}

/* The death of what keep-down killed: exec-to-death measured by the kernel's clock. */
SEC("tracepoint/sched/sched_process_exit")
int fd_keep_down_exit(void *ctx) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  __u32 tgid = pid_tgid >> 32;
  if ((__u32)pid_tgid != tgid) return 0; /* a thread; the leader's exit counts */
  __u64 *exec_at = bpf_map_lookup_elem(&dying, &tgid);
  if (!exec_at) return 0;
  __u64 at = *exec_at;
  bpf_map_delete_elem(&dying, &tgid);
  struct fd_proc_event *e = bpf_ringbuf_reserve(&events, sizeof *e, 0);
  if (!e) {
    count(FD_STAT_EVENTS_LOST);
    return 0;
  }
  __builtin_memset(e, 0, sizeof *e);
  e->kind = FD_EV_GONE;
  e->ktime_ns = at;
  e->gone_ktime_ns = bpf_ktime_get_ns();
  e->pid = tgid;
  e->tid = (__u32)pid_tgid;
  e->cgroup_id = bpf_get_current_cgroup_id();
  bpf_get_current_comm(e->comm, sizeof e->comm);
  bpf_ringbuf_submit(e, 0);
  return 0;
}
