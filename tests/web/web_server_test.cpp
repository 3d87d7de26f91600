// The dashboard's HTTP side in one process: a real WebServer (HTTPS, cpp-httplib) over
// a real SQLite store, fleet and run manager, with certificates of a CA made here, and
// cpp-httplib's client as the browser. Who gets in, who may do what, login links,
// CSRF, the security headers and the event stream.
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "common/join_token.h"
#include "controller/evidence/findings.h"
#include "controller/runner/clock.h"
#include "controller/runner/fleet_adapter.h"
#include "controller/runner/run_ids.h"
#include "controller/session/certs.h"
#include "controller/store/postgres_store.h"
#include "controller/web/web_server.h"
#include "tests/support/postgres.h"
#include "tests/unit/evidence_fixture.h"

namespace firedrill::controller::web {
namespace {

class WebServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char t[] = "/tmp/fd-web-XXXXXX";
    ASSERT_NE(::mkdtemp(t), nullptr);
    dir_ = t;
    auto ca = make_ca("web test CA", KeyType::kP256, 1);
    ASSERT_TRUE(ca) << ca.error().describe();
    ASSERT_TRUE(write_pem(dir_, "ca", *ca, true));
    auto controller = issue_cert(*ca, CertRole::kController, "controller", {}, KeyType::kP256, 1);
    ASSERT_TRUE(controller && write_pem(dir_, "controller", *controller, true));
    for (std::string who : {"olga", "vera", "nobody"}) {
      auto pem = issue_cert(*ca, CertRole::kAgent, who, {}, KeyType::kP256, 1);
      ASSERT_TRUE(pem && write_pem(dir_, "user-" + who, *pem, true));
    }
    // A certificate with an operator's name from another CA.
    auto rogue = make_ca("rogue CA", KeyType::kP256, 1);
    ASSERT_TRUE(rogue);
    auto forged = issue_cert(*rogue, CertRole::kAgent, "olga", {}, KeyType::kP256, 1);
    ASSERT_TRUE(forged && write_pem(dir_, "rogue-olga", *forged, true));

