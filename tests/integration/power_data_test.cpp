// Power loss with lose_unsynced on a data file system of the test's own (a sparse
// image on a loop device): a writer in the workload cgroup runs the cases of
// durability_cases.h, the power goes out and comes back, and every path is compared
// byte by byte with the durable state, on ext4 and on XFS.
//
// "Not committed" is deterministic on both because nothing commits between the
// writer's phase 2 and the cut but an fsync, and phase 2 has none:
//   ext4  mounted with commit=300, so the running journal transaction is committed
//         300 s after it began (the default is 5 s);
//   XFS   has no commit interval: its log is forced by fsync, by a full CIL, and by
//         the log worker, first xfssyncd_centisecs (30 s by default) after the mount
//         and then at that period. The image is made and mounted fresh by the test and
//         the test checks that the cut came sooner than that after the mount.
// A sync(2) by anyone on the machine in the moment between phase 2 and the cut would
// commit it, and fail the test loudly. Needs root, losetup, mkfs.ext4 and mkfs.xfs.
#include <fcntl.h>
#include <sys/stat.h>

#include "agent/power/data_fs.h"
#include "tests/integration/durability_cases.h"
#include "tests/integration/power_lab.h"

namespace {

using namespace std::chrono_literals;
using fdp::Agent;
using fdp::Child;
using fdp::PowerLab;
using fdp::TempDir;

// An image file, the loop device over it and its mount, all under the test's
// directory; unmounted and detached on destruction, also when the test failed.
class LoopFs {
 public:
  LoopFs(const TempDir& dir, const std::string& fstype, const std::string& options) {
    fstype_ = fstype;
    image_ = dir.file("data-" + fstype + ".img");
    mnt_ = dir.file("data-" + fstype);
    std::filesystem::create_directories(mnt_);
    must({"truncate", "-s", "320M", image_});
    if (fstype == "xfs") {
      must({"mkfs.xfs", "-q", "-f", image_});
    } else {
      must({"mkfs." + fstype, "-q", "-F", image_});
    }
    loop_ = must({"losetup", "--find", "--show", image_});
    while (!loop_.empty() && (loop_.back() == '\n' || loop_.back() == ' ')) loop_.pop_back();
    must({"mount", "-t", fstype, "-o", options, loop_, mnt_});
    mounted_ = true;
  }
  ~LoopFs() {
    if (mounted_ && fdp::run({"umount", mnt_}).code != 0) fdp::run({"umount", "-l", mnt_});
    if (!loop_.empty()) fdp::run({"losetup", "-d", loop_});
  }
  LoopFs(const LoopFs&) = delete;
  LoopFs& operator=(const LoopFs&) = delete;

  const std::string& mnt() const { return mnt_; }
  const std::string& fstype() const { return fstype_; }
  const std::string& loop() const { return loop_; }
  // The mount's file-system options as the kernel shows them now.
  std::string super_options() const {
    std::ifstream in("/proc/self/mountinfo");
    std::string line, found;
    while (std::getline(in, line)) {
      if (line.find(" " + mnt_ + " ") != std::string::npos) found = line.substr(line.rfind(' ') + 1);
    }
    return found;
  }

