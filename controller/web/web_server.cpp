#include "controller/web/web_server.h"

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>

#include <httplib.h>
#include <google/protobuf/util/json_util.h>
#include <nlohmann/json.hpp>

#include "common/log.h"
#include "common/metrics/http_server.h"
#include "controller/evidence/findings.h"
#include "controller/evidence/html_report.h"
#include "controller/web/assets.h"
#include "controller/web/views.h"

namespace firedrill::controller::web {
namespace {

using Json = nlohmann::json;

auto log() {
  static auto l = logger("controller.web");
  return l;
}

constexpr const char* kCookie = "fd_session";
constexpr const char* kJson = "application/json";

// Nothing but this server: no inline script, no other origin, no framing.
constexpr const char* kPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'";
// The signed report is a document of its own (inline styles and SVG): it runs no script
// and reaches nothing.
constexpr const char* kReportPolicy =
    "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'";

// The value of cookie `name` in a Cookie header ("a=1; fd_session=...").
std::string cookie_value(const std::string& header, std::string_view name) {
  size_t pos = 0;
  while (pos < header.size()) {
    size_t end = header.find(';', pos);
    if (end == std::string::npos) end = header.size();
    std::string_view part(header.data() + pos, end - pos);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    if (part.size() > name.size() && part.substr(0, name.size()) == name && part[name.size()] == '=') {
      return std::string(part.substr(name.size() + 1));
    }
    pos = end + 1;
  }
  return {};
}

void json_error(httplib::Response& res, int status, const std::string& message) {
  res.status = status;
  res.set_content(Json{{"error", message}}.dump(), kJson);
}

void send(httplib::Response& res, const Result<std::string>& body, int not_found = 404) {
  if (!body) return json_error(res, not_found, body.error().describe());
  res.set_content(*body, kJson);
}

// The common name of a client certificate the handshake verified against the fleet's CA.
std::optional<std::string> certificate_name(const SSL* ssl) {
  if (!ssl) return std::nullopt;
  X509* cert = SSL_get1_peer_certificate(ssl);
  if (!cert) return std::nullopt;
  std::optional<std::string> name;
  if (SSL_get_verify_result(ssl) == X509_V_OK) {
    char cn[256] = {};
    int n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
    if (n > 0 && static_cast<size_t>(n) < sizeof cn) name = std::string(cn, static_cast<size_t>(n));
  }
  X509_free(cert);
  return name;
}

}  // namespace

struct WebServer::Caller {
  auth::Caller who;
  std::string session;  // the cookie, for a login link's session
};

WebServer::WebServer(ApiContext& context, Feed& feed) : ctx_(context), feed_(feed), logins_(context.store) {}

WebServer::~WebServer() { stop(); }

std::optional<WebServer::Caller> WebServer::identify(const httplib::Request& req) const {
  Caller c;
  if (auto cn = certificate_name(req.ssl)) {
    c.who.name = "cn:" + *cn;
    c.who.via = "tls";
    return c;
  }
  auto cookie = cookie_value(req.get_header_value("Cookie"), kCookie);
  if (cookie.empty()) return std::nullopt;
  auto identity = const_cast<Logins&>(logins_).session(cookie, WallClock::now());
  if (!identity) return std::nullopt;
  c.who.name = *identity;
  c.who.via = "web login link";
  c.session = cookie;
  return c;
}

bool WebServer::may(const Caller& c, auth::Action action, const httplib::Request& req, httplib::Response& res) const {
  if (auto a = ctx_.access.allow(c.who, action); !a) {
    log()->warn("refused {} {} from {}: {}", req.method, req.path, req.remote_addr, a.error().message);
    json_error(res, 403, a.error().message);
    return false;
  }
  return true;
}

// A POST from the dashboard's own page, by someone whose roles allow `action`.
bool WebServer::post_allowed(const httplib::Request& req, httplib::Response& res, auth::Action action, Caller* c) const {
  auto who = identify(req);
  if (!who) {
    json_error(res, 401, "not signed in");
    return false;
  }
  auto origin = req.get_header_value("Origin");
  if (!origin.empty() && origin != "https://" + req.get_header_value("Host")) {
    log()->warn("refused {} {} from {} ({}): the request came from another origin ({})", req.method, req.path,
                req.remote_addr, who->who.describe(), origin);
    json_error(res, 403, "the request came from another origin");
    return false;
  }
  if (!logins_.csrf_ok(who->who.name, req.get_header_value("X-CSRF-Token"))) {
    log()->warn("refused {} {} from {} ({}): no valid CSRF token", req.method, req.path, req.remote_addr,
                who->who.describe());
    json_error(res, 403, "the request has no valid CSRF token (reload the page)");
    return false;
  }
  if (!may(*who, action, req, res)) return false;
  if (ctx_.follower && action != auth::Action::kHalt) {
    json_error(res, 409, fmt::format("{}; this controller is a follower: ask the leader to {}", ctx_.follower->refusal(),
                                     auth::action_name(action)));
    return false;
  }
  *c = std::move(*who);
  return true;
}

void WebServer::page(const httplib::Request& req, httplib::Response& res, const Caller& c, const std::string& name) {
  std::string roles;
  for (auto [action, role] : {std::pair{auth::Action::kOperate, "operator"}, std::pair{auth::Action::kApprove, "approver"},
                              std::pair{auth::Action::kAdmin, "admin"}}) {
    if (ctx_.access.allow(c.who, action)) roles += std::string(" ") + role;
  }
  std::string leader = ctx_.follower ? ctx_.follower->refusal() : "";
  std::string id = req.matches.size() > 1 ? std::string(req.matches[1]) : "";
  res.set_content(fmt::format(fmt::runtime(kPageShell), fmt::arg("page", name), fmt::arg("id", evidence::html_escape(id)),
                              fmt::arg("identity", evidence::html_escape(c.who.name)),
                              fmt::arg("roles", evidence::html_escape("viewer" + roles)),
                              fmt::arg("csrf", logins_.csrf_token(c.who.name)),
                              fmt::arg("leader", evidence::html_escape(leader)),
                              fmt::arg("controller", evidence::html_escape(ctx_.controller_id))),
                  "text/html; charset=utf-8");
}

void WebServer::routes() {
  auto& s = *server_;
  s.set_default_headers({{"Content-Security-Policy", kPolicy},
                         {"X-Content-Type-Options", "nosniff"},
                         {"X-Frame-Options", "DENY"},
                         {"Referrer-Policy", "no-referrer"},
                         {"Strict-Transport-Security", "max-age=31536000"},
                         {"Cross-Origin-Opener-Policy", "same-origin"},
                         {"Cross-Origin-Resource-Policy", "same-origin"},
                         {"Cache-Control", "no-store"}});
  // Nobody without an identity gets anything but the login page and its style sheet.
  s.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (req.path == "/login" || req.path == "/static/style.css" || req.path == "/logout") {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    auto c = identify(req);
    if (!c) {
      res.status = 401;
      if (req.path.starts_with("/api/") || req.path == "/events") {
        res.set_content(Json{{"error", "not signed in"}}.dump(), kJson);
      } else {
        res.set_content(fmt::format(fmt::runtime(kLoginPage), fmt::arg("message", "")), "text/html; charset=utf-8");
      }
      return httplib::Server::HandlerResponse::Handled;
    }
    if (req.method == "GET" && !may(*c, auth::Action::kRead, req, res)) return httplib::Server::HandlerResponse::Handled;
    return httplib::Server::HandlerResponse::Unhandled;
  });

