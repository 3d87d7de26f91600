#include "common/output_file.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>

namespace firedrill {

namespace {

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

std::string random_suffix() {
  static constexpr char kChars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  unsigned char bytes[12];
  if (::getrandom(bytes, sizeof bytes, 0) != static_cast<ssize_t>(sizeof bytes)) {
    for (auto& b : bytes) b = static_cast<unsigned char>(std::rand());
  }
  std::string out;
  for (unsigned char b : bytes) out += kChars[b % (sizeof kChars - 1)];
  return out;
}

}  // namespace

Result<void> write_output_file(const std::filesystem::path& path, std::string_view text, mode_t mode) {
  std::filesystem::path dir = path.parent_path();
  std::string base = path.filename().string();
  if (base.empty() || base == "." || base == "..") return make_error("write {}: not a file name", path.string());
  Fd d{::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (d.fd < 0) return sys_error(errno, "write {}: open directory {}", path.string(), dir.empty() ? "." : dir.string());
  std::string tmp;
  Fd f;
  for (int attempt = 0; attempt < 16 && f.fd < 0; ++attempt) {
    tmp = "." + base + ".tmp-" + random_suffix();
    f.fd = ::openat(d.fd, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (f.fd < 0 && errno != EEXIST) return sys_error(errno, "write {}: create a temporary file beside it", path.string());
  }
  if (f.fd < 0) return make_error("write {}: no free temporary name beside it", path.string());
  auto fail = [&](int err, std::string_view what) {
    ::unlinkat(d.fd, tmp.c_str(), 0);
    return sys_error(err, "write {}: {}", path.string(), what);
  };
  size_t off = 0;
  while (off < text.size()) {
    ssize_t n = ::write(f.fd, text.data() + off, text.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(errno, "write");
    off += static_cast<size_t>(n);
  }
  if (::fchmod(f.fd, mode) != 0) return fail(errno, "set its mode");
  if (::fsync(f.fd) != 0) return fail(errno, "sync");
  if (::renameat(d.fd, tmp.c_str(), d.fd, base.c_str()) != 0) return fail(errno, "rename it into place");
  ::fsync(d.fd);
  return ok();
}

}  // namespace firedrill
