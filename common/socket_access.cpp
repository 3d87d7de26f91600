#include "common/socket_access.h"

#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <vector>

namespace firedrill {

Result<SocketAccess> parse_socket_access(std::string_view group, std::string_view mode) {
  SocketAccess a;
  if (!group.empty()) {
    unsigned id = 0;
    auto [end, ec] = std::from_chars(group.data(), group.data() + group.size(), id);
    if (ec == std::errc() && end == group.data() + group.size()) {
      a.group = static_cast<gid_t>(id);
    } else {
      std::string name(group);
      struct group buf {};
      struct group* found = nullptr;
      std::vector<char> scratch(16384);
      int rc = ::getgrnam_r(name.c_str(), &buf, scratch.data(), scratch.size(), &found);
      if (rc != 0) return sys_error(rc, "--api-group {}: cannot look it up", name);
      if (found == nullptr) return make_error("--api-group {}: no such group", name);
      a.group = found->gr_gid;
    }
    a.group_name = std::string(group);
    a.mode = 0660;
  }
  if (!mode.empty()) {
    unsigned bits = 0;
    auto [end, ec] = std::from_chars(mode.data(), mode.data() + mode.size(), bits, 8);
    if (ec != std::errc() || end != mode.data() + mode.size() || bits > 0777 || (bits & 0600) != 0600) {
      return make_error("--api-mode '{}': expected octal permission bits that let the owner read and write (0600, 0660)",
                        mode);
    }
    a.mode = static_cast<mode_t>(bits);
  }
  return a;
}

Result<void> set_socket_access(const std::string& path, const SocketAccess& access) {
  if (access.group && ::chown(path.c_str(), static_cast<uid_t>(-1), *access.group) != 0) {
    return sys_error(errno, "{}: cannot give it to group {}", path, access.group_name);
  }
  if (::chmod(path.c_str(), access.mode) != 0) return sys_error(errno, "{}: cannot set mode {:o}", path, access.mode);
  return ok();
}

}  // namespace firedrill
