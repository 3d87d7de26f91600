// scripts/bench.sh wire: what the transport itself costs, with none of the
// controller's code, side by side in one run on idle mutual-TLS connections over
// loopback (1,000, 10,000, and as far as the open-files limit allows):
//   grpc: a bare gRPC server with the agent listener's own settings
//         (controller::build_agent_server: credentials, TLS memory, keepalive, frame and
//         read-chunk sizes) and one AgentService.Connect stream per client; its
//         reactor answers the Hello with a LeaseRenewal and counts what it reads;
//   loop: one thread, epoll over OpenSSL non-blocking TLS (SSL_MODE_RELEASE_BUFFERS, as
//         the controller's TLS memory setting), each message a 4-byte length and the
//         same protobuf messages, the same certificates.
// The clients are bench/fanout's simulated agents in a process of their own (HTTP/2 for
// grpc, the frames for loop). Per case: the server's RSS and KiB per connection with
// every client connected and idle, the server's CPU while idle, its CPU per message
// with every client heartbeating at a fixed pace, and the fan-out: the server writes
// one RevertAll to every connection and every client acks, time to the last ack
// (p50/p99 over repeats). Ratios grpc/loop, then the controller's own figures from
// bench/results/fanout.json (same machine) against the grpc floor.
#include <fcntl.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <boost/program_options.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "bench/fanout/process_figures.h"
#include "bench/fanout/sim_agents.h"
#include "common/time.h"
#include "controller/session/agent_service.h"
#include "controller/session/certs.h"
#include "firedrill/v1/agent.grpc.pb.h"

namespace firedrill {
namespace {

using Clock = std::chrono::steady_clock;
using bench::cpu_seconds;
using bench::Stats;
using bench::status_kib;
using namespace std::chrono_literals;

constexpr auto kFanoutTimeout = 60s;

// ---------------------------------------------------------------- the servers
//
// Both take commands on `cmd` and answer on `out`, one line each:
//   "count"      -> "C <streams said Hello> <messages read> <acks read>"
//   "fanout K"   -> "F K <ns to the last ack> <acks>" (RevertAll, command id K, to every stream)
//   "trim"       -> "T" once malloc has handed its free memory back (malloc_trim): what is
//                   left is what the connections hold, not what their handshakes freed
// and print "P <port>" once listening.

void say(int fd, const std::string& line) { (void)!::write(fd, line.data(), line.size()); }

v1::ControllerMessage lease_answer() {
  // Timer mode (no idle pace): the clients then heartbeat at the pace the bench sets.
  v1::ControllerMessage m;
  *m.mutable_lease()->mutable_grace() = to_proto_duration(5s);
  return m;
}

v1::ControllerMessage revert_all(uint64_t k) {
  v1::ControllerMessage m;
  m.set_command_id(k);
  m.mutable_revert_all()->set_reason("bench");
  return m;
}

struct Counters {
  std::atomic<uint64_t> hellos{0}, messages{0}, acks{0};
  std::atomic<uint64_t> fanout_id{0}, fanout_acks{0};
  std::mutex mu;
  std::condition_variable cv;
  void on_ack(uint64_t id) {
    acks.fetch_add(1, std::memory_order_relaxed);
    if (id == fanout_id.load(std::memory_order_relaxed)) {
      fanout_acks.fetch_add(1, std::memory_order_relaxed);
      cv.notify_one();
    }
  }
};

class BareService;

class BareReactor final : public grpc::ServerBidiReactor<v1::AgentMessage, v1::ControllerMessage> {
 public:
  BareReactor(BareService* svc, Counters* c) : svc_(svc), c_(c) { StartRead(&in_); }
  void send(const v1::ControllerMessage& m) {
    std::lock_guard lock(mu_);
    if (done_) return;
    queue_.push_back(m);
    if (queue_.size() == 1) StartWrite(&queue_.front());
  }
  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mu_);
    if (!queue_.empty()) queue_.erase(queue_.begin());
    if (ok && !queue_.empty() && !done_) StartWrite(&queue_.front());
  }
  void OnDone() override;

 private:
  BareService* svc_;
  Counters* c_;
  v1::AgentMessage in_;
  std::mutex mu_;
  std::vector<v1::ControllerMessage> queue_;
  bool done_ = false;
  bool registered_ = false;
};

class BareService final : public v1::AgentService::CallbackService {
 public:
  explicit BareService(Counters* c) : c_(c) {}
  grpc::ServerBidiReactor<v1::AgentMessage, v1::ControllerMessage>* Connect(grpc::CallbackServerContext*) override {
    return new BareReactor(this, c_);
  }
  void add(BareReactor* r) {
    std::lock_guard lock(mu_);
    streams_.insert(r);
  }
  void remove(BareReactor* r) {
    std::lock_guard lock(mu_);
    streams_.erase(r);
  }
  size_t send_all(const v1::ControllerMessage& m) {
    std::lock_guard lock(mu_);
    for (auto* r : streams_) r->send(m);
    return streams_.size();
  }

