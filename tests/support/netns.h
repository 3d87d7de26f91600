// Network namespaces for the privileged suites. Each suite names what it makes with
// its own prefix and its process id ("fdn-<pid>-h1", "fdc-<pid>-hub", "fdp-<pid>-x"),
// so that parallel runs never collide and a namespace is deleted only by the process
// that made it, or, once that process is gone, by the next run of the same suite.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace firedrill::support {

// "<prefix>-<this pid>".
std::string run_tag(const std::string& prefix);

// Deletes the namespaces <prefix>-<pid>-... whose process no longer exists (a run
// that crashed before its destructors ran).
void remove_stale_netns(const std::string& prefix);

// "<prefix>-<this pid>-<name>", for a new namespace, after removing the stale ones of
// the prefix.
std::string fresh_netns_name(const std::string& prefix, const std::string& name);

// A named namespace (ip netns add) with its loopback up; deleted on destruction.
class Netns {
 public:
  explicit Netns(std::string name);
  ~Netns();
  Netns(const Netns&) = delete;
  Netns& operator=(const Netns&) = delete;

  const std::string& name() const { return name_; }
  int fd() const { return fd_; }
  // `ip -n NAME args...`; throws when it fails.
  std::string ip(const std::vector<std::string>& args) const;

 private:
  std::string name_;
  int fd_ = -1;
};

// A veth pair: `a_if` in a with a_addrs, `b_if` in b with b_addrs (CIDRs), both up.
// IPv6 addresses skip duplicate address detection so that they work at once.
void veth(const Netns& a, const std::string& a_if, const std::vector<std::string>& a_addrs, const Netns& b,
          const std::string& b_if, const std::vector<std::string>& b_addrs);

// Runs f on a thread that has entered the namespace (sockets opened there belong to
// it); rethrows what f throws.
void in_netns(const Netns& ns, const std::function<void()>& f);

}  // namespace firedrill::support
