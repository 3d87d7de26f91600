#include "common/metrics/http_server.h"

#include <sys/socket.h>

#include <charconv>

#include <httplib.h>

namespace firedrill::metrics {

Result<ListenAddress> parse_listen_address(const std::string& text) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) {
    return make_error("'{}': expected ADDR:PORT (127.0.0.1:9464, [::1]:9464)", text);
  }
  ListenAddress a;
  a.host = text.substr(0, colon);
  if (a.host.front() == '[') {
    if (a.host.back() != ']' || a.host.size() < 3) return make_error("'{}': an IPv6 address goes in [ ]", text);
    a.host = a.host.substr(1, a.host.size() - 2);
  } else if (a.host.find(':') != std::string::npos) {
    return make_error("'{}': an IPv6 address goes in [ ] ([::1]:9464)", text);
  }
  auto port = std::string_view(text).substr(colon + 1);
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), a.port);
  if (ec != std::errc() || end != port.data() + port.size() || a.port < 0 || a.port > 65535) {
    return make_error("'{}': port '{}' is not a number in 0..65535", text, port);
  }
  return a;
}

MetricsServer::MetricsServer() = default;

MetricsServer::~MetricsServer() { stop(); }

Result<void> MetricsServer::start(const std::string& listen, const Registry& registry) {
  FD_ASSIGN(address, parse_listen_address(listen), "--metrics-listen");
  server_ = std::make_unique<httplib::Server>();
  // httplib's default also sets SO_REUSEPORT, which would let a second daemon share
  // the port and answer every other scrape: a port in use must be an error instead.
  server_->set_socket_options([](int sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  server_->new_task_queue = [] { return new httplib::ThreadPool(2); };
  server_->Get("/metrics", [&registry](const httplib::Request&, httplib::Response& res) {
    res.set_content(registry.render(), "text/plain; version=0.0.4; charset=utf-8");
  });
  if (address.port == 0) {
    port_ = server_->bind_to_any_port(address.host);
  } else {
    port_ = server_->bind_to_port(address.host, address.port) ? address.port : -1;
  }
  if (port_ <= 0) {
    int err = errno;
    server_.reset();
    return sys_error(err, "--metrics-listen {}: cannot listen", listen);
  }
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  return ok();
}

void MetricsServer::stop() {
  if (!server_) return;
  server_->stop();
  if (thread_.joinable()) thread_.join();
  server_.reset();
}

}  // namespace firedrill::metrics
