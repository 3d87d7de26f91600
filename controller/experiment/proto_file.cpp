#include "controller/experiment/proto_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <random>

#include <fmt/format.h>

#include "common/time.h"

namespace firedrill::experiment {

Result<void> write_proto_file(const std::string& path, const google::protobuf::Message& msg) {
  std::string bytes;
  if (!msg.SerializeToString(&bytes)) return make_error("serialize {} for {}", msg.GetTypeName(), path);
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return sys_error(errno, "create {}", tmp);
  size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + off, bytes.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return sys_error(e, "write {}", tmp);
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    int e = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    return sys_error(e, "fsync {}", tmp);
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    return sys_error(e, "rename {} to {}", tmp, path);
  }
  return ok();
}

Result<void> read_proto_file(const std::string& path, google::protobuf::Message* msg) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return sys_error(errno, "open {}", path);
  std::string bytes;
  char buf[65536];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      return sys_error(e, "read {}", path);
    }
    if (n == 0) break;
    bytes.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  if (!msg->ParseFromString(bytes)) return make_error("{} is not a valid {} record", path, msg->GetTypeName());
  return ok();
}

Result<void> make_dirs(const std::string& path) {
  if (path.empty()) return ok();
  for (size_t pos = 1; pos <= path.size(); ++pos) {
    if (pos != path.size() && path[pos] != '/') continue;
    std::string prefix = path.substr(0, pos);
    if (::mkdir(prefix.c_str(), 0700) != 0 && errno != EEXIST) return sys_error(errno, "mkdir {}", prefix);
  }
  return ok();
}

Result<std::vector<std::string>> list_files(const std::string& dir, const std::string& suffix) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return sys_error(errno, "open directory {}", dir);
  std::vector<std::string> out;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      out.push_back(name);
    }
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

std::string new_record_id(const std::string& prefix) {
  static std::mt19937_64 rng{std::random_device{}()};
  std::time_t now = WallClock::to_time_t(WallClock::now());
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", &tm);
  return fmt::format("{}-{}-{:06x}", prefix, buf, static_cast<unsigned>(rng() & 0xffffff));
}

}  // namespace firedrill::experiment
