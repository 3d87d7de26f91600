#include "agent/local/control_socket.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"

namespace firedrill::agent {
namespace {

auto log() {
  static auto l = logger("agent.local");
  return l;
}

Result<sockaddr_un> unix_address(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    return make_error("control socket path '{}' is longer than {} bytes", path, sizeof addr.sun_path - 1);
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return addr;
}

Result<void> io_all(int fd, char* buf, size_t n, bool writing) {
  while (n > 0) {
    ssize_t r = writing ? ::send(fd, buf, n, MSG_NOSIGNAL) : ::recv(fd, buf, n, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return sys_error(errno, "{} control socket", writing ? "write to" : "read from");
    if (r == 0) return make_error("control socket closed by the peer");
    buf += r;
    n -= static_cast<size_t>(r);
  }
  return ok();
}

}  // namespace

Result<void> write_frame(int fd, const std::string& bytes) {
  uint32_t len = htonl(static_cast<uint32_t>(bytes.size()));
  FD_TRY(io_all(fd, reinterpret_cast<char*>(&len), 4, true), "frame length");
  std::string copy = bytes;
  return io_all(fd, copy.data(), copy.size(), true);
}

Result<std::string> read_frame(int fd, uint32_t max_bytes) {
  uint32_t len = 0;
  FD_TRY(io_all(fd, reinterpret_cast<char*>(&len), 4, false), "frame length");
  len = ntohl(len);
  if (len > max_bytes) return make_error("message of {} bytes is over the limit of {} bytes", len, max_bytes);
  std::string bytes(len, '\0');
  FD_TRY(io_all(fd, bytes.data(), len, false), "frame body of {} bytes", len);
  return bytes;
}

Result<void> LocalControlServer::start(const std::string& path) {
  FD_ASSIGN(addr, unix_address(path), "control socket");
  ::unlink(path.c_str());
  listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) return sys_error(errno, "create control socket");
  mode_t old = ::umask(0077);
  int rc = ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::umask(old);
  if (rc != 0) return sys_error(errno, "bind control socket {}", path);
  if (::listen(listen_fd_, 16) != 0) return sys_error(errno, "listen on control socket {}", path);
  if (::pipe2(wake_, O_CLOEXEC) != 0) return sys_error(errno, "create wake pipe");
  path_ = path;
  thread_ = std::thread([this] { serve(); });
  log()->info("local control socket at {}", path);
  return ok();
}

void LocalControlServer::stop() {
  if (thread_.joinable()) {
    char c = 1;
    (void)!::write(wake_[1], &c, 1);
    thread_.join();
  }
  for (int* fd : {&listen_fd_, &wake_[0], &wake_[1]}) {
    if (*fd >= 0) ::close(*fd);
    *fd = -1;
  }
  if (!path_.empty()) ::unlink(path_.c_str());
  path_.clear();
}

void LocalControlServer::serve() {
  while (true) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      log()->error("poll on control socket: {}", std::strerror(errno));
      return;
    }
    if (fds[1].revents) return;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    // A stuck client must not hold the socket: bound every read and write.
    timeval tv{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    serve_one(fd);
    ::close(fd);
  }
}

void LocalControlServer::serve_one(int fd) {
  auto frame = read_frame(fd, kMaxLocalMessage);
  if (!frame) {
    log()->warn("control socket: {}", frame.error().describe());
    return;
  }
  v1::ControllerMessage msg;
  v1::AgentMessage reply;
  if (!msg.ParseFromString(*frame)) {
    log()->warn("control socket: message of {} bytes is not a ControllerMessage", frame->size());
    auto* a = reply.mutable_ack();
    a->set_status(v1::ACK_REFUSED);
    a->set_error("not a valid firedrill.v1.ControllerMessage");
  } else {
    reply = handler_.handle(msg, v1::REVERT_LOCAL);
  }
  if (auto r = write_frame(fd, reply.SerializeAsString()); !r) {
    log()->warn("control socket reply: {}", r.error().describe());
  }
}

Result<v1::AgentMessage> local_call(const std::string& path, const v1::ControllerMessage& message,
                                    std::chrono::milliseconds timeout) {
  FD_ASSIGN(addr, unix_address(path), "control socket");
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return sys_error(errno, "create socket");
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  timeval tv{static_cast<time_t>(timeout.count() / 1000), static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    return sys_error(errno, "connect to agent control socket {} (is firedrill-agent running with --local-socket?)", path);
  }
  FD_TRY(write_frame(fd, message.SerializeAsString()), "send to {}", path);
  FD_ASSIGN(bytes, read_frame(fd, kMaxLocalMessage), "answer from {}", path);
  v1::AgentMessage reply;
  if (!reply.ParseFromString(bytes)) return make_error("answer from {} is not an AgentMessage", path);
  return reply;
}

}  // namespace firedrill::agent
