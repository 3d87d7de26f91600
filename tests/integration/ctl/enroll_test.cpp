// Enrollment end to end, with real processes and real TLS: `firedrill serve` with the
// fleet CA's key, `firedrill tokens create`, `firedrill-agent enroll` in a host
// namespace, and the enrolled agent connecting with what enroll wrote in its state
// directory (no --tls-* flags). Refusals: a reused, an expired and a wrong-tag token,
// a token naming another CA (refused by the agent before it sends anything), a
// controller without a CA key, a revoked agent (also after a controller restart), an
// enrolled agent claiming tags its token was not for (also after a restart).
// Renewal: a one-minute certificate renewed over the stream of a connected agent
// holding a fault, and used for the next connection after the first one expired.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <regex>

#include "tests/integration/ctl/ctl_lab.h"

namespace firedrill::ctltest {
namespace {

using Clock = std::chrono::steady_clock;

constexpr uint16_t kEnrollPort = 17401;

std::string enroll_address() { return std::string(Lab::kController) + ":" + std::to_string(kEnrollPort); }

class Enroll : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::geteuid(), 0u) << "the enrollment integration test needs root (namespaces)";
    lab = std::make_unique<Lab>(std::vector<HostSpec>{{"p1-h1", {{"dc", "pangyo"}, {"rack", "p1"}}},
                                                      {"p1-h2", {{"dc", "pangyo"}, {"rack", "p1"}}}});
  }
  void TearDown() override {
    if (HasFailure() && lab) {
      std::cerr << "--- controller log\n" << lab->controller().log();
      for (auto& [id, p] : agents) std::cerr << "--- agent " << id << " log\n" << p->log();
    }
    agents.clear();
    lab.reset();
  }

  std::vector<std::string> signing(const std::vector<std::string>& more = {}) {
    std::vector<std::string> a = {"--ca-key", lab->dir() + "/tls/ca.key", "--enroll-listen", enroll_address()};
    a.insert(a.end(), more.begin(), more.end());
    return a;
  }

  // `firedrill tokens create ARGS`: the token it printed ("" when none).
  std::string token(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"tokens", "create"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = lab->cli(argv);
    EXPECT_EQ(r.code, 0) << r.out;
    std::smatch m;
    std::regex re(R"(fdjoin1\.[0-9a-f]{64}\.[0-9a-f]{64})");
    return std::regex_search(r.out, m, re) ? m[0].str() : "";
  }

  std::string state(const std::string& id) const { return lab->dir() + "/enrolled-" + id; }

  // `firedrill-agent enroll` in host `id`'s namespace, with `tags` as its --tag flags.
  Exec enroll(const std::string& id, const std::string& t, const std::map<std::string, std::string>& tags,
              const std::vector<std::string>& more = {}) {
    std::vector<std::string> argv = {"ip", "netns", "exec", lab->host(id).name(), agent_binary(), "enroll",
                                     "--controller", enroll_address(), "--token", t, "--id", id,
                                     "--state-dir", state(id)};
    for (auto& [k, v] : tags) {
      argv.push_back("--tag");
      argv.push_back(k + "=" + v);
    }
    argv.insert(argv.end(), more.begin(), more.end());
    return exec(argv);
  }

  // The agent with nothing but its enrolled state directory for TLS.
  Process& start_agent(const std::string& id, const std::map<std::string, std::string>& tags) {
    std::vector<std::string> argv = {agent_binary(), "--id", id,
                                     "--controller", std::string(Lab::kController) + ":" + std::to_string(Lab::kControllerPort),
                                     "--interface", "eth0", "--state-dir", state(id),
                                     "--local-socket", lab->dir() + "/enrolled-" + id + ".sock",
                                     "--lease-grace", lab->lease_grace()};
    for (auto& [k, v] : tags) {
      argv.push_back("--tag");
      argv.push_back(k + "=" + v);
    }
    agents[id] = std::make_unique<Process>(&lab->host(id), argv, lab->dir() + "/enrolled-" + id + ".log");
    return *agents[id];
  }

  std::unique_ptr<Lab> lab;
  std::map<std::string, std::unique_ptr<Process>> agents;
  const std::map<std::string, std::string> pangyo_ = {{"dc", "pangyo"}, {"rack", "p1"}};
};

