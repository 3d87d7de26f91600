// Who may connect to a daemon's Unix socket: its group and mode. The socket is made
// under umask 077 (owner only) and opened to its group after bind, so there is no
// moment at which more than the owner can connect. The directory that holds it must
// be searchable by the group (the systemd units' RuntimeDirectory does that).
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace firedrill {

struct SocketAccess {
  std::optional<gid_t> group;  // none: the process's own group
  std::string group_name;
  mode_t mode = 0600;
};

// group: a group name or numeric id ("" for none); mode: octal ("" for 0600, or 0660
// with a group). An unknown group or a mode that is not octal permission bits is an error.
Result<SocketAccess> parse_socket_access(std::string_view group, std::string_view mode);

Result<void> set_socket_access(const std::string& path, const SocketAccess& access);

}  // namespace firedrill
