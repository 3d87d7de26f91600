#include "agent/sockfault/proxy.h"

#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <queue>
#include <random>
#include <thread>
#include <unordered_map>

#include "agent/sockfault/steering.h"
#include "common/log.h"

namespace firedrill::agent::sockfault {
namespace {

using std::chrono::nanoseconds;
using TimePoint = Clock::time_point;

auto log() {
  static auto l = logger("agent.proxy");
  return l;
}

constexpr size_t kReadBytes = 16 * 1024;
constexpr uint64_t kTagListener = uint64_t(1) << 63;
constexpr uint64_t kTagTimer = uint64_t(1) << 62;
constexpr uint64_t kTagWake = uint64_t(1) << 61;
constexpr uint64_t kTagDns = uint64_t(1) << 60;    // a DNS fault's UDP socket: fd, side in bit 32
constexpr uint64_t kTagQuery = uint64_t(1) << 59;  // a query's socket towards the resolver: query id

Delay delay_of(const v1::Latency& l) {
  return Delay{std::chrono::microseconds(l.fixed_us()), std::chrono::microseconds(l.jitter_us())};
}

void set_nodelay(int fd) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

// Closes with an RST (SO_LINGER 0): the peer's next call fails with ECONNRESET.
void close_with_reset(int fd) {
  if (fd < 0) return;
  linger l{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  ::close(fd);
}

// A socket bound to an ephemeral port of 127.0.0.1 or [::1]; its port.
Result<std::pair<int, uint16_t>> bind_loopback(int family, int type) {
  int fd = ::socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return sys_error(errno, "proxy socket");
  sockaddr_storage sa{};
  socklen_t len;
  if (family == AF_INET) {
    auto& in = reinterpret_cast<sockaddr_in&>(sa);
    in.sin_family = AF_INET;
    in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    len = sizeof in;
  } else {
    auto& in6 = reinterpret_cast<sockaddr_in6&>(sa);
    in6.sin6_family = AF_INET6;
    in6.sin6_addr = in6addr_loopback;
    int one = 1;
    ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    len = sizeof in6;
  }
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), len) != 0 || (type == SOCK_STREAM && ::listen(fd, 1024) != 0)) {
    int e = errno;
    ::close(fd);
    return sys_error(e, "proxy {} socket on {}", type == SOCK_STREAM ? "TCP" : "UDP",
                     family == AF_INET ? "127.0.0.1" : "[::1]");
  }
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  uint16_t port = ntohs(family == AF_INET ? reinterpret_cast<sockaddr_in&>(sa).sin_port
                                          : reinterpret_cast<sockaddr_in6&>(sa).sin6_port);
  return std::pair{fd, port};
}

}  // namespace

Result<DnsShape> DnsShape::from(const v1::DnsFault& f) {
  DnsShape s;
  FD_ASSIGN(rules, DnsRules::compile(f), "dns");
  s.rules = std::move(rules);
  if (f.max_queries() > 0) s.max_queries = f.max_queries();
  return s;
}

Shape Shape::from(const v1::ConnectionFault& f) {
  Shape s;
  if (f.has_to_server_latency()) s.to_server = delay_of(f.to_server_latency());
  if (f.has_to_client_latency()) s.to_client = delay_of(f.to_client_latency());
  if (f.has_to_server_bandwidth()) s.to_server_rate = f.to_server_bandwidth().bytes_per_sec();
  if (f.has_to_client_bandwidth()) s.to_client_rate = f.to_client_bandwidth().bytes_per_sec();
  if (f.has_reset()) {
    s.reset = true;
    s.reset_after_bytes = f.reset().after_bytes();
    s.reset_percent = f.reset().percent() > 0 ? f.reset().percent() : 100;
  }
  if (f.has_stall()) {
    s.never_answer = f.stall().never_answer();
    s.slow_close = std::chrono::microseconds(f.stall().slow_close_us());
  }
  if (f.max_connections() > 0) s.max_connections = f.max_connections();
  return s;
}

struct Proxy::Impl {
  struct Service {
    std::string id;
    Shape shape;
    Resolve resolve;
    int listen[2] = {-1, -1};
    bool lifted = false;
    ProxyCounters c;
  };

  struct Chunk {
    std::string data;
    size_t off = 0;
    TimePoint arrival;
    nanoseconds delay{0};
  };

