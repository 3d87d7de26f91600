// Join tokens (`firedrill tokens create`, `firedrill-agent enroll`):
//
//   fdjoin1.<ca-sha256>.<secret>
//
// ca-sha256 is the SHA-256 (64 hex digits) of the fleet CA certificate's DER bytes:
// the enrolling host trusts the controller only if its TLS chain holds that CA. The
// secret is 32 bytes from OpenSSL's CSPRNG (64 hex digits); the controller keeps only
// its SHA-256. A token may be limited to tags ("dc=pangyo,rack=r1"): an agent that
// claims another value of one of them, or none, is refused.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace firedrill {

struct JoinToken {
  std::string ca_sha256;  // hex, lower case
  std::string secret;     // hex, lower case

  std::string text() const;          // fdjoin1.CA.SECRET
  std::string secret_sha256() const; // what the controller stores
  std::string id() const;            // the first 16 hex digits of secret_sha256()
};

// A new token for the CA whose certificate hashes to `ca_sha256`.
Result<JoinToken> new_join_token(const std::string& ca_sha256);
// The error names what is wrong without repeating the secret.
Result<JoinToken> parse_join_token(std::string_view text);

std::string sha256_hex_of(std::string_view bytes);
// Bytes as lower-case hex; 64 lower-case hex digits; 32 bytes of OpenSSL's CSPRNG as hex
// (a join token's secret, a dashboard login link's).
std::string hex_of(const unsigned char* p, size_t n);
bool is_hex64(std::string_view s);
Result<std::string> random_secret_hex();
// SHA-256 of a PEM certificate's DER encoding (the first certificate in `pem`).
Result<std::string> certificate_sha256(const std::string& pem);

// "dc=pangyo,rack=r1" (empty: no tags). Keys and values as agent tags.
Result<std::map<std::string, std::string>> parse_tag_list(std::string_view text);
std::string format_tag_list(const std::map<std::string, std::string>& tags);
// The fit of an agent's tags to a token's: every tag the token has, the agent has with
// the same value (the agent may have more). Checked at enrollment and, with the tags
// of the token an agent enrolled with, at every Hello of its stream.
struct TagMisfit {
  std::string key, required;
  std::optional<std::string> claimed;  // none: the agent has no such tag
  std::string claim() const;           // "rack=p2", "no rack"
};
// The token's `required` tags that `claimed` does not match, in key order. Empty: it fits.
std::vector<TagMisfit> tag_misfits(const std::map<std::string, std::string>& required,
                                   const std::map<std::string, std::string>& claimed);
// The same, said: "dc=pangyo (the agent claims dc=seoul)", "rack=r1 (the agent claims
// none)".
std::vector<std::string> tags_not_fitting(const std::map<std::string, std::string>& required,
                                          const std::map<std::string, std::string>& claimed);

}  // namespace firedrill