mode_t mode_of(const std::string& path) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

TEST_F(Enroll, AHostEnrollsWithATokenAndConnectsWithWhatItGot) {
  lab->start_controller(signing());
  auto t = token({"--ttl", "1h", "--tags", "dc=pangyo"});
  ASSERT_FALSE(t.empty());
  // The controller keeps the hash of the secret, never the token.
  auto secret = t.substr(t.rfind('.') + 1);
  auto listed = lab->cli({"tokens", "list"});
  ASSERT_EQ(listed.code, 0) << listed.out;
  EXPECT_NE(listed.out.find("0/1"), std::string::npos) << listed.out;
  EXPECT_EQ(listed.out.find(secret), std::string::npos) << listed.out;
  auto db = exec({"sqlite3", lab->dir() + "/state/controller.db", "SELECT secret_sha256, tags FROM join_tokens"});
  ASSERT_EQ(db.code, 0) << db.out;
  EXPECT_EQ(db.out.find(secret), std::string::npos) << db.out;
  EXPECT_NE(db.out.find("pangyo"), std::string::npos) << db.out;

  auto r = enroll("p1-h1", t, pangyo_);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("enrolled as p1-h1"), std::string::npos) << r.out;
  for (auto f : {"agent.key", "agent.pem", "ca.pem"}) {
    EXPECT_EQ(mode_of(state("p1-h1") + "/" + f), 0600u) << f;
  }
  auto subject = exec({"openssl", "x509", "-in", state("p1-h1") + "/agent.pem", "-noout", "-subject", "-enddate",
                       "-checkend", std::to_string(29 * 86400)});
  EXPECT_EQ(subject.code, 0) << "valid for less than 29 days: " << subject.out;
  EXPECT_NE(subject.out.find("CN = p1-h1"), std::string::npos) << subject.out;
  EXPECT_EQ(exec({"openssl", "verify", "-CAfile", lab->dir() + "/tls/ca.pem", state("p1-h1") + "/agent.pem"}).code, 0);
  // The key was made on the host: the controller's directories hold no copy of it.
  auto key = support::read_file(state("p1-h1") + "/agent.key");
  ASSERT_FALSE(key.empty());
  auto found = exec({"grep", "-rlF", key.substr(40, 40), lab->dir() + "/state", lab->dir() + "/tls"});
  EXPECT_NE(found.code, 0) << "the host's key is in " << found.out;

  start_agent("p1-h1", pangyo_);
  ASSERT_TRUE(lab->wait_live(1)) << lab->cli({"agents"}).out;
  auto agents_out = lab->cli({"agents"});
  EXPECT_NE(agents_out.out.find("p1-h1"), std::string::npos) << agents_out.out;
  EXPECT_NE(lab->cli({"tokens", "list"}).out.find("1/1"), std::string::npos);
}

