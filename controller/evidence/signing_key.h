// The controller's Ed25519 evidence key (OpenSSL 3 EVP). The key pair is made on the
// controller's first start in its state directory (private half 0600, never leaves the
// host); its public half is exported as PEM for auditors (`firedrill keys export`).
// A key is named by its fingerprint: "sha256:" and the hex SHA-256 of the raw 32-byte
// public key.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

typedef struct evp_pkey_st EVP_PKEY;

namespace firedrill::evidence {

struct PkeyFree {
  void operator()(EVP_PKEY* k) const;
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

inline constexpr const char* kKeyFileName = "evidence-ed25519.pem";

class PublicKey {
 public:
  static Result<PublicKey> from_pem(std::string_view pem, std::string_view what = "public key");
  static Result<PublicKey> load(const std::filesystem::path& file);

  // True when `signature` (raw 64 bytes) is this key's signature of `message`.
  bool verify(std::string_view message, std::string_view signature) const;
  const std::string& pem() const { return pem_; }
  const std::string& fingerprint() const { return fingerprint_; }

 private:
  PkeyPtr key_;
  std::string pem_;
  std::string fingerprint_;
};

// The public keys a verifier trusts: `report verify --key FILE` (one PEM key) or
// `--keys FILE` (several PEM keys, one after another: a rotation keeps the old ones).
class KeyRing {
 public:
  // Every "-----BEGIN PUBLIC KEY-----" block of the file; none is an error.
  static Result<KeyRing> load(const std::filesystem::path& file);
  static Result<KeyRing> of(const PublicKey& key);
  void add(PublicKey key);
  const PublicKey* find(std::string_view fingerprint) const;
  bool empty() const { return keys_.empty(); }
  // "sha256:ab…, sha256:cd…" for messages.
  std::string fingerprints() const;

 private:
  std::vector<PublicKey> keys_;
};

class SigningKey {
 public:
  // Reads DIR/evidence-ed25519.pem, or makes it (0600, DIR 0700) when absent.
  static Result<SigningKey> load_or_create(const std::filesystem::path& state_dir);
  // Reads an existing key; an absent file is an error that names it. Only the
  // controller's `serve` makes a key: every other verb reads one.
  static Result<SigningKey> load(const std::filesystem::path& state_dir);
  // A fresh key that lives only in memory (tests, tamper drills).
  static Result<SigningKey> generate();

  // The raw 64-byte Ed25519 signature of `message`.
  Result<std::string> sign(std::string_view message) const;
  const PublicKey& public_key() const { return public_; }
  const std::string& fingerprint() const { return public_.fingerprint(); }

 private:
  static Result<SigningKey> from_pkey(PkeyPtr key);
  PkeyPtr key_;
  PublicKey public_;
};

// "sha256:ab12…" of a raw public key.
std::string key_fingerprint(std::string_view raw_public_key);

}  // namespace firedrill::evidence
