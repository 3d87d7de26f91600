// The dashboard: `firedrill serve --web-listen ADDR:PORT` serves it over HTTPS with the
// controller's TLS material (cpp-httplib; no HTTP parsing of our own). Everything the
// pages use comes from this server (assets.h: plain HTML, CSS and one script file, in
// the binary); the Content-Security-Policy allows nothing else.
//
//   GET  /login?token=T        a login link (web_auth.h): sets the session cookie
//   GET  /fleet /runs /runs/ID /reports/ID /schedules /findings      the pages
//   GET  /api/fleet /api/runs /api/runs/ID /api/reports/ID /api/schedules /api/findings
//                              their data
//   GET  /reports/ID/html      the signed HTML report, sandboxed
//   GET  /events               Server-Sent Events (feed.h)
//   POST /api/halt /api/release /api/runs/ID/abort /api/runs/ID/approve
//        /api/schedules/ID/pause|resume /api/findings/ID/close
//
// A request without an identity gets the login page and nothing else. Roles are the
// controller's policy (ApiContext::access) as for the API: reads need viewer; abort,
// halt and closing a finding operator; approvals approver; schedules admin. A refusal
// is answered 403 and logged with who asked. Every action is taken under the person's identity (cn:NAME),
// as the CLI's are under theirs. On a follower the pages name the leader; a halt is
// recorded for the leader to act on, every other action is refused naming it.
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "common/result.h"
#include "controller/api/services.h"
#include "controller/web/feed.h"
#include "controller/web/web_auth.h"

namespace httplib {
class SSLServer;
struct Request;
struct Response;
}  // namespace httplib

namespace firedrill::controller::web {

struct WebConfig {
  std::string listen;                     // --web-listen ADDR:PORT (port 0: any, tests)
  std::string tls_ca, tls_cert, tls_key;  // the controller's (--tls-*)
};

class WebServer {
 public:
  // `context` and `feed` outlive the server.
  WebServer(ApiContext& context, Feed& feed);
  ~WebServer();
  WebServer(const WebServer&) = delete;
  WebServer& operator=(const WebServer&) = delete;

  // Binds (an error names the address or the TLS file) and serves from threads of its own.
  Result<void> start(const WebConfig& config);
  // Ends open event streams and stops serving.
  void stop();
  int port() const { return port_; }
  const std::string& listen() const { return listen_; }
  Logins& logins() { return logins_; }

 private:
  struct Caller;
  std::optional<Caller> identify(const httplib::Request& req) const;
  void routes();
  void page(const httplib::Request& req, httplib::Response& res, const Caller& who, const std::string& name);
  bool may(const Caller& who, auth::Action action, const httplib::Request& req, httplib::Response& res) const;
  bool post_allowed(const httplib::Request& req, httplib::Response& res, auth::Action action, Caller* who) const;

  ApiContext& ctx_;
  Feed& feed_;
  Logins logins_;
  std::unique_ptr<httplib::SSLServer> server_;
  std::thread thread_;
  int port_ = 0;
  std::string listen_;
};

// The gRPC side (web.proto): `firedrill web login` asks it for a link. Admins only.
std::unique_ptr<grpc::Service> make_web_service(ApiContext& context, WebServer* server);

}  // namespace firedrill::controller::web