  s.Get("/login", [this](const httplib::Request& req, httplib::Response& res) {
    auto token = req.get_param_value("token");
    if (token.empty()) {
      if (identify(req)) return res.set_redirect("/fleet", 303);
      return res.set_content(fmt::format(fmt::runtime(kLoginPage), fmt::arg("message", "")), "text/html; charset=utf-8");
    }
    auto identity = logins_.redeem(token, WallClock::now());
    if (!identity) {
      log()->warn("login link refused from {}: {}", req.remote_addr, identity.error().describe());
      res.status = 403;
      return res.set_content(fmt::format(fmt::runtime(kLoginPage), fmt::arg("message", evidence::html_escape(identity.error().describe()))),
                             "text/html; charset=utf-8");
    }
    auto cookie = logins_.open_session(*identity, WallClock::now());
    log()->info("{} signed in with a login link from {}", *identity, req.remote_addr);
    res.set_header("Set-Cookie", fmt::format("{}={}; Path=/; Max-Age={}; Secure; HttpOnly; SameSite=Strict", kCookie,
                                             cookie, std::chrono::seconds(kSessionLifetime).count()));
    res.set_redirect("/fleet", 303);
  });
  s.Post("/logout", [this](const httplib::Request& req, httplib::Response& res) {
    auto c = identify(req);
    if (c && logins_.csrf_ok(c->who.name, req.get_header_value("X-CSRF-Token")) && !c->session.empty()) {
      logins_.close_session(c->session);
    }
    res.set_header("Set-Cookie", fmt::format("{}=; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=Strict", kCookie));
    res.set_content("{}", kJson);
  });

