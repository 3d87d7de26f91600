// Join tokens (common/join_token.h), certificates signed for a request
// (controller/session/certs.h) and the agent's key, request and check of what came
// back (agent/enroll/enroll.h): no network, real OpenSSL.
#include <gtest/gtest.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "agent/enroll/enroll.h"
#include "common/join_token.h"
#include "controller/session/certs.h"
#include "controller/session/enrolled_tags.h"

namespace firedrill {
namespace {

TEST(JoinToken, MadeParsedAndHashed) {
  std::string ca(64, 'c');
  auto t = new_join_token(ca);
  ASSERT_TRUE(t) << t.error().describe();
  EXPECT_EQ(t->secret.size(), 64u);
  auto other = new_join_token(ca);
  EXPECT_NE(t->secret, other->secret);
  auto back = parse_join_token(t->text());
  ASSERT_TRUE(back) << back.error().describe();
  EXPECT_EQ(back->ca_sha256, ca);
  EXPECT_EQ(back->secret, t->secret);
  EXPECT_EQ(t->secret_sha256(), sha256_hex_of(t->secret));
  EXPECT_EQ(t->id(), t->secret_sha256().substr(0, 16));
  EXPECT_NE(t->secret_sha256(), t->secret);
  for (auto [text, why] : std::vector<std::pair<std::string, std::string>>{
           {"fdjoin2." + ca + "." + t->secret, "does not start with 'fdjoin1.'"},
           {"fdjoin1." + ca + t->secret, "no '.'"},
           {"fdjoin1.abc." + t->secret, "the CA hash is not 64"},
           {"fdjoin1." + ca + "." + t->secret.substr(1), "the secret is not 64"},
           {"fdjoin1." + ca + "." + std::string(63, 'a') + "G", "the secret is not 64"}}) {
    auto bad = parse_join_token(text);
    ASSERT_FALSE(bad) << text;
    EXPECT_NE(bad.error().message.find(why), std::string::npos) << bad.error().message;
    EXPECT_EQ(bad.error().message.find(t->secret), std::string::npos) << "the error repeats the secret";
  }
  EXPECT_FALSE(new_join_token("not-a-hash"));
}

TEST(JoinToken, TagsFitOrSayWhatIsMissing) {
  auto required = parse_tag_list("dc=pangyo,rack=r1");
  ASSERT_TRUE(required);
  EXPECT_EQ(format_tag_list(*required), "dc=pangyo,rack=r1");
  EXPECT_TRUE(tags_not_fitting(*required, {{"dc", "pangyo"}, {"rack", "r1"}, {"host", "h1"}}).empty());
  auto misfit = tags_not_fitting(*required, {{"dc", "seoul"}});
  ASSERT_EQ(misfit.size(), 2u);
  EXPECT_EQ(misfit[0], "dc=pangyo (the agent claims dc=seoul)");
  EXPECT_EQ(misfit[1], "rack=r1 (the agent claims none)");
  EXPECT_TRUE(parse_tag_list("")->empty());
  EXPECT_FALSE(parse_tag_list("dc"));
  EXPECT_FALSE(parse_tag_list("dc=a,dc=b"));
  EXPECT_FALSE(parse_tag_list("d c=a"));
}

// After enrollment an agent is held to its token's tags by id; the last enrollment of
// an id replaces the one before; an id that never enrolled is held to none.
TEST(EnrolledTags, AnAgentIsHeldToItsLastTokensTags) {
  controller::EnrolledTags enrolled;
  auto now = WallClock::now();
  enrolled.load({{"p1-h1", {{"dc", "pangyo"}, {"env", "staging"}}, "aaaaaaaaaaaaaaaa", now}});
  EXPECT_FALSE(enrolled.refusal("p1-h1", {{"dc", "pangyo"}, {"env", "staging"}, {"rack", "p1"}}));
  auto why = enrolled.refusal("p1-h1", {{"env", "production"}});
  ASSERT_TRUE(why);
  EXPECT_EQ(*why, "agent p1-h1 claims no dc, env=production; it enrolled with a token for dc=pangyo,env=staging: "
                  "enroll again with a token for its tags");
  EXPECT_FALSE(enrolled.refusal("p1-h2", {{"env", "production"}})) << "an agent that never enrolled";
  enrolled.put({"p1-h1", {{"env", "production"}}, "bbbbbbbbbbbbbbbb", now});
  EXPECT_FALSE(enrolled.refusal("p1-h1", {{"env", "production"}}));
  EXPECT_TRUE(enrolled.refusal("p1-h1", {{"env", "staging"}}));
}

TEST(Enrollment, ARequestIsSignedForTheIdWithTheRequestersKey) {
  auto ca = controller::make_ca("firedrill CA", controller::KeyType::kP256, 1);
  ASSERT_TRUE(ca);
  auto hash = certificate_sha256(ca->cert);
  ASSERT_TRUE(hash);
  EXPECT_EQ(hash->size(), 64u);
  // The request asks for another name: the certificate names the id it is signed for.
  auto kr = agent::new_key_and_request("someone-else");
  ASSERT_TRUE(kr) << kr.error().describe();
  auto issued = controller::issue_for_request(*ca, kr->csr_pem, "p1-h1", std::chrono::minutes(1));
  ASSERT_TRUE(issued) << issued.error().describe();
  EXPECT_FALSE(issued->serial_hex.empty());
  auto not_after = agent::check_issued(issued->pem, kr->key_pem, ca->cert, "p1-h1");
  ASSERT_TRUE(not_after) << not_after.error().describe();
  EXPECT_LE(*not_after, WallClock::now() + std::chrono::minutes(1) + std::chrono::seconds(1));
  EXPECT_GT(*not_after, WallClock::now() + std::chrono::seconds(50));
  EXPECT_EQ(*controller::common_name(issued->pem), "p1-h1");
  // Checks on the agent's side: another key, another name, another CA.
  auto other = agent::new_key_and_request("p1-h1");
  auto wrong_key = agent::check_issued(issued->pem, other->key_pem, ca->cert, "p1-h1");
  ASSERT_FALSE(wrong_key);
  EXPECT_NE(wrong_key.error().message.find("not for this host's key"), std::string::npos);
  EXPECT_FALSE(agent::check_issued(issued->pem, kr->key_pem, ca->cert, "p1-h2"));
  auto rogue = controller::make_ca("rogue", controller::KeyType::kP256, 1);
  auto wrong_ca = agent::check_issued(issued->pem, kr->key_pem, rogue->cert, "p1-h1");
  ASSERT_FALSE(wrong_ca);
  EXPECT_NE(wrong_ca.error().message.find("does not verify against the fleet CA"), std::string::npos);
}

TEST(Enrollment, ARequestWhoseSignatureFailsIsRefused) {
  auto ca = controller::make_ca("firedrill CA", controller::KeyType::kP256, 1);
  auto kr = agent::new_key_and_request("p1-h1");
  ASSERT_TRUE(ca && kr);
  // One byte of the signature changed (the base64 body's last line before the footer).
  std::string csr = kr->csr_pem;
  auto end = csr.find("-----END");
  ASSERT_NE(end, std::string::npos);
  size_t at = end - 6;
  csr[at] = csr[at] == 'A' ? 'B' : 'A';
  auto r = controller::issue_for_request(*ca, csr, "p1-h1", std::chrono::minutes(1));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().describe().find("certificate request"), std::string::npos) << r.error().describe();
  EXPECT_FALSE(controller::issue_for_request(*ca, "not a request", "p1-h1", std::chrono::minutes(1)));
}

}  // namespace
}  // namespace firedrill