  // One direction: 0 client -> server, 1 server -> client.
  struct Flow {
    std::deque<Chunk> q;
    size_t queued = 0;
    bool eof_in = false;
    bool eof_out = false;
    TimePoint eof_at;
    double tokens = 0;
    TimePoint refilled;
    bool blocked = false;
  };

  enum class State { kWaiting, kConnecting, kEstablishing, kOpen, kStalled };

  struct Conn {
    uint64_t id = 0;
    std::shared_ptr<Service> svc;
    int fd[2] = {-1, -1};  // client, server
    uint32_t interest[2] = {0, 0};
    State st = State::kWaiting;
    TimePoint connect_at, open_at;
    sf_addr dest{};
    Flow flow[2];
    uint64_t bytes = 0;
    bool will_reset = false;
    TimePoint wake = TimePoint::max();
  };

  struct DnsService {
    std::string id;
    DnsShape shape;
    ResolveDatagram resolve;
    int fd[2] = {-1, -1};  // 127.0.0.1, [::1]
    sockaddr_storage addr[2] = {};
    bool lifted = false;
    DnsCounters c;
  };

  // A query on its way to the resolver (or waiting for its delay first).
  struct Query {
    uint64_t id = 0;
    std::shared_ptr<DnsService> svc;
    int side = 0;
    sockaddr_storage client{};
    socklen_t client_len = 0;
    sf_addr dest{};
    std::string data;
    int up = -1;
    bool sent = false;
    TimePoint wake = TimePoint::max();
  };

  int ep = -1, timer = -1, wakeup = -1;
  std::thread thread;
  mutable std::mutex mu;
  bool stop = false;
  std::map<std::string, std::shared_ptr<Service>> services;
  std::unordered_map<uint64_t, std::unique_ptr<Conn>> conns;
  std::unordered_map<int, std::shared_ptr<Service>> listeners;
  std::map<std::string, std::shared_ptr<DnsService>> dns_services;
  std::unordered_map<int, std::shared_ptr<DnsService>> dns_listeners;
  std::unordered_map<uint64_t, std::unique_ptr<Query>> queries;
  using Timer = std::pair<TimePoint, uint64_t>;
  std::priority_queue<Timer, std::vector<Timer>, std::greater<>> timers;
  uint64_t next_id = 1;
  std::mt19937_64 rng{std::random_device{}()};
  char buf[kReadBytes];
  char dgram[65536];

  ~Impl() {
    for (auto& [id, c] : conns) {
      ::close(c->fd[0]);
      if (c->fd[1] >= 0) ::close(c->fd[1]);
    }
    for (auto& [id, q] : queries) {
      if (q->up >= 0) ::close(q->up);
    }
    for (auto& [id, d] : dns_services) {
      for (int fd : d->fd) {
        if (fd >= 0) ::close(fd);
      }
    }
    for (auto& [fd, s] : listeners) ::close(fd);
    for (int fd : {ep, timer, wakeup}) {
      if (fd >= 0) ::close(fd);
    }
  }

