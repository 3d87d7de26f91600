#include "common/join_token.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include <memory>

#include <fmt/format.h>

namespace firedrill {
namespace {

constexpr std::string_view kPrefix = "fdjoin1.";

bool tag_char_ok(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == '/';
}

}  // namespace

std::string hex_of(const unsigned char* p, size_t n) {
  static const char* d = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    out += d[p[i] >> 4];
    out += d[p[i] & 15];
  }
  return out;
}

bool is_hex64(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

Result<std::string> random_secret_hex() {
  unsigned char secret[32];
  if (RAND_bytes(secret, sizeof secret) != 1) return make_error("OpenSSL's random generator failed");
  return hex_of(secret, sizeof secret);
}

std::string JoinToken::text() const { return std::string(kPrefix) + ca_sha256 + "." + secret; }
std::string JoinToken::secret_sha256() const { return sha256_hex_of(secret); }
std::string JoinToken::id() const { return secret_sha256().substr(0, 16); }

std::string sha256_hex_of(std::string_view bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(bytes.data(), bytes.size(), md, &n, EVP_sha256(), nullptr);
  return hex_of(md, n);
}

Result<std::string> certificate_sha256(const std::string& pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  std::unique_ptr<X509, decltype(&X509_free)> cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr), X509_free);
  if (!cert) return make_error("not a PEM certificate");
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (!X509_digest(cert.get(), EVP_sha256(), md, &n)) return make_error("cannot hash the certificate");
  return hex_of(md, n);
}

Result<JoinToken> new_join_token(const std::string& ca_sha256) {
  if (!is_hex64(ca_sha256)) return make_error("the CA hash '{}' is not 64 lower-case hex digits", ca_sha256);
  FD_ASSIGN(secret, random_secret_hex(), "join token");
  return JoinToken{ca_sha256, secret};
}

Result<JoinToken> parse_join_token(std::string_view text) {
  auto bad = [](const char* why) { return make_error("the join token is not fdjoin1.<ca-sha256>.<secret>: {}", why); };
  if (!text.starts_with(kPrefix)) return bad("it does not start with 'fdjoin1.'");
  text.remove_prefix(kPrefix.size());
  auto dot = text.find('.');
  if (dot == std::string_view::npos) return bad("no '.' between the CA hash and the secret");
  JoinToken t{std::string(text.substr(0, dot)), std::string(text.substr(dot + 1))};
  if (!is_hex64(t.ca_sha256)) return bad("the CA hash is not 64 lower-case hex digits");
  if (!is_hex64(t.secret)) return bad("the secret is not 64 lower-case hex digits");
  return t;
}

Result<std::map<std::string, std::string>> parse_tag_list(std::string_view text) {
  std::map<std::string, std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    auto end = text.find(',', start);
    std::string_view item = text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    auto eq = item.find('=');
    if (eq == std::string_view::npos || eq == 0 || eq + 1 == item.size()) {
      return make_error("tags '{}': '{}' is not KEY=VALUE", text, item);
    }
    std::string key(item.substr(0, eq)), value(item.substr(eq + 1));
    for (char c : key) {
      if (!tag_char_ok(c)) return make_error("tags '{}': key '{}' holds '{}'", text, key, c);
    }
    if (key.size() > 63 || value.size() > 255) return make_error("tags '{}': '{}' is too long", text, key);
    if (!out.emplace(key, value).second) return make_error("tags '{}': '{}' is given twice", text, key);
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return out;
}

std::string format_tag_list(const std::map<std::string, std::string>& tags) {
  std::string out;
  for (auto& [k, v] : tags) out += (out.empty() ? "" : ",") + k + "=" + v;
  return out;
}

std::string TagMisfit::claim() const { return claimed ? key + "=" + *claimed : "no " + key; }

std::vector<TagMisfit> tag_misfits(const std::map<std::string, std::string>& required,
                                   const std::map<std::string, std::string>& claimed) {
  std::vector<TagMisfit> out;
  for (auto& [k, v] : required) {
    auto it = claimed.find(k);
    if (it == claimed.end()) {
      out.push_back({k, v, std::nullopt});
    } else if (it->second != v) {
      out.push_back({k, v, it->second});
    }
  }
  return out;
}

std::vector<std::string> tags_not_fitting(const std::map<std::string, std::string>& required,
                                          const std::map<std::string, std::string>& claimed) {
  std::vector<std::string> out;
  for (auto& m : tag_misfits(required, claimed)) {
    out.push_back(fmt::format("{}={} (the agent claims {})", m.key, m.required,
                              m.claimed ? m.claim() : std::string("none")));
  }
  return out;
}

}  // namespace firedrill
