// Serves a Registry at GET /metrics over HTTP (cpp-httplib: no HTTP parsing of our own).
// One thread accepts; a scrape renders the registry (its collectors run then).
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "common/metrics/registry.h"
#include "common/result.h"

namespace httplib {
class Server;
}

namespace firedrill::metrics {

struct ListenAddress {
  std::string host;  // an address or a name; "[::1]" is given as "::1"
  int port = 0;      // 0: any free port (tests)
};

// "ADDR:PORT", "[V6ADDR]:PORT" (the value of --metrics-listen).
Result<ListenAddress> parse_listen_address(const std::string& text);

class MetricsServer {
 public:
  MetricsServer();
  ~MetricsServer();  // stops
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // Binds (an error names the address) and serves from a thread of its own.
  Result<void> start(const std::string& listen, const Registry& registry);
  void stop();
  int port() const { return port_; }  // the bound port, once started

 private:
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace firedrill::metrics
