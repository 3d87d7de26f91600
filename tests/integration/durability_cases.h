// The cases of the durability writer (durability_writer.cpp) and what survives each
// of them on a file system that a power loss shuts down without flushing
// (FS_IOC_SHUTDOWN, NOLOGFLUSH) and mounts again: the durable state.
//
// The writer runs in two phases. Phase 1 does everything that is made durable, each
// with its own fsync; phase 2 does everything that is not, and no fsync follows it.
// The test mounts the file system with a journal commit interval of 300 s (commit=300
// on ext4; xfs has no such interval and commits its log on fsync or when it fills),
// so nothing of phase 2 is committed by the time of the cut: "not committed" is
// deterministic. A sync(2) by anyone on the machine in the moment between phase 2 and
// the cut would commit it, and fail the test loudly.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace fdp::durability {

inline std::string bytes(char c, size_t n) { return std::string(n, c); }

// What a path holds after the restore: its exact content, or nothing (absent).
struct Expect {
  std::string path;
  std::optional<std::string> content;
};

struct Case {
  std::string name;
  std::string what;
  std::vector<Expect> expect;
};

inline std::vector<Case> cases() {
  return {
      {"write+fsync", "write 5000 bytes to a new file, fsync it, fsync the directory",
       {{"fsynced", bytes('A', 5000)}}},
      {"O_SYNC", "open a new file O_SYNC, write 5000 bytes, fsync the directory", {{"osync", bytes('S', 5000)}}},
      {"O_DSYNC", "open a new file O_DSYNC, write 5000 bytes, fsync the directory", {{"odsync", bytes('D', 5000)}}},
      {"create+fsync, no dir fsync",
       "write a new file and fsync it, not its directory: ext4 and xfs commit its name with it (POSIX does not "
       "promise that)",
       {{"created-nodirsync", bytes('N', 3000)}}},
      {"rename+dir fsync", "write tmp, fsync it, rename it over, fsync the directory",
       {{"renamed", bytes('R', 3000)}, {"renamed.tmp", std::nullopt}}},
      {"unlink+dir fsync", "a durable file unlinked, the directory fsynced", {{"unlinked", std::nullopt}}},
      {"write, no fsync", "phase 2: write 5000 bytes to a new file, no fsync", {{"unsynced", std::nullopt}}},
      {"append after fsync", "4096 bytes fsynced, then phase 2 appends 4096 more without fsync",
       {{"appended", bytes('B', 4096)}}},
      {"overwrite, no fsync", "a durable file overwritten in place in phase 2, no fsync",
       {{"overwritten", bytes('O', 4096)}}},
      {"rename, no dir fsync", "a durable file renamed in phase 2, no fsync of the directory",
       {{"rename-from", bytes('G', 2000)}, {"rename-to", std::nullopt}}},
      {"unlink, no dir fsync", "a durable file unlinked in phase 2, no fsync of the directory",
       {{"kept", bytes('K', 2000)}}},
      {"create, no fsync", "phase 2: an empty file created, nothing fsynced", {{"empty-created", std::nullopt}}},
  };
}

}  // namespace fdp::durability
