#include "tests/integration/net_lab.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "common/spawn.h"

#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>

namespace firedrill::testing {
namespace {

using Clock = std::chrono::steady_clock;

bool is_v6(const std::string& addr) { return addr.find(':') != std::string::npos; }

// Fills a sockaddr for addr:port; returns its length.
socklen_t sockaddr_of(const std::string& addr, uint16_t port, sockaddr_storage* ss) {
  std::memset(ss, 0, sizeof *ss);
  if (is_v6(addr)) {
    auto* s6 = reinterpret_cast<sockaddr_in6*>(ss);
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(port);
    if (inet_pton(AF_INET6, addr.c_str(), &s6->sin6_addr) != 1) throw std::invalid_argument("bad address " + addr);
    return sizeof *s6;
  }
  auto* s4 = reinterpret_cast<sockaddr_in*>(ss);
  s4->sin_family = AF_INET;
  s4->sin_port = htons(port);
  if (inet_pton(AF_INET, addr.c_str(), &s4->sin_addr) != 1) throw std::invalid_argument("bad address " + addr);
  return sizeof *s4;
}

Fd socket_in(const Netns& ns, int family, int type, int proto) {
  int fd = -1;
  in_netns(ns, [&] { fd = ::socket(family, type | SOCK_CLOEXEC, proto); });
  if (fd < 0) throw std::runtime_error(std::string("socket in ") + ns.name() + ": " + std::strerror(errno));
  return Fd(fd);
}

bool wait_readable(int fd, std::chrono::milliseconds timeout) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, static_cast<int>(timeout.count())) == 1;
}

uint16_t checksum(const void* data, size_t len) {
  uint32_t sum = 0;
  auto* p = static_cast<const uint8_t*>(data);
  for (size_t i = 0; i + 1 < len; i += 2) sum += (p[i] << 8) | p[i + 1];
  if (len & 1) sum += p[len - 1] << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return htons(static_cast<uint16_t>(~sum));
}

}  // namespace

std::string lab_tag() { return support::run_tag("fdn"); }

Netns::Netns(const std::string& name) : support::Netns(support::fresh_netns_name("fdn", name)) {}

Fd& Fd::operator=(Fd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(o.fd_, -1);
  }
  return *this;
}

Fd::~Fd() {
  if (fd_ >= 0) ::close(fd_);
}