 private:
  static std::string must(const std::vector<std::string>& argv) {
    auto r = fdp::run(argv, 60s);
    if (r.code != 0) throw std::runtime_error(argv[0] + " failed (" + std::to_string(r.code) + "): " + r.out);
    return r.out;
  }
  std::string fstype_, image_, mnt_, loop_;
  bool mounted_ = false;
};

std::string writer_binary() { return FDP_DURABILITY_WRITER; }

// Whether reading in the data directory fails with EIO (the file system is shut down).
bool shut_down(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return errno == EIO;
  int r = ::fsync(fd);
  int err = errno;
  ::close(fd);
  return r != 0 && err == EIO;
}

// Every expectation of every case, byte by byte; the failures name the case.
void expect_durable_state(const std::string& dir) {
  for (auto& c : fdp::durability::cases()) {
    for (auto& e : c.expect) {
      auto path = dir + "/" + e.path;
      bool exists = std::filesystem::exists(path);
      if (!e.content) {
        EXPECT_FALSE(exists) << c.name << " (" << c.what << "): " << e.path << " survived the power loss";
        continue;
      }
      if (!exists) {
        ADD_FAILURE() << c.name << " (" << c.what << "): " << e.path << " is gone";
        continue;
      }
      std::ifstream in(path, std::ios::binary);
      std::string got((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      size_t diff = 0;
      while (diff < got.size() && diff < e.content->size() && got[diff] == (*e.content)[diff]) ++diff;
      EXPECT_TRUE(got == *e.content) << c.name << " (" << c.what << "): " << e.path << " has " << got.size()
                                     << " bytes, expected " << e.content->size() << "; first difference at byte "
                                     << diff;
    }
  }
}

struct DataLab {
  DataLab(int subnet, const std::string& fstype = "ext4")
      : lab(subnet), data(lab.dir, fstype, fstype == "ext4" ? "commit=300" : "logbufs=4") {
    mounted_at = std::chrono::steady_clock::now();
    dir = data.mnt() + "/w";
    std::filesystem::create_directories(dir);
    fdp::run({"sync", "-f", data.mnt()});  // the directory itself is durable
    ready = lab.dir.file("writer-ready");
  }
  // Starts the writer in the workload cgroup and waits until both phases are done.
  void write() {
    writer = Child::spawn({writer_binary(), dir, ready}, lab.workload, &lab.host, lab.dir.file("writer.log"));
    ASSERT_TRUE(fdp::eventually([&] { return std::filesystem::exists(ready); }, 20s))
        << fdp::read_file(lab.dir.file("writer.log"));
    // Before the cut, phase 2 is all there: what goes missing is the power loss's doing.
    ASSERT_TRUE(std::filesystem::exists(dir + "/unsynced"));
    ASSERT_TRUE(std::filesystem::exists(dir + "/rename-to"));
    ASSERT_EQ(std::filesystem::file_size(dir + "/appended"), 8192u);
  }
  Agent::Options agent_options() const { return lab.agent_options({"--data-dir", data.mnt()}); }

  PowerLab lab;
  LoopFs data;
  std::chrono::steady_clock::time_point mounted_at;
  std::string dir, ready;
  Child writer;
};

// XFS's log worker period (fs.xfs.xfssyncd_centisecs): the first forced log commit
// after a mount that no fsync asked for.
std::chrono::milliseconds xfs_log_worker_period() {
  return std::chrono::milliseconds(std::stol(fdp::read_file("/proc/sys/fs/xfs/xfssyncd_centisecs")) * 10);
}

// The case table through a power loss and its restore; `options` is what the remount
// must keep.
void expect_only_the_durable_survives(DataLab& d, const std::string& options) {
  ASSERT_TRUE(fdp::eventually([&] { return d.lab.service_up(); }, 10s));
  Agent agent(d.agent_options());
  d.write();
  auto r = agent.apply("pl", "5s", "power_loss { lose_unsynced: true }");
  auto cut_after_mount = std::chrono::steady_clock::now() - d.mounted_at;
  ASSERT_EQ(r.code, 0) << r.out << agent.log();
  EXPECT_TRUE(shut_down(d.data.mnt())) << "the data file system still answers during the power loss";
  EXPECT_EQ(d.writer.wait(5s), 128 + SIGKILL) << "the writer was not SIGKILLed";
  EXPECT_TRUE(agent.wait_log("data file system(s) shut down without flushing", 1s)) << agent.log();
  if (d.data.fstype() == "xfs") {
    ASSERT_LT(cut_after_mount, xfs_log_worker_period())
        << "the cut came after XFS's log worker could have committed phase 2: the result would not be deterministic";
  }

  ASSERT_TRUE(agent.wait_log("reverted: REVERT_EXPIRED", 15s)) << agent.log();
  EXPECT_TRUE(agent.wait_log("mounted again", 5s)) << agent.log();
  EXPECT_FALSE(shut_down(d.data.mnt())) << agent.log();
  // Mounted as before: the options survive the remount.
  EXPECT_NE(d.data.super_options().find(options), std::string::npos) << d.data.super_options();
  expect_durable_state(d.dir);
  EXPECT_TRUE(agent.wait_log("power loss pl: power restored, 1/1 boot hook(s) succeeded", 10s)) << agent.log();
}

TEST(PowerLossData, WhatWasNotDurableIsLostAndWhatWasIsKeptByteForByte) {
  ASSERT_EQ(::geteuid(), 0u) << "the power-loss suite needs root";
  DataLab d(41);
  expect_only_the_durable_survives(d, "commit=300");
}

TEST(PowerLossData, OnXfsWhatWasNotDurableIsLostAndWhatWasIsKeptByteForByte) {
  ASSERT_EQ(::geteuid(), 0u) << "the power-loss suite needs root";
  DataLab d(44, "xfs");
  expect_only_the_durable_survives(d, "logbufs=4");
}

TEST(PowerLossData, WithoutLoseUnsyncedNothingIsLost) {
  // What the drill hid before: the workload dies, and its unsynced writes live on.
  ASSERT_EQ(::geteuid(), 0u);
  DataLab d(42);
  Agent agent(d.agent_options());
  d.write();
  auto r = agent.apply("pl", "3s", "power_loss {}");
  ASSERT_EQ(r.code, 0) << r.out << agent.log();
  EXPECT_FALSE(shut_down(d.data.mnt()));
  ASSERT_TRUE(agent.wait_log("reverted: REVERT_EXPIRED", 15s)) << agent.log();
  EXPECT_EQ(fdp::read_file(d.dir + "/unsynced"), std::string(5000, 'X'));
  EXPECT_EQ(std::filesystem::file_size(d.dir + "/appended"), 8192u);
  EXPECT_TRUE(std::filesystem::exists(d.dir + "/rename-to"));
}

TEST(PowerLossData, AgentKilledBetweenShutdownAndRestoreRemountsAtItsNextStart) {
  ASSERT_EQ(::geteuid(), 0u);
  DataLab d(43);
  ASSERT_TRUE(fdp::eventually([&] { return d.lab.service_up(); }, 10s));
  {
    Agent first(d.agent_options());
    d.write();
    auto r = first.apply("pl", "10m", "power_loss { lose_unsynced: true }");
    ASSERT_EQ(r.code, 0) << r.out << first.log();
    fdp::expect_host_is_dark(d.lab, first);
    first.kill9();
  }
  EXPECT_TRUE(shut_down(d.data.mnt())) << "the shutdown ended with the agent";
  EXPECT_EQ(d.lab.booted(), 0u);
  Agent second(d.agent_options());
  EXPECT_TRUE(second.wait_log("mounted " + d.data.mnt() + " again (journal replayed)", 5s)) << second.log();
  EXPECT_FALSE(shut_down(d.data.mnt()));
  expect_durable_state(d.dir);
  EXPECT_TRUE(second.wait_log("power loss pl: power restored, 1/1 boot hook(s) succeeded", 10s)) << second.log();
  fdp::expect_host_is_back(d.lab);
}

// A copy of the data mount in another mount namespace (made while it was mounted, as
// `unshare -m` or a service with a private /tmp does) keeps the shut-down file system
// alive past the unmount: the mount then attaches the same, shut-down, file system.
// The restore says so and who holds it, instead of claiming a replay; once the holder
// is gone the next attempt restores it.
TEST(PowerLossData, ARemountThatFindsTheFileSystemStillShutDownNamesWhoHoldsIt) {
  ASSERT_EQ(::geteuid(), 0u);
  TempDir dir;
  LoopFs data(dir, "ext4", "commit=300");
  auto self_ns = std::filesystem::read_symlink("/proc/self/ns/mnt");
  Child holder = Child::spawn({"/usr/bin/unshare", "--mount", "--propagation", "private", "sleep", "60"});
  ASSERT_TRUE(fdp::eventually(
      [&] {
        std::error_code ec;
        auto ns = std::filesystem::read_symlink("/proc/" + std::to_string(holder.pid()) + "/ns/mnt", ec);
        return !ec && ns != self_ns && fdp::read_file("/proc/" + std::to_string(holder.pid()) + "/comm") == "sleep\n";
      },
      5s));
  auto fs = firedrill::agent::power::inspect_data_dir(data.mnt());
  ASSERT_TRUE(fs) << fs.error().describe();
  {
    auto fd = firedrill::agent::power::open_for_shutdown(*fs);
    ASSERT_TRUE(fd);
    ASSERT_TRUE(firedrill::agent::power::shut_down(*fs, fd->get()));
  }
  auto r = firedrill::agent::power::remount(*fs);
  ASSERT_FALSE(r) << "a remount that attached the shut-down file system again claimed success";
  auto why = r.error().describe();
  EXPECT_NE(why.find("still shut down"), std::string::npos) << why;
  EXPECT_NE(why.find("pid " + std::to_string(holder.pid()) + " (sleep)"), std::string::npos) << why;
  EXPECT_TRUE(shut_down(data.mnt()));
  holder.kill9();  // reaped: its mount namespace, and the copy, are gone
  auto again = firedrill::agent::power::remount(*fs);
  EXPECT_TRUE(again) << again.error().describe();
  EXPECT_FALSE(shut_down(data.mnt()));
}

}  // namespace
