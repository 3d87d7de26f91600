#include "controller/auth/unix_listener.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <charconv>

#include <grpcpp/server_posix.h>

#include "common/log.h"

namespace firedrill::auth {

UnixListener::~UnixListener() { stop(); }

Result<void> UnixListener::bind(const std::string& path) {
  sockaddr_un addr{};
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) return make_error("API socket path '{}': empty or too long", path);
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return sys_error(errno, "API socket {}", path);
  ::unlink(path.c_str());
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || ::listen(fd, 64) != 0) {
    int e = errno;
    ::close(fd);
    return sys_error(e, "API socket {}", path);
  }
  fd_ = fd;
  path_ = path;
  return ok();
}

void UnixListener::serve(grpc::Server* server) {
  thread_ = std::thread([this, server] { accept_loop(server); });
}

void UnixListener::stop() {
  if (fd_ < 0) return;
  ::shutdown(fd_, SHUT_RDWR);  // wakes accept() with EINVAL
  if (thread_.joinable()) thread_.join();
  ::close(fd_);
  fd_ = -1;
}

void UnixListener::accept_loop(grpc::Server* server) {
  while (true) {
    int conn = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);  // gRPC polls it
    if (conn < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        logger("controller.auth")->warn("API socket {}: accept: {}", path_, std::strerror(errno));
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        continue;
      }
      return;  // stopped
    }
    auto cred = peer_credentials(conn);
    if (!cred) {
      logger("controller.auth")->warn("API socket {}: {}; connection closed", path_, cred.error().describe());
      ::close(conn);
      continue;
    }
    {
      std::lock_guard lock(mu_);
      peers_[conn] = *cred;
    }
    grpc::AddInsecureChannelFromFd(server, conn);
  }
}

std::optional<PeerCredentials> UnixListener::find(const std::string& grpc_peer) const {
  if (grpc_peer.rfind("fd:", 0) != 0) return std::nullopt;
  int fd = -1;
  const char* end = grpc_peer.data() + grpc_peer.size();
  auto [p, ec] = std::from_chars(grpc_peer.data() + 3, end, fd);
  if (ec != std::errc() || p != end) return std::nullopt;
  std::lock_guard lock(mu_);
  auto it = peers_.find(fd);
  if (it == peers_.end()) return std::nullopt;
  return it->second;
}

}  // namespace firedrill::auth