 private:
  Counters* c_;
  std::mutex mu_;
  std::set<BareReactor*> streams_;
};

void BareReactor::OnReadDone(bool ok) {
  if (!ok) {
    svc_->remove(this);
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    Finish(grpc::Status::OK);
    return;
  }
  c_->messages.fetch_add(1, std::memory_order_relaxed);
  if (in_.has_hello() && !registered_) {
    registered_ = true;
    c_->hellos.fetch_add(1, std::memory_order_relaxed);
    svc_->add(this);
    send(lease_answer());
  } else if (in_.has_ack()) {
    c_->on_ack(in_.ack().command_id());
  }
  StartRead(&in_);
}

void BareReactor::OnDone() {
  svc_->remove(this);
  delete this;
}

// Waits for the fan-out's acks: the ns to the last one, and how many came.
std::pair<int64_t, uint64_t> await_acks(Counters& c, uint64_t target, Clock::time_point t0) {
  std::unique_lock lock(c.mu);
  c.cv.wait_until(lock, t0 + kFanoutTimeout, [&] { return c.fanout_acks.load() >= target; });
  return {std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count(), c.fanout_acks.load()};
}

int serve_grpc(const controller::AgentServerConfig& config, int cmd, int out) {
  Counters c;
  BareService service(&c);
  int port = 0;
  auto server = controller::build_agent_server(config, &service, &port);
  if (!server) {
    std::cerr << "wire_bench: grpc server: " << server.error().describe() << "\n";
    return 1;
  }
  say(out, fmt::format("P {}\n", port));
  FILE* in = ::fdopen(cmd, "r");
  char line[128];
  while (std::fgets(line, sizeof line, in)) {
    std::string_view l(line);
    if (l.rfind("count", 0) == 0) {
      say(out, fmt::format("C {} {} {}\n", c.hellos.load(), c.messages.load(), c.acks.load()));
    } else if (l.rfind("trim", 0) == 0) {
      ::malloc_trim(0);
      say(out, "T\n");
    } else if (l.rfind("fanout ", 0) == 0) {
      uint64_t k = std::strtoull(line + 7, nullptr, 10);
      c.fanout_acks = 0;
      c.fanout_id = k;
      auto t0 = Clock::now();
      size_t n = service.send_all(revert_all(k));
      auto [ns, acks] = await_acks(c, n, t0);
      say(out, fmt::format("F {} {} {}\n", k, ns, acks));
    } else {
      break;
    }
  }
  (*server)->Shutdown(std::chrono::system_clock::now() + 1s);
  return 0;
}

// The event loop: one thread, epoll, OpenSSL non-blocking.
struct Conn {
  int fd = -1;
  SSL* ssl = nullptr;
  bool open = false, poll_out = false, hello = false;
  std::string in, out;
};

class LoopServer {
 public:
  LoopServer(const std::string& ca, const std::string& cert, const std::string& key, int cmd, int out)
      : ca_(ca), cert_(cert), key_(key), cmd_(cmd), out_(out) {}
  ~LoopServer() {
    for (auto& c : conns_) drop(c);
    if (ctx_) SSL_CTX_free(ctx_);
  }
  int run();

 private:
  bool setup();
  void accept_all();
  void on_event(size_t i, uint32_t events);
  void read_some(size_t i);
  void flush(size_t i);
  void set_out(size_t i, bool on);
  void handle(size_t i, const char* data, size_t len);
  void drop(Conn& c) {
    if (c.ssl) SSL_free(c.ssl);
    if (c.fd >= 0) ::close(c.fd);
    c = Conn{};
  }
  bool command();
  void frame(Conn& c, const std::string& body) {
    char h[4] = {char(body.size() >> 24), char(body.size() >> 16), char(body.size() >> 8), char(body.size())};
    c.out.append(h, 4);
    c.out.append(body);
  }

  std::string ca_, cert_, key_;
  int cmd_, out_;
  SSL_CTX* ctx_ = nullptr;
  int listen_ = -1, epoll_ = -1;
  std::vector<Conn> conns_;  // by fd
  Counters c_;
  uint64_t fanout_target_ = 0;
  Clock::time_point fanout_t0_{};
  bool fanout_waiting_ = false;
  std::string pending_cmd_;
};

