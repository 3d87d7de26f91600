#include "controller/auth/identity.h"

#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>

#include <grpc/grpc_security_constants.h>
#include <grpcpp/security/auth_context.h>

namespace firedrill::auth {

std::string Caller::describe() const {
  if (uid) return fmt::format("{} (uid {})", name, *uid);
  return fmt::format("{} ({})", name, via == "tls" ? "client certificate" : via);
}

Caller unix_caller(uid_t uid, gid_t gid, pid_t pid) {
  Caller c;
  c.uid = uid;
  c.pid = pid;
  c.via = "unix socket";
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  if (::getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) == 0 && found) {
    c.name = found->pw_name;
    std::vector<gid_t> gids(64);
    int n = static_cast<int>(gids.size());
    if (::getgrouplist(found->pw_name, gid, gids.data(), &n) < 0) {
      gids.resize(static_cast<size_t>(n));
      ::getgrouplist(found->pw_name, gid, gids.data(), &n);
    }
    gids.resize(static_cast<size_t>(std::max(n, 0)));
    for (gid_t g : gids) {
      group gr{};
      group* gfound = nullptr;
      std::vector<char> gbuf(16384);
      if (::getgrgid_r(g, &gr, gbuf.data(), gbuf.size(), &gfound) == 0 && gfound) c.groups.push_back(gfound->gr_name);
    }
  } else {
    // A process of a uid without a user entry (a container's, a test's): named by its
    // number, with its primary group only.
    c.name = fmt::format("uid:{}", uid);
    group gr{};
    group* gfound = nullptr;
    if (::getgrgid_r(gid, &gr, buf.data(), buf.size(), &gfound) == 0 && gfound) c.groups.push_back(gfound->gr_name);
  }
  return c;
}

Result<PeerCredentials> peer_credentials(int fd) {
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return sys_error(errno, "SO_PEERCRED of fd {}", fd);
  return PeerCredentials{cred.pid, cred.uid, cred.gid};
}

Result<Caller> caller_of(const grpc::ServerContext& context, const PeerTable* unix_peers) {
  auto auth = context.auth_context();
  if (auth && auth->IsPeerAuthenticated()) {
    auto cn = auth->FindPropertyValues(GRPC_X509_CN_PROPERTY_NAME);
    if (cn.empty() || cn.front().empty()) {
      return make_error("the client certificate of {} has no common name", context.peer());
    }
    Caller c;
    c.name = "cn:" + std::string(cn.front().data(), cn.front().size());
    c.via = "tls";
    return c;
  }
  if (unix_peers) {
    if (auto cred = unix_peers->find(context.peer())) return unix_caller(cred->uid, cred->gid, cred->pid);
  }
  return make_error("caller {} is not identified (neither a client certificate nor a connection of the API socket)",
                    context.peer());
}

}  // namespace firedrill::auth