  s.Get("/static/app.js", [](const httplib::Request&, httplib::Response& res) {
    res.set_header("Cache-Control", "no-cache");
    res.set_content(kAppJs, "text/javascript; charset=utf-8");
  });
  s.Get("/static/style.css", [](const httplib::Request&, httplib::Response& res) {
    res.set_header("Cache-Control", "no-cache");
    res.set_content(kStyleCss, "text/css; charset=utf-8");
  });
  s.Get("/", [](const httplib::Request&, httplib::Response& res) { res.set_redirect("/fleet", 303); });
  for (auto [pattern, name] : {std::pair{"/fleet", "fleet"}, std::pair{"/runs", "runs"}, std::pair{R"(/runs/([\w.:-]+))", "run"},
                               std::pair{R"(/reports/([\w.:-]+))", "report"}, std::pair{"/schedules", "schedules"},
                               std::pair{"/findings", "findings"}}) {
    s.Get(pattern, [this, name = std::string(name)](const httplib::Request& req, httplib::Response& res) {
      if (auto c = identify(req)) page(req, res, *c, name);
    });
  }

  s.Get("/api/fleet", [this](const httplib::Request& req, httplib::Response& res) {
    FleetQuery q{req.get_param_value("selector"), req.get_param_value("dc"), req.get_param_value("rack")};
    send(res, fleet_json(ctx_, q), 400);
  });
  s.Get("/api/runs", [this](const httplib::Request& req, httplib::Response& res) {
    RunsQuery q{req.get_param_value("phase"), req.get_param_value("outcome"), req.get_param_value("q")};
    send(res, runs_json(ctx_, q), 500);
  });
  s.Get(R"(/api/runs/([\w.:-]+))", [this](const httplib::Request& req, httplib::Response& res) {
    send(res, run_json(ctx_, req.matches[1], req.get_param_value("samples") == "1"));
  });
  s.Get(R"(/api/reports/([\w.:-]+))", [this](const httplib::Request& req, httplib::Response& res) {
    send(res, report_check_json(ctx_, req.matches[1]));
  });
  s.Get(R"(/reports/([\w.:-]+)/html)", [this](const httplib::Request& req, httplib::Response& res) {
    auto html = report_html(ctx_, req.matches[1]);
    if (!html) return json_error(res, 404, html.error().describe());
    res.headers.erase("Content-Security-Policy");
    res.set_header("Content-Security-Policy", kReportPolicy);
    res.set_content(*html, "text/html; charset=utf-8");
  });
  s.Get("/api/schedules", [this](const httplib::Request&, httplib::Response& res) { send(res, schedules_json(ctx_), 500); });
  s.Get("/api/findings", [this](const httplib::Request& req, httplib::Response& res) {
    send(res, findings_json(ctx_, FindingsQuery{req.get_param_value("state")}, WallClock::now()), 400);
  });

  s.Get("/events", [this](const httplib::Request& req, httplib::Response& res) {
    // A page that reconnects says where it was; a new one starts from now.
    auto pos = std::make_shared<int64_t>(feed_.last_seq());
    if (auto last = req.get_header_value("Last-Event-ID"); !last.empty()) *pos = std::strtoll(last.c_str(), nullptr, 10);
    auto first = std::make_shared<bool>(true);
    res.set_chunked_content_provider("text/event-stream", [this, pos, first](size_t, httplib::DataSink& sink) {
      if (*first) {
        *first = false;
        std::string hello = fmt::format("retry: 1000\nid: {}\nevent: hello\ndata: {{}}\n\n", *pos);
        return sink.write(hello.data(), hello.size());
      }
      auto events = feed_.after(*pos, std::chrono::seconds(15));
      if (feed_.stopped()) return false;
      std::string out = events.empty() ? std::string(": keep-alive\n\n") : std::string();
      for (auto& e : events) {
        out += fmt::format("id: {}\nevent: {}\ndata: {}\n\n", e.seq, e.type, e.data);
        *pos = e.seq;
      }
      return sink.write(out.data(), out.size());
    });
  });