bool LoopServer::setup() {
  ctx_ = SSL_CTX_new(TLS_server_method());
  if (!ctx_) return false;
  SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx_, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  BIO* cb = BIO_new_mem_buf(cert_.data(), static_cast<int>(cert_.size()));
  BIO* kb = BIO_new_mem_buf(key_.data(), static_cast<int>(key_.size()));
  BIO* ab = BIO_new_mem_buf(ca_.data(), static_cast<int>(ca_.size()));
  X509* cert = PEM_read_bio_X509(cb, nullptr, nullptr, nullptr);
  EVP_PKEY* key = PEM_read_bio_PrivateKey(kb, nullptr, nullptr, nullptr);
  X509* ca = PEM_read_bio_X509(ab, nullptr, nullptr, nullptr);
  BIO_free(cb);
  BIO_free(kb);
  BIO_free(ab);
  bool ok = cert && key && ca && SSL_CTX_use_certificate(ctx_, cert) == 1 && SSL_CTX_use_PrivateKey(ctx_, key) == 1 &&
            X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx_), ca) == 1;
  // The CertificateRequest names the CA, as gRPC's does.
  if (ok) SSL_CTX_add_client_CA(ctx_, ca);
  X509_free(cert);
  EVP_PKEY_free(key);
  X509_free(ca);
  if (!ok) return false;
  listen_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(listen_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(listen_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listen_, 4096) != 0 ||
      ::getsockname(listen_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return false;
  }
  epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = ~uint64_t{0};
  ::epoll_ctl(epoll_, EPOLL_CTL_ADD, listen_, &ev);
  ev.data.u64 = ~uint64_t{0} - 1;
  ::epoll_ctl(epoll_, EPOLL_CTL_ADD, cmd_, &ev);
  say(out_, fmt::format("P {}\n", ntohs(addr.sin_port)));
  return true;
}

void LoopServer::accept_all() {
  for (;;) {
    int fd = ::accept4(listen_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (static_cast<size_t>(fd) >= conns_.size()) conns_.resize(static_cast<size_t>(fd) + 1024);
    auto& c = conns_[static_cast<size_t>(fd)];
    c.fd = fd;
    c.ssl = SSL_new(ctx_);
    SSL_set_fd(c.ssl, fd);
    SSL_set_accept_state(c.ssl);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = static_cast<uint64_t>(fd);
    ::epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev);
  }
}

void LoopServer::set_out(size_t i, bool on) {
  auto& c = conns_[i];
  if (c.poll_out == on) return;
  c.poll_out = on;
  epoll_event ev{};
  ev.events = on ? EPOLLIN | EPOLLOUT : EPOLLIN;
  ev.data.u64 = i;
  ::epoll_ctl(epoll_, EPOLL_CTL_MOD, c.fd, &ev);
}

void LoopServer::on_event(size_t i, uint32_t events) {
  auto& c = conns_[i];
  if (c.fd < 0) return;
  if (!c.open) {
    ERR_clear_error();
    int r = SSL_do_handshake(c.ssl);
    if (r == 1) {
      c.open = true;
      set_out(i, false);
    } else {
      int e = SSL_get_error(c.ssl, r);
      if (e == SSL_ERROR_WANT_READ) return set_out(i, false);
      if (e == SSL_ERROR_WANT_WRITE) return set_out(i, true);
      return drop(c);
    }
  }
  if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) read_some(i);
  if (conns_[i].fd >= 0 && ((events & EPOLLOUT) || !conns_[i].out.empty())) flush(i);
}

void LoopServer::read_some(size_t i) {
  auto& c = conns_[i];
  char buf[4096];
  for (;;) {
    ERR_clear_error();
    int n = SSL_read(c.ssl, buf, sizeof buf);
    if (n > 0) {
      c.in.append(buf, static_cast<size_t>(n));
      continue;
    }
    int e = SSL_get_error(c.ssl, n);
    if (e == SSL_ERROR_WANT_READ) break;
    if (e == SSL_ERROR_WANT_WRITE) {
      set_out(i, true);
      break;
    }
    return drop(c);
  }
  size_t pos = 0;
  while (c.in.size() - pos >= 4) {
    auto u = reinterpret_cast<const unsigned char*>(c.in.data() + pos);
    size_t len = (size_t{u[0]} << 24) | (size_t{u[1]} << 16) | (size_t{u[2]} << 8) | u[3];
    if (len > (1u << 20)) return drop(c);
    if (c.in.size() - pos < 4 + len) break;
    handle(i, c.in.data() + pos + 4, len);
    pos += 4 + len;
  }
  c.in.erase(0, pos);
  if (c.in.empty()) std::string().swap(c.in);  // an idle connection holds no buffer
}

void LoopServer::handle(size_t i, const char* data, size_t len) {
  auto& c = conns_[i];
  v1::AgentMessage m;
  if (!m.ParseFromArray(data, static_cast<int>(len))) return drop(c);
  c_.messages.fetch_add(1, std::memory_order_relaxed);
  if (m.has_hello() && !c.hello) {
    c.hello = true;
    c_.hellos.fetch_add(1, std::memory_order_relaxed);
    frame(c, lease_answer().SerializeAsString());
  } else if (m.has_ack()) {
    c_.on_ack(m.ack().command_id());
  }
}

void LoopServer::flush(size_t i) {
  auto& c = conns_[i];
  while (!c.out.empty()) {
    ERR_clear_error();
    int n = SSL_write(c.ssl, c.out.data(), static_cast<int>(c.out.size()));
    if (n > 0) {
      c.out.erase(0, static_cast<size_t>(n));
      continue;
    }
    int e = SSL_get_error(c.ssl, n);
    if (e == SSL_ERROR_WANT_WRITE) return set_out(i, true);
    if (e == SSL_ERROR_WANT_READ) return;
    return drop(c);
  }
  std::string().swap(c.out);
  set_out(i, false);
}

