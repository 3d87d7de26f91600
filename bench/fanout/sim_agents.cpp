#include "bench/fanout/sim_agents.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <queue>
#include <random>
#include <string_view>

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "common/time.h"
#include "firedrill/v1/agent.pb.h"

namespace firedrill::bench {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
constexpr std::string_view kPath = "/firedrill.v1.AgentService/Connect";
constexpr uint8_t kData = 0x0, kHeaders = 0x1, kRstStream = 0x3, kSettings = 0x4, kPing = 0x6, kGoaway = 0x7,
                  kWindowUpdate = 0x8;
constexpr uint8_t kEndStream = 0x1, kAck = 0x1, kEndHeaders = 0x4, kPadded = 0x8;
constexpr uint16_t kSettingsEnablePush = 0x2, kSettingsInitialWindow = 0x4;
constexpr uint32_t kStream = 1;
// What we let the controller send before it must wait for our WINDOW_UPDATE: more
// than a benchmark run delivers, so we never owe one (a gRPC client sends them).
constexpr uint32_t kOurWindow = 1u << 30;
constexpr uint64_t kCommandTag = ~uint64_t{0};
constexpr const char* kTrailersOnly = "the controller ended the stream (trailers)";
// The agent's reconnect backoff (agent/session/controller_session.cpp).
constexpr auto kBackoffFirst = std::chrono::milliseconds(200);
constexpr auto kBackoffMax = std::chrono::milliseconds(5000);
constexpr auto kBackoffWhileFollowersAnswer = std::chrono::milliseconds(1000);

uint32_t be32(const char* p) {
  auto u = reinterpret_cast<const unsigned char*>(p);
  return (uint32_t{u[0]} << 24) | (uint32_t{u[1]} << 16) | (uint32_t{u[2]} << 8) | u[3];
}
void put_be32(std::string& out, uint32_t v) {
  char b[4] = {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
  out.append(b, 4);
}
void put_frame_header(std::string& out, size_t len, uint8_t type, uint8_t flags, uint32_t stream) {
  char h[9] = {char(len >> 16), char(len >> 8), char(len), char(type), char(flags),
               char((stream >> 24) & 0x7f), char(stream >> 16), char(stream >> 8), char(stream)};
  out.append(h, 9);
}
// RFC 7541 5.1 integers and 5.2 string literals (no Huffman coding).
void hpack_int(std::string& out, uint8_t first, int prefix_bits, size_t v) {
  size_t max = (size_t{1} << prefix_bits) - 1;
  if (v < max) {
    out.push_back(char(first | v));
    return;
  }
  out.push_back(char(first | max));
  for (v -= max; v >= 128; v /= 128) out.push_back(char(v % 128 + 128));
  out.push_back(char(v));
}
void hpack_string(std::string& out, std::string_view s) {
  hpack_int(out, 0, 7, s.size());
  out.append(s);
}

std::string ssl_error_text() {
  std::string text;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    text += (text.empty() ? "" : "; ") + std::string(buf);
  }
  return text.empty() ? std::string(std::strerror(errno)) : text;
}

enum class State { kIdle, kConnecting, kHandshake, kOpen, kEnded };

v1::AgentMessage hello_of(const std::string& id, bool lease_by_heartbeat) {
  v1::AgentMessage hello;
  auto* hl = hello.mutable_hello();
  hl->set_agent_id(id);
  (*hl->mutable_tags())["dc"] = "sim";
  (*hl->mutable_tags())["rack"] = "r" + std::to_string(std::hash<std::string>{}(id) % 100);
  hl->mutable_capabilities()->add_fault_kinds("network.blackhole");
  hl->set_version("sim");
  hl->set_lease_by_heartbeat(lease_by_heartbeat);
  // No clock: the controller takes an unstamped Hello as offset 0 (same host here).
  return hello;
}

struct Agent {
  int fd = -1;
  SSL* ssl = nullptr;
  State state = State::kIdle;
  bool registered = false;
  bool poll_out = false;
  std::string out;      // plaintext for SSL_write
  std::string in;       // plaintext read, not yet whole frames
  std::string message;  // stream 1's DATA not yet a whole gRPC message
  std::string held;     // DATA frames waiting for the controller's flow-control window
  size_t held_bytes = 0;
  int64_t conn_window = 65535, stream_window = 65535;
  uint32_t peer_initial_window = 65535;
  bool holds = false;                  // a fault applied and not reverted
  Clock::duration idle_pace{0};        // the controller's idle pace; 0: timer mode
  Clock::duration grace = std::chrono::seconds(5);
  Clock::time_point next_heartbeat{};  // renewal by heartbeat: when the next is due
  // The latest round trip of clocks (a renewal that echoed a heartbeat's clock), for the
  // next heartbeat, as agent/session does; sent is zero when there is none.
  WallTime exchange_sent{}, exchange_controller{}, exchange_received{};
  size_t controller = 0;  // index into the controllers' addresses
  std::chrono::milliseconds backoff = kBackoffFirst;
  // Since the last stream a controller took, a follower refused one (kept across the
  // attempts in between, like the agent's: a dead controller's refused connection does
  // not undo it).
  bool follower_answered = false;
};

class Loop {
 public:
  explicit Loop(const SimAgentsConfig& config)
      : config_(config), frames_(config.wire == SimAgentsConfig::Wire::kFrames), agents_(config.agents.size()),
        heartbeat_(std::chrono::duration_cast<Clock::duration>(config.heartbeat)) {}
  ~Loop() {
    for (auto& a : agents_) close_agent(a);
    if (ctx_) SSL_CTX_free(ctx_);
    if (epoll_ >= 0) ::close(epoll_);
  }