  auto body_of = [](const httplib::Request& req) {
    auto j = Json::parse(req.body.empty() ? std::string("{}") : req.body, nullptr, false);
    return j.is_object() ? j : Json::object();
  };
  s.Post("/api/halt", [this, body_of](const httplib::Request& req, httplib::Response& res) {
    Caller c;
    if (!post_allowed(req, res, auth::Action::kHalt, &c)) return;
    std::string reason = body_of(req).value("reason", "");
    if (reason.empty()) reason = "halted from the dashboard";
    if (ctx_.follower) {
      HaltRequestRow row{0, WallClock::now(), c.who.name, reason, ctx_.controller_id};
      auto seq = ctx_.store.request_halt(row);
      if (!seq) return json_error(res, 500, seq.error().describe());
      log()->warn("halt asked from the dashboard by {} ({}): recorded for the leader", c.who.describe(), reason);
      return res.set_content(Json{{"recorded_for_leader", true}, {"leader", ctx_.follower->leader()}}.dump(), kJson);
    }
    log()->warn("halt from the dashboard by {}: {}", c.who.describe(), reason);
    auto r = ctx_.fleet.halt(reason, c.who.name);
    res.set_content(Json{{"halted", true},
                         {"unconfirmed", r.unconfirmed},
                         {"aborted_runs", r.aborted_runs},
                         {"persist_error", r.persist_error}}
                        .dump(),
                    kJson);
  });
  s.Post("/api/release", [this](const httplib::Request& req, httplib::Response& res) {
    Caller c;
    if (!post_allowed(req, res, auth::Action::kOperate, &c)) return;
    log()->info("release from the dashboard by {}", c.who.describe());
    res.set_content(Json{{"was_halted", ctx_.fleet.release(c.who.name)}}.dump(), kJson);
  });
  s.Post(R"(/api/runs/([\w.:-]+)/abort)", [this, body_of](const httplib::Request& req, httplib::Response& res) {
    Caller c;
    if (!post_allowed(req, res, auth::Action::kOperate, &c)) return;
    std::string id = req.matches[1], reason = body_of(req).value("reason", "");
    if (reason.empty()) reason = "aborted from the dashboard";
    log()->info("abort of run {} from the dashboard by {}: {}", id, c.who.describe(), reason);
    if (auto r = ctx_.runs.abort(id, reason, c.who.name); !r) return json_error(res, 409, r.error().describe());
    res.set_content(Json{{"aborting", id}}.dump(), kJson);
  });
  s.Post(R"(/api/runs/([\w.:-]+)/approve)", [this, body_of](const httplib::Request& req, httplib::Response& res) {
    Caller c;
    if (!post_allowed(req, res, auth::Action::kApprove, &c)) return;
    std::string id = req.matches[1];
    auto body = body_of(req);
    auto run = ctx_.runs.get(id, false);
    if (!run) return json_error(res, 404, run.error().describe());
    if (auto may = ctx_.access.may_approve(c.who, run->experiment().environment(), run->started_by()); !may) {
      log()->warn("refused approval of run {} by {}: {}", id, c.who.describe(), may.error().message);
      return json_error(res, 403, may.error().message);
    }
    bool reject = body.value("reject", false);
    log()->info("{} of run {} from the dashboard by {}", reject ? "rejection" : "approval", id, c.who.describe());
    auto r = ctx_.runs.approve(id, c.who.name, body.value("comment", ""), reject);
    std::string out;
    google::protobuf::util::MessageToJsonString(r, &out);
    res.set_content(out, kJson);
  });
  // As `firedrill finding close ID --retest RUN2`: operators, under their own identity.
  s.Post(R"(/api/findings/([\w.:-]+)/close)", [this, body_of](const httplib::Request& req, httplib::Response& res) {
    Caller c;
    if (!post_allowed(req, res, auth::Action::kOperate, &c)) return;
    if (!ctx_.evidence) return json_error(res, 409, "the controller has no evidence log (see its start log)");
    std::string id = req.matches[1];
    auto body = body_of(req);
    auto retest = body.value("retest", std::string()), note = body.value("note", std::string());
    if (retest.empty()) return json_error(res, 400, "give the retest run: a later run of the same experiment that passed");
    evidence::FindingBook book(ctx_.evidence->store, &ctx_.evidence->key);
    auto r = book.close(id, retest, note, c.who.name);
    if (!r) return json_error(res, 409, r.error().describe());
    log()->info("finding {} closed from the dashboard by {} (retest {})", id, c.who.describe(), retest);
    res.set_content(Json{{"id", r->id}, {"rev", r->rev}, {"status", r->status}}.dump(), kJson);
  });
  s.Post(R"(/api/schedules/([\w.:-]+)/(pause|resume))", [this](const httplib::Request& req, httplib::Response& res) {
    Caller c;
    if (!post_allowed(req, res, auth::Action::kAdmin, &c)) return;
    std::string id = req.matches[1];
    bool pause = req.matches[2] == "pause";
    log()->info("schedule {} {} from the dashboard by {}", id, pause ? "paused" : "resumed", c.who.describe());
    auto& scheduler = ctx_.runs.schedules();
    auto r = pause ? scheduler.pause(id, WallClock::now()) : scheduler.resume(id, WallClock::now());
    if (!r) return json_error(res, 409, r.error().describe());
    res.set_content(Json{{"id", id}, {"paused", r->paused()}}.dump(), kJson);
  });
}

