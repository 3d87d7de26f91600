#include "tests/support/netns.h"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <exception>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

#include "tests/support/process.h"

namespace firedrill::support {

std::string run_tag(const std::string& prefix) { return prefix + "-" + std::to_string(::getpid()); }

void remove_stale_netns(const std::string& prefix) {
  // Once per prefix and process: a sweep lists every namespace of the host.
  static std::mutex mu;
  static std::set<std::string> swept;
  {
    std::lock_guard lock(mu);
    if (!swept.insert(prefix).second) return;
  }
  DIR* d = ::opendir("/run/netns");
  if (!d) return;
  std::string head = prefix + "-";
  std::vector<std::string> stale;
  while (auto* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n.rfind(head, 0) != 0) continue;
    auto dash = n.find('-', head.size());
    if (dash == std::string::npos) continue;
    std::string pid = n.substr(head.size(), dash - head.size());
    if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos) continue;
    if (::kill(std::stoi(pid), 0) != 0 && errno == ESRCH) stale.push_back(n);
  }
  ::closedir(d);
  for (const auto& n : stale) exec({"ip", "netns", "del", n});
}

std::string fresh_netns_name(const std::string& prefix, const std::string& name) {
  remove_stale_netns(prefix);
  return run_tag(prefix) + "-" + name;
}

Netns::Netns(std::string name) : name_(std::move(name)) {
  // Ours by name (it carries our pid): a leftover of an earlier process with our pid.
  exec({"ip", "netns", "del", name_});
  must({"ip", "netns", "add", name_});
  fd_ = ::open(("/run/netns/" + name_).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) {
    int err = errno;
    exec({"ip", "netns", "del", name_});
    throw std::runtime_error("open /run/netns/" + name_ + ": " + std::strerror(err));
  }
  ip({"link", "set", "lo", "up"});
}

Netns::~Netns() {
  if (fd_ >= 0) ::close(fd_);
  exec({"ip", "netns", "del", name_});
}

std::string Netns::ip(const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {"ip", "-n", name_};
  argv.insert(argv.end(), args.begin(), args.end());
  return must(argv);
}

void veth(const Netns& a, const std::string& a_if, const std::vector<std::string>& a_addrs, const Netns& b,
          const std::string& b_if, const std::vector<std::string>& b_addrs) {
  must({"ip", "link", "add", a_if, "netns", a.name(), "type", "veth", "peer", "name", b_if, "netns", b.name()});
  for (auto* side : {&a, &b}) {
    const auto& ifname = side == &a ? a_if : b_if;
    for (const auto& addr : side == &a ? a_addrs : b_addrs) {
      if (addr.find(':') != std::string::npos) side->ip({"addr", "add", addr, "dev", ifname, "nodad"});
      else side->ip({"addr", "add", addr, "dev", ifname});
    }
    side->ip({"link", "set", ifname, "up"});
  }
}

void in_netns(const Netns& ns, const std::function<void()>& f) {
  std::exception_ptr error;
  std::thread t([&] {
    try {
      if (::setns(ns.fd(), CLONE_NEWNET) != 0) {
        throw std::runtime_error("setns into " + ns.name() + ": " + std::strerror(errno));
      }
      f();
    } catch (...) {
      error = std::current_exception();
    }
  });
  t.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace firedrill::support