bool LoopServer::command() {
  char buf[256];
  ssize_t r = ::read(cmd_, buf, sizeof buf);
  if (r <= 0) return false;
  pending_cmd_.append(buf, static_cast<size_t>(r));
  for (size_t nl; (nl = pending_cmd_.find('\n')) != std::string::npos; pending_cmd_.erase(0, nl + 1)) {
    std::string l = pending_cmd_.substr(0, nl);
    if (l == "count") {
      say(out_, fmt::format("C {} {} {}\n", c_.hellos.load(), c_.messages.load(), c_.acks.load()));
    } else if (l == "trim") {
      ::malloc_trim(0);
      say(out_, "T\n");
    } else if (l.rfind("fanout ", 0) == 0) {
      uint64_t k = std::strtoull(l.c_str() + 7, nullptr, 10);
      c_.fanout_acks = 0;
      c_.fanout_id = k;
      fanout_t0_ = Clock::now();
      fanout_target_ = 0;
      std::string body = revert_all(k).SerializeAsString();  // once, for every connection
      for (size_t j = 0; j < conns_.size(); ++j) {
        if (conns_[j].fd < 0 || !conns_[j].hello) continue;
        frame(conns_[j], body);
        flush(j);
        ++fanout_target_;
      }
      fanout_waiting_ = true;
    } else {
      return false;
    }
  }
  return true;
}

int LoopServer::run() {
  if (!setup()) {
    std::cerr << "wire_bench: loop server: cannot set up TLS or listen\n";
    return 1;
  }
  std::vector<epoll_event> events(1024);
  for (;;) {
    int got = ::epoll_wait(epoll_, events.data(), static_cast<int>(events.size()), 100);
    if (got < 0 && errno != EINTR) return 1;
    for (int k = 0; k < got; ++k) {
      uint64_t tag = events[k].data.u64;
      if (tag == ~uint64_t{0}) {
        accept_all();
      } else if (tag == ~uint64_t{0} - 1) {
        if (!command()) return 0;
      } else {
        on_event(static_cast<size_t>(tag), events[k].events);
      }
    }
    if (fanout_waiting_ && (c_.fanout_acks.load() >= fanout_target_ || Clock::now() - fanout_t0_ > kFanoutTimeout)) {
      fanout_waiting_ = false;
      auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - fanout_t0_).count();
      say(out_, fmt::format("F {} {} {}\n", c_.fanout_id.load(), ns, c_.fanout_acks.load()));
    }
  }
}

// ---------------------------------------------------------------- the driver

struct Settings {
  std::vector<int> sizes{1000, 10000, 19000};
  int repeats = 20;
  int pace_ms = 2000;  // each client's heartbeat during the message window
  double idle_s = 10, busy_s = 10;
  std::string fanout_json = "bench/results/fanout.json";
};