TEST_F(Enroll, AReusedExpiredOrWrongTagTokenIsRefused) {
  lab->start_controller(signing());
  auto once = token({"--ttl", "1h"});
  ASSERT_EQ(enroll("p1-h1", once, pangyo_).code, 0);
  auto reused = enroll("p1-h2", once, pangyo_);
  EXPECT_NE(reused.code, 0);
  EXPECT_NE(reused.out.find("is used up (1 of 1 use(s))"), std::string::npos) << reused.out;

  auto twice = token({"--ttl", "1h", "--uses", "2"});
  EXPECT_EQ(enroll("p1-h2", twice, pangyo_).code, 0);
  EXPECT_EQ(enroll("p1-h1", twice, pangyo_, {"--force"}).code, 0);
  EXPECT_NE(enroll("p1-h1", twice, pangyo_, {"--force"}).code, 0) << "a third use of a token of two";

  auto expired = token({"--ttl", "1s"});
  std::this_thread::sleep_for(1500ms);
  auto late = enroll("p1-h2", expired, pangyo_, {"--force"});
  EXPECT_NE(late.code, 0);
  EXPECT_NE(late.out.find("expired at"), std::string::npos) << late.out;

  auto seoul = token({"--ttl", "1h", "--tags", "dc=seoul,rack=p1"});
  auto wrong = enroll("p1-h2", seoul, pangyo_, {"--force"});
  EXPECT_NE(wrong.code, 0);
  EXPECT_NE(wrong.out.find("not met: dc=seoul (the agent claims dc=pangyo)"), std::string::npos) << wrong.out;
  auto none = enroll("p1-h2", seoul, {{"rack", "p1"}}, {"--force"});
  EXPECT_NE(none.out.find("dc=seoul (the agent claims none)"), std::string::npos) << none.out;
  // Refusals took no use: the token still serves an agent that fits.
  EXPECT_EQ(enroll("p1-h2", seoul, {{"dc", "seoul"}, {"rack", "p1"}}, {"--force"}).code, 0);

  // A secret the controller never made, with the right CA.
  auto made_up = seoul.substr(0, seoul.rfind('.') + 1) + std::string(64, '7');
  auto unknown = enroll("p1-h2", made_up, pangyo_, {"--force"});
  EXPECT_NE(unknown.out.find("is unknown here"), std::string::npos) << unknown.out;
  // A revoked token is gone.
  auto revocable = token({"--ttl", "1h"});
  auto list = lab->cli({"tokens", "list"});
  std::smatch m;
  ASSERT_TRUE(std::regex_search(list.out, m, std::regex(R"(([0-9a-f]{16}) +0/1 +[0-9])")));
  ASSERT_EQ(lab->cli({"tokens", "revoke", m[1].str()}).code, 0);
  EXPECT_NE(enroll("p1-h2", revocable, pangyo_, {"--force"}).out.find("is unknown here"), std::string::npos);
}

TEST_F(Enroll, ATokenOfAnotherCaIsRefusedByTheAgentNamingBothHashes) {
  lab->start_controller(signing());
  auto t = token({"--ttl", "1h"});
  ASSERT_FALSE(t.empty());
  std::string real = t.substr(8, 64), other(64, 'a');
  auto forged = "fdjoin1." + other + t.substr(8 + 64);
  auto r = enroll("p1-h1", forged, pangyo_);
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("the token expects the CA of SHA-256 " + other), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(real), std::string::npos) << "the hash it saw is not named: " << r.out;
  // Nothing was sent: the controller heard of no enrollment, and no key was written.
  EXPECT_EQ(lab->controller().log().find("enrollment from"), std::string::npos) << lab->controller().log();
  EXPECT_FALSE(std::filesystem::exists(state("p1-h1") + "/agent.key"));
  EXPECT_EQ(lab->cli({"tokens", "list"}).out.find("1/1"), std::string::npos) << "the token was used";
}