    auto store = open_sqlite_store(dir_ + "/controller.db");
    ASSERT_TRUE(store) << store.error().describe();
    store_ = std::move(*store);
    auth::AccessConfig ac;
    ac.viewers = {"cn:vera"};
    ac.operators = {"cn:olga", "cn:kim"};
    ac.controller_uid = ::getuid();
    auto access = auth::Access::make(ac);
    ASSERT_TRUE(access) << access.error().describe();
    access_ = std::make_unique<auth::Access>(std::move(*access));
    serve(*store_);
  }
  // A dashboard (again) over `store`: a fleet, a run manager and a context of its own; a
  // follower's when `follower` is set.
  void serve(Store& store, const leader::LeaderView* follower = nullptr) {
    server_.reset();
    context_.reset();
    runs_.reset();
    driver_.reset();
    feed_ = std::make_unique<Feed>();
    fleet_ = std::make_unique<Fleet>(FleetConfig{}, &store, runner::run_of_fault);
    driver_ = std::make_unique<runner::FleetAdapter>(*fleet_);
    runner::RunManagerConfig rc;
    rc.store = &store;
    runs_ = std::make_unique<runner::RunManager>(rc, &clock_, driver_.get());
    context_ = std::make_unique<ApiContext>(ApiContext{*fleet_, store, *runs_, dir_, *access_, nullptr, nullptr, nullptr, follower, "web-test"});
    server_ = std::make_unique<WebServer>(*context_, *feed_);
    auto started = server_->start({"127.0.0.1:0", dir_ + "/ca.pem", dir_ + "/controller.pem", dir_ + "/controller.key"});
    ASSERT_TRUE(started) << started.error().describe();
  }
  void TearDown() override {
    if (server_) server_->stop();
    server_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  // A browser with the client certificate of `who` ("": none).
  std::unique_ptr<httplib::SSLClient> browser(const std::string& who, const std::string& prefix = "user-") {
    auto c = who.empty() ? std::make_unique<httplib::SSLClient>("127.0.0.1", server_->port())
                         : std::make_unique<httplib::SSLClient>("127.0.0.1", server_->port(),
                                                                dir_ + "/" + prefix + who + ".pem",
                                                                dir_ + "/" + prefix + who + ".key");
    c->set_ca_cert_path((dir_ + "/ca.pem").c_str());
    c->enable_server_certificate_verification(true);
    c->set_connection_timeout(5);
    c->set_read_timeout(10);
    return c;
  }
  // The CSRF token of the page `c` is served.
  std::string csrf_of(httplib::SSLClient& c, const httplib::Headers& headers = {}) {
    auto page = c.Get("/fleet", headers);
    EXPECT_TRUE(page);
    if (!page) return "";
    auto at = page->body.find("name=\"fd-csrf\" content=\"");
    EXPECT_NE(at, std::string::npos) << page->body;
    if (at == std::string::npos) return "";
    at += std::strlen("name=\"fd-csrf\" content=\"");
    return page->body.substr(at, page->body.find('"', at) - at);
  }
  // The session cookie a login link sets ("" when refused).
  std::string login(const std::string& secret, int* status = nullptr) {
    auto c = browser("");
    auto r = c->Get(("/login?token=" + secret).c_str());
    EXPECT_TRUE(r);
    if (!r) return "";
    if (status) *status = r->status;
    auto set = r->get_header_value("Set-Cookie");
    if (r->status != 303) return "";
    EXPECT_NE(set.find("Secure"), std::string::npos) << set;
    EXPECT_NE(set.find("HttpOnly"), std::string::npos) << set;
    EXPECT_NE(set.find("SameSite=Strict"), std::string::npos) << set;
    return set.substr(0, set.find(';'));
  }

  std::string dir_;
  std::unique_ptr<Store> store_;
  // A shared store's (PostgreSQL): outlive the fleet and server made over them.
  std::unique_ptr<support::Postgres> pg_;
  std::unique_ptr<PostgresStore> leader_store_, follower_store_;
  std::unique_ptr<Fleet> fleet_;
  runner::SystemClock clock_;
  std::unique_ptr<runner::FleetAdapter> driver_;
  std::unique_ptr<runner::RunManager> runs_;
  std::unique_ptr<auth::Access> access_;
  std::unique_ptr<ApiContext> context_;
  std::unique_ptr<Feed> feed_;
  std::unique_ptr<WebServer> server_;
};

TEST_F(WebServerTest, WithoutCredentialsOnlyTheLoginPage) {
  auto c = browser("");
  for (const char* path : {"/fleet", "/runs", "/static/app.js", "/api/fleet", "/api/runs", "/events", "/schedules"}) {
    auto r = c->Get(path);
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 401) << path;
    EXPECT_EQ(r->body.find("fd-csrf"), std::string::npos) << path;
    EXPECT_EQ(r->body.find("HALT"), std::string::npos) << path;
  }
  auto page = c->Get("/fleet");
  EXPECT_NE(page->body.find("firedrill web login --as NAME"), std::string::npos) << page->body;
  auto post = c->Post("/api/halt", "{}", "application/json");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 401);
  EXPECT_FALSE(fleet_->halted());
}