  int run();

 private:
  bool setup();
  void start_connect(size_t i, bool first = true);
  // refused: a controller answered the stream with trailers only before registering
  // it, as a follower refuses (the agent's backoff then stays within a second until a
  // controller takes a stream).
  void schedule_reconnect(size_t i, bool refused);
  void on_event(size_t i, uint32_t events);
  void handshake(size_t i);
  void on_open(size_t i);
  void read_some(size_t i);
  void parse_frames(size_t i);
  void on_message(size_t i, const char* data, size_t len);
  void send_message(size_t i, const v1::AgentMessage& m);
  void send_data_frame(Agent& a, std::string frame, size_t payload);
  void release_held(Agent& a);
  void flush(size_t i);
  void set_poll_out(size_t i, bool on);
  void end(size_t i, const std::string& why);
  void close_agent(Agent& a);
  void report(bool force);

  const SimAgentsConfig& config_;
  const bool frames_;
  std::vector<Agent> agents_;
  Clock::duration heartbeat_;  // config.heartbeat, or the latest "pace" command's
  SSL_CTX* ctx_ = nullptr;
  int epoll_ = -1;
  Clock::duration pace(const Agent& a) const;

  std::vector<sockaddr_in> addrs_;  // port, then more_ports
  using Retry = std::pair<Clock::time_point, size_t>;
  std::priority_queue<Retry, std::vector<Retry>, std::greater<>> retries_;
  std::mt19937 rng_{std::random_device{}()};
  size_t started_ = 0, registered_ = 0, ended_ = 0;
  uint64_t sent_ = 0, received_ = 0, pings_sent_ = 0, pings_received_ = 0;
  std::string first_error_;
  Clock::time_point last_report_{};
  size_t reported_registered_ = ~size_t{0}, reported_ended_ = ~size_t{0};
};

bool Loop::setup() {
  ctx_ = SSL_CTX_new(TLS_client_method());
  if (!ctx_) return false;
  SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
  // Ten thousand idle sessions need no record buffers of their own.
  SSL_CTX_set_mode(ctx_, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  static const unsigned char kAlpn[] = {2, 'h', '2'};
  if (!frames_ && SSL_CTX_set_alpn_protos(ctx_, kAlpn, sizeof kAlpn) != 0) return false;
  BIO* bio = BIO_new_mem_buf(config_.ca_pem.data(), static_cast<int>(config_.ca_pem.size()));
  X509* ca = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (!ca) return false;
  X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx_), ca);
  X509_free(ca);
  std::vector<int> ports{config_.port};
  ports.insert(ports.end(), config_.more_ports.begin(), config_.more_ports.end());
  for (int port : ports) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    if (::inet_pton(AF_INET, config_.host.c_str(), &addr.sin_addr) != 1) return false;
    addrs_.push_back(addr);
  }
  epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_ < 0) return false;
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kCommandTag;
  return ::epoll_ctl(epoll_, EPOLL_CTL_ADD, config_.command_fd, &ev) == 0;
}