  void poke() {
    uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wakeup, &one, sizeof one);
  }

  nanoseconds draw(const Delay& d) {
    if (d.jitter.count() <= 0) return d.fixed;
    return d.fixed + nanoseconds(std::uniform_int_distribution<int64_t>(0, d.jitter.count() - 1)(rng));
  }

  bool shaped(const Conn& c) const { return !c.svc->lifted; }
  const Delay& delay(const Conn& c, int dir) const { return dir == 0 ? c.svc->shape.to_server : c.svc->shape.to_client; }
  uint64_t rate(const Conn& c, int dir) const {
    return shaped(c) ? (dir == 0 ? c.svc->shape.to_server_rate : c.svc->shape.to_client_rate) : 0;
  }
  // Bytes a rate lets through at once: 5 ms of it, at least one segment.
  static double burst(uint64_t r) { return std::max(double(r) / 200.0, 1500.0); }

  void watch(Conn& c, int side, uint32_t events) {
    if (c.fd[side] < 0 || c.interest[side] == events) return;
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = (c.id << 1) | uint64_t(side);
    int op = c.interest[side] == 0 && events != 0 ? EPOLL_CTL_ADD : (events == 0 ? EPOLL_CTL_DEL : EPOLL_CTL_MOD);
    if (c.interest[side] == 0 && events == 0) return;
    ::epoll_ctl(ep, op, c.fd[side], &ev);
    c.interest[side] = events;
  }

  void finish(Conn& c, bool reset) {
    if (reset) {
      close_with_reset(c.fd[0]);
      close_with_reset(c.fd[1]);
      c.svc->c.reset++;
    } else {
      ::close(c.fd[0]);
      if (c.fd[1] >= 0) ::close(c.fd[1]);
    }
    auto svc = c.svc;
    svc->c.open--;
    conns.erase(c.id);  // c is gone from here on
    if (svc->lifted && svc->c.open == 0) services.erase(svc->id);
  }

  bool start_connect(Conn& c) {
    socklen_t len = 0;
    auto sa = to_sockaddr(c.dest, &len);
    int fd = ::socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    set_nodelay(fd);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), len) != 0 && errno != EINPROGRESS) {
      ::close(fd);
      return false;
    }
    c.fd[1] = fd;
    c.st = State::kConnecting;
    return true;
  }

  // Reads what a side has for its flow; false when the connection ended.
  bool read_side(Conn& c, int dir, TimePoint now) {
    Flow& f = c.flow[dir];
    int from = c.fd[dir];
    while (!f.eof_in && f.queued < kMaxQueued) {
      ssize_t n = ::recv(from, buf, std::min(sizeof buf, kMaxQueued - f.queued), 0);
      if (n > 0) {
        Chunk ch;
        ch.data.assign(buf, size_t(n));
        ch.arrival = now;
        ch.delay = shaped(c) ? draw(delay(c, dir)) : nanoseconds(0);
        f.queued += size_t(n);
        f.q.push_back(std::move(ch));
      } else if (n == 0) {
        f.eof_in = true;
        f.eof_at = now + (shaped(c) ? draw(delay(c, dir)) + c.svc->shape.slow_close : nanoseconds(0));
      } else if (errno == EAGAIN || errno == EINTR) {
        break;
      } else {
        finish(c, true);  // a reset on one side is passed to the other
        return false;
      }
    }
    return true;
  }

  // Writes what is due of a flow; false when the connection ended.
  bool write_side(Conn& c, int dir, TimePoint now) {
    Flow& f = c.flow[dir];
    int to = c.fd[1 - dir];
    f.blocked = false;
    while (!f.q.empty()) {
      Chunk& ch = f.q.front();
      TimePoint from = dir == 0 ? std::max(ch.arrival, c.open_at) : ch.arrival;
      TimePoint due = shaped(c) ? from + ch.delay : now;
      if (due > now) {
        c.wake = std::min(c.wake, due);
        break;
      }
      size_t want = ch.data.size() - ch.off;
      if (uint64_t r = rate(c, dir)) {
        double dt = std::chrono::duration<double>(now - f.refilled).count();
        f.tokens = std::min(burst(r), f.tokens + dt * double(r));
        f.refilled = now;
        double need = std::min(double(want), burst(r) / 2);
        if (f.tokens < need) {
          c.wake = std::min(c.wake, now + std::chrono::duration_cast<nanoseconds>(
                                              std::chrono::duration<double>((need - f.tokens) / double(r))));
          break;
        }
        want = std::min(want, size_t(f.tokens));
      }
      if (c.will_reset && shaped(c)) want = std::min<uint64_t>(want, c.svc->shape.reset_after_bytes - c.bytes);
      ssize_t n = want ? ::send(to, ch.data.data() + ch.off, want, MSG_NOSIGNAL) : 0;
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) {
          f.blocked = true;
          break;
        }
        finish(c, true);
        return false;
      }
      ch.off += size_t(n);
      f.queued -= size_t(n);
      f.tokens -= double(n);
      c.bytes += uint64_t(n);
      (dir == 0 ? c.svc->c.bytes_to_server : c.svc->c.bytes_to_client) += uint64_t(n);
      if (ch.off == ch.data.size()) f.q.pop_front();
      if (c.will_reset && shaped(c) && c.bytes >= c.svc->shape.reset_after_bytes) {
        finish(c, true);
        return false;
      }
    }
    if (f.q.empty() && f.eof_in && !f.eof_out) {
      TimePoint due = shaped(c) ? f.eof_at : now;
      if (due <= now) {
        ::shutdown(to, SHUT_WR);
        f.eof_out = true;
      } else {
        c.wake = std::min(c.wake, due);
      }
    }
    return true;
  }

  void pump(Conn& c, int side, uint32_t events) {
    TimePoint now = Clock::now();
    c.wake = TimePoint::max();
    if (c.st == State::kStalled) {
      if (!shaped(c) || (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))) finish(c, !shaped(c));
      return;
    }
    if (c.st == State::kWaiting) {
      if (now < c.connect_at && shaped(c)) {
        c.wake = c.connect_at;
      } else if (!start_connect(c)) {
        c.svc->c.upstream_failed++;
        finish(c, true);
        return;
      }
    }
    if (c.st == State::kConnecting && side == 1 && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(c.fd[1], SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        log()->debug("fault {}: {} failed: {}", c.svc->id, describe(c.dest), std::strerror(err));
        c.svc->c.upstream_failed++;
        finish(c, true);
        return;
      }
      c.st = State::kEstablishing;
      c.open_at = now + (shaped(c) ? draw(c.svc->shape.to_client) : nanoseconds(0));
    }
    if (c.st == State::kEstablishing) {
      if (now >= c.open_at || !shaped(c)) c.st = State::kOpen;
      else c.wake = std::min(c.wake, c.open_at);
    }
    if (!read_side(c, 0, now)) return;
    bool server_up = c.st == State::kEstablishing || c.st == State::kOpen;
    if (server_up && !read_side(c, 1, now)) return;
    if (c.st == State::kOpen && !write_side(c, 0, now)) return;
    if (server_up && !write_side(c, 1, now)) return;
    if (c.flow[0].eof_out && c.flow[1].eof_out) {
      finish(c, false);
      return;
    }
    auto readable = [](const Flow& f) { return !f.eof_in && f.queued < kMaxQueued; };
    constexpr uint32_t kIn = EPOLLIN, kOut = EPOLLOUT;
    watch(c, 0, (readable(c.flow[0]) ? kIn : 0u) | (c.flow[1].blocked ? kOut : 0u));
    if (c.fd[1] >= 0) {
      uint32_t ev = (c.st == State::kConnecting || c.flow[0].blocked) ? kOut : 0u;
      if (server_up && readable(c.flow[1])) ev |= kIn;
      watch(c, 1, ev);
    }
    if (c.wake != TimePoint::max()) timers.push({c.wake, c.id});
  }

  void accept_all(const std::shared_ptr<Service>& svc, int lfd) {
    for (;;) {
      sockaddr_storage peer{};
      socklen_t len = sizeof peer;
      int fd = ::accept4(lfd, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;
      svc->c.accepted++;
      if (svc->c.open >= svc->shape.max_connections) {
        close_with_reset(fd);
        svc->c.over_limit++;
        svc->c.reset++;
        continue;
      }
      auto dest = svc->resolve(to_sf_addr(peer));
      if (!dest) {
        log()->warn("fault {}: a connection from {} has no recorded destination; reset", svc->id,
                    describe(to_sf_addr(peer)));
        close_with_reset(fd);
        svc->c.reset++;
        continue;
      }
      set_nodelay(fd);
      auto c = std::make_unique<Conn>();
      c->id = next_id++;
      c->svc = svc;
      c->fd[0] = fd;
      c->dest = *dest;
      TimePoint now = Clock::now();
      for (auto& f : c->flow) {
        f.refilled = now;
        f.tokens = 0;
      }
      c->flow[0].tokens = rate(*c, 0) ? burst(rate(*c, 0)) : 0;
      c->flow[1].tokens = rate(*c, 1) ? burst(rate(*c, 1)) : 0;
      const Shape& sh = svc->shape;
      c->will_reset = sh.reset && std::uniform_real_distribution<double>(0, 100)(rng) < sh.reset_percent;
      svc->c.open++;
      Conn& ref = *c;
      conns.emplace(ref.id, std::move(c));
      if (ref.will_reset && sh.reset_after_bytes == 0) {
        finish(ref, true);
        continue;
      }
      if (sh.never_answer) {
        ref.st = State::kStalled;
        watch(ref, 0, EPOLLRDHUP);
        continue;
      }
      ref.connect_at = now + draw(sh.to_server);
      pump(ref, 0, 0);
    }
  }

  // When a connection or a query wants to be woken (none: it is gone).
  const TimePoint* wake_of(uint64_t id) const {
    if (auto it = conns.find(id); it != conns.end()) return &it->second->wake;
    if (auto it = queries.find(id); it != queries.end()) return &it->second->wake;
    return nullptr;
  }

  // ---- DNS

  void dns_finish(Query& q) {
    if (q.up >= 0) {
      ::epoll_ctl(ep, EPOLL_CTL_DEL, q.up, nullptr);
      ::close(q.up);
    }
    auto svc = q.svc;
    svc->c.open--;
    queries.erase(q.id);  // q is gone from here on
    if (svc->lifted && svc->c.open == 0) dns_close(*svc);
  }

  void dns_unwatch(DnsService& d) {
    for (int fd : d.fd) {
      if (fd < 0) continue;
      ::epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr);
      dns_listeners.erase(fd);
    }
  }

  void dns_close(DnsService& d) {
    dns_unwatch(d);
    for (int& fd : d.fd) {
      if (fd >= 0) ::close(fd);
      fd = -1;
    }
    std::string id = d.id;
    dns_services.erase(id);  // d may be gone from here on
  }

  // Sends the query on to its resolver from a socket of the proxy's own (never steered).
  void dns_forward(Query& q, TimePoint now) {
    socklen_t len = 0;
    auto sa = to_sockaddr(q.dest, &len);
    int fd = ::socket(sa.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&sa), len) != 0 ||
        ::send(fd, q.data.data(), q.data.size(), 0) < 0) {
      log()->debug("fault {}: query to {} not sent: {}", q.svc->id, describe(q.dest), std::strerror(errno));
      if (fd >= 0) ::close(fd);
      q.svc->c.dropped++;
      dns_finish(q);
      return;
    }
    q.up = fd;
    q.sent = true;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kTagQuery | q.id;
    ::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    q.wake = now + kDnsTimeout;
    timers.push({q.wake, q.id});
  }

  // Due: a delayed query leaves, a sent one that was not answered is forgotten.
  void dns_due(Query& q, TimePoint now) {
    if (q.sent) return dns_finish(q);
    dns_forward(q, now);
  }

  void dns_answered(Query& q) {
    ssize_t n = ::recv(q.up, dgram, sizeof dgram, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n >= 0 && q.svc->fd[q.side] >= 0) {
      ::sendto(q.svc->fd[q.side], dgram, size_t(n), 0, reinterpret_cast<sockaddr*>(&q.client), q.client_len);
      q.svc->c.passed++;
    } else {
      q.svc->c.dropped++;  // the resolver refused (ICMP): the client times out as it would
    }
    dns_finish(q);
  }

  void dns_read(const std::shared_ptr<DnsService>& svc, int side) {
    int fd = svc->fd[side];
    for (int i = 0; i < 64 && fd >= 0 && !svc->lifted; ++i) {
      sockaddr_storage client{};
      socklen_t len = sizeof client;
      ssize_t n = ::recvfrom(fd, dgram, sizeof dgram, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&client), &len);
      if (n < 0) return;
      std::string_view msg(dgram, size_t(n));
      svc->c.queries++;
      DnsVerdict v = svc->shape.rules.decide(msg);
      if (v.action == v1::DNS_NXDOMAIN || v.action == v1::DNS_SERVFAIL) {
        if (auto answer = dns_answer(msg, v.action)) {
          ::sendto(fd, answer->data(), answer->size(), 0, reinterpret_cast<sockaddr*>(&client), len);
          svc->c.faulted++;
          continue;
        }
      }
      if (v.action == v1::DNS_NO_ANSWER) {
        svc->c.faulted++;
        continue;
      }
      if (svc->c.open >= svc->shape.max_queries) {
        svc->c.dropped++;
        continue;
      }
      auto dest = svc->resolve(client, svc->addr[side]);
      if (!dest) {
        log()->debug("fault {}: a query from {} has no recorded resolver; dropped", svc->id,
                     describe(to_sf_addr(client)));
        svc->c.dropped++;
        continue;
      }
      auto q = std::make_unique<Query>();
      q->id = next_id++;
      q->svc = svc;
      q->side = side;
      q->client = client;
      q->client_len = len;
      q->dest = *dest;
      q->data.assign(msg);
      svc->c.open++;
      Query& ref = *q;
      queries.emplace(ref.id, std::move(q));
      TimePoint now = Clock::now();
      if (v.action == v1::DNS_DELAY) {
        svc->c.faulted++;
        ref.wake = now + v.delay;
        timers.push({ref.wake, ref.id});
      } else {
        dns_forward(ref, now);
      }
    }
  }

  void arm_timer() {
    while (!timers.empty()) {
      auto [t, id] = timers.top();
      const TimePoint* w = wake_of(id);
      if (w && *w == t) break;
      timers.pop();
    }
    itimerspec its{};
    if (!timers.empty()) {
      auto ns = timers.top().first.time_since_epoch().count();
      if (ns <= 0) ns = 1;
      its.it_value.tv_sec = ns / 1'000'000'000;
      its.it_value.tv_nsec = ns % 1'000'000'000;
    }
    ::timerfd_settime(timer, TFD_TIMER_ABSTIME, &its, nullptr);
  }

  void run_due() {
    TimePoint now = Clock::now();
    while (!timers.empty() && timers.top().first <= now) {
      auto [t, id] = timers.top();
      timers.pop();
      if (auto it = conns.find(id); it != conns.end() && it->second->wake == t) pump(*it->second, -1, 0);
      else if (auto q = queries.find(id); q != queries.end() && q->second->wake == t) dns_due(*q->second, now);
    }
  }

  void loop() {
    epoll_event evs[128];
    for (;;) {
      {
        std::lock_guard lock(mu);
        if (stop) return;
        arm_timer();
      }
      int n = ::epoll_wait(ep, evs, 128, -1);
      std::lock_guard lock(mu);
      if (stop) return;
      for (int i = 0; i < n; ++i) {
        uint64_t tag = evs[i].data.u64;
        if (tag & kTagListener) {
          int fd = int(tag & 0xffffffff);
          if (auto it = listeners.find(fd); it != listeners.end()) accept_all(it->second, fd);
        } else if (tag & kTagDns) {
          int fd = int(tag & 0xffffffff);
          if (auto it = dns_listeners.find(fd); it != dns_listeners.end()) dns_read(it->second, int((tag >> 32) & 1));
        } else if (tag & kTagQuery) {
          if (auto it = queries.find(tag & ~kTagQuery); it != queries.end()) dns_answered(*it->second);
        } else if (tag & (kTagTimer | kTagWake)) {
          uint64_t v;
          [[maybe_unused]] auto r = ::read(tag & kTagTimer ? timer : wakeup, &v, sizeof v);
        } else if (auto it = conns.find(tag >> 1); it != conns.end()) {
          pump(*it->second, int(tag & 1), evs[i].events);
        }
      }
      run_due();
    }
  }

  Result<uint16_t> listen_on(int family, const std::shared_ptr<Service>& svc) {
    FD_ASSIGN(bound, bind_loopback(family, SOCK_STREAM), "fault {}", svc->id);
    auto [fd, port] = bound;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kTagListener | uint64_t(uint32_t(fd));
    ::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    listeners[fd] = svc;
    svc->listen[family == AF_INET ? 0 : 1] = fd;
    return port;
  }

  Result<uint16_t> listen_dns(int family, const std::shared_ptr<DnsService>& svc) {
    FD_ASSIGN(bound, bind_loopback(family, SOCK_DGRAM), "fault {}", svc->id);
    auto [fd, port] = bound;
    int side = family == AF_INET ? 0 : 1;
    socklen_t len = sizeof svc->addr[side];
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&svc->addr[side]), &len);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kTagDns | (uint64_t(side) << 32) | uint64_t(uint32_t(fd));
    ::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    dns_listeners[fd] = svc;
    svc->fd[side] = fd;
    return port;
  }

  void close_listeners(Service& s) {
    for (int& fd : s.listen) {
      if (fd < 0) continue;
      ::epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr);
      listeners.erase(fd);
      ::close(fd);
      fd = -1;
    }
  }
};