TEST_F(WebServerTest, SecurityHeadersAllowNothingButThisServer) {
  auto r = browser("vera")->Get("/fleet");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  auto csp = r->get_header_value("Content-Security-Policy");
  EXPECT_NE(csp.find("default-src 'none'"), std::string::npos) << csp;
  EXPECT_NE(csp.find("script-src 'self'"), std::string::npos) << csp;
  EXPECT_NE(csp.find("frame-ancestors 'none'"), std::string::npos) << csp;
  EXPECT_EQ(csp.find("unsafe-inline"), std::string::npos) << csp;
  EXPECT_EQ(csp.find("http"), std::string::npos) << csp;  // no other origin
  EXPECT_EQ(r->get_header_value("X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(r->get_header_value("X-Frame-Options"), "DENY");
  EXPECT_EQ(r->get_header_value("Referrer-Policy"), "no-referrer");
  EXPECT_NE(r->get_header_value("Strict-Transport-Security"), "");
  // The page runs no inline script and loads nothing from elsewhere.
  EXPECT_EQ(r->body.find("<script>"), std::string::npos);
  EXPECT_EQ(r->body.find("http://"), std::string::npos);
  EXPECT_EQ(r->body.find("https://"), std::string::npos);
}

TEST_F(WebServerTest, RolesComeFromThePolicyAndViewersChangeNothing) {
  auto vera = browser("vera");
  auto token = csrf_of(*vera);
  ASSERT_FALSE(token.empty());
  auto fleet = vera->Get("/api/fleet");
  ASSERT_TRUE(fleet);
  EXPECT_EQ(fleet->status, 200) << fleet->body;
  // A viewer's POST with a valid CSRF token is refused by role.
  auto halt = vera->Post("/api/halt", {{"X-CSRF-Token", token}}, "{}", "application/json");
  ASSERT_TRUE(halt);
  EXPECT_EQ(halt->status, 403) << halt->body;
  EXPECT_NE(halt->body.find("operator"), std::string::npos) << halt->body;
  EXPECT_FALSE(fleet_->halted());
  auto abort = vera->Post("/api/runs/r-1/abort", {{"X-CSRF-Token", token}}, "{}", "application/json");
  EXPECT_EQ(abort->status, 403);
  // A certificate of the fleet's CA whose name has no role sees nothing.
  auto nobody = browser("nobody")->Get("/api/fleet");
  ASSERT_TRUE(nobody);
  EXPECT_EQ(nobody->status, 403) << nobody->body;
  // An operator's name on a certificate of another CA does not get through the handshake.
  auto rogue = browser("olga", "rogue-")->Get("/api/fleet");
  EXPECT_FALSE(rogue);
  // The operator halts, as cn:olga.
  auto olga = browser("olga");
  auto ok = olga->Post("/api/halt", {{"X-CSRF-Token", csrf_of(*olga)}}, R"({"reason":"web test"})", "application/json");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200) << ok->body;
  ASSERT_TRUE(fleet_->halted());
  EXPECT_EQ(fleet_->halt_state().by, "cn:olga");
  EXPECT_EQ(fleet_->halt_state().reason, "web test");
}

TEST_F(WebServerTest, PostsNeedThePagesCsrfToken) {
  auto olga = browser("olga");
  auto none = olga->Post("/api/halt", "{}", "application/json");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 403) << none->body;
  auto forged = olga->Post("/api/halt", {{"X-CSRF-Token", std::string(64, 'a')}}, "{}", "application/json");
  EXPECT_EQ(forged->status, 403);
  // Another person's token is not this person's.
  auto vera_token = csrf_of(*browser("vera"));
  auto other = olga->Post("/api/halt", {{"X-CSRF-Token", vera_token}}, "{}", "application/json");
  EXPECT_EQ(other->status, 403);
  // From another origin, even with the token.
  auto token = csrf_of(*olga);
  auto cross = olga->Post("/api/halt", {{"X-CSRF-Token", token}, {"Origin", "https://evil.example"}}, "{}",
                          "application/json");
  EXPECT_EQ(cross->status, 403);
  EXPECT_FALSE(fleet_->halted());
  auto good = olga->Post("/api/halt", {{"X-CSRF-Token", token}}, "{}", "application/json");
  EXPECT_EQ(good->status, 200) << good->body;
  EXPECT_TRUE(fleet_->halted());
}