TcpEcho::TcpEcho(const Netns& ns, const std::string& addr, uint16_t port) {
  listen_ = socket_in(ns, is_v6(addr) ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(listen_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_storage ss;
  socklen_t len = sockaddr_of(addr, port, &ss);
  if (::bind(listen_.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0 || ::listen(listen_.get(), 64) != 0) {
    throw std::runtime_error("tcp listen on " + addr + ":" + std::to_string(port) + ": " + std::strerror(errno));
  }
  thread_ = std::thread([this] {
    std::vector<pollfd> fds = {{listen_.get(), POLLIN, 0}};
    while (!stop_) {
      if (::poll(fds.data(), fds.size(), 50) <= 0) continue;
      for (size_t i = 0; i < fds.size(); ++i) {
        if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        if (i == 0) {
          int c = ::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC);
          if (c >= 0) fds.push_back({c, POLLIN, 0});
          continue;
        }
        char buf[4096];
        ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
        if (n <= 0 || ::write(fds[i].fd, buf, static_cast<size_t>(n)) != n) {
          ::close(fds[i].fd);
          fds[i].fd = -1;
        }
      }
      fds.erase(std::remove_if(fds.begin() + 1, fds.end(), [](auto& p) { return p.fd < 0; }), fds.end());
    }
    for (size_t i = 1; i < fds.size(); ++i) ::close(fds[i].fd);
  });
}

TcpEcho::~TcpEcho() {
  stop_ = true;
  thread_.join();
}

UdpSink::UdpSink(const Netns& ns, const std::string& addr, uint16_t port) {
  fd_ = socket_in(ns, is_v6(addr) ? AF_INET6 : AF_INET, SOCK_DGRAM, 0);
  int big = 32 << 20;
  ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
  sockaddr_storage ss;
  socklen_t len = sockaddr_of(addr, port, &ss);
  if (::bind(fd_.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    throw std::runtime_error("udp bind " + addr + ":" + std::to_string(port) + ": " + std::strerror(errno));
  }
  thread_ = std::thread([this] {
    char buf[2048];
    while (!stop_) {
      if (!wait_readable(fd_.get(), 50ms)) continue;
      ssize_t n = ::recv(fd_.get(), buf, sizeof buf, MSG_DONTWAIT);
      if (n <= 0) continue;
      if (n >= 8) {
        uint64_t seq;
        std::memcpy(&seq, buf, 8);
        std::lock_guard lock(mu_);
        seqs_.push_back(seq);
      }
      ++received_;
    }
  });
}

UdpSink::~UdpSink() {
  stop_ = true;
  thread_.join();
}

std::vector<bool> UdpSink::seen(size_t max_seq) const {
  std::vector<bool> out(max_seq, false);
  std::lock_guard lock(mu_);
  for (auto s : seqs_) {
    if (s < max_seq) out[s] = true;
  }
  return out;
}

std::vector<bool> UdpSink::seen_range(uint64_t first, size_t n) const {
  std::vector<bool> out(n, false);
  std::lock_guard lock(mu_);
  for (auto s : seqs_) {
    if (s >= first && s - first < n) out[s - first] = true;
  }
  return out;
}

TcpClient TcpClient::connect(const Netns& ns, const std::string& addr, uint16_t port,
                             std::chrono::milliseconds timeout) {
  TcpClient c;
  Fd fd = socket_in(ns, is_v6(addr) ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  sockaddr_storage ss;
  socklen_t len = sockaddr_of(addr, port, &ss);
  int r = ::connect(fd.get(), reinterpret_cast<sockaddr*>(&ss), len);
  if (r != 0 && errno != EINPROGRESS) return c;
  pollfd p{fd.get(), POLLOUT, 0};
  if (r != 0 && ::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return c;
  int err = 0;
  socklen_t elen = sizeof err;
  ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &elen);
  if (err != 0) return c;
  ::fcntl(fd.get(), F_SETFL, ::fcntl(fd.get(), F_GETFL) & ~O_NONBLOCK);
  c.fd_ = std::move(fd);
  return c;
}

bool TcpClient::round_trip(std::chrono::milliseconds timeout) {
  if (!fd_) return false;
  const char msg[] = "firedrill\n";
  if (::send(fd_.get(), msg, sizeof msg - 1, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof msg - 1)) return false;
  size_t got = 0;
  auto deadline = Clock::now() + timeout;
  char buf[64];
  while (got < sizeof msg - 1) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0 || !wait_readable(fd_.get(), left)) return false;
    ssize_t n = ::recv(fd_.get(), buf, sizeof buf, 0);
    if (n <= 0) return false;
    got += static_cast<size_t>(n);
  }
  return true;
}

bool tcp_connects(const Netns& from, const std::string& addr, uint16_t port, std::chrono::milliseconds timeout) {
  return TcpClient::connect(from, addr, port, timeout).ok();
}

bool icmp_echo(const Netns& from, const std::string& addr, std::chrono::milliseconds timeout) {
  Fd fd = socket_in(from, AF_INET, SOCK_RAW, IPPROTO_ICMP);
  sockaddr_storage ss;
  socklen_t len = sockaddr_of(addr, 0, &ss);
  static std::atomic<uint16_t> seq{1};
  uint16_t id = static_cast<uint16_t>(::getpid()), s = seq++;
  uint8_t pkt[16] = {};
  pkt[0] = ICMP_ECHO;
  std::memcpy(pkt + 4, &id, 2);
  std::memcpy(pkt + 6, &s, 2);
  uint16_t sum = checksum(pkt, sizeof pkt);
  std::memcpy(pkt + 2, &sum, 2);
  if (::sendto(fd.get(), pkt, sizeof pkt, 0, reinterpret_cast<sockaddr*>(&ss), len) < 0) return false;
  auto deadline = Clock::now() + timeout;
  uint8_t buf[1500];
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0 || !wait_readable(fd.get(), left)) return false;
    ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
    if (n < 20) continue;
    size_t ihl = (buf[0] & 0x0f) * 4u;
    if (static_cast<size_t>(n) < ihl + 8) continue;
    const uint8_t* icmp = buf + ihl;
    if (icmp[0] == ICMP_ECHOREPLY && std::memcmp(icmp + 4, &id, 2) == 0 && std::memcmp(icmp + 6, &s, 2) == 0) {
      return true;
    }
  }
}