void Loop::start_connect(size_t i, bool first) {
  auto& a = agents_[i];
  if (first) ++started_;
  a.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (a.fd < 0) return end(i, fmt::format("socket: {}", std::strerror(errno)));
  int one = 1;
  ::setsockopt(a.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // as gRPC does
  const auto& addr = addrs_[a.controller];
  if (::connect(a.fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 && errno != EINPROGRESS) {
    return end(i, fmt::format("connect: {}", std::strerror(errno)));
  }
  a.state = State::kConnecting;
  a.poll_out = true;
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT;
  ev.data.u64 = i;
  ::epoll_ctl(epoll_, EPOLL_CTL_ADD, a.fd, &ev);
}

void Loop::on_event(size_t i, uint32_t events) {
  auto& a = agents_[i];
  switch (a.state) {
    case State::kConnecting: {
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(a.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) return end(i, fmt::format("connect: {}", std::strerror(err)));
      const auto& id = config_.agents[i];
      BIO* cb = BIO_new_mem_buf(id.cert_pem.data(), static_cast<int>(id.cert_pem.size()));
      BIO* kb = BIO_new_mem_buf(id.key_pem.data(), static_cast<int>(id.key_pem.size()));
      X509* cert = PEM_read_bio_X509(cb, nullptr, nullptr, nullptr);
      EVP_PKEY* key = PEM_read_bio_PrivateKey(kb, nullptr, nullptr, nullptr);
      BIO_free(cb);
      BIO_free(kb);
      a.ssl = SSL_new(ctx_);
      bool ok = cert && key && a.ssl && SSL_use_certificate(a.ssl, cert) == 1 && SSL_use_PrivateKey(a.ssl, key) == 1 &&
                X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(a.ssl), config_.host.c_str()) == 1 &&
                SSL_set_fd(a.ssl, a.fd) == 1;
      X509_free(cert);
      EVP_PKEY_free(key);
      if (!ok) return end(i, "TLS set-up: " + ssl_error_text());
      SSL_set_connect_state(a.ssl);
      a.state = State::kHandshake;
      return handshake(i);
    }
    case State::kHandshake:
      return handshake(i);
    case State::kOpen:
      if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) read_some(i);
      if (a.state == State::kOpen && (events & EPOLLOUT)) flush(i);
      return;
    default:
      return;
  }
}

void Loop::handshake(size_t i) {
  auto& a = agents_[i];
  ERR_clear_error();
  int r = SSL_do_handshake(a.ssl);
  if (r == 1) return on_open(i);
  int e = SSL_get_error(a.ssl, r);
  if (e == SSL_ERROR_WANT_READ) return set_poll_out(i, false);
  if (e == SSL_ERROR_WANT_WRITE) return set_poll_out(i, true);
  end(i, "TLS handshake: " + ssl_error_text());
}

void Loop::on_open(size_t i) {
  auto& a = agents_[i];
  if (frames_) {
    a.state = State::kOpen;
    send_message(i, hello_of(config_.agents[i].id, config_.lease_by_heartbeat));
    return flush(i);
  }
  const unsigned char* alpn = nullptr;
  unsigned alpn_len = 0;
  SSL_get0_alpn_selected(a.ssl, &alpn, &alpn_len);
  if (std::string_view(reinterpret_cast<const char*>(alpn), alpn_len) != "h2") {
    return end(i, "the controller did not select ALPN h2");
  }
  a.state = State::kOpen;
  std::string& o = a.out;
  o.append(kPreface);
  put_frame_header(o, 6 * 2, kSettings, 0, 0);
  o.append({0, char(kSettingsEnablePush), 0, 0, 0, 0});
  o.append({0, char(kSettingsInitialWindow)});
  put_be32(o, kOurWindow);
  put_frame_header(o, 4, kWindowUpdate, 0, 0);
  put_be32(o, kOurWindow - 65535);
  std::string h;
  h.push_back(char(0x80 | 3));  // :method POST (static table 3)
  h.push_back(char(0x80 | 7));  // :scheme https (7)
  hpack_int(h, 0x00, 4, 4);     // :path, literal without indexing, name from static 4
  hpack_string(h, kPath);
  hpack_int(h, 0x00, 4, 1);  // :authority (1)
  hpack_string(h, fmt::format("{}:{}", config_.host, ntohs(addrs_[a.controller].sin_port)));
  hpack_int(h, 0x00, 4, 31);  // content-type (31)
  hpack_string(h, "application/grpc");
  h.push_back(0x00);  // te: trailers, a new name
  hpack_string(h, "te");
  hpack_string(h, "trailers");
  put_frame_header(o, h.size(), kHeaders, kEndHeaders, kStream);
  o.append(h);

  send_message(i, hello_of(config_.agents[i].id, config_.lease_by_heartbeat));
  flush(i);
}