TEST_F(Enroll, WithoutACaKeyEnrollmentIsRefusedSayingSo) {
  lab->start_controller(signing());
  auto t = token({"--ttl", "1h"});
  ASSERT_EQ(lab->controller().terminate(), 0);
  lab->start_controller({"--enroll-listen", enroll_address()});
  auto r = enroll("p1-h1", t, pangyo_);
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("holds no CA key"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--ca-key"), std::string::npos) << r.out;
  auto create = lab->cli({"tokens", "create", "--ttl", "1h"});
  EXPECT_NE(create.code, 0);
  EXPECT_NE(create.out.find("--ca-key"), std::string::npos) << create.out;
  // The refusal took no use, and the token outlived two restarts: with the key, it serves.
  ASSERT_EQ(lab->controller().terminate(), 0);
  lab->start_controller(signing());
  auto later = enroll("p1-h1", t, pangyo_);
  EXPECT_EQ(later.code, 0) << later.out;
  // A key that is not the CA's is refused at start.
  ASSERT_EQ(lab->controller().terminate(), 0);
  auto wrong = exec({firedrill_binary(), "serve", "--listen", "127.0.0.1:0", "--tls-ca", lab->dir() + "/tls/ca.pem",
                     "--tls-cert", lab->dir() + "/tls/controller.pem", "--tls-key", lab->dir() + "/tls/controller.key",
                     "--ca-key", lab->dir() + "/tls/controller.key", "--state-dir", lab->dir() + "/state2",
                     "--api", lab->dir() + "/api2.sock"});
  EXPECT_NE(wrong.code, 0);
  EXPECT_NE(wrong.out.find("it is not the key of the CA certificate"), std::string::npos) << wrong.out;
}

TEST_F(Enroll, ARevokedAgentIsRefusedAtOnceAndAfterARestart) {
  lab->start_controller(signing());
  ASSERT_EQ(enroll("p1-h1", token({"--ttl", "1h"}), pangyo_).code, 0);
  auto& agent = start_agent("p1-h1", pangyo_);
  ASSERT_TRUE(lab->wait_live(1));
  auto revoke = lab->cli({"agents", "revoke", "p1-h1", "--reason", "decommissioned"});
  ASSERT_EQ(revoke.code, 0) << revoke.out;
  EXPECT_NE(revoke.out.find("its stream was closed"), std::string::npos) << revoke.out;
  EXPECT_TRUE(agent.wait_log("agent p1-h1's certificate was revoked")) << agent.log();
  EXPECT_TRUE(lab->wait_live(0));
  // Its reconnections are refused.
  EXPECT_TRUE(lab->controller().wait_log("refused: agent p1-h1's certificate was revoked")) << lab->controller().log();
  auto listed = lab->cli({"agents", "revoked"});
  EXPECT_NE(listed.out.find("decommissioned"), std::string::npos) << listed.out;

  ASSERT_EQ(lab->controller().terminate(), 0);
  lab->start_controller(signing());
  EXPECT_TRUE(lab->controller().wait_log("refused: agent p1-h1's certificate was revoked")) << lab->controller().log();
  EXPECT_FALSE(lab->wait_live(1, 3s)) << "a revoked agent registered after a restart";
  // Nor does a new token bring the id back.
  auto again = enroll("p1-h1", token({"--ttl", "1h"}), pangyo_, {"--force"});
  EXPECT_NE(again.code, 0);
  EXPECT_NE(again.out.find("certificate was revoked"), std::string::npos) << again.out;
  // Another agent is not touched.
  ASSERT_EQ(enroll("p1-h2", token({"--ttl", "1h"}), pangyo_).code, 0);
  start_agent("p1-h2", pangyo_);
  EXPECT_TRUE(lab->wait_live(1));
}

// The token's tags bind the agent after enrollment too: started with another rack it is
// refused at its Hello, saying why, and never live, also after a controller restart;
// with its tags it connects; enrolling again with a token for the new tags replaces
// the constraint.
TEST_F(Enroll, AnEnrolledAgentClaimingOtherTagsIsRefusedAtRegistration) {
  lab->start_controller(signing());
  ASSERT_EQ(enroll("p1-h1", token({"--ttl", "1h", "--tags", "dc=pangyo,rack=p1"}), pangyo_).code, 0);
  const std::map<std::string, std::string> moved = {{"dc", "pangyo"}, {"rack", "p2"}};
  const std::string why = "agent p1-h1 claims rack=p2; it enrolled with a token for dc=pangyo,rack=p1: enroll again "
                          "with a token for its tags";
  auto& refused = start_agent("p1-h1", moved);
  EXPECT_TRUE(refused.wait_log(why)) << refused.log();
  EXPECT_TRUE(lab->controller().wait_log("refused: " + why)) << lab->controller().log();
  EXPECT_FALSE(lab->wait_live(1, 3s)) << "an agent claiming another rack registered";
  auto listed = lab->cli({"agents"});
  ASSERT_EQ(listed.code, 0) << listed.out;
  EXPECT_EQ(listed.out.find("p1-h1"), std::string::npos) << listed.out;

  // The constraint is in the store: a restarted controller refuses it the same.
  ASSERT_EQ(lab->controller().terminate(), 0);
  lab->start_controller(signing());
  EXPECT_TRUE(lab->controller().wait_log("refused: " + why)) << lab->controller().log();
  EXPECT_FALSE(lab->wait_live(1, 3s)) << "an agent claiming another rack registered after a restart";
  // A tag missing is named as such.
  agents.erase("p1-h1");
  auto& bare = start_agent("p1-h1", {{"dc", "pangyo"}});
  EXPECT_TRUE(bare.wait_log("agent p1-h1 claims no rack; it enrolled with a token for dc=pangyo,rack=p1"))
      << bare.log();

  // With its tags (and more) it connects.
  agents.erase("p1-h1");
  start_agent("p1-h1", {{"dc", "pangyo"}, {"rack", "p1"}, {"role", "web"}});
  EXPECT_TRUE(lab->wait_live(1)) << lab->controller().log();

  // Enrolled again with a token for rack=p2, the new constraint replaces the old one.
  agents.erase("p1-h1");
  ASSERT_TRUE(lab->wait_live(0));
  ASSERT_EQ(enroll("p1-h1", token({"--ttl", "1h", "--tags", "rack=p2"}), moved, {"--force"}).code, 0);
  start_agent("p1-h1", moved);
  EXPECT_TRUE(lab->wait_live(1)) << lab->controller().log();
}

// A one-minute certificate renewed at two thirds of its life over the stream of an
// agent that holds a fault: the fault stays, the stream stays; after the first
// certificate expired, a new connection (a controller restart) is made with the new one.
TEST_F(Enroll, AOneMinuteCertificateIsRenewedOverTheStreamWithoutARestart) {
  lab->start_controller(signing({"--cert-lifetime", "1m"}));
  ASSERT_EQ(enroll("p1-h1", token({"--ttl", "1h"}), pangyo_).code, 0);
  auto first = support::read_file(state("p1-h1") + "/agent.pem");
  auto first_key = support::read_file(state("p1-h1") + "/agent.key");
  auto enrolled_at = Clock::now();
  auto& agent = start_agent("p1-h1", pangyo_);
  ASSERT_TRUE(lab->wait_live(1));
  auto inject = lab->cli({"inject", "-l", "rack=p1", "--fault", "blackhole", "--for", "5m", "--detach"});
  ASSERT_EQ(inject.code, 0) << inject.out;
  ASSERT_FALSE(lab->reachable("p1-h1")) << "the blackhole is not in effect";

  ASSERT_TRUE(agent.wait_log("certificate renewed", 70s)) << agent.log();
  auto renewed = support::read_file(state("p1-h1") + "/agent.pem");
  EXPECT_NE(renewed, first);
  EXPECT_NE(support::read_file(state("p1-h1") + "/agent.key"), first_key) << "renewed without a new key";
  EXPECT_EQ(mode_of(state("p1-h1") + "/agent.key"), 0600u);
  EXPECT_EQ(exec({"openssl", "verify", "-CAfile", lab->dir() + "/tls/ca.pem", state("p1-h1") + "/agent.pem"}).code, 0);
  // Nothing was reverted, and the stream is the one it had.
  EXPECT_FALSE(lab->reachable("p1-h1")) << "the renewal ended the fault";
  EXPECT_EQ(agent.log().find("DEAD-MAN SWITCH"), std::string::npos) << agent.log();
  EXPECT_EQ(agent.log().find("stream to"), std::string::npos) << "the stream was broken: " << agent.log();
  EXPECT_TRUE(agent.running());

  // Past the first certificate's end, a new connection: made with the renewed one.
  std::this_thread::sleep_until(enrolled_at + 62s);
  ASSERT_EQ(lab->controller().terminate(), 0);
  lab->start_controller(signing({"--cert-lifetime", "1m"}));
  EXPECT_TRUE(lab->wait_live(1, 30s)) << agent.log();
  EXPECT_NE(agent.log().find("connecting with the renewed certificate"), std::string::npos) << agent.log();
}

}  // namespace
}  // namespace firedrill::ctltest