Proxy::Proxy(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<Proxy>> Proxy::start() {
  auto impl = std::make_unique<Impl>();
  impl->ep = ::epoll_create1(EPOLL_CLOEXEC);
  if (impl->ep < 0) return sys_error(errno, "proxy epoll");
  impl->timer = ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (impl->timer < 0) return sys_error(errno, "proxy timerfd");
  impl->wakeup = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (impl->wakeup < 0) return sys_error(errno, "proxy eventfd");
  for (auto [fd, tag] : {std::pair{impl->timer, kTagTimer}, std::pair{impl->wakeup, kTagWake}}) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = tag;
    if (::epoll_ctl(impl->ep, EPOLL_CTL_ADD, fd, &ev) != 0) return sys_error(errno, "proxy epoll_ctl");
  }
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { raw->loop(); });
  return std::unique_ptr<Proxy>(new Proxy(std::move(impl)));
}

Proxy::~Proxy() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->stop = true;
  }
  impl_->poke();
  impl_->thread.join();
}

Result<Proxy::Ports> Proxy::add(const std::string& fault_id, const Shape& shape, Resolve resolve) {
  std::lock_guard lock(impl_->mu);
  if (impl_->services.count(fault_id)) return make_error("proxy: fault {} is already served", fault_id);
  auto svc = std::make_shared<Impl::Service>();
  svc->id = fault_id;
  svc->shape = shape;
  svc->resolve = std::move(resolve);
  Ports ports;
  FD_ASSIGN(p4, impl_->listen_on(AF_INET, svc), "fault {}", fault_id);
  ports.v4 = p4;
  if (auto p6 = impl_->listen_on(AF_INET6, svc)) ports.v6 = *p6;
  else log()->info("fault {}: IPv6 connections not steered: {}", fault_id, p6.error().describe());
  impl_->services[fault_id] = svc;
  return ports;
}

