#include "controller/web/web_auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "common/join_token.h"

namespace firedrill::controller::web {

std::string random_hex32() {
  auto secret = random_secret_hex();
  if (!secret) std::abort();  // no randomness: no secret worth handing out
  return *secret;
}

Result<void> check_person_name(const std::string& name, const char* option) {
  if (name.empty() || name.size() > 64) return make_error("{} '{}': a name has 1..64 characters", option, name);
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
      return make_error("{} '{}': a name holds letters, digits, '.', '_' and '-' only", option, name);
    }
  }
  return ok();
}

Logins::Logins(Store& store) : store_(store), hmac_key_(random_hex32()) {}

Result<LoginLink> Logins::create(const std::string& name, std::chrono::seconds lifetime, WallTime now) {
  FD_TRY(check_person_name(name, "--as"), "login link");
  if (lifetime < std::chrono::seconds(1) || lifetime > kMaxLinkLifetime) {
    return make_error("a login link lives 1s..{}s, not {}s", kMaxLinkLifetime.count(), lifetime.count());
  }
  LoginLink link{random_hex32(), "cn:" + name, now + lifetime};
  FD_TRY(store_.put_login_link({sha256_hex_of(link.secret), link.identity, link.expires_at, false}), "login link for {}",
         link.identity);
  return link;
}

Result<std::string> Logins::redeem(const std::string& secret, WallTime now) {
  if (!is_hex64(secret)) return make_error("the login link is malformed");
  // Marked used before it is honoured, by the store for every controller of it: a store
  // that cannot record the use refuses it.
  FD_ASSIGN(link, store_.use_login_link(sha256_hex_of(secret)), "login link");
  if (!link) return make_error("the login link is unknown");
  if (link->used) return make_error("the login link was used already (a link works once)");
  if (now >= link->expires_at) return make_error("the login link expired at {}", format_utc(link->expires_at));
  return link->identity;
}

std::string Logins::open_session(const std::string& identity, WallTime now) {
  std::string cookie = random_hex32();
  std::lock_guard lock(mu_);
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    it = it->second.expires_at <= now ? sessions_.erase(it) : std::next(it);
  }
  sessions_[sha256_hex_of(cookie)] = Session{identity, now + kSessionLifetime};
  return cookie;
}

std::optional<std::string> Logins::session(const std::string& cookie, WallTime now) {
  if (!is_hex64(cookie)) return std::nullopt;
  std::lock_guard lock(mu_);
  auto it = sessions_.find(sha256_hex_of(cookie));
  if (it == sessions_.end() || it->second.expires_at <= now) return std::nullopt;
  return it->second.identity;
}

void Logins::close_session(const std::string& cookie) {
  std::lock_guard lock(mu_);
  sessions_.erase(sha256_hex_of(cookie));
}

std::string Logins::csrf_token(const std::string& identity) const {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), hmac_key_.data(), static_cast<int>(hmac_key_.size()),
       reinterpret_cast<const unsigned char*>(identity.data()), identity.size(), mac, &len);
  return hex_of(mac, len);
}

bool Logins::csrf_ok(const std::string& identity, const std::string& token) const {
  auto want = csrf_token(identity);
  return token.size() == want.size() && CRYPTO_memcmp(token.data(), want.data(), want.size()) == 0;
}

}  // namespace firedrill::controller::web
