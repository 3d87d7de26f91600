// Simulated agents for the fan-out benchmark: many AgentService.Connect streams from
// one single-threaded event loop, each its own TCP connection and its own mutual-TLS
// session (its own certificate), speaking the real wire protocol: HTTP/2 (client
// preface, SETTINGS, HEADERS for POST /firedrill.v1.AgentService/Connect, DATA frames
// carrying length-prefixed protobuf messages, PING and SETTINGS acknowledgements,
// keepalive PINGs like the real agent's gRPC channel) over OpenSSL.
//
// Why not gRPC's client: a gRPC channel per agent costs the load generator as much CPU
// as the controller spends (thread hand-offs on every message), and on a shared 2-CPU
// machine every cycle the simulation burns is taken from the controller under test. A
// real fleet runs its agents on ten thousand other machines.
//
// A simulated agent registers (Hello), heartbeats at the pace the lease rules give it
// (config.lease_by_heartbeat: as agent/session does) and answers every ApplyFault,
// RevertFault and RevertAll at once with ACK_APPLIED, as a real agent does for a
// fault that takes effect at once.
// Given several controllers (more_ports), it goes on to the next when a stream ends,
// as the agent does.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace firedrill::bench {

struct SimAgentIdentity {
  std::string id;
  std::string cert_pem;
  std::string key_pem;
};

struct SimAgentsConfig {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string ca_pem;  // verifies the controller's certificate (its IP SAN)
  std::vector<SimAgentIdentity> agents;
  size_t batch = 500;  // connections handshaking at once
  std::chrono::milliseconds heartbeat{1000};
  std::chrono::milliseconds keepalive{60000};  // as agent/session's GRPC_ARG_KEEPALIVE_TIME_MS
  // The agent's lease rules (LeaseRenewal in proto/firedrill/v1/agent.proto): false,
  // the timer mode of earlier agents (a heartbeat every `heartbeat`, renewals on
  // the controller's timer); true, renewal by heartbeat (Hello.lease_by_heartbeat: the
  // active pace while holding a fault, the controller's idle pace otherwise).
  bool lease_by_heartbeat = true;
  // More controllers on `host`, gone on to in turn after `port` when a stream ends or a
  // connection fails (a follower's refusal, a leader gone), as the agent goes through
  // its --controller list: a backoff of 200 ms doubled at each pass over the list, at
  // most 5 s, jittered by 20%, back to 200 ms once a controller takes the stream.
  // Empty: an ended stream stays ended (and counts in <ended>).
  std::vector<int> more_ports;
  // Progress lines: "R <registered> <ended> <first error>\n", and the messages so far:
  // "M <gRPC messages sent> <received> <HTTP/2 PINGs sent> <received>\n".
  int report_fd = -1;
  // "stop\n" (or end of file) ends the loop; "count\n" reports at once; "pace MS\n"
  // heartbeats every MS milliseconds from now on, in place of `heartbeat` (each agent's
  // next within MS).
  int command_fd = -1;
  // kFrames: no HTTP/2 (bench/wire's event-loop server): each message is a 4-byte
  // big-endian length and the protobuf, straight over TLS (no ALPN, no PINGs).
  enum class Wire { kGrpc, kFrames } wire = Wire::kGrpc;
};

// Runs until told to stop; returns a process exit code. Meant for a child process
// of its own (its CPU and memory are then its own, apart from the controller's and
// the benchmark's).
int run_sim_agents(const SimAgentsConfig& config);

}  // namespace firedrill::bench
