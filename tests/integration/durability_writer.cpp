// The workload of the durability tests: writes the cases of durability_cases.h into
// DIR, phase 1 (durable) then phase 2 (not), writes READY (outside DIR) and waits to
// be killed by the power loss. Exits 1 naming the step that failed.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "tests/integration/durability_cases.h"

namespace {

using fdp::durability::bytes;

std::string dir;

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "durability writer: %s: %s\n", what.c_str(), std::strerror(errno));
  std::exit(1);
}

std::string at(const std::string& name) { return dir + "/" + name; }

int open_new(const std::string& name, int extra = 0) {
  int fd = ::open(at(name).c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | extra, 0644);
  if (fd < 0) die("open " + name);
  return fd;
}

void put(int fd, const std::string& data, const std::string& name) {
  if (::write(fd, data.data(), data.size()) != static_cast<ssize_t>(data.size())) die("write " + name);
}

void sync_fd(int fd, const std::string& name) {
  if (::fsync(fd) != 0) die("fsync " + name);
}

void sync_dir() {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 || ::fsync(fd) != 0) die("fsync directory " + dir);
  ::close(fd);
}

// A new file with DATA, fsynced, its name made durable.
void durable(const std::string& name, const std::string& data) {
  int fd = open_new(name);
  put(fd, data, name);
  sync_fd(fd, name);
  ::close(fd);
  sync_dir();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: durability_writer DIR READY\n");
    return 2;
  }
  dir = argv[1];
  // ---- phase 1: durable
  durable("fsynced", bytes('A', 5000));
  int fd = open_new("osync", O_SYNC);
  put(fd, bytes('S', 5000), "osync");
  ::close(fd);
  fd = open_new("odsync", O_DSYNC);
  put(fd, bytes('D', 5000), "odsync");
  ::close(fd);
  sync_dir();
  fd = open_new("created-nodirsync");
  put(fd, bytes('N', 3000), "created-nodirsync");
  sync_fd(fd, "created-nodirsync");
  ::close(fd);
  durable("renamed.tmp", bytes('R', 3000));
  if (::rename(at("renamed.tmp").c_str(), at("renamed").c_str()) != 0) die("rename renamed.tmp");
  sync_dir();
  durable("unlinked", bytes('U', 2000));
  if (::unlink(at("unlinked").c_str()) != 0) die("unlink unlinked");
  sync_dir();
  durable("appended", bytes('B', 4096));
  durable("overwritten", bytes('O', 4096));
  durable("rename-from", bytes('G', 2000));
  durable("kept", bytes('K', 2000));

  // ---- phase 2: nothing below is fsynced
  fd = open_new("unsynced");
  put(fd, bytes('X', 5000), "unsynced");
  ::close(fd);
  fd = ::open(at("appended").c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd < 0) die("open appended");
  put(fd, bytes('C', 4096), "appended");
  ::close(fd);
  fd = ::open(at("overwritten").c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) die("open overwritten");
  put(fd, bytes('P', 4096), "overwritten");
  ::close(fd);
  if (::rename(at("rename-from").c_str(), at("rename-to").c_str()) != 0) die("rename rename-from");
  if (::unlink(at("kept").c_str()) != 0) die("unlink kept");
  ::close(open_new("empty-created"));

  int ready = ::open(argv[2], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (ready < 0) die("open ready file");
  ::close(ready);
  while (true) ::pause();
}