void Proxy::lift(const std::string& fault_id) {
  std::lock_guard lock(impl_->mu);
  if (auto d = impl_->dns_services.find(fault_id); d != impl_->dns_services.end()) {
    // No more queries are read; the held ones leave now and their answers go back
    // from the fault's port, which closes with the last of them.
    auto svc = d->second;
    svc->lifted = true;
    impl_->dns_unwatch(*svc);
    std::vector<uint64_t> waiting;
    for (auto& [id, q] : impl_->queries) {
      if (q->svc == svc && !q->sent) waiting.push_back(id);
    }
    auto now = Clock::now();
    for (auto id : waiting) impl_->dns_forward(*impl_->queries.at(id), now);
    if (svc->c.open == 0) impl_->dns_close(*svc);
    impl_->poke();
  }
  auto it = impl_->services.find(fault_id);
  if (it == impl_->services.end()) return;
  auto svc = it->second;
  impl_->close_listeners(*svc);
  svc->lifted = true;
  std::vector<uint64_t> ids;
  for (auto& [id, c] : impl_->conns) {
    if (c->svc == svc) ids.push_back(id);
  }
  for (auto id : ids) {
    if (auto c = impl_->conns.find(id); c != impl_->conns.end()) impl_->pump(*c->second, -1, 0);
  }
  if (svc->c.open == 0) impl_->services.erase(fault_id);
  impl_->poke();
}