void Loop::read_some(size_t i) {
  auto& a = agents_[i];
  char buf[16384];
  for (;;) {
    ERR_clear_error();
    int n = SSL_read(a.ssl, buf, sizeof buf);
    if (n > 0) {
      a.in.append(buf, static_cast<size_t>(n));
      continue;
    }
    int e = SSL_get_error(a.ssl, n);
    if (e == SSL_ERROR_WANT_READ) break;
    if (e == SSL_ERROR_WANT_WRITE) {
      set_poll_out(i, true);
      break;
    }
    if (e == SSL_ERROR_ZERO_RETURN) return end(i, "the controller closed the TLS session");
    return end(i, "TLS read: " + ssl_error_text());
  }
  parse_frames(i);
  if (a.state == State::kOpen) flush(i);
}

void Loop::parse_frames(size_t i) {
  auto& a = agents_[i];
  size_t pos = 0;
  if (frames_) {
    while (a.state == State::kOpen && a.in.size() - pos >= 4) {
      size_t len = be32(a.in.data() + pos);
      if (len > (1u << 20)) return end(i, fmt::format("a frame of {} bytes (at most 1 MiB)", len));
      if (a.in.size() - pos < 4 + len) break;
      on_message(i, a.in.data() + pos + 4, len);
      pos += 4 + len;
    }
    if (a.state == State::kOpen) a.in.erase(0, pos);
    return;
  }
  while (a.state == State::kOpen && a.in.size() - pos >= 9) {
    const char* h = a.in.data() + pos;
    auto len = (size_t(uint8_t(h[0])) << 16) | (size_t(uint8_t(h[1])) << 8) | uint8_t(h[2]);
    if (a.in.size() - pos < 9 + len) break;
    uint8_t type = uint8_t(h[3]), flags = uint8_t(h[4]);
    uint32_t stream = be32(h + 5) & 0x7fffffff;
    const char* p = h + 9;
    pos += 9 + len;
    switch (type) {
      case kData: {
        if (stream != kStream) break;
        size_t pad = 0, skip = 0;
        if (flags & kPadded) {
          if (len < 1) return end(i, "malformed padded DATA frame");
          pad = uint8_t(p[0]);
          skip = 1;
        }
        if (skip + pad > len) return end(i, "malformed padded DATA frame");
        a.message.append(p + skip, len - skip - pad);
        while (a.state == State::kOpen && a.message.size() >= 5) {
          if (a.message[0] != 0) return end(i, "a compressed message (none was negotiated)");
          size_t mlen = be32(a.message.data() + 1);
          if (a.message.size() < 5 + mlen) break;
          on_message(i, a.message.data() + 5, mlen);
          a.message.erase(0, 5 + mlen);
        }
        if (flags & kEndStream) return end(i, "the controller ended the stream");
        break;
      }
      case kHeaders:
        if (stream == kStream && (flags & kEndStream)) return end(i, kTrailersOnly);
        break;
      case kRstStream:
        if (stream == kStream) return end(i, fmt::format("stream reset (HTTP/2 error {})", len >= 4 ? be32(p) : 0));
        break;
      case kSettings:
        if (flags & kAck) break;
        for (size_t k = 0; k + 6 <= len; k += 6) {
          uint16_t sid = uint16_t((uint8_t(p[k]) << 8) | uint8_t(p[k + 1]));
          if (sid == kSettingsInitialWindow) {
            uint32_t v = be32(p + k + 2);
            a.stream_window += int64_t(v) - int64_t(a.peer_initial_window);
            a.peer_initial_window = v;
          }
        }
        put_frame_header(a.out, 0, kSettings, kAck, 0);
        release_held(a);
        break;
      case kPing:
        ++pings_received_;
        if (!(flags & kAck) && len == 8) {
          ++pings_sent_;
          put_frame_header(a.out, 8, kPing, kAck, 0);
          a.out.append(p, 8);
        }
        break;
      case kGoaway:
        return end(i, fmt::format("GOAWAY (HTTP/2 error {}): {}", len >= 8 ? be32(p + 4) : 0,
                                  len > 8 ? std::string(p + 8, len - 8) : ""));
      case kWindowUpdate:
        if (len >= 4) {
          int64_t inc = be32(p) & 0x7fffffff;
          if (stream == 0) a.conn_window += inc;
          if (stream == kStream) a.stream_window += inc;
          release_held(a);
        }
        break;
      default:
        break;
    }
  }
  if (a.state == State::kOpen) a.in.erase(0, pos);
}

