// The controllers' side of scripts/bench.sh ha, with real `firedrill serve` processes
// and simulated agents (bench/fanout/sim_agents.h) over mutual TLS on loopback:
//   - takeover: two controllers on one PostgreSQL database, the agents given both; the
//     leader is SIGKILLed, and the time is taken to the moment the other has acked an
//     apply on every agent (it took the lease, every agent came over, an inject went
//     out and every ack came back), over repeats (the killed one restarted as the
//     follower between them);
//   - fan-out: one controller on SQLite and then one on PostgreSQL, the same agents:
//     ApplyFault on all to the last ack and halt to the last confirmation.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace firedrill::bench {

struct TakeoverOptions {
  std::string store_url;  // a fresh PostgreSQL database
  int agents = 1000;
  int repeats = 10;
  std::string lease_grace = "5s";  // serve's default
};

struct FanoutOptions {
  std::string postgres_url;  // a fresh PostgreSQL database
  int agents = 10000;
  int repeats = 5;
};

// Each prints its table on standard output and returns its JSON ({"error": ...} when it
// could not run).
nlohmann::json measure_takeover(const TakeoverOptions& options);
nlohmann::json measure_fanout_stores(const FanoutOptions& options);

}  // namespace firedrill::bench
