#include "agent/session/controller_session.h"

#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <fstream>
#include <random>
#include <sstream>

#include <fmt/ranges.h>
#include <grpcpp/grpcpp.h>

#include "agent/bpf/features.h"
#include "agent/enroll/renewal.h"
#include "common/host_port.h"
#include "common/leader_redirect.h"
#include "common/log.h"
#include "common/read_file.h"
#include "common/time.h"
#include "firedrill/v1/agent.grpc.pb.h"

namespace firedrill::agent {
namespace {

auto log() {
  static auto l = logger("agent.session");
  return l;
}

using Stream = grpc::ClientReaderWriter<v1::AgentMessage, v1::ControllerMessage>;

constexpr auto kBackoffFirst = std::chrono::milliseconds(200);
constexpr auto kBackoffMax = std::chrono::seconds(5);
// While followers answer and refuse, a leader is being elected (or the one they name is
// gone): the new one leads within a leader lease, a third of the grace by default, so
// the agent asks again at least this often instead of backing off to kBackoffMax and
// arriving seconds after the takeover (scripts/bench.sh ha measures it).
constexpr auto kBackoffWhileFollowersAnswer = std::chrono::seconds(1);
constexpr size_t kMaxQueuedEvents = 4096;
constexpr size_t kMaxRevertedAway = 1024;  // told in one Hello; older ones are dropped
constexpr size_t kMaxReceive = 4u << 20;

}  // namespace

Result<std::vector<v1::AllowEntry>> controller_allow_entries(const std::string& controller) {
  FD_ASSIGN(hp, split_host_port(controller, "controller address"), "allow list");
  auto [host, port_text] = hp;
  char* end = nullptr;
  long port = std::strtol(port_text.c_str(), &end, 10);
  if (*end != '\0' || port <= 0 || port > 65535) {
    return make_error("controller address '{}': port '{}' is not 1-65535", controller, port_text);
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &res);
  if (rc != 0) return make_error("controller address '{}': cannot resolve {}: {}", controller, host, gai_strerror(rc));
  std::vector<v1::AllowEntry> out;
  for (auto* p = res; p; p = p->ai_next) {
    char buf[INET6_ADDRSTRLEN] = {};
    if (::getnameinfo(p->ai_addr, p->ai_addrlen, buf, sizeof buf, nullptr, 0, NI_NUMERICHOST) != 0) continue;
    bool dup = std::any_of(out.begin(), out.end(), [&](auto& e) { return e.peer_cidr() == buf; });
    if (dup) continue;
    v1::AllowEntry e;
    e.set_peer_cidr(buf);
    e.set_protocol(v1::L4_TCP);
    e.mutable_peer_ports()->set_first(static_cast<uint32_t>(port));
    e.mutable_peer_ports()->set_last(static_cast<uint32_t>(port));
    out.push_back(std::move(e));
  }
  ::freeaddrinfo(res);
  if (out.empty()) return make_error("controller address '{}' resolves to no address", controller);
  return out;
}

std::vector<std::string> offered_fault_kinds(const FaultManager& faults) {
  // One specimen of every kind the schema knows; an engine that handles() it offers it.
  std::vector<std::pair<std::string, v1::FaultSpec>> specimens;
  auto add = [&](const char* name, auto fill) {
    v1::FaultSpec s;
    fill(s);
    specimens.emplace_back(name, std::move(s));
  };
  add("network.drop", [](v1::FaultSpec& s) { s.mutable_network()->mutable_drop(); });
  add("network.blackhole", [](v1::FaultSpec& s) { s.mutable_network()->mutable_blackhole(); });
  add("network.partition", [](v1::FaultSpec& s) { s.mutable_network()->mutable_partition(); });
  add("process.kill", [](v1::FaultSpec& s) { s.mutable_process()->mutable_kill(); });
  add("process.keep_down", [](v1::FaultSpec& s) { s.mutable_process()->mutable_keep_down(); });
  add("process.freeze", [](v1::FaultSpec& s) { s.mutable_process()->mutable_freeze(); });
  add("power_loss", [](v1::FaultSpec& s) { s.mutable_power_loss(); });
  add("network.corrupt", [](v1::FaultSpec& s) { s.mutable_network()->mutable_corrupt(); });
  add("network.duplicate", [](v1::FaultSpec& s) { s.mutable_network()->mutable_duplicate(); });
  add("network.delay", [](v1::FaultSpec& s) { s.mutable_network()->mutable_delay(); });
  add("resource.cpu", [](v1::FaultSpec& s) { s.mutable_resource()->mutable_cpu(); });
  add("resource.memory", [](v1::FaultSpec& s) { s.mutable_resource()->mutable_memory(); });
  add("resource.disk_fill", [](v1::FaultSpec& s) { s.mutable_resource()->mutable_disk_fill(); });
  add("resource.io", [](v1::FaultSpec& s) { s.mutable_resource()->mutable_io(); });
  add("connection", [](v1::FaultSpec& s) { s.mutable_connection(); });
  add("dns", [](v1::FaultSpec& s) { s.mutable_dns(); });
  std::vector<std::string> out;
  for (auto& [name, spec] : specimens) {
    for (auto& e : faults.engines()) {
      if (e->handles(spec)) {
        out.push_back(name);
        break;
      }
    }
  }
  return out;
}

ControllerSession::ControllerSession(const AgentConfig& config) : config_(config), grace_(config.lease_grace) {}

ControllerSession::~ControllerSession() { stop(); }

std::chrono::nanoseconds ControllerSession::lease_grace() const {
  std::lock_guard lock(mu_);
  return grace_;
}

void ControllerSession::emit(const v1::Event& event) {
  v1::AgentMessage m;
  *m.mutable_event() = event;
  enqueue(std::move(m));
}

void ControllerSession::enqueue(v1::AgentMessage message) {
  std::lock_guard lock(mu_);
  if (!stream_up_) {
    // What the journal's recovery finished goes into the next Hello when no stream
    // carries its event (recovery runs once the agent can be reached: before or after
    // the Hello). Decided under the one lock, so each is told exactly once.
    if (message.has_event() && message.event().has_reverted() &&
        message.event().reverted().reason() == v1::REVERT_RECOVERED && reverted_away_.size() < kMaxRevertedAway) {
      reverted_away_.push_back(message.event().reverted());
    }
    return;
  }
  if (message.has_event()) {
    // Events queue apart and go after acks and heartbeats; a flood drops the oldest
    // events (counted in the heartbeat), never an answer to a command.
    if (events_out_.size() >= kMaxQueuedEvents) {
      if (events_dropped_++ % 1000 == 0) {
        log()->warn("{} events queued for the controller: dropping the oldest ({} so far)", events_out_.size(),
                    events_dropped_);
      }
      events_out_.pop_front();
    }
    events_out_.push_back(std::move(message));
  } else {
    outbox_.push_back(std::move(message));
  }
  cv_.notify_all();
}

Result<void> ControllerSession::make_credentials() {
  if (config_.insecure) {
    for (int i = 0; i < 3; ++i) {
      log()->warn("!!! INSECURE: the stream to {} is PLAINTEXT and the controller is not authenticated. Labs only. !!!",
                  fmt::join(config_.controllers, ", "));
    }
    credentials_ = grpc::InsecureChannelCredentials();
    return ok();
  }
  grpc::SslCredentialsOptions opts;
  FD_ASSIGN(ca, read_whole_file(config_.tls_ca, "--tls-ca"), "TLS");
  FD_ASSIGN(cert, read_whole_file(config_.tls_cert, "--tls-cert"), "TLS");
  FD_ASSIGN(key, read_whole_file(config_.tls_key, "--tls-key"), "TLS");
  opts.pem_root_certs = ca;
  opts.pem_cert_chain = cert;
  opts.pem_private_key = key;
  credentials_ = grpc::SslCredentials(opts);
  return ok();
}

std::shared_ptr<grpc::Channel> ControllerSession::channel_to(const std::string& address) {
  if (auto it = channels_.find(address); it != channels_.end()) return it->second;
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(static_cast<int>(kMaxReceive));
  // Our own loop backs off; the channel must not add minutes of its own.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  // The session watches the stream itself (silent past its pace plus the grace: it is
  // dropped), so transport pings are only the backstop for a dead TCP peer: every ping
  // is a message the controller answers, ten thousand agents over.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 60000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // Bandwidth-delay probes size windows for bulk transfers; commands are a few hundred
  // bytes, and each probe is a PING the controller answers for every agent of a fleet
  // (bench/fanout's simulated agents send none either).
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  auto channel = grpc::CreateCustomChannel(address, credentials_, args);
  // A redirect may name any address the fleet's CA vouches for: keep the listed ones
  // and the last few others, not one channel per leader ever seen.
  bool listed = std::find(config_.controllers.begin(), config_.controllers.end(), address) != config_.controllers.end();
  if (!listed && channels_.size() >= config_.controllers.size() + 4) {
    for (auto it = channels_.begin(); it != channels_.end(); ++it) {
      if (std::find(config_.controllers.begin(), config_.controllers.end(), it->first) == config_.controllers.end()) {
        channels_.erase(it);
        break;
      }
    }
  }
  channels_[address] = channel;
  return channel;
}

void ControllerSession::report_reverted_while_away(const std::vector<v1::FaultReverted>& reverted) {
  std::lock_guard lock(mu_);
  for (auto& r : reverted) {
    if (reverted_away_.size() < kMaxRevertedAway) reverted_away_.push_back(r);
  }
}

Result<void> ControllerSession::start(CommandHandler& handler, FaultManager& faults) {
  handler_ = &handler;
  faults_ = &faults;
  if (config_.controllers.empty()) return make_error("a controller session needs at least one controller address");
  FD_TRY(make_credentials(), "controller {}", fmt::join(config_.controllers, ", "));
  handler.on_lease([this](std::chrono::nanoseconds grace) {
    std::lock_guard lock(mu_);
    if (grace != grace_) log()->info("lease grace is now {} (set by the controller)", format_duration(grace));
    grace_ = grace;
  });
  faults.on_revert([this](const v1::FaultReverted& r) {
    // Told in the next Hello: what happened while nobody listened, and what the
    // dead-man switch undid (its stream may look open but say nothing).
    std::lock_guard lock(mu_);
    if (!stream_up_ || r.reason() == v1::REVERT_LEASE_LOST) {
      if (reverted_away_.size() < kMaxRevertedAway) reverted_away_.push_back(r);
    }
  });
  {
    std::lock_guard lock(mu_);
    last_heard_ = SteadyClock::now();
  }
  connect_thread_ = std::thread([this] { connect_loop(); });
  deadman_thread_ = std::thread([this] { deadman_loop(); });
  log()->info("controller session to {} started (lease grace {})", fmt::join(config_.controllers, ", "),
              format_duration(config_.lease_grace));
  return ok();
}

void ControllerSession::stop() {
  if (stopping_.exchange(true)) return;
  {
    std::lock_guard lock(mu_);
    if (ctx_) ctx_->TryCancel();
    cv_.notify_all();
  }
  if (connect_thread_.joinable()) connect_thread_.join();
  if (deadman_thread_.joinable()) deadman_thread_.join();
}

v1::Hello ControllerSession::make_hello() {
  v1::Hello h;
  h.set_agent_id(config_.id);
  for (auto& [k, v] : config_.tags) (*h.mutable_tags())[k] = v;
  bpf::features().to_proto(h.mutable_capabilities());
  for (auto& k : offered_fault_kinds(*faults_)) h.mutable_capabilities()->add_fault_kinds(k);
  h.set_version(FIREDRILL_VERSION);
  h.set_lease_by_heartbeat(true);
  for (auto& f : faults_->active()) *h.add_active_faults() = std::move(f);
  {
    std::lock_guard lock(mu_);
    for (auto& r : reverted_away_) *h.add_reverted_while_away() = r;
  }
  *h.mutable_clock() = to_proto(WallClock::now());
  return h;
}

std::string ControllerSession::follow(const std::string& leader, const std::string& from) {
  if (leader == from) return "";
  bool listed = std::find(config_.controllers.begin(), config_.controllers.end(), leader) != config_.controllers.end();
  if (listed || !config_.insecure) return leader;
  log()->warn("the controller at {} names the leader at {}, which is not in --controller and, with --insecure, "
              "nothing vouches for: not followed",
              from, leader);
  return "";
}

void ControllerSession::connect_loop() {
  auto backoff = std::chrono::duration_cast<std::chrono::milliseconds>(kBackoffFirst);
  std::mt19937 rng(std::random_device{}());
  size_t next = 0;           // the list's entry to try
  std::string redirect;      // a leader named by a follower, tried before the list
  int redirects = 0;         // in a row, so that two followers naming each other do not spin
  bool follower_answered = false;
  while (!stopping_) {
    std::string address = redirect.empty() ? config_.controllers[next] : redirect;
    redirect.clear();
    auto began = SteadyClock::now();
    Attempt attempt = run_stream(address);
    if (stopping_) break;
    // Since the last stream a controller took, has a follower answered (even one naming
    // a leader that is gone)?
    if (attempt.heard) follower_answered = false;
    if (attempt.refused) follower_answered = true;
    if (!attempt.leader.empty() && redirects < 3) {
      if (auto to = follow(attempt.leader, address); !to.empty()) {
        ++redirects;
        log()->info("the controller at {} is a follower: going to the leader at {}", address, to);
        auto listed = std::find(config_.controllers.begin(), config_.controllers.end(), to);
        if (listed != config_.controllers.end()) next = static_cast<size_t>(listed - config_.controllers.begin());
        else redirect = to;
        continue;
      }
    }
    redirects = 0;
    if (attempt.heard) {
      // It accepted the stream: the next try is there again. A stream that lived a while
      // was healthy: start the backoff over.
      auto listed = std::find(config_.controllers.begin(), config_.controllers.end(), address);
      if (listed != config_.controllers.end()) next = static_cast<size_t>(listed - config_.controllers.begin());
      else redirect = address;
      if (SteadyClock::now() - began > std::chrono::seconds(10)) backoff = kBackoffFirst;
    } else {
      // Not reached, or refused: the next of the list. The backoff grows once per pass
      // over the whole list, so a list of several is tried quickly before waiting long.
      next = (next + 1) % config_.controllers.size();
    }
    if (follower_answered) backoff = std::min<std::chrono::milliseconds>(backoff, kBackoffWhileFollowersAnswer);
    std::uniform_real_distribution<double> jitter(0.8, 1.2);
    auto wait = std::chrono::milliseconds(static_cast<int64_t>(backoff.count() * jitter(rng)));
    std::string then = redirect.empty() ? config_.controllers[next] : redirect;
    log()->info("connecting to {} in {}", then, format_duration(wait));
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, wait, [this] { return stopping_.load(); });
    }
    if (attempt.heard || next == 0) {
      auto most = follower_answered ? std::chrono::milliseconds(kBackoffWhileFollowersAnswer) : kBackoffMax;
      backoff = std::min<std::chrono::milliseconds>(backoff * 2, most);
    }
  }
}