TEST_F(WebServerTest, LoginLinkWorksOnceAndOpensASession) {
  auto link = server_->logins().create("kim", std::chrono::seconds(600), WallClock::now());
  ASSERT_TRUE(link) << link.error().describe();
  // Only the hash is in the store's files.
  std::string files;
  for (const char* f : {"/controller.db", "/controller.db-wal"}) {
    std::ifstream in(dir_ + f, std::ios::binary);
    files += std::string(std::istreambuf_iterator<char>(in), {});
  }
  EXPECT_NE(files.find(sha256_hex_of(link->secret)), std::string::npos);
  EXPECT_EQ(files.find(link->secret), std::string::npos);
  auto cookie = login(link->secret);
  ASSERT_FALSE(cookie.empty());
  int status = 0;
  EXPECT_EQ(login(link->secret, &status), "");
  EXPECT_EQ(status, 403);
  auto c = browser("");
  httplib::Headers with_cookie{{"Cookie", cookie}};
  auto fleet = c->Get("/api/fleet", with_cookie);
  ASSERT_TRUE(fleet);
  EXPECT_EQ(fleet->status, 200) << fleet->body;
  auto page = c->Get("/runs", with_cookie);
  EXPECT_NE(page->body.find("content=\"cn:kim\""), std::string::npos) << page->body;
  EXPECT_NE(page->body.find("viewer operator"), std::string::npos) << page->body;
  // The session acts as cn:kim, with its page's token.
  auto token = csrf_of(*c, with_cookie);
  httplib::Headers post_headers{{"Cookie", cookie}, {"X-CSRF-Token", token}};
  auto halt = c->Post("/api/halt", post_headers, "{}", "application/json");
  EXPECT_EQ(halt->status, 200) << halt->body;
  EXPECT_EQ(fleet_->halt_state().by, "cn:kim");
  // A made-up cookie is nobody.
  auto made_up = c->Get("/api/fleet", {{"Cookie", "fd_session=" + std::string(64, '0')}});
  EXPECT_EQ(made_up->status, 401);
}

TEST_F(WebServerTest, LoginLinkExpires) {
  // Made ten minutes ago, valid for five.
  auto link = server_->logins().create("kim", std::chrono::seconds(300), WallClock::now() - std::chrono::minutes(10));
  ASSERT_TRUE(link);
  int status = 0;
  EXPECT_EQ(login(link->secret, &status), "");
  EXPECT_EQ(status, 403);
  EXPECT_EQ(login(std::string(64, 'f'), &status), "");  // never made
  EXPECT_EQ(status, 403);
  EXPECT_EQ(login("not-hex", &status), "");
  EXPECT_EQ(status, 403);
  EXPECT_FALSE(server_->logins().create("k!m", std::chrono::seconds(60), WallClock::now()));
  EXPECT_FALSE(server_->logins().create("kim", std::chrono::hours(2), WallClock::now()));
}