void Loop::on_message(size_t i, const char* data, size_t len) {
  auto& a = agents_[i];
  if (!a.registered) {
    a.registered = true;
    a.backoff = kBackoffFirst;
    ++registered_;
  }
  ++received_;
  v1::ControllerMessage in;
  if (!in.ParseFromArray(data, static_cast<int>(len))) return end(i, "an unparsable ControllerMessage");
  if (in.has_lease() && in.lease().has_controller_clock() && in.lease().has_echo()) {
    a.exchange_sent = from_proto(in.lease().echo());
    a.exchange_controller = from_proto(in.lease().controller_clock());
    a.exchange_received = WallClock::now();
  }
  if (in.has_lease()) {
    if (in.lease().has_grace()) a.grace = std::chrono::duration_cast<Clock::duration>(from_proto(in.lease().grace()));
    a.idle_pace = in.lease().has_idle_heartbeat_interval()
                      ? std::chrono::duration_cast<Clock::duration>(from_proto(in.lease().idle_heartbeat_interval()))
                      : Clock::duration::zero();
  }
  if (in.has_apply()) {
    a.holds = true;
    // As agent/session: the fault's lease needs renewals at the active pace from now.
    a.next_heartbeat = std::min(a.next_heartbeat, Clock::now() + pace(a));
  }
  if (in.has_revert() || in.has_revert_all()) a.holds = false;
  if (!in.has_apply() && !in.has_revert() && !in.has_revert_all()) return;
  // Applies nothing: answers at once, as a real agent does for a fault that takes
  // effect at once.
  v1::AgentMessage ack;
  auto* k = ack.mutable_ack();
  k->set_command_id(in.command_id());
  k->set_status(v1::ACK_APPLIED);
  if (in.has_apply()) k->set_fault_id(in.apply().fault_id());
  if (in.has_revert()) k->set_fault_id(in.revert().fault_id());
  *k->mutable_at() = to_proto(WallClock::now());
  send_message(i, ack);
}

Clock::duration Loop::pace(const Agent& a) const {
  auto interval = heartbeat_;
  if (a.idle_pace.count() == 0) return interval;
  if (!a.holds) return std::max(a.idle_pace, interval);
  return a.grace / 3;
}

void Loop::send_message(size_t i, const v1::AgentMessage& m) {
  auto& a = agents_[i];
  ++sent_;
  std::string body = m.SerializeAsString();
  if (frames_) {
    put_be32(a.out, static_cast<uint32_t>(body.size()));
    a.out.append(body);
    return;
  }
  std::string frame;
  put_frame_header(frame, 5 + body.size(), kData, 0, kStream);
  frame.push_back(0);
  put_be32(frame, static_cast<uint32_t>(body.size()));
  frame.append(body);
  send_data_frame(a, std::move(frame), 5 + body.size());
}

void Loop::send_data_frame(Agent& a, std::string frame, size_t payload) {
  // HTTP/2 flow control: DATA waits (in order) while the controller's window is short.
  if (a.held.empty() && int64_t(payload) <= std::min(a.conn_window, a.stream_window)) {
    a.conn_window -= int64_t(payload);
    a.stream_window -= int64_t(payload);
    a.out.append(frame);
    return;
  }
  a.held.append(frame);
  a.held_bytes += payload;
}

void Loop::release_held(Agent& a) {
  while (!a.held.empty()) {
    size_t len = (size_t(uint8_t(a.held[0])) << 16) | (size_t(uint8_t(a.held[1])) << 8) | uint8_t(a.held[2]);
    if (int64_t(len) > std::min(a.conn_window, a.stream_window)) return;
    a.conn_window -= int64_t(len);
    a.stream_window -= int64_t(len);
    a.out.append(a.held, 0, 9 + len);
    a.held.erase(0, 9 + len);
    a.held_bytes -= len;
  }
}