struct Child {
  pid_t pid = -1;
  int cmd = -1, out = -1;
  std::string pending;
  // One line from the child (without the newline); "" on timeout or end of file.
  std::string line(std::chrono::milliseconds within) {
    auto until = Clock::now() + within;
    for (;;) {
      if (auto nl = pending.find('\n'); nl != std::string::npos) {
        std::string l = pending.substr(0, nl);
        pending.erase(0, nl + 1);
        return l;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
      if (left <= 0) return "";
      pollfd p{out, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
      char buf[4096];
      ssize_t n = ::read(out, buf, sizeof buf);
      if (n <= 0) return "";
      pending.append(buf, static_cast<size_t>(n));
    }
  }
  void send(const std::string& l) { say(cmd, l + "\n"); }
  void end() {
    if (cmd >= 0) ::close(cmd);
    cmd = -1;
    if (pid > 0) {
      // A second to go on its own, then killed.
      for (int i = 0; i < 20 && ::waitpid(pid, nullptr, WNOHANG) == 0; ++i) std::this_thread::sleep_for(50ms);
      if (::waitpid(pid, nullptr, WNOHANG) == 0) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
      }
    }
    pid = -1;
    if (out >= 0) ::close(out);
    out = -1;
  }
  ~Child() { end(); }
};

template <typename Fn>
bool spawn(Child& c, Fn body) {
  int cmd[2], out[2];
  if (::pipe2(cmd, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) return false;
  c.pid = ::fork();
  if (c.pid < 0) return false;
  if (c.pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlives the bench
    ::close(cmd[1]);
    ::close(out[0]);
    ::_exit(body(cmd[0], out[1]));
  }
  ::close(cmd[0]);
  ::close(out[1]);
  c.cmd = cmd[1];
  c.out = out[0];
  return true;
}

struct CaseResult {
  std::string wire;
  int n = 0;
  size_t connected = 0;
  double connect_s = NAN;
  long rss_base_kib = -1, rss_idle_kib = -1, rss_trimmed_kib = -1;
  double kib_per_conn = NAN, kib_per_conn_trimmed = NAN, idle_cpu = NAN, sims_idle_cpu = NAN;
  double msgs_per_s = NAN, us_per_msg = NAN, busy_cpu = NAN, sims_busy_cpu = NAN;
  Stats fanout;
  uint64_t fanout_short = 0;  // acks missing over all repeats
  std::string error;
  nlohmann::json json() const {
    return {{"wire", wire},
            {"connections", n},
            {"connected", connected},
            {"connect_s", connect_s},
            {"server_rss_kib",
             {{"before_clients", rss_base_kib}, {"idle_connected", rss_idle_kib}, {"after_malloc_trim", rss_trimmed_kib}}},
            {"kib_per_connection", kib_per_conn},
            {"kib_per_connection_after_malloc_trim", kib_per_conn_trimmed},
            {"idle_server_cpu_share", idle_cpu},
            {"idle_clients_cpu_share", sims_idle_cpu},
            {"messages_per_s", msgs_per_s},
            {"server_cpu_us_per_message", us_per_msg},
            {"busy_server_cpu_share", busy_cpu},
            {"busy_clients_cpu_share", sims_busy_cpu},
            {"fanout_to_last_ack", fanout.json()},
            {"fanout_acks_missing", fanout_short},
            {"error", error}};
  }
};

std::vector<std::string> words(const std::string& l) {
  std::istringstream in(l);
  std::vector<std::string> w;
  for (std::string s; in >> s;) w.push_back(s);
  return w;
}

CaseResult run_case(const std::string& wire, int n, const std::string& dir, const controller::Pem& ca,
                    const controller::Pem& server_pem, const controller::Pem& client_pem, const Settings& st) {
  CaseResult out;
  out.wire = wire;
  out.n = n;
  Child server, sims;
  bool ok = spawn(server, [&](int cmd, int o) {
    if (wire == "grpc") {
      controller::AgentServerConfig config;
      config.listen = "127.0.0.1:0";
      config.tls_ca = dir + "/ca.pem";
      config.tls_cert = dir + "/server.pem";
      config.tls_key = dir + "/server.key";
      return serve_grpc(config, cmd, o);
    }
    LoopServer loop(ca.cert, server_pem.cert, server_pem.key, cmd, o);
    return loop.run();
  });
  auto port_line = ok ? words(server.line(30s)) : std::vector<std::string>{};
  if (port_line.size() != 2 || port_line[0] != "P") {
    out.error = wire + " server did not start";
    return out;
  }
  std::this_thread::sleep_for(500ms);
  server.send("trim");
  server.line(10s);
  out.rss_base_kib = status_kib(server.pid, "VmRSS");

  bench::SimAgentsConfig sc;
  sc.port = std::stoi(port_line[1]);
  sc.ca_pem = ca.cert;
  sc.heartbeat = std::chrono::hours(1);  // idle until the bench sets a pace
  sc.keepalive = std::chrono::hours(1);  // no client PINGs within a case
  sc.lease_by_heartbeat = false;
  sc.wire = wire == "grpc" ? bench::SimAgentsConfig::Wire::kGrpc : bench::SimAgentsConfig::Wire::kFrames;
  sc.agents.assign(static_cast<size_t>(n), {"wire-client", client_pem.cert, client_pem.key});
  auto c0 = Clock::now();
  ok = spawn(sims, [&](int cmd, int o) {
    sc.command_fd = cmd;
    sc.report_fd = o;
    return bench::run_sim_agents(sc);
  });
  if (!ok) {
    out.error = "cannot start the clients";
    return out;
  }
  // Registered: the server's LeaseRenewal reached the client.
  size_t registered = 0, ended = 0;
  std::string first_error;
  while (registered + ended < static_cast<size_t>(n) && Clock::now() - c0 < 300s) {
    auto l = sims.line(1s);
    auto w = words(l);
    if (w.size() >= 3 && w[0] == "R") {
      registered = std::stoul(w[1]);
      ended = std::stoul(w[2]);
      if (ended > 0 && first_error.empty()) first_error = l;
    }
  }
  out.connected = registered;
  out.connect_s = std::chrono::duration<double>(Clock::now() - c0).count();
  if (registered < static_cast<size_t>(n)) {
    out.error = fmt::format("{} of {} connected ({})", registered, n, first_error);
    if (registered == 0) return out;
  }
  auto read_sims = [&] {  // drains the clients' progress lines
    while (!sims.line(0ms).empty()) {
    }
  };
  auto count = [&]() -> uint64_t {
    server.send("count");
    auto w = words(server.line(10s));
    return w.size() == 4 ? std::stoull(w[2]) : 0;
  };

  // Idle: every client connected, nothing said.
  std::this_thread::sleep_for(3s);
  read_sims();
  double s0 = cpu_seconds(server.pid), k0 = cpu_seconds(sims.pid);
  auto t0 = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(st.idle_s));
  double wall = std::chrono::duration<double>(Clock::now() - t0).count();
  out.idle_cpu = (cpu_seconds(server.pid) - s0) / wall;
  out.sims_idle_cpu = (cpu_seconds(sims.pid) - k0) / wall;
  out.rss_idle_kib = status_kib(server.pid, "VmRSS");
  out.kib_per_conn = static_cast<double>(out.rss_idle_kib - out.rss_base_kib) / static_cast<double>(registered);
  server.send("trim");
  server.line(30s);
  out.rss_trimmed_kib = status_kib(server.pid, "VmRSS");
  out.kib_per_conn_trimmed =
      static_cast<double>(out.rss_trimmed_kib - out.rss_base_kib) / static_cast<double>(registered);

  // Messages: every client heartbeats every pace_ms.
  sims.send(fmt::format("pace {}", st.pace_ms));
  std::this_thread::sleep_for(std::chrono::milliseconds(st.pace_ms) + 1s);
  uint64_t m0 = count();
  s0 = cpu_seconds(server.pid);
  k0 = cpu_seconds(sims.pid);
  t0 = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(st.busy_s));
  uint64_t m1 = count();
  wall = std::chrono::duration<double>(Clock::now() - t0).count();
  double cpu = cpu_seconds(server.pid) - s0;
  out.busy_cpu = cpu / wall;
  out.sims_busy_cpu = (cpu_seconds(sims.pid) - k0) / wall;
  out.msgs_per_s = static_cast<double>(m1 - m0) / wall;
  out.us_per_msg = m1 > m0 ? cpu * 1e6 / static_cast<double>(m1 - m0) : NAN;
  sims.send("pace 3600000");
  std::this_thread::sleep_for(1s);