namespace {

// Connects now (the session's loop paces the tries, so the channel's own backoff is
// reset first) and says whether it is ready: false as soon as the try failed (a dead
// controller's port refuses at once; WaitForConnected waited out its whole deadline
// through the channel's retries), or at the deadline.
bool connect_now(grpc::Channel& channel, std::chrono::system_clock::time_point deadline) {
  grpc::experimental::ChannelResetConnectionBackoff(&channel);
  auto state = channel.GetState(true);
  // A failure seen from here on is this try's; one the channel already showed is the
  // last try's, and it moves on from it at once (its backoff was reset).
  bool this_try = state != GRPC_CHANNEL_TRANSIENT_FAILURE;
  while (state != GRPC_CHANNEL_READY) {
    if (state == GRPC_CHANNEL_SHUTDOWN || (state == GRPC_CHANNEL_TRANSIENT_FAILURE && this_try)) return false;
    if (!channel.WaitForStateChange(state, deadline)) return false;
    this_try = true;
    state = channel.GetState(true);
  }
  return true;
}

}  // namespace

ControllerSession::Attempt ControllerSession::run_stream(const std::string& address) {
  Attempt attempt;
  // A renewed certificate is used from the next connection on, to every controller.
  if (renewal_ && renewal_->generation() != channel_generation_) {
    if (auto r = make_credentials(); r) {
      channels_.clear();
      channel_generation_ = renewal_->generation();
      log()->info("connecting with the renewed certificate from now on");
    } else {
      log()->error("the renewed certificate: {} (the old one is used)", r.error().describe());
    }
  }
  auto channel = channel_to(address);
  // Connect first, so that the Hello (faults held, clock) is fresh when it is sent.
  if (!connect_now(*channel, std::chrono::system_clock::now() + std::chrono::seconds(2))) {
    // The channel keeps why it failed (refused, TLS handshake, certificate): a call
    // that fails fast brings it out for the log.
    grpc::ClientContext probe;
    probe.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
    auto stream = v1::AgentService::NewStub(channel)->Connect(&probe);
    auto status = stream->Finish();
    log()->warn("cannot reach the controller at {}: {}", address,
                status.error_message().empty() ? "not connected" : status.error_message());
    return attempt;
  }
  auto stub = v1::AgentService::NewStub(channel);
  grpc::ClientContext ctx;
  {
    std::lock_guard lock(mu_);
    if (stopping_) return attempt;
    ctx_ = &ctx;
  }
  std::unique_ptr<Stream> stream = stub->Connect(&ctx);
  v1::AgentMessage hello;
  *hello.mutable_hello() = make_hello();
  size_t away = hello.hello().reverted_while_away_size();
  bool sent = stream->Write(hello);
  std::thread writer;
  if (sent) {
    {
      std::lock_guard lock(mu_);
      stream_up_ = true;
      outbox_.clear();
      events_out_.clear();
      idle_heartbeat_ = std::chrono::nanoseconds::zero();  // until this controller says otherwise
      exchange_.reset();
      stream_since_ = SteadyClock::now();
      silence_cancelled_ = false;
    }
    connected_ = true;
    log()->info("connected to {}; registered as {} holding {} fault(s), {} reverted while away", address,
                config_.id, hello.hello().active_faults_size(), away);
    v1::ControllerMessage msg;
    while (stream->Read(&msg)) {
      {
        std::lock_guard lock(mu_);
        last_heard_ = SteadyClock::now();
        if (!attempt.heard) {
          // Only a controller that answers took the Hello (a follower refuses it
          // unread): what it reported is delivered; later reverts start a new list.
          reverted_away_.erase(reverted_away_.begin(), reverted_away_.begin() + std::min(away, reverted_away_.size()));
          attempt.heard = true;
          log()->info("the controller at {} accepted the stream", address);
        }
        if (msg.has_lease() && msg.lease().has_heartbeat_interval()) {
          auto hb = from_proto(msg.lease().heartbeat_interval());
          if (hb >= std::chrono::milliseconds(100) && hb <= std::chrono::minutes(1)) heartbeat_interval_ = hb;
        }
        if (msg.has_lease() && msg.lease().has_controller_clock() && msg.lease().has_echo()) {
          v1::ClockExchange x;
          *x.mutable_agent_sent() = msg.lease().echo();
          *x.mutable_controller_clock() = msg.lease().controller_clock();
          *x.mutable_agent_received() = to_proto(WallClock::now());
          exchange_ = std::move(x);
        }
        if (msg.has_lease()) {
          // Renewal by heartbeat when the controller names an idle pace (it read our
          // Hello's lease_by_heartbeat); an earlier controller renews on its timer.
          auto idle = msg.lease().has_idle_heartbeat_interval() ? from_proto(msg.lease().idle_heartbeat_interval())
                                                                : std::chrono::nanoseconds::zero();
          idle_heartbeat_ = idle.count() > 0 ? std::clamp<std::chrono::nanoseconds>(idle, std::chrono::milliseconds(100),
                                                                                     std::chrono::minutes(10))
                                             : std::chrono::nanoseconds::zero();
        }
        if (msg.has_apply() && idle_heartbeat_.count() > 0) {
          // A fault is coming: its lease needs renewals at the active pace from now on.
          next_heartbeat_ = std::min(next_heartbeat_, SteadyClock::now() + pace_locked(true));
          cv_.notify_all();
        }
      }
      if (!writer.joinable()) {
        // Heartbeats and answers go once the controller spoke (it sends the lease at
        // registration): a follower's refusal is never raced by a write of ours, whose
        // failure would cancel the stream and lose the refusal's leader address.
        writer = std::thread([this, &ctx, &stream] { writer_loop(&ctx, stream.get()); });
      }
      if (msg.has_certificate()) {
        if (!renewal_) continue;
        if (auto r = renewal_->on_issued(msg.certificate()); !r) log()->warn("{}", r.error().describe());
        continue;
      }
      auto reply = handler_->handle(msg, v1::REVERT_REQUESTED);
      // Renewals are answered only when refused: ten thousand agents renewing every
      // few seconds should not double the controller's load.
      if (msg.has_lease() && reply.has_ack() && reply.ack().status() == v1::ACK_APPLIED) continue;
      enqueue(std::move(reply));
    }
  }
  {
    std::lock_guard lock(mu_);
    stream_up_ = false;
    cv_.notify_all();
  }
  connected_ = false;
  if (writer.joinable()) writer.join();
  if (renewal_) renewal_->stream_ended();
  grpc::Status status = stream->Finish();
  {
    std::lock_guard lock(mu_);
    ctx_ = nullptr;
    outbox_.clear();
    events_out_.clear();
  }
  if (stopping_) return attempt;
  if (status.error_code() == grpc::StatusCode::FAILED_PRECONDITION) {
    attempt.refused = true;
    auto trailer = ctx.GetServerTrailingMetadata();
    if (auto it = trailer.find(kLeaderAddressKey); it != trailer.end()) {
      attempt.leader.assign(it->second.data(), it->second.size());
    }
  }
  if (status.error_code() == grpc::StatusCode::FAILED_PRECONDITION) {
    // A follower (it answers whether or not the Hello got through).
    log()->warn("the controller at {} refused the stream: {}", address, status.error_message());
  } else if (sent) {
    log()->warn("stream to {} ended: {} {}", address, static_cast<int>(status.error_code()), status.error_message());
  } else {
    log()->warn("cannot reach the controller at {}: {} {}", address, static_cast<int>(status.error_code()),
                status.error_message());
  }
  return attempt;
}