Result<Proxy::Ports> Proxy::add_dns(const std::string& fault_id, DnsShape shape, ResolveDatagram resolve) {
  std::lock_guard lock(impl_->mu);
  if (impl_->dns_services.count(fault_id)) return make_error("proxy: DNS fault {} is already served", fault_id);
  auto svc = std::make_shared<Impl::DnsService>();
  svc->id = fault_id;
  svc->shape = std::move(shape);
  svc->resolve = std::move(resolve);
  Ports ports;
  FD_ASSIGN(p4, impl_->listen_dns(AF_INET, svc), "fault {}", fault_id);
  ports.v4 = p4;
  if (auto p6 = impl_->listen_dns(AF_INET6, svc)) ports.v6 = *p6;
  else log()->info("fault {}: IPv6 queries not steered: {}", fault_id, p6.error().describe());
  impl_->dns_services[fault_id] = svc;
  impl_->poke();
  return ports;
}

DnsCounters Proxy::dns_counters(const std::string& fault_id) const {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->dns_services.find(fault_id);
  return it == impl_->dns_services.end() ? DnsCounters{} : it->second->c;
}

ProxyCounters Proxy::counters(const std::string& fault_id) const {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->services.find(fault_id);
  return it == impl_->services.end() ? ProxyCounters{} : it->second->c;
}

size_t Proxy::connections() const {
  std::lock_guard lock(impl_->mu);
  return impl_->conns.size();
}

}  // namespace firedrill::agent::sockfault
