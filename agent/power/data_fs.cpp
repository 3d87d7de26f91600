#include "agent/power/data_fs.h"

#include <fcntl.h>
#include <linux/types.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

namespace firedrill::agent::power {
namespace {

// include/uapi/linux/fs.h has no name for it; ext4 (EXT4_IOC_SHUTDOWN) and xfs
// (XFS_IOC_GOINGDOWN) share the number and the flags.
constexpr unsigned long kFsIocShutdown = _IOR('X', 125, __u32);
constexpr __u32 kShutdownNoLogFlush = 0x2;

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      auto oct = s.substr(i + 1, 3);
      if (oct.find_first_not_of("01234567") == std::string::npos) {
        out.push_back(static_cast<char>(std::stoi(oct, nullptr, 8)));
        i += 3;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

struct MountLine {
  std::string point, source, fstype, mount_opts, super_opts;
};

Result<std::vector<MountLine>> mountinfo() {
  std::ifstream in("/proc/self/mountinfo");
  if (!in) return sys_error(errno, "read /proc/self/mountinfo");
  std::vector<MountLine> out;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string id, parent, devno, root, point, opts, field;
    f >> id >> parent >> devno >> root >> point >> opts;
    while (f >> field && field != "-") {
    }
    MountLine m;
    f >> m.fstype >> m.source >> m.super_opts;
    m.point = unescape(point);
    m.source = unescape(m.source);
    m.mount_opts = opts;
    out.push_back(std::move(m));
  }
  return out;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  std::istringstream in(s);
  while (std::getline(in, cur, sep)) out.push_back(cur);
  return out;
}

// The per-mount options as mount(2) flags.
unsigned long mount_flags(const std::string& opts) {
  unsigned long flags = 0;
  for (auto& o : split(opts, ',')) {
    if (o == "ro") flags |= MS_RDONLY;
    else if (o == "nosuid") flags |= MS_NOSUID;
    else if (o == "nodev") flags |= MS_NODEV;
    else if (o == "noexec") flags |= MS_NOEXEC;
    else if (o == "noatime") flags |= MS_NOATIME;
    else if (o == "nodiratime") flags |= MS_NODIRATIME;
    else if (o == "relatime") flags |= MS_RELATIME;
    else if (o == "strictatime") flags |= MS_STRICTATIME;
    else if (o == "sync") flags |= MS_SYNCHRONOUS;
    else if (o == "dirsync") flags |= MS_DIRSYNC;
  }
  return flags;
}

// The file system's own options, without "rw"/"ro" (those are flags).
std::string fs_data(const std::string& super_opts) {
  std::string out;
  for (auto& o : split(super_opts, ',')) {
    if (o.empty() || o == "rw" || o == "ro") continue;
    if (!out.empty()) out += ',';
    out += o;
  }
  return out;
}

// The mount's device (major:minor) as mountinfo shows it, "" when not a mount point.
std::string device_of(const std::string& mountinfo_path, const std::string& point) {
  std::ifstream in(mountinfo_path);
  std::string line, found;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string id, parent, devno, root, p;
    f >> id >> parent >> devno >> root >> p;
    if (unescape(p) == point) found = devno;
  }
  return found;
}

// Other mounts of the file system mounted at `dir`: bind mounts here ("also at X") and
// mount namespaces with a copy ("pid P (comm) in mount namespace N"), at most a few named.
std::string other_mounts_of(const std::string& dir) {
  auto dev = device_of("/proc/self/mountinfo", dir);
  if (dev.empty()) return "";
  std::vector<std::string> found;
  {
    std::ifstream in("/proc/self/mountinfo");
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream f(line);
      std::string id, parent, devno, root, p;
      f >> id >> parent >> devno >> root >> p;
      if (devno == dev && unescape(p) != dir) found.push_back("also at " + unescape(p));
    }
  }
  std::error_code ec;
  auto self_ns = std::filesystem::read_symlink("/proc/self/ns/mnt", ec);
  std::vector<std::string> seen_ns;
  size_t namespaces = 0;
  for (auto& e : std::filesystem::directory_iterator("/proc", ec)) {
    auto pid = e.path().filename().string();
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    std::error_code nec;
    auto ns = std::filesystem::read_symlink(e.path() / "ns/mnt", nec);
    if (nec || ns == self_ns) continue;
    if (std::find(seen_ns.begin(), seen_ns.end(), ns.string()) != seen_ns.end()) continue;
    seen_ns.push_back(ns.string());
    std::ifstream mi(e.path() / "mountinfo");
    std::string line;
    bool holds = false;
    while (!holds && std::getline(mi, line)) {
      std::istringstream f(line);
      std::string id, parent, devno;
      f >> id >> parent >> devno;
      holds = devno == dev;
    }
    if (!holds) continue;
    if (++namespaces > 5) continue;
    std::string comm;
    std::ifstream(e.path() / "comm") >> comm;
    found.push_back(fmt::format("pid {} ({}) in mount namespace {}", pid, comm, ns.filename().string()));
  }
  if (namespaces > 5) found.push_back(fmt::format("{} more mount namespaces", namespaces - 5));
  std::string out;
  for (auto& f : found) out += (out.empty() ? "" : ", ") + f;
  return out;
}

}  // namespace