std::chrono::nanoseconds ControllerSession::pace_locked(bool holds_faults) const {
  if (idle_heartbeat_.count() == 0) return heartbeat_interval_;  // renewed by the controller's timer
  if (!holds_faults) return std::max(idle_heartbeat_, heartbeat_interval_);
  // Each heartbeat brings a renewal: three of them within every grace, and no more
  // (each is two messages the controller handles, ten thousand agents over).
  return grace_ / 3;
}

void ControllerSession::writer_loop(grpc::ClientContext* ctx, void* stream_ptr) {
  auto* stream = static_cast<Stream*>(stream_ptr);
  std::unique_lock lock(mu_);
  next_heartbeat_ = SteadyClock::now();
  while (stream_up_ && !stopping_) {
    if (SteadyClock::now() >= next_heartbeat_) {
      lock.unlock();
      v1::AgentMessage hb;
      *hb.mutable_heartbeat() = handler_->heartbeat();
      bool holds = hb.heartbeat().active_faults_size() > 0 || !faults_->empty();
      lock.lock();
      hb.mutable_heartbeat()->set_events_dropped(events_dropped_);
      if (exchange_) {
        *hb.mutable_heartbeat()->mutable_exchange() = std::move(*exchange_);
        exchange_.reset();
      }
      pace_ = pace_locked(holds);
      *hb.mutable_heartbeat()->mutable_next_within() = to_proto_duration(pace_);
      outbox_.push_back(std::move(hb));
      next_heartbeat_ = SteadyClock::now() + pace_;
      if (renewal_) {
        if (auto request = renewal_->request_if_due(WallClock::now())) outbox_.push_back(std::move(*request));
      }
    }
    if (outbox_.empty() && events_out_.empty()) {
      auto due = next_heartbeat_;
      cv_.wait_until(lock, due,
                     [&] {
                       return !outbox_.empty() || !events_out_.empty() || !stream_up_ || stopping_ ||
                              next_heartbeat_ < due;
                     });
      continue;
    }
    auto& queue = outbox_.empty() ? events_out_ : outbox_;
    v1::AgentMessage m = std::move(queue.front());
    queue.pop_front();
    lock.unlock();
    bool ok = stream->Write(m);
    lock.lock();
    if (!ok) {
      ctx->TryCancel();
      break;
    }
  }
}