void udp_send(const Netns& from, const std::string& addr, uint16_t port, size_t count, std::chrono::microseconds gap,
              uint64_t first_seq) {
  Fd fd = socket_in(from, is_v6(addr) ? AF_INET6 : AF_INET, SOCK_DGRAM, 0);
  sockaddr_storage ss;
  socklen_t len = sockaddr_of(addr, port, &ss);
  auto next = Clock::now();
  char payload[64] = {};
  for (size_t i = 0; i < count; ++i) {
    uint64_t seq = first_seq + i;
    std::memcpy(payload, &seq, 8);
    // Sends that fail (an unresolved neighbour under a blackhole) are part of the test.
    (void)::sendto(fd.get(), payload, sizeof payload, 0, reinterpret_cast<sockaddr*>(&ss), len);
    if (gap.count() > 0) {
      next += gap;
      std::this_thread::sleep_until(next);
    }
  }
}

bool udp_gets_through(const Netns& from, const std::string& addr, uint16_t port, const UdpSink& sink,
                      std::chrono::milliseconds timeout) {
  auto before = sink.received();
  udp_send(from, addr, port, 3, 1ms);
  auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (sink.received() > before) return true;
    std::this_thread::sleep_for(5ms);
  }
  return sink.received() > before;
}

int attached_programs(const Netns& ns, const std::string& ifname) {
  int total = 0;
  in_netns(ns, [&] {
    unsigned ifindex = if_nametoindex(ifname.c_str());
    if (ifindex == 0) throw std::runtime_error("no interface " + ifname + " in " + ns.name());
    for (int type : {46, 47}) {  // tcx ingress, egress
      uint32_t ids[64], cnt = 64, flags = 0;
      if (bpf_prog_query(static_cast<int>(ifindex), static_cast<bpf_attach_type>(type), 0, &flags, ids, &cnt) == 0) {
        total += static_cast<int>(cnt);
      }
    }
    uint32_t xdp_id = 0;
    if (bpf_xdp_query_id(static_cast<int>(ifindex), 0, &xdp_id) == 0 && xdp_id != 0) ++total;
  });
  return total;
}

std::string agent_binary() { return FD_AGENT_BIN; }

AgentProcess::AgentProcess(const Netns& ns, const std::vector<std::string>& args) {
  static std::atomic<int> n{0};
  std::string base = "/tmp/" + lab_tag() + "-agent" + std::to_string(n++);
  socket_ = base + ".sock";
  log_path_ = base + ".log";
  state_dir_ = base + "-state";
  // Without the watcher: the tests signal the agent itself and watch its links go.
  std::vector<std::string> argv = {agent_binary(), "--local-socket", socket_, "--state-dir", state_dir_,
                                   "--log-level", "debug", "--no-watcher"};
  argv.insert(argv.end(), args.begin(), args.end());
  std::filesystem::remove(log_path_);
  firedrill::SpawnOptions o;
  o.argv = argv;
  o.netns = "/run/netns/" + ns.name();
  o.output_file = log_path_;
  auto pid = firedrill::start(o);
  if (!pid) throw std::runtime_error("start firedrill-agent: " + pid.error().describe());
  pid_ = *pid;
  auto deadline = Clock::now() + 20s;
  while (Clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("firedrill-agent exited at start: " + log());
    }
    if (std::filesystem::exists(socket_) && ctl({"status"}).code == 0) return;
    std::this_thread::sleep_for(50ms);
  }
  throw std::runtime_error("firedrill-agent did not answer on " + socket_ + " within 20s: " + log());
}

AgentProcess::~AgentProcess() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    auto deadline = Clock::now() + 5s;
    int status = 0;
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
      if (Clock::now() > deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(10ms);
    }
  }
  std::error_code ec;
  std::filesystem::remove(socket_, ec);
  std::filesystem::remove(log_path_, ec);
  std::filesystem::remove_all(state_dir_, ec);
}

Exec AgentProcess::ctl(const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {agent_binary(), "ctl", "--socket", socket_};
  argv.insert(argv.end(), args.begin(), args.end());
  return exec(argv);
}

Exec AgentProcess::apply(const std::string& id, const std::string& spec, const std::string& lease) const {
  return ctl({"apply", "--id", id, "--for", lease, "--spec", spec});
}

Exec AgentProcess::revert(const std::string& id) const { return ctl({"revert", "--id", id}); }

uint64_t AgentProcess::packets_dropped(const std::string& id) const {
  auto r = ctl({"status"});
  auto at = r.out.find("fault_id: \"" + id + "\"");
  if (at == std::string::npos) return 0;
  auto end = r.out.find("active_faults", at);
  auto p = r.out.find("packets_dropped: ", at);
  if (p == std::string::npos || (end != std::string::npos && p > end)) return 0;
  return std::stoull(r.out.substr(p + 17));
}

void AgentProcess::kill9() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

std::string AgentProcess::log() const { return support::read_file(log_path_); }

}  // namespace firedrill::testing