Result<DataFs> inspect_data_dir(const std::string& dir) {
  std::error_code ec;
  auto abs = std::filesystem::weakly_canonical(std::filesystem::absolute(dir, ec), ec);
  if (ec) return make_error("data directory {}: {}", dir, ec.message());
  if (!std::filesystem::is_directory(abs, ec)) {
    return make_error("data directory {} does not exist or is not a directory", dir);
  }
  FD_ASSIGN(mounts, mountinfo(), "data directory {}", dir);
  const MountLine* found = nullptr;
  std::string holder = "/";
  size_t best = 0;
  for (auto& m : mounts) {
    if (m.point == abs.string()) found = &m;  // the last one is on top
    auto prefix = m.point == "/" ? std::string("/") : m.point + "/";
    if ((abs.string() + "/").rfind(prefix, 0) == 0 && m.point.size() >= best) {
      best = m.point.size();
      holder = m.point;
    }
  }
  if (!found) {
    return make_error("data directory {} is not a file system of its own (it is part of the one mounted at {}): "
                      "a power loss that loses unsynced writes shuts the data file system down, which would stop "
                      "{}; mount a partition, a logical volume or a loop-mounted image (ext4 or xfs) at {}, or "
                      "drop --data-dir {}",
                      dir, holder, holder, abs.string(), dir);
  }
  if (found->fstype != "ext4" && found->fstype != "xfs") {
    return make_error("data directory {} is a {} file system: only ext4 and xfs can be shut down without "
                      "flushing (FS_IOC_SHUTDOWN); use one of those", dir, found->fstype);
  }
  return DataFs{abs.string(), found->source, found->fstype, found->mount_opts, found->super_opts};
}

Result<bpf::UniqueFd> open_for_shutdown(const DataFs& fs) {
  int fd = ::open(fs.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return sys_error(errno, "open data directory {}", fs.dir);
  return bpf::UniqueFd(fd);
}

Result<void> shut_down(const DataFs& fs, int dir_fd) {
  __u32 flags = kShutdownNoLogFlush;
  if (::ioctl(dir_fd, kFsIocShutdown, &flags) != 0) {
    return sys_error(errno, "shut down the file system at {} (FS_IOC_SHUTDOWN, NOLOGFLUSH)", fs.dir);
  }
  return ok();
}

Result<bool> is_shut_down(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == EIO) return true;
    return sys_error(errno, "open data directory {}", dir);
  }
  int r = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (r == 0) return false;
  if (err == EIO) return true;
  return sys_error(err, "fsync data directory {}", dir);
}

Result<void> remount(const DataFs& fs) {
  if (::umount2(fs.dir.c_str(), 0) != 0) {
    return sys_error(errno, "unmount {} (a process outside the workload still holds files there?)", fs.dir);
  }
  auto data = fs_data(fs.super_opts);
  unsigned long flags = mount_flags(fs.mount_opts);
  for (auto& o : split(fs.super_opts, ',')) {
    if (o == "ro") flags |= MS_RDONLY;
  }
  if (::mount(fs.source.c_str(), fs.dir.c_str(), fs.fstype.c_str(), flags, data.empty() ? nullptr : data.c_str()) !=
      0) {
    return sys_error(errno, "mount {} ({}, {}) at {} again", fs.source, fs.fstype, data, fs.dir);
  }
  // The unmount ends the shut-down file system only if it was its last mount; with
  // another (a bind mount, or a copy in a mount namespace made while it was mounted)
  // the mount above attached the same, still shut-down, file system.
  FD_ASSIGN(down, is_shut_down(fs.dir), "after mounting {} again", fs.dir);
  if (down) {
    auto holders = other_mounts_of(fs.dir);
    return make_error("{} is still shut down after it was unmounted and mounted again: another mount of {} keeps "
                      "the file system alive ({}), so nothing was replayed; it is restored when those mounts go "
                      "(mount data directories before starting services in mount namespaces of their own, or "
                      "make them shared mounts so that the unmount reaches the copies)",
                      fs.dir, fs.source, holders.empty() ? std::string("not found in /proc") : holders);
  }
  return ok();
}

std::string encode(const DataFs& fs) {
  return fs.dir + "\t" + fs.source + "\t" + fs.fstype + "\t" + fs.mount_opts + "\t" + fs.super_opts;
}

Result<DataFs> decode(const std::string& text) {
  auto f = split(text, '\t');
  if (f.size() != 5 || f[0].empty() || f[1].empty() || f[2].empty()) {
    return make_error("journal: a data file system record '{}' is not dir, source, type and options", text);
  }
  return DataFs{f[0], f[1], f[2], f[3], f[4]};
}

}  // namespace firedrill::agent::power
