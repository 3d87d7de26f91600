#include "controller/evidence/signing_key.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "controller/evidence/canonical.h"

namespace firedrill::evidence {

namespace fs = std::filesystem;

void PkeyFree::operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }

namespace {

std::string openssl_error() {
  unsigned long e = ERR_get_error();
  if (e == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;

std::string bio_string(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(n));
}

Result<std::string> raw_public(EVP_PKEY* key) {
  size_t len = 0;
  if (EVP_PKEY_get_raw_public_key(key, nullptr, &len) != 1) return make_error("read public key: {}", openssl_error());
  std::string raw(len, '\0');
  if (EVP_PKEY_get_raw_public_key(key, reinterpret_cast<unsigned char*>(raw.data()), &len) != 1) {
    return make_error("read public key: {}", openssl_error());
  }
  return raw;
}

Result<std::string> public_pem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), key) != 1) return make_error("write public key PEM: {}", openssl_error());
  return bio_string(bio.get());
}

Result<std::string> read_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return sys_error(errno, "open {}", file.string());
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

std::string key_fingerprint(std::string_view raw_public_key) { return "sha256:" + sha256_hex(raw_public_key); }

Result<PublicKey> PublicKey::from_pem(std::string_view pem, std::string_view what) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  PkeyPtr key(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  if (!key) return make_error("{}: not a PEM public key ({})", what, openssl_error());
  if (EVP_PKEY_get_id(key.get()) != EVP_PKEY_ED25519) return make_error("{}: not an Ed25519 key", what);
  FD_ASSIGN(raw, raw_public(key.get()), "{}", what);
  FD_ASSIGN(text, public_pem(key.get()), "{}", what);
  PublicKey out;
  out.key_ = std::move(key);
  out.pem_ = std::move(text);
  out.fingerprint_ = key_fingerprint(raw);
  return out;
}

Result<PublicKey> PublicKey::load(const fs::path& file) {
  FD_ASSIGN(text, read_file(file), "public key");
  return from_pem(text, file.string());
}

Result<KeyRing> KeyRing::load(const fs::path& file) {
  FD_ASSIGN(text, read_file(file), "public keys");
  static constexpr std::string_view kBegin = "-----BEGIN PUBLIC KEY-----";
  static constexpr std::string_view kEnd = "-----END PUBLIC KEY-----";
  KeyRing ring;
  size_t at = 0;
  for (int n = 1;; ++n) {
    size_t b = text.find(kBegin, at);
    if (b == std::string::npos) break;
    size_t e = text.find(kEnd, b);
    if (e == std::string::npos) return make_error("{}: key {} has no END line (truncated file)", file.string(), n);
    e += kEnd.size();
    FD_ASSIGN(key, PublicKey::from_pem(std::string_view(text).substr(b, e - b), fmt::format("{} key {}", file.string(), n)),
              "public keys");
    ring.add(std::move(key));
    at = e;
  }
  if (ring.empty()) return make_error("{}: holds no PEM public key (-----BEGIN PUBLIC KEY-----)", file.string());
  return ring;
}

Result<KeyRing> KeyRing::of(const PublicKey& key) {
  FD_ASSIGN(copy, PublicKey::from_pem(key.pem()), "key ring");
  KeyRing ring;
  ring.add(std::move(copy));
  return ring;
}

void KeyRing::add(PublicKey key) {
  if (!find(key.fingerprint())) keys_.push_back(std::move(key));
}

const PublicKey* KeyRing::find(std::string_view fingerprint) const {
  for (const auto& k : keys_) {
    if (k.fingerprint() == fingerprint) return &k;
  }
  return nullptr;
}

std::string KeyRing::fingerprints() const {
  std::string out;
  for (const auto& k : keys_) out += (out.empty() ? "" : ", ") + k.fingerprint();
  return out;
}

bool PublicKey::verify(std::string_view message, std::string_view signature) const {
  if (!key_ || signature.size() != 64) return false;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool good = ctx && EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, key_.get()) == 1 &&
              EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                               reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
  EVP_MD_CTX_free(ctx);
  ERR_clear_error();
  return good;
}

Result<SigningKey> SigningKey::from_pkey(PkeyPtr key) {
  FD_ASSIGN(pem, public_pem(key.get()), "signing key");
  FD_ASSIGN(pub, PublicKey::from_pem(pem), "signing key");
  SigningKey out;
  out.key_ = std::move(key);
  out.public_ = std::move(pub);
  return out;
}

Result<SigningKey> SigningKey::generate() {
  EVP_PKEY* raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  if (!raw) return make_error("generate Ed25519 key: {}", openssl_error());
  return from_pkey(PkeyPtr(raw));
}

Result<SigningKey> SigningKey::load(const fs::path& state_dir) {
  fs::path file = state_dir / kKeyFileName;
  std::error_code ec;
  if (!fs::exists(file, ec)) {
    return make_error("no evidence key {}: only `firedrill serve` makes one; is the state directory right?",
                      file.string());
  }
  FD_ASSIGN(text, read_file(file), "evidence key");
  BioPtr bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) return make_error("evidence key {}: not a PEM private key ({})", file.string(), openssl_error());
  if (EVP_PKEY_get_id(key.get()) != EVP_PKEY_ED25519) return make_error("evidence key {}: not an Ed25519 key", file.string());
  struct stat st {};
  if (::stat(file.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
    return make_error("evidence key {}: mode {:o} lets others read it (want 0600)", file.string(), st.st_mode & 0777);
  }
  return from_pkey(std::move(key));
}

Result<SigningKey> SigningKey::load_or_create(const fs::path& state_dir) {
  std::error_code ec;
  if (!fs::exists(state_dir, ec)) {
    fs::create_directories(state_dir, ec);
    if (ec) return sys_error(ec.value(), "create state directory {}", state_dir.string());
    ::chmod(state_dir.c_str(), 0700);
  }
  fs::path file = state_dir / kKeyFileName;
  if (fs::exists(file, ec)) return load(state_dir);

  FD_ASSIGN(fresh, generate(), "evidence key");
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), fresh.key_.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return make_error("evidence key: write PEM: {}", openssl_error());
  }
  std::string pem = bio_string(bio.get());
  // Written aside and linked into place: a concurrent start never reads half a key,
  // and when two start at once one key wins (link fails with EEXIST) and both use it.
  fs::path tmp = state_dir / fmt::format(".{}.{}", kKeyFileName, ::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return sys_error(errno, "create evidence key {}", tmp.string());
  ssize_t n = ::write(fd, pem.data(), pem.size());
  int werr = errno;
  bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (n != static_cast<ssize_t>(pem.size()) || !synced) {
    ::unlink(tmp.c_str());
    return sys_error(werr, "write evidence key {}", tmp.string());
  }
  int rc = ::link(tmp.c_str(), file.c_str());
  int lerr = errno;
  ::unlink(tmp.c_str());
  if (rc != 0) {
    if (lerr == EEXIST) return load(state_dir);
    return sys_error(lerr, "install evidence key {}", file.string());
  }
  return fresh;
}

Result<std::string> SigningKey::sign(std::string_view message) const {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  std::string sig(64, '\0');
  size_t len = sig.size();
  bool good = ctx && EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, key_.get()) == 1 &&
              EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                             reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
  EVP_MD_CTX_free(ctx);
  if (!good) return make_error("sign with evidence key: {}", openssl_error());
  sig.resize(len);
  return sig;
}

}  // namespace firedrill::evidence
