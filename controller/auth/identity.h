// Who is calling the operators' API, taken from the connection and never from what the
// caller says about itself (no environment variable, no request field):
//   - on the Unix API socket, the kernel's SO_PEERCRED of the connecting process, its uid
//     turned into the user's name and groups by the user database (a uid without an
//     entry is named "uid:N");
//   - over TLS, the verified client certificate's subject common name, named "cn:NAME"
//     so that a certificate can never pass for a local user such as root.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include <grpcpp/server_context.h>

#include "common/result.h"

namespace firedrill::auth {

struct Caller {
  std::string name;                 // "alice", "uid:60101", "cn:ops-dashboard"
  std::optional<uid_t> uid;         // Unix callers
  std::optional<pid_t> pid;         // Unix callers: the connecting process
  std::vector<std::string> groups;  // Unix callers: primary and supplementary group names
  std::string via;                  // "unix socket" or "tls"

  // "alice (uid 1000)", "cn:ops-dashboard (client certificate)"
  std::string describe() const;
};

// A Unix caller from its credentials: name and groups from the user database.
Caller unix_caller(uid_t uid, gid_t gid, pid_t pid);

// The SO_PEERCRED of a connected Unix socket.
struct PeerCredentials {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
};
Result<PeerCredentials> peer_credentials(int fd);

// The connections accepted on the API socket, by the peer name gRPC gives their calls.
// A connection's fd stays open while any call on it is alive (the transport owns it),
// so a call never sees a later connection that reused the number.
class PeerTable {
 public:
  virtual ~PeerTable() = default;
  // The credentials of the connection a call came in on; none for a peer that is not
  // one of ours.
  virtual std::optional<PeerCredentials> find(const std::string& grpc_peer) const = 0;
};

// The caller of an RPC: the client certificate for an authenticated TLS peer, else
// the Unix connection's credentials. An error when neither identifies the caller.
Result<Caller> caller_of(const grpc::ServerContext& context, const PeerTable* unix_peers);

}  // namespace firedrill::auth
