// The API's Unix socket, accepted here rather than by gRPC so that each connection's
// SO_PEERCRED is read from its fd before gRPC takes it (AddInsecureChannelFromFd):
// gRPC 1.51 gives a Unix-socket call no credentials of its peer. A call names its
// connection by the peer string "fd:N", which find() resolves.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <thread>

#include <grpcpp/server.h>

#include "common/result.h"
#include "controller/auth/identity.h"

namespace firedrill::auth {

class UnixListener final : public PeerTable {
 public:
  UnixListener() = default;
  ~UnixListener() override;
  UnixListener(const UnixListener&) = delete;
  UnixListener& operator=(const UnixListener&) = delete;

  // Binds `path` (removing a stale socket first) under the process's umask.
  Result<void> bind(const std::string& path);
  // Hands every connection from now on to `server` (built and started, without ports
  // of its own for this socket).
  void serve(grpc::Server* server);
  // Stops accepting; connections already handed over stay with gRPC.
  void stop();

  std::optional<PeerCredentials> find(const std::string& grpc_peer) const override;

 private:
  void accept_loop(grpc::Server* server);

  int fd_ = -1;
  std::string path_;
  std::thread thread_;
  mutable std::mutex mu_;
  std::map<int, PeerCredentials> peers_;  // by connection fd
};

}  // namespace firedrill::auth