TEST_F(WebServerTest, EventStreamDeliversAFeedEvent) {
  auto vera = browser("vera");
  std::string got;
  std::atomic<bool> hello{false};
  std::thread reader([&] {
    vera->Get("/events", [&](const char* data, size_t n) {
      got.append(data, n);
      if (got.find("event: hello") != std::string::npos) hello = true;
      return got.find("event: run") == std::string::npos;  // stop once the run event came
    });
  });
  // Published once the stream is open: a page sees what happens after it opened.
  for (int i = 0; i < 100 && !hello; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_TRUE(hello.load());
  feed_->publish("run", R"({"id":"r-web-1"})");
  reader.join();
  EXPECT_NE(got.find("event: run\ndata: {\"id\":\"r-web-1\"}"), std::string::npos) << got;
}

TEST_F(WebServerTest, FleetHaltFeedsTheStream) {
  feed_->watch(*fleet_);
  auto seen = feed_->last_seq();
  fleet_->halt("feed test", "cn:olga");
  bool halted = false;
  for (int i = 0; i < 10 && !halted; ++i) {
    for (auto& e : feed_->after(seen, std::chrono::seconds(2))) {
      seen = e.seq;
      halted = halted || (e.type == "fleet" && e.data.find("\"halted\":true") != std::string::npos);
    }
  }
  EXPECT_TRUE(halted);
}

// The findings page lists what `firedrill finding` recorded: severity, state (overdue
// when open past its due date), the run it was found in. Viewers read it; closing is
// an operator's, as in the CLI.
TEST_F(WebServerTest, FindingsAreListedAndOnlyOperatorsClose) {
  auto ev = evidence::ControllerEvidence::open(dir_, *store_);
  ASSERT_TRUE(ev) << ev.error().describe();
  context_->evidence = ev->get();
  evidence::testing::FixtureClock clock;
  auto run = evidence::testing::write_fixture_run(*store_, (*ev)->key, clock);
  ASSERT_TRUE(run) << run.error().describe();
  evidence::FindingBook book(*store_, &(*ev)->key, clock.fn());
  ASSERT_TRUE(book.add({(*run)->run_id(), "medium", "minho", "2099-12-31", "Sentinel slow", "lower it", "cn:olga"}));
  ASSERT_TRUE(book.add({(*run)->run_id(), "critical", "jiyoung", "2020-01-31", "No <alert>", "page on it", "cn:olga"}));

  auto vera = browser("vera");
  auto all = vera->Get("/api/findings");
  ASSERT_TRUE(all);
  ASSERT_EQ(all->status, 200) << all->body;
  auto j = nlohmann::json::parse(all->body);
  EXPECT_EQ(j["open"], 2);
  EXPECT_EQ(j["overdue"], 1);
  ASSERT_EQ(j["findings"].size(), 2u);
  // The worst first.
  EXPECT_EQ(j["findings"][0]["severity"], "critical");
  EXPECT_EQ(j["findings"][0]["state"], "overdue");
  EXPECT_EQ(j["findings"][0]["title"], "No <alert>");
  EXPECT_EQ(j["findings"][0]["run"], (*run)->run_id());
  EXPECT_EQ(j["findings"][1]["state"], "open");
  auto overdue = nlohmann::json::parse(vera->Get("/api/findings?state=overdue")->body);
  ASSERT_EQ(overdue["findings"].size(), 1u);
  EXPECT_EQ(overdue["findings"][0]["id"], j["findings"][0]["id"]);
  EXPECT_EQ(vera->Get("/api/findings?state=bogus")->status, 400);
  auto page = vera->Get("/findings");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_NE(page->body.find("data-page=\"findings\""), std::string::npos) << page->body;

  std::string id = j["findings"][0]["id"];
  auto close_as = [&](const std::string& who) {
    auto c = browser(who);
    return c->Post(("/api/findings/" + id + "/close").c_str(), {{"X-CSRF-Token", csrf_of(*c)}},
                   R"({"retest":"r-none","note":"fixed"})", "application/json");
  };
  auto refused = close_as("vera");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 403) << refused->body;
  // An operator may: the book refuses a retest that is no run of the experiment.
  auto tried = close_as("olga");
  ASSERT_TRUE(tried);
  EXPECT_EQ(tried->status, 409) << tried->body;
  EXPECT_NE(tried->body.find("r-none"), std::string::npos) << tried->body;
  EXPECT_EQ(book.latest(id)->status, "open");
  context_->evidence = nullptr;
}