void Loop::flush(size_t i) {
  auto& a = agents_[i];
  while (!a.out.empty()) {
    ERR_clear_error();
    int n = SSL_write(a.ssl, a.out.data(), static_cast<int>(a.out.size()));
    if (n > 0) {
      a.out.erase(0, static_cast<size_t>(n));
      continue;
    }
    int e = SSL_get_error(a.ssl, n);
    if (e == SSL_ERROR_WANT_WRITE) return set_poll_out(i, true);
    if (e == SSL_ERROR_WANT_READ) return;
    return end(i, "TLS write: " + ssl_error_text());
  }
  set_poll_out(i, false);
}

void Loop::set_poll_out(size_t i, bool on) {
  auto& a = agents_[i];
  if (a.poll_out == on) return;
  a.poll_out = on;
  epoll_event ev{};
  ev.events = on ? EPOLLIN | EPOLLOUT : EPOLLIN;
  ev.data.u64 = i;
  ::epoll_ctl(epoll_, EPOLL_CTL_MOD, a.fd, &ev);
}

void Loop::end(size_t i, const std::string& why) {
  auto& a = agents_[i];
  if (a.state == State::kEnded) return;
  if (!config_.more_ports.empty()) return schedule_reconnect(i, !a.registered && why == kTrailersOnly);
  close_agent(a);
  a.state = State::kEnded;
  ++ended_;
  if (first_error_.empty()) first_error_ = config_.agents[i].id + ": " + why;
}

// The next controller of the list after the agent's backoff, which doubles at each pass.
void Loop::schedule_reconnect(size_t i, bool refused) {
  auto& a = agents_[i];
  close_agent(a);
  if (a.registered) --registered_;
  size_t next = (a.controller + 1) % addrs_.size();
  auto backoff = a.backoff;
  bool answered = refused || (!a.registered && a.follower_answered);
  a = Agent{};
  a.controller = next;
  a.backoff = backoff;
  a.follower_answered = answered;
  auto most = answered ? kBackoffWhileFollowersAnswer : kBackoffMax;
  if (answered) a.backoff = std::min(a.backoff, most);
  if (a.controller == 0) a.backoff = std::min(a.backoff * 2, most);
  std::uniform_real_distribution<double> jitter(0.8, 1.2);
  retries_.emplace(Clock::now() + std::chrono::duration_cast<Clock::duration>(a.backoff * jitter(rng_)), i);
}

void Loop::close_agent(Agent& a) {
  if (a.ssl) SSL_free(a.ssl);
  if (a.fd >= 0) ::close(a.fd);
  a.ssl = nullptr;
  a.fd = -1;
  std::string().swap(a.out);
  std::string().swap(a.in);
  std::string().swap(a.message);
  std::string().swap(a.held);
}

void Loop::report(bool force) {
  auto now = Clock::now();
  if (!force && (now - last_report_ < std::chrono::milliseconds(20) ||
                 (registered_ == reported_registered_ && ended_ == reported_ended_))) {
    return;
  }
  last_report_ = now;
  reported_registered_ = registered_;
  reported_ended_ = ended_;
  std::string error = first_error_;
  std::replace(error.begin(), error.end(), '\n', ' ');
  auto line = fmt::format("M {} {} {} {}\nR {} {} {}\n", sent_, received_, pings_sent_, pings_received_, registered_,
                          ended_, error);
  (void)!::write(config_.report_fd, line.data(), line.size());
}