  // Fan-out: one RevertAll to every connection, every client acks.
  for (int r = 1; r <= st.repeats; ++r) {
    read_sims();
    server.send(fmt::format("fanout {}", r));
    auto w = words(server.line(kFanoutTimeout + 10s));
    if (w.size() != 4 || w[0] != "F") {
      out.error = "the server did not report a fan-out";
      break;
    }
    out.fanout.ms.push_back(static_cast<double>(std::stoll(w[2])) / 1e6);
    uint64_t acks = std::stoull(w[3]);
    if (acks < registered) out.fanout_short += registered - acks;
    std::this_thread::sleep_for(300ms);
  }
  sims.send("stop");
  sims.end();
  server.send("stop");
  server.end();
  return out;
}

// The 1-minute load average: the machine's other work shares these CPUs.
double load_average() {
  double l = NAN;
  std::ifstream("/proc/loadavg") >> l;
  return l;
}

std::string fmt_num(double v, const char* f) { return std::isnan(v) ? "nan" : fmt::format(fmt::runtime(f), v); }

}  // namespace
}  // namespace firedrill

int main(int argc, char** argv) {
  using namespace firedrill;
  namespace po = boost::program_options;
  Settings st;
  std::string sizes_text = "1000,10000,19000", json_path;
  po::options_description desc("wire_bench: gRPC against an epoll/OpenSSL loop on idle mTLS connections");
  desc.add_options()("help", "this text")(
      "connections", po::value(&sizes_text)->default_value(sizes_text),
      "comma-separated connection counts (each case opens this many in the clients' process and in the server's)")(
      "repeats", po::value(&st.repeats)->default_value(st.repeats), "fan-outs per case")(
      "pace-ms", po::value(&st.pace_ms)->default_value(st.pace_ms), "each client's heartbeat in the message window")(
      "idle-s", po::value(&st.idle_s)->default_value(st.idle_s), "idle window")(
      "busy-s", po::value(&st.busy_s)->default_value(st.busy_s), "message window")(
      "fanout-json", po::value(&st.fanout_json)->default_value(st.fanout_json),
      "the controller's figures to set against (scripts/bench.sh fanout)")(
      "quick", "1,000 connections, 5 fan-outs")("json", po::value(&json_path), "write the results here");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, desc), vm);
    po::notify(vm);
  } catch (const std::exception& e) {
    std::cerr << "wire_bench: " << e.what() << "\n" << desc;
    return 2;
  }
  if (vm.count("help")) {
    std::cout << desc;
    return 0;
  }
  if (vm.count("quick")) {
    sizes_text = "1000";
    st.repeats = 5;
  }
  st.sizes.clear();
  for (std::istringstream in(sizes_text); in.good();) {
    std::string part;
    std::getline(in, part, ',');
    int n = std::atoi(part.c_str());
    if (n <= 0 || n > 100000) {
      std::cerr << "wire_bench: --connections: '" << part << "' is not a count of 1-100000\n";
      return 2;
    }
    st.sizes.push_back(n);
  }
  if (st.repeats < 1 || st.repeats > 1000 || st.pace_ms < 100 || st.idle_s <= 0 || st.busy_s <= 0) {
    std::cerr << "wire_bench: --repeats 1-1000, --pace-ms at least 100, windows above 0\n";
    return 2;
  }
  std::signal(SIGPIPE, SIG_IGN);
  // Each process holds one descriptor per connection (and the client's and server's
  // sides live in different processes).
  rlimit r{};
  ::getrlimit(RLIMIT_NOFILE, &r);
  size_t most = static_cast<size_t>(*std::max_element(st.sizes.begin(), st.sizes.end()));
  r.rlim_cur = std::max<rlim_t>(r.rlim_cur, std::min<rlim_t>(r.rlim_max, most + 512));
  ::setrlimit(RLIMIT_NOFILE, &r);
  if (r.rlim_cur < most + 64) {
    std::cerr << fmt::format("wire_bench: {} connections need {} open files; the limit is {}\n", most, most + 64,
                             r.rlim_cur);
    return 1;
  }

  std::string dir = "/tmp/fdc-wire-" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  struct Cleanup {
    std::string dir;
    ~Cleanup() {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  } cleanup{dir};
  auto ca = controller::make_ca("wire CA", controller::KeyType::kP256, 1);
  if (!ca) return std::cerr << "wire_bench: " << ca.error().describe() << "\n", 1;
  auto server = controller::issue_cert(*ca, controller::CertRole::kController, "controller", {"127.0.0.1"},
                                       controller::KeyType::kP256, 1);
  auto client = controller::issue_cert(*ca, controller::CertRole::kAgent, "wire-client", {}, controller::KeyType::kP256, 1);
  if (!server || !client) return std::cerr << "wire_bench: cannot issue certificates\n", 1;
  (void)controller::write_pem(dir, "ca", *ca, true);
  (void)controller::write_pem(dir, "server", *server, true);

  double load_start = load_average();
  std::vector<CaseResult> results;
  for (int n : st.sizes) {
    for (const char* wire : {"grpc", "loop"}) {
      std::cerr << fmt::format("wire_bench: {} connections, {}\n", n, wire);
      results.push_back(run_case(wire, n, dir, *ca, *server, *client, st));
      if (!results.back().error.empty()) std::cerr << "wire_bench: " << results.back().error << "\n";
    }
  }

  // The controller's own figures (scripts/bench.sh fanout, renewal by heartbeat).
  nlohmann::json fanout;
  if (std::ifstream in(st.fanout_json); in) {
    try {
      fanout = nlohmann::json::parse(in);
    } catch (const std::exception&) {
    }
  }
  auto controller_case = [&](int n) -> const nlohmann::json* {
    if (!fanout.contains("cases")) return nullptr;
    for (auto& c : fanout["cases"]) {
      if (c.value("agents", 0) == n && c.value("protocol", "").rfind("new", 0) == 0) return &c;
    }
    return nullptr;
  };

  std::string t;
  t += "wire: idle mutual-TLS connections over loopback, the transport alone (2 CPUs)\n";
  t += fmt::format(
      "  grpc: bare gRPC server with the agent listener's settings (controller::build_agent_server), one\n"
      "        AgentService.Connect stream per client; loop: one thread, epoll over OpenSSL non-blocking TLS,\n"
      "        4-byte length + the same protobuf; same certificates (P-256), clients in their own process\n"
      "  idle over {:.0f} s; messages: each client heartbeats every {} ms for {:.0f} s; fan-out: RevertAll to\n"
      "  every connection, to the last ack, {} repeats\n\n",
      st.idle_s, st.pace_ms, st.busy_s, st.repeats);
  t += "   conns  wire  connected  RSS MiB  KiB/conn  trimmed  idle CPU  msg/s  us/msg  busy CPU  clients  fan50    fan99  missing\n";
  for (auto& c : results) {
    t += fmt::format("  {:>6}  {:<4}  {:>9}  {:>7}  {:>8}  {:>7}  {:>8}  {:>5}  {:>6}  {:>8}  {:>7}  {:>5}ms  {:>5}ms  {:>7}\n", c.n,
                     c.wire, c.connected, fmt_num(c.rss_idle_kib / 1024.0, "{:.0f}"),
                     fmt_num(c.kib_per_conn, "{:.1f}"), fmt_num(c.kib_per_conn_trimmed, "{:.1f}"),
                     fmt_num(c.idle_cpu * 100, "{:.1f}%"),
                     fmt_num(c.msgs_per_s, "{:.0f}"), fmt_num(c.us_per_msg, "{:.1f}"),
                     fmt_num(c.busy_cpu * 100, "{:.1f}%"), fmt_num(c.sims_busy_cpu * 100, "{:.1f}%"),
                     fmt_num(c.fanout.pct(50), "{:.0f}"), fmt_num(c.fanout.pct(99), "{:.0f}"), c.fanout_short);
    if (!c.error.empty()) t += "          error: " + c.error + "\n";
  }
  t += "\n  connected: clients the server answered; RSS: the server's, all connected and idle; KiB/conn: over the\n"
       "  server's RSS before the clients; trimmed: the same after malloc_trim (memory the handshakes freed, which\n"
       "  glibc keeps, handed back); idle/busy CPU: the server's, share of one CPU; clients: theirs (busy);\n"
       "  us/msg: server CPU per message read; fan50/fan99: write to every connection to the last ack\n\n";
  nlohmann::json ratios = nlohmann::json::array(), against = nlohmann::json::array();
  for (size_t i = 0; i + 1 < results.size(); i += 2) {
    auto& g = results[i];
    auto& l = results[i + 1];
    double rk = g.kib_per_conn / l.kib_per_conn, rt = g.kib_per_conn_trimmed / l.kib_per_conn_trimmed, rc = g.us_per_msg / l.us_per_msg,
           r50 = g.fanout.pct(50) / l.fanout.pct(50), r99 = g.fanout.pct(99) / l.fanout.pct(99);
    t += fmt::format("  {} connections, grpc/loop: KiB per connection {:.2f}x ({:.2f}x trimmed), CPU per message {:.2f}x, fan-out p50 {:.2f}x, "
                     "p99 {:.2f}x\n",
                     g.n, rk, rt, rc, r50, r99);
    ratios.push_back({{"connections", g.n},
                      {"kib_per_connection", rk},
                      {"kib_per_connection_after_malloc_trim", rt},
                      {"cpu_per_message", rc},
                      {"fanout_p50", r50},
                      {"fanout_p99", r99}});
  }
  t += "\n  the controller (" + st.fanout_json + ", renewal by heartbeat) against the grpc floor:\n";
  for (size_t i = 0; i + 1 < results.size(); i += 2) {
    auto& g = results[i];
    auto& l = results[i + 1];
    const auto* c = controller_case(g.n);
    if (!c) {
      t += fmt::format("  {}: no controller case with {} agents there\n", g.n, g.n);
      continue;
    }
    double kib = (*c)["controller_rss_kib"].value("per_agent", NAN);
    double apply99 = (*c)["apply_to_last_ack"].value("p99_ms", NAN);
    double halt99 = (*c)["halt_to_last_confirmation"].value("p99_ms", NAN);
    double us = (*c)["idle"].value("controller_cpu_us_per_message", NAN);
    t += fmt::format(
        "  {} agents: KiB/agent {:.1f}, of which gRPC's floor {:.1f} ({:.0f}%; trimmed {:.1f}; the loop's {:.1f}, trimmed "
        "{:.1f}); apply p99 {:.0f} ms, "
        "halt p99 {:.0f} ms against grpc's fan-out p99 {:.0f} ms ({:.0f}%, {:.0f}%; the loop's {:.0f} ms); CPU per "
        "message {:.0f} us against grpc's {:.1f} (the loop's {:.1f})\n",
        g.n, kib, g.kib_per_conn, 100 * g.kib_per_conn / kib, g.kib_per_conn_trimmed, l.kib_per_conn,
        l.kib_per_conn_trimmed, apply99, halt99, g.fanout.pct(99),
        100 * g.fanout.pct(99) / apply99, 100 * g.fanout.pct(99) / halt99, l.fanout.pct(99), us, g.us_per_msg,
        l.us_per_msg);
    against.push_back({{"agents", g.n},
                       {"controller_kib_per_agent", kib},
                       {"grpc_kib_per_connection", g.kib_per_conn},
                       {"loop_kib_per_connection", l.kib_per_conn},
                       {"grpc_kib_per_connection_after_malloc_trim", g.kib_per_conn_trimmed},
                       {"loop_kib_per_connection_after_malloc_trim", l.kib_per_conn_trimmed},
                       {"controller_apply_p99_ms", apply99},
                       {"controller_halt_p99_ms", halt99},
                       {"grpc_fanout_p99_ms", g.fanout.pct(99)},
                       {"loop_fanout_p99_ms", l.fanout.pct(99)},
                       {"controller_us_per_message", us},
                       {"grpc_us_per_message", g.us_per_msg},
                       {"loop_us_per_message", l.us_per_msg}});
  }
  double load_end = load_average();
  t += fmt::format("\n  load average: {:.2f} at the start, {:.2f} at the end\n", load_start, load_end);
  std::cout << t;
  if (!json_path.empty()) {
    nlohmann::json j;
    j["suite"] = "wire";
    j["settings"] = {{"pace_ms", st.pace_ms}, {"idle_s", st.idle_s}, {"busy_s", st.busy_s}, {"repeats", st.repeats}};
    for (auto& c : results) j["cases"].push_back(c.json());
    j["grpc_over_loop"] = ratios;
    j["controller_against_grpc"] = against;
    j["load_average"] = {{"start", load_start}, {"end", load_end}};
    std::ofstream(json_path) << j.dump(2) << "\n";
  }
  for (auto& c : results) {
    if (!c.error.empty()) return 1;
  }
  return 0;
}