// A follower's dashboard (several controllers on one store): the page names the
// leader, a halt is recorded in the store for the leader to act on, anything else is
// refused naming the leader.
TEST_F(WebServerTest, AFollowerNamesTheLeaderAndRecordsHaltsForIt) {
  leader::LeaderView view;
  LeaseHolder held;
  held.holder = "ctl-b";
  held.address = "10.9.0.2:7443";
  held.epoch = 4;
  held.live = true;
  view.seen(held);
  serve(*store_, &view);
  auto olga = browser("olga");
  auto page = olga->Get("/fleet");
  ASSERT_TRUE(page);
  EXPECT_NE(page->body.find("the leader is ctl-b at 10.9.0.2:7443"), std::string::npos) << page->body;
  auto token = csrf_of(*olga);
  auto halt = olga->Post("/api/halt", {{"X-CSRF-Token", token}}, R"({"reason":"from a follower"})", "application/json");
  ASSERT_TRUE(halt);
  EXPECT_EQ(halt->status, 200) << halt->body;
  EXPECT_FALSE(fleet_->halted());  // this controller commands nobody
  auto requests = store_->halt_requests();
  ASSERT_TRUE(requests) << requests.error().describe();
  ASSERT_EQ(requests->size(), 1u);
  EXPECT_EQ(requests->front().by, "cn:olga");
  EXPECT_EQ(requests->front().reason, "from a follower");
  EXPECT_EQ(requests->front().controller, "web-test");
  auto release = olga->Post("/api/release", {{"X-CSRF-Token", token}}, "{}", "application/json");
  EXPECT_EQ(release->status, 409);
  EXPECT_NE(release->body.find("ctl-b at 10.9.0.2:7443"), std::string::npos) << release->body;
  server_->stop();
  server_.reset();
}

// Login links at a follower: two controllers on one PostgreSQL store, where the leader
// holds the lease and the database refuses the follower's writes of the leader's
// state. A link made at either controller signs in at the other, once.
TEST_F(WebServerTest, LoginLinksWorkAtAFollowerOfASharedStore) {
  pg_ = std::make_unique<support::Postgres>();  // fails loudly where PostgreSQL cannot run
  PostgresOptions o;
  o.url = pg_->url(pg_->fresh_database("web"));
  o.fleet = "web-test";
  for (auto* s : {&leader_store_, &follower_store_}) {
    auto opened = open_postgres_store(o);
    ASSERT_TRUE(opened) << opened.error().describe();
    *s = std::move(*opened);
  }
  auto epoch = leader_store_->lease().acquire("ctl-a", "127.0.0.1:7443", std::chrono::seconds(60));
  ASSERT_TRUE(epoch && *epoch) << (epoch ? "not acquired" : epoch.error().describe());
  // What a follower may not write (the leader's state), as the store refuses it.
  EXPECT_FALSE(follower_store_->set_setting("web.test", "x"));
  leader::LeaderView view;
  view.seen(*leader_store_->lease().current());
  serve(*follower_store_, &view);
  Logins at_leader(*leader_store_);

  // Made at the leader, used at the follower: a session there, as cn:kim.
  auto made = at_leader.create("kim", std::chrono::seconds(600), WallClock::now());
  ASSERT_TRUE(made) << made.error().describe();
  auto cookie = login(made->secret);
  ASSERT_FALSE(cookie.empty());
  auto page = browser("")->Get("/fleet", {{"Cookie", cookie}});
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200) << page->body;
  EXPECT_NE(page->body.find("content=\"cn:kim\""), std::string::npos) << page->body;
  EXPECT_NE(page->body.find("the leader is ctl-a"), std::string::npos) << page->body;
  // Used once across the controllers.
  auto twice = at_leader.redeem(made->secret, WallClock::now());
  ASSERT_FALSE(twice);
  EXPECT_NE(twice.error().describe().find("used already"), std::string::npos) << twice.error().describe();

  // Made at the follower (`firedrill web login` there), used at the leader, then
  // refused at the follower.
  auto here = server_->logins().create("vera", std::chrono::seconds(600), WallClock::now());
  ASSERT_TRUE(here) << here.error().describe();
  auto there = at_leader.redeem(here->secret, WallClock::now());
  ASSERT_TRUE(there) << there.error().describe();
  EXPECT_EQ(*there, "cn:vera");
  int status = 0;
  EXPECT_EQ(login(here->secret, &status), "");
  EXPECT_EQ(status, 403);
  server_->stop();
}

}  // namespace
}  // namespace firedrill::controller::web
