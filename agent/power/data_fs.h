// The data file systems of a power loss that loses what was not durable
// (power_loss { lose_unsynced: true }, the agent's --data-dir).
//
// A real power cut loses the page cache: what the file system's journal had not
// committed is gone, what was fsynced survives. The agent gets the same from the
// kernel: FS_IOC_SHUTDOWN with NOLOGFLUSH (ext4 and XFS; xfstests simulates power
// loss the same way) stops the file system at once without writing back dirty pages
// or the running journal transaction; every later access fails with EIO. "Power
// restored" unmounts it and mounts it again, and the mount replays the journal: the
// data directory then holds what a real disk would have kept.
//
// That needs each data directory to be a file system of its own (a mount point: a
// partition, a logical volume, a loop-mounted image): shutting down the file system
// that holds / would stop the host.
#pragma once

#include <string>
#include <vector>

#include "agent/bpf/skeleton.h"
#include "common/result.h"

namespace firedrill::agent::power {

// A data directory's mount, as /proc/self/mountinfo shows it: what a remount needs.
struct DataFs {
  std::string dir;           // the mount point (the --data-dir, made absolute)
  std::string source;        // /dev/loop3, /dev/sdb1
  std::string fstype;        // ext4, xfs
  std::string mount_opts;    // per-mount options: rw,noatime,...
  std::string super_opts;    // file-system options: rw,commit=300,...
};

// The mount whose mount point is exactly `dir`. Refuses, naming the directory and what
// to do, a directory that is not a mount point, and file systems that cannot be shut
// down (only ext4 and xfs implement FS_IOC_SHUTDOWN).
Result<DataFs> inspect_data_dir(const std::string& dir);

// Opens the data directory ahead of a shutdown: at the instant only the ioctl is left.
// The fd must be closed before the remount (an open directory keeps the mount busy).
Result<bpf::UniqueFd> open_for_shutdown(const DataFs& fs);

// Shuts the file system down now, without flushing its log (FS_IOC_SHUTDOWN,
// NOLOGFLUSH), through a directory fd of open_for_shutdown. Needs CAP_SYS_ADMIN.
Result<void> shut_down(const DataFs& fs, int dir_fd);

// Whether the file system at `dir` is shut down (an fsync of the directory fails with
// EIO), so that recovery remounts only what a power loss stopped.
Result<bool> is_shut_down(const std::string& dir);

// Unmounts and mounts it again with the same source, type and options: the mount
// replays the journal. The caller has killed every process that held files there.
// Fails, naming them, when other mounts of the file system (a bind mount, a copy in
// another mount namespace) kept it alive, so that it is still shut down: then it stays
// mounted, shut down, and a later call restores it once they are gone.
Result<void> remount(const DataFs& fs);

// Journal form of a DataFs (the `detail` of a remount entry) and back, so that an agent
// killed between shutdown and restore remounts what it shut down, as it was mounted.
std::string encode(const DataFs& fs);
Result<DataFs> decode(const std::string& text);

}  // namespace firedrill::agent::power