void ControllerSession::deadman_loop() {
  while (!stopping_) {
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(50), [this] { return stopping_.load(); });
    }
    if (stopping_) break;
    SteadyClock::time_point heard;
    std::chrono::nanoseconds grace;
    {
      std::lock_guard lock(mu_);
      heard = last_heard_;
      grace = grace_;
      // A stream silent for our pace plus the grace has lost its controller (gone
      // without closing the stream, or no longer answering): drop it and connect again.
      auto stream_silent = SteadyClock::now() - std::max(heard, stream_since_);
      if (stream_up_ && ctx_ && !silence_cancelled_ && stream_silent > pace_ + grace) {
        silence_cancelled_ = true;
        log()->warn("no word from the controller for {} on an open stream (pace {}, lease grace {}): reconnecting",
                    format_duration(std::chrono::duration_cast<std::chrono::nanoseconds>(stream_silent)),
                    format_duration(pace_), format_duration(grace));
        ctx_->TryCancel();
      }
    }
    auto silent = SteadyClock::now() - heard;
    // A fault whose revert failed waits for its retry (the fault manager's timer):
    // the switch does not spin on it, and everything else is still reverted.
    if (silent > grace && faults_->any_revertible()) {
      log()->error("DEAD-MAN SWITCH: no word from the controller for {} (lease grace {}): reverting every fault",
                   format_duration(std::chrono::duration_cast<std::chrono::nanoseconds>(silent)),
                   format_duration(grace));
      size_t n = faults_->revert_all(v1::REVERT_LEASE_LOST);
      log()->error("dead-man switch reverted {} fault(s)", n);
    }
  }
}

}  // namespace firedrill::agent