int Loop::run() {
  if (!setup()) {
    auto line = fmt::format("R 0 {} cannot set up TLS or the event loop: {}\n", agents_.size(), ssl_error_text());
    (void)!::write(config_.report_fd, line.data(), line.size());
    return 1;
  }
  const size_t n = agents_.size();
  // Every agent is visited four times per heartbeat interval and heartbeats when its
  // own schedule says so (each at its pace, on average exactly).
  auto hb_step = heartbeat_ / 4 / std::max<size_t>(n, 1);
  const auto ka_step = std::chrono::duration_cast<Clock::duration>(config_.keepalive) / std::max<size_t>(n, 1);
  auto hb_next = Clock::now(), ka_next = Clock::now();
  size_t hb_cursor = 0, ka_cursor = 0;
  size_t batch_end = 0;
  auto batch_deadline = Clock::now();
  uint64_t ping_payload = 0;
  std::vector<epoll_event> events(1024);
  for (;;) {
    // Connect a batch at a time: a handshake costs both sides far more than a message.
    if (batch_end < n && (registered_ + ended_ >= started_ || Clock::now() > batch_deadline)) {
      batch_end = std::min(n, batch_end + config_.batch);
      batch_deadline = Clock::now() + std::chrono::seconds(120);
      for (size_t i = started_; i < batch_end; ++i) start_connect(i);
    }
    auto now = Clock::now();
    for (; hb_next <= now; hb_next += hb_step) {
      size_t i = hb_cursor;
      hb_cursor = (hb_cursor + 1) % n;
      auto& a = agents_[i];
      if (a.state != State::kOpen || !a.registered) continue;
      if (now < a.next_heartbeat) continue;
      v1::AgentMessage hb;
      *hb.mutable_heartbeat()->mutable_clock() = to_proto(WallClock::now());
      if (a.exchange_sent != WallTime{}) {
        auto* x = hb.mutable_heartbeat()->mutable_exchange();
        *x->mutable_agent_sent() = to_proto(a.exchange_sent);
        *x->mutable_controller_clock() = to_proto(a.exchange_controller);
        *x->mutable_agent_received() = to_proto(a.exchange_received);
        a.exchange_sent = WallTime{};
      }
      auto p = pace(a);
      if (config_.lease_by_heartbeat) *hb.mutable_heartbeat()->mutable_next_within() = to_proto_duration(p);
      // On schedule, not from the visit: a visit's lateness does not slow the pace.
      a.next_heartbeat = a.next_heartbeat + p < now ? now + p : a.next_heartbeat + p;
      send_message(i, hb);
      flush(i);
    }
    for (; !frames_ && ka_next <= now; ka_next += ka_step) {
      size_t i = ka_cursor;
      ka_cursor = (ka_cursor + 1) % n;
      auto& a = agents_[i];
      if (a.state != State::kOpen) continue;
      ++pings_sent_;
      put_frame_header(a.out, 8, kPing, 0, 0);
      std::string payload(8, '\0');
      std::memcpy(payload.data(), &++ping_payload, 8);
      a.out.append(payload);
      flush(i);
    }
    for (now = Clock::now(); !retries_.empty() && retries_.top().first <= now; retries_.pop()) {
      start_connect(retries_.top().second, false);
    }
    report(false);
    auto wait = (frames_ ? hb_next : std::min(hb_next, ka_next)) - Clock::now();
    if (!retries_.empty()) wait = std::min(wait, retries_.top().first - Clock::now());
    int timeout_ms = static_cast<int>(std::clamp<int64_t>(
        std::chrono::ceil<std::chrono::milliseconds>(wait).count(), 0, batch_end < n ? 10 : 100));
    int got = ::epoll_wait(epoll_, events.data(), static_cast<int>(events.size()), timeout_ms);
    if (got < 0 && errno != EINTR) return 1;
    for (int k = 0; k < got; ++k) {
      uint64_t tag = events[k].data.u64;
      if (tag == kCommandTag) {
        char buf[64];
        ssize_t r = ::read(config_.command_fd, buf, sizeof buf);
        if (r <= 0 || std::string_view(buf, static_cast<size_t>(r)).find("stop") != std::string_view::npos) {
          report(true);
          return 0;
        }
        std::string_view cmd(buf, static_cast<size_t>(r));
        if (cmd.rfind("pace ", 0) == 0) {
          // From now on every agent heartbeats at the new pace, spread over it.
          heartbeat_ = std::chrono::milliseconds(std::max(1L, std::atol(std::string(cmd.substr(5)).c_str())));
          hb_step = heartbeat_ / 4 / std::max<size_t>(n, 1);
          hb_next = Clock::now();
          std::uniform_int_distribution<int64_t> spread(0, heartbeat_.count());
          for (auto& a : agents_) a.next_heartbeat = hb_next + Clock::duration(spread(rng_));
          continue;
        }
        report(true);  // "count": the counters now
        continue;
      }
      on_event(static_cast<size_t>(tag), events[k].events);
    }
  }
}

}  // namespace

int run_sim_agents(const SimAgentsConfig& config) {
  Loop loop(config);
  return loop.run();
}

}  // namespace firedrill::bench
