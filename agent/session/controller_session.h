// The agent's side of AgentService.Connect: one stream to the controller, over mutual
// TLS. It registers (Hello: id, tags, capabilities, version, clock, faults held, and
// what was reverted while away), obeys commands through the CommandHandler, sends
// heartbeats, acks and events, and reconnects with backoff when the stream breaks.
//
// Several controllers (--controller a:7443,b:7443) share one database and one leads.
// The agent tries them in the order given, with backoff and jitter between attempts,
// and stays with the one that accepts its stream (a broken stream is tried there again
// first). A follower refuses the stream naming the leader's address
// (common/leader_redirect.h): the agent goes there at once when it is in the list, or,
// over TLS, anywhere (the handshake checks the certificate against the fleet's CA);
// with --insecure an address outside the list is not followed (nothing vouches for
// it), and the agent goes on to the next of its list.
//
// The dead-man switch lives here: when no controller message has arrived for the lease
// grace, every fault is reverted (REVERT_LEASE_LOST), whether or not the stream still
// looks open. Those reverts are reported in the next Hello. The lease rules and their
// bounds are written once, at LeaseRenewal in proto/firedrill/v1/agent.proto: this
// agent asks for renewal by heartbeat (Hello.lease_by_heartbeat), heartbeats at the
// active pace while it holds a fault and at the controller's idle pace otherwise, and
// drops a stream that has been silent for its pace plus the grace (a controller that
// went away without closing it), to connect again.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "agent/core/command_handler.h"
#include "agent/core/config.h"
#include "agent/core/event_sink.h"
#include "agent/core/fault_manager.h"
#include "common/result.h"
#include "firedrill/v1/agent.pb.h"

namespace grpc {
class Channel;
class ChannelCredentials;
class ClientContext;
}  // namespace grpc

namespace firedrill::agent {

class CertificateRenewal;

class ControllerSession : public EventSink {
 public:
  explicit ControllerSession(const AgentConfig& config);
  ~ControllerSession() override;
  ControllerSession(const ControllerSession&) = delete;
  ControllerSession& operator=(const ControllerSession&) = delete;

  // Events from the engines and the fault manager; forwarded while connected, and
  // also logged (debug).
  void emit(const v1::Event& event) override;

  // Starts the connection loop and the dead-man switch. `handler` and `faults` must
  // outlive the session (stop() before destroying them).
  Result<void> start(CommandHandler& handler, FaultManager& faults);
  void stop();

  // Reverts made before the session existed (what the journal finished at start): told
  // to the controller in the next Hello.
  void report_reverted_while_away(const std::vector<v1::FaultReverted>& reverted);

  // An enrolled agent's certificate renewal (agent/enroll/renewal.h), before start();
  // it outlives the session.
  void set_renewal(CertificateRenewal* renewal) { renewal_ = renewal; }

  bool connected() const { return connected_.load(); }
  std::chrono::nanoseconds lease_grace() const;

 private:
  // How one attempt on one controller ended.
  struct Attempt {
    bool heard = false;   // the controller spoke on the stream: it accepted it
    std::string leader;   // a follower's refusal: the leader's address
    bool refused = false; // a follower answered and refused: a controller is alive there
  };
  void connect_loop();
  Attempt run_stream(const std::string& address);
  // Where a follower's redirect goes: the address, or "" when it is not followed.
  std::string follow(const std::string& leader, const std::string& from);
  void writer_loop(grpc::ClientContext* ctx, void* stream);
  void deadman_loop();
  // How often to heartbeat now (under mu_): see LeaseRenewal's rules.
  std::chrono::nanoseconds pace_locked(bool holds_faults) const;
  void enqueue(v1::AgentMessage message);
  v1::Hello make_hello();
  Result<void> make_credentials();
  std::shared_ptr<grpc::Channel> channel_to(const std::string& address);

  AgentConfig config_;
  CommandHandler* handler_ = nullptr;
  FaultManager* faults_ = nullptr;
  std::shared_ptr<grpc::ChannelCredentials> credentials_;  // read at start and after a renewal
  std::map<std::string, std::shared_ptr<grpc::Channel>> channels_;  // connect thread only
  CertificateRenewal* renewal_ = nullptr;
  uint64_t channel_generation_ = 0;  // of the certificate credentials_ were read from

  std::atomic<bool> stopping_{false};
  std::atomic<bool> connected_{false};
  std::thread connect_thread_;
  std::thread deadman_thread_;

  mutable std::mutex mu_;
  std::condition_variable cv_;  // writer wake-ups, stop
  std::deque<v1::AgentMessage> outbox_;      // hello, acks, heartbeats: sent first
  std::deque<v1::AgentMessage> events_out_;  // events: bounded, sent after
  uint64_t events_dropped_ = 0;
  bool stream_up_ = false;
  grpc::ClientContext* ctx_ = nullptr;  // the current stream's, for cancel on stop
  SteadyClock::time_point last_heard_;
  std::chrono::nanoseconds grace_;
  std::chrono::nanoseconds heartbeat_interval_ = std::chrono::seconds(1);
  // The stream's controller renews by heartbeat, with this pace for an agent holding
  // nothing (LeaseRenewal.idle_heartbeat_interval); 0: it renews on its own timer.
  std::chrono::nanoseconds idle_heartbeat_{0};
  // The latest round trip of clocks (a renewal that echoed our clock), for the next
  // heartbeat: the controller estimates our clock offset from it (ClockExchange).
  std::optional<v1::ClockExchange> exchange_;
  std::chrono::nanoseconds pace_ = std::chrono::seconds(1);  // the pace last announced
  SteadyClock::time_point next_heartbeat_;
  SteadyClock::time_point stream_since_;  // the current stream's start (silence watch)
  bool silence_cancelled_ = false;        // the current stream was dropped as silent
  std::vector<v1::FaultReverted> reverted_away_;
};

// The controller's address as allow-list entries (every address it resolves to, TCP,
// its port), so that no network fault cuts the agent off from its controller.
Result<std::vector<v1::AllowEntry>> controller_allow_entries(const std::string& controller);

// The fault kinds some engine of this agent handles ("network.blackhole", ...).
std::vector<std::string> offered_fault_kinds(const FaultManager& faults);

}  // namespace firedrill::agent