Result<void> WebServer::start(const WebConfig& config) {
  FD_ASSIGN(address, metrics::parse_listen_address(config.listen), "--web-listen");
  if (config.tls_ca.empty() || config.tls_cert.empty() || config.tls_key.empty()) {
    return make_error("--web-listen needs the controller's TLS material (--tls-ca, --tls-cert, --tls-key)");
  }
  std::string why;
  server_ = std::make_unique<httplib::SSLServer>([&](SSL_CTX& ctx) {
    SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION);
    if (SSL_CTX_use_certificate_chain_file(&ctx, config.tls_cert.c_str()) != 1) {
      why = "--tls-cert " + config.tls_cert + ": cannot be read as a PEM certificate";
      return false;
    }
    if (SSL_CTX_use_PrivateKey_file(&ctx, config.tls_key.c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(&ctx) != 1) {
      why = "--tls-key " + config.tls_key + ": cannot be read, or is not the key of --tls-cert";
      return false;
    }
    if (SSL_CTX_load_verify_locations(&ctx, config.tls_ca.c_str(), nullptr) != 1) {
      why = "--tls-ca " + config.tls_ca + ": cannot be read as a PEM certificate";
      return false;
    }
    // A client certificate is asked for (of the fleet's CA) but not required: people
    // without one sign in with a login link. One that does not verify fails the handshake.
    SSL_CTX_set_client_CA_list(&ctx, SSL_load_client_CA_file(config.tls_ca.c_str()));
    SSL_CTX_set_verify(&ctx, SSL_VERIFY_PEER, nullptr);
    // With peer verification on, OpenSSL refuses to resume a session (the browser's next
    // connection) unless the sessions carry a context: the page's script would fail to load.
    static const unsigned char kSessionContext[] = "firedrill-web";
    SSL_CTX_set_session_id_context(&ctx, kSessionContext, sizeof kSessionContext - 1);
    return true;
  });
  if (!server_->is_valid()) {
    server_.reset();
    return make_error("--web-listen {}: {}", config.listen, why.empty() ? "cannot set up TLS" : why);
  }
  server_->set_socket_options([](int sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  // Each open page holds one thread for its event stream.
  server_->new_task_queue = [] { return new httplib::ThreadPool(32); };
  server_->set_keep_alive_timeout(2);
  server_->set_payload_max_length(64 << 10);
  routes();
  port_ = address.port == 0 ? server_->bind_to_any_port(address.host)
                            : (server_->bind_to_port(address.host, address.port) ? address.port : -1);
  if (port_ <= 0) {
    int err = errno;
    server_.reset();
    return sys_error(err, "--web-listen {}: cannot listen", config.listen);
  }
  listen_ = config.listen;
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  log()->info("dashboard on https://{}:{}/", address.host, port_);
  return ok();
}

void WebServer::stop() {
  if (!server_) return;
  feed_.stop();
  server_->stop();
  if (thread_.joinable()) thread_.join();
  server_.reset();
}

}  // namespace firedrill::controller::web
