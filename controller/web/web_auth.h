// Who is looking at the dashboard, and whether a POST really comes from its page.
//
// Two ways in, both ending in an identity the controller's policy gives roles to
// (controller/auth/access.h), spelled as for the remote API: cn:NAME.
//   - a client certificate of the fleet's CA (`firedrill certs user --name kim`),
//     verified in the TLS handshake: the certificate is the identity on every request;
//   - a login link (`firedrill web login --as kim`, admins only): a random secret,
//     shown once, kept in the store only as its SHA-256 (LoginLinkRow), valid for
//     minutes and for one use. Several controllers on one store share the links: one
//     made at any of them works at any (a follower's too), once. Using it sets a
//     session cookie (Secure, HttpOnly, SameSite=Strict) for the browser that used it;
//     sessions live in the process that opened them.
// POSTs carry X-CSRF-Token, the page's token for that identity (an HMAC of the identity
// under a key of this process): a page of another origin can neither read it nor send
// a custom header without a preflight this server never grants.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "common/result.h"
#include "common/time.h"
#include "controller/store/store.h"

namespace firedrill::controller::web {

inline constexpr std::chrono::seconds kDefaultLinkLifetime{600};
inline constexpr std::chrono::seconds kMaxLinkLifetime{3600};
inline constexpr std::chrono::hours kSessionLifetime{12};

// A person's name as `--as` and `certs user --name` take it: letters, digits, '.', '_',
// '-', 1..64 of them. The error names the option.
Result<void> check_person_name(const std::string& name, const char* option);

struct LoginLink {
  std::string secret;    // goes in /login?token=SECRET; never stored
  std::string identity;  // cn:NAME
  WallTime expires_at;
};

// Login links in the store (kept hashed) and the sessions they open.
class Logins {
 public:
  explicit Logins(Store& store);

  // A new link for `name`, valid for `lifetime` (1s..kMaxLinkLifetime).
  Result<LoginLink> create(const std::string& name, std::chrono::seconds lifetime, WallTime now);
  // Uses the link `secret` once: the identity it was made for, or an error saying why
  // not (unknown, used, expired), the secret never repeated.
  Result<std::string> redeem(const std::string& secret, WallTime now);

  // A new session for `identity`: its cookie value.
  std::string open_session(const std::string& identity, WallTime now);
  // The identity of a live session cookie.
  std::optional<std::string> session(const std::string& cookie, WallTime now);
  void close_session(const std::string& cookie);

  // The CSRF token of the page served to `identity`, and its check.
  std::string csrf_token(const std::string& identity) const;
  bool csrf_ok(const std::string& identity, const std::string& token) const;

 private:
  struct Session {
    std::string identity;
    WallTime expires_at;
  };
  Store& store_;
  std::string hmac_key_;  // random, per process
  std::mutex mu_;         // sessions_
  std::map<std::string, Session> sessions_;  // by the cookie's SHA-256
};

// 32 random bytes as 64 hex digits (OpenSSL's RAND_bytes).
std::string random_hex32();

}  // namespace firedrill::controller::web
