#include "controller/session/certs.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include <boost/program_options.hpp>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/cli.h"
#include "common/output_file.h"

namespace firedrill::controller {
namespace {

template <typename T, void (*F)(T*)>
struct Deleter {
  void operator()(T* p) const { F(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;

Error ssl_error(const std::string& what) {
  unsigned long e = ERR_get_error();
  char buf[256] = "unknown OpenSSL error";
  if (e) ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return make_error("{}: {}", what, buf);
}

Result<PkeyPtr> new_key(KeyType type) {
  EVP_PKEY* k = type == KeyType::kEd25519 ? EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519")
                                          : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  if (!k) return ssl_error("generate key");
  return PkeyPtr(k);
}

Result<std::string> key_pem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr)) return ssl_error("write key");
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

Result<std::string> cert_pem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!PEM_write_bio_X509(bio.get(), cert)) return ssl_error("write certificate");
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

Result<X509Ptr> parse_cert(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
  if (!x) return ssl_error("parse certificate");
  return X509Ptr(x);
}

Result<PkeyPtr> parse_key(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  EVP_PKEY* k = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr);
  if (!k) return ssl_error("parse private key");
  return PkeyPtr(k);
}

Result<void> add_ext(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (!ext) return ssl_error(fmt::format("extension {} = {}", OBJ_nid2sn(nid), value));
  int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  if (!ok) return ssl_error("add extension");
  return firedrill::ok();
}

// A certificate skeleton: random serial, validity from an hour ago (clock skew) to
// `lifetime` ahead, subject CN, public key.
Result<X509Ptr> new_cert(const std::string& cn, EVP_PKEY* key, std::chrono::seconds lifetime) {
  X509Ptr cert(X509_new());
  X509_set_version(cert.get(), 2);
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof serial) != 1) return ssl_error("random serial");
  serial[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(lifetime.count()));
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>("firedrill"), -1, -1, 0);
  if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(cn.c_str()), -1,
                                  -1, 0)) {
    return ssl_error("common name '" + cn + "'");
  }
  if (!X509_set_pubkey(cert.get(), key)) return ssl_error("set public key");
  return cert;
}

Result<void> sign(X509* cert, EVP_PKEY* key) {
  // Ed25519 signs the message itself: no digest.
  const EVP_MD* md = EVP_PKEY_get_id(key) == EVP_PKEY_ED25519 ? nullptr : EVP_sha256();
  if (!X509_sign(cert, key, md)) return ssl_error("sign certificate");
  return ok();
}

bool is_ip(const std::string& s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

}  // namespace

Result<KeyType> parse_key_type(std::string_view text) {
  if (text == "p256" || text == "P-256" || text == "ecdsa") return KeyType::kP256;
  if (text == "ed25519") return KeyType::kEd25519;
  return make_error("key type '{}' is not one of: p256, ed25519", text);
}

Result<Pem> make_ca(const std::string& name, KeyType type, int days) {
  FD_ASSIGN(key, new_key(type), "CA");
  FD_ASSIGN(cert, new_cert(name, key.get(), std::chrono::days(days)), "CA");
  X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get()));
  FD_TRY(add_ext(cert.get(), cert.get(), NID_basic_constraints, "critical,CA:TRUE,pathlen:0"), "CA");
  FD_TRY(add_ext(cert.get(), cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign"), "CA");
  FD_TRY(add_ext(cert.get(), cert.get(), NID_subject_key_identifier, "hash"), "CA");
  FD_TRY(sign(cert.get(), key.get()), "CA");
  Pem out;
  FD_ASSIGN(c, cert_pem(cert.get()), "CA");
  FD_ASSIGN(k, key_pem(key.get()), "CA");
  out.cert = std::move(c);
  out.key = std::move(k);
  return out;
}

namespace {

// A leaf for `cn` over `key` (its public half), signed by the CA: the extensions of
// `role`, subject alt names `sans` (defaults as issue_cert says).
Result<X509Ptr> sign_leaf(const Pem& ca, CertRole role, const std::string& cn, const std::vector<std::string>& sans_in,
                          EVP_PKEY* key, std::chrono::seconds lifetime) {
  if (cn.empty() || cn.size() > 64) return make_error("common name '{}' must be 1 to 64 characters", cn);
  FD_ASSIGN(ca_cert, parse_cert(ca.cert), "CA certificate");
  FD_ASSIGN(ca_key, parse_key(ca.key), "CA key");
  FD_ASSIGN(cert, new_cert(cn, key, lifetime), "certificate for {}", cn);
  X509_set_issuer_name(cert.get(), X509_get_subject_name(ca_cert.get()));
  FD_TRY(add_ext(cert.get(), ca_cert.get(), NID_basic_constraints, "critical,CA:FALSE"), "{}", cn);
  FD_TRY(add_ext(cert.get(), ca_cert.get(), NID_key_usage, "critical,digitalSignature"), "{}", cn);
  FD_TRY(add_ext(cert.get(), ca_cert.get(), NID_ext_key_usage,
                 role == CertRole::kController ? "serverAuth,clientAuth" : "clientAuth"),
         "{}", cn);
  FD_TRY(add_ext(cert.get(), ca_cert.get(), NID_authority_key_identifier, "keyid"), "{}", cn);
  std::vector<std::string> sans = sans_in;
  if (role == CertRole::kController && sans.empty()) sans = {"localhost", "127.0.0.1"};
  if (role == CertRole::kAgent && sans.empty()) sans = {cn};
  std::string alt;
  for (auto& s : sans) {
    if (s.empty() || s.find_first_of(", ") != std::string::npos) return make_error("subject alt name '{}' is not a name or address", s);
    alt += (alt.empty() ? "" : ",") + std::string(is_ip(s) ? "IP:" : "DNS:") + s;
  }
  FD_TRY(add_ext(cert.get(), ca_cert.get(), NID_subject_alt_name, alt), "{}", cn);
  FD_TRY(sign(cert.get(), ca_key.get()), "{}", cn);
  return cert;
}

std::string serial_hex(X509* cert) {
  BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get_serialNumber(cert), nullptr);
  char* text = bn ? BN_bn2hex(bn) : nullptr;
  std::string out = text ? text : "";
  OPENSSL_free(text);
  BN_free(bn);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

Result<Pem> issue_cert(const Pem& ca, CertRole role, const std::string& cn, const std::vector<std::string>& sans,
                       KeyType type, int days) {
  FD_ASSIGN(key, new_key(type), "certificate for {}", cn);
  FD_ASSIGN(cert, sign_leaf(ca, role, cn, sans, key.get(), std::chrono::days(days)), "certificate for {}", cn);
  Pem out;
  FD_ASSIGN(c, cert_pem(cert.get()), "{}", cn);
  FD_ASSIGN(k, key_pem(key.get()), "{}", cn);
  out.cert = std::move(c);
  out.key = std::move(k);
  return out;
}

Result<IssuedCert> issue_for_request(const Pem& ca, const std::string& csr_pem, const std::string& cn,
                                     std::chrono::seconds lifetime) {
  BioPtr bio(BIO_new_mem_buf(csr_pem.data(), static_cast<int>(csr_pem.size())));
  std::unique_ptr<X509_REQ, Deleter<X509_REQ, X509_REQ_free>> req(PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr));
  if (!req) return ssl_error("the certificate request is not a PEM PKCS#10 request");
  PkeyPtr key(X509_REQ_get_pubkey(req.get()));
  if (!key) return ssl_error("the certificate request has no public key");
  // Proof that the requester holds the private key.
  if (X509_REQ_verify(req.get(), key.get()) != 1) return ssl_error("the certificate request's signature does not verify");
  int id = EVP_PKEY_get_id(key.get());
  if (id == EVP_PKEY_RSA && EVP_PKEY_get_bits(key.get()) < 2048) {
    return make_error("the certificate request's RSA key has {} bits (at least 2048)", EVP_PKEY_get_bits(key.get()));
  }
  if (id != EVP_PKEY_EC && id != EVP_PKEY_ED25519 && id != EVP_PKEY_RSA) {
    return make_error("the certificate request's key is {} (EC, Ed25519 or RSA)", OBJ_nid2sn(id));
  }
  // The subject the request asks for is ignored: the certificate names the agent id.
  FD_ASSIGN(cert, sign_leaf(ca, CertRole::kAgent, cn, {}, key.get(), lifetime), "certificate for {}", cn);
  IssuedCert out;
  FD_ASSIGN(pem, cert_pem(cert.get()), "{}", cn);
  out.pem = std::move(pem);
  out.serial_hex = serial_hex(cert.get());
  out.not_after = WallClock::now() + lifetime;
  return out;
}

Result<void> write_pem(const std::string& dir, const std::string& stem, const Pem& pem, bool force) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return make_error("create {}: {}", dir, ec.message());
  std::string cert = dir + "/" + stem + ".pem", key = dir + "/" + stem + ".key";
  // A link counts as existing (a dangling one too): it is never followed.
  auto present = [](const std::string& p) { return std::filesystem::exists(std::filesystem::symlink_status(p)); };
  if (!force && (present(cert) || present(key))) {
    return make_error("{} or {} exists already (use --force to replace it)", cert, key);
  }
  // Fresh random names in the directory, then renamed over: a link at the name is
  // replaced, never written through, and a key is 0600 from its first byte.
  FD_TRY(write_output_file(key, pem.key, 0600), "key");
  FD_TRY(write_output_file(cert, pem.cert, 0644), "certificate");
  return ok();
}

Result<std::string> read_small_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return sys_error(errno, "read {}", path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  if (s.size() > (1u << 20)) return make_error("{} is larger than 1 MiB", path);
  return s;
}

Result<Pem> read_pem(const std::string& cert_path, const std::string& key_path) {
  Pem p;
  FD_ASSIGN(c, read_small_file(cert_path), "certificate");
  FD_ASSIGN(k, read_small_file(key_path), "key");
  p.cert = std::move(c);
  p.key = std::move(k);
  return p;
}

Result<std::string> common_name(const std::string& cert_pem_text) {
  FD_ASSIGN(cert, parse_cert(cert_pem_text), "certificate");
  char buf[256] = {};
  int n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert.get()), NID_commonName, buf, sizeof buf);
  if (n <= 0) return make_error("certificate has no common name");
  return std::string(buf, static_cast<size_t>(n));
}

namespace {

constexpr const char* kCertsUsage = R"(firedrill certs - make the fleet's mutual TLS material

SYNOPSIS
  firedrill certs init       --dir DIR [--key-type p256|ed25519] [--days N] [--force]
  firedrill certs controller --dir DIR [--san NAME-OR-IP]... [--name CN]
  firedrill certs agent      --dir DIR --id AGENT-ID [--san NAME-OR-IP]...
  firedrill certs client     --dir DIR --id NAME

DESCRIPTION
  init makes a CA: DIR/ca.pem (give it to every agent and the controller) and
  DIR/ca.key (keep it safe; it signs the others). controller makes
  DIR/controller.pem|.key for `firedrill serve`; list every name and address agents
  dial as --san (default: localhost and 127.0.0.1). agent makes DIR/agent-ID.pem|.key
  whose common name is the agent id: the controller accepts that id, and only that
  id, from a stream that presents it. client makes DIR/client-NAME.pem|.key for a
  remote caller of the API (`firedrill serve --api-listen`), who is cn:NAME there
  (give that name a role: --operator cn:NAME). Keys are P-256 (default) or Ed25519,
  written with mode 0600.

OPTIONS)";

}  // namespace

int certs_main(int argc, char** argv) {
  namespace po = boost::program_options;
  std::string command, dir, key_type = "p256", id, name = "firedrill-controller";
  std::vector<std::string> sans;
  int days = 365;
  bool force = false;
  po::options_description desc(kCertsUsage);
  desc.add_options()
    ("help,h", "print this help")
    ("dir", po::value(&dir), "directory of the TLS material")
    ("key-type", po::value(&key_type), "p256 (default) or ed25519")
    ("days", po::value(&days), "validity in days (default 365)")
    ("id", po::value(&id), "agent id (agent), or the caller's name (client: cn:ID in --operator etc.)")
    ("name", po::value(&name), "controller common name (default firedrill-controller)")
    ("san", po::value(&sans)->composing(), "a DNS name or IP address the certificate is valid for (repeatable)")
    ("force", po::bool_switch(&force), "replace existing files")
    ("command", po::value(&command), "init, controller, agent or client");
  po::positional_options_description pos;
  pos.add("command", 1);
  po::variables_map vm;
  if (auto done = parse_verb_options(argc, argv, desc, vm, "firedrill certs", &pos)) return *done;
  auto fail = [](const std::string& what, int code = 1) {
    std::cerr << "firedrill certs: " << what << "\n";
    return code;
  };
  if (command.empty()) return fail("give a command: init, controller, agent or client (see --help)", 2);
  if (dir.empty()) return fail("--dir is required", 2);
  if (days <= 0 || days > 3650) return fail("--days must be in 1..3650", 2);
  auto type = parse_key_type(key_type);
  if (!type) return fail("--key-type: " + type.error().message, 2);

  if (command == "init") {
    auto ca = make_ca("firedrill CA", *type, days);
    if (!ca) return fail(ca.error().describe());
    if (auto r = write_pem(dir, "ca", *ca, force); !r) return fail(r.error().describe());
    std::cout << "wrote " << dir << "/ca.pem and " << dir << "/ca.key\n";
    return 0;
  }
  auto ca = read_pem(dir + "/ca.pem", dir + "/ca.key");
  if (!ca) return fail(ca.error().describe() + " (run `firedrill certs init --dir " + dir + "` first)");
  if (command == "controller") {
    auto pem = issue_cert(*ca, CertRole::kController, name, sans, *type, days);
    if (!pem) return fail(pem.error().describe());
    if (auto r = write_pem(dir, "controller", *pem, true); !r) return fail(r.error().describe());
    std::cout << "wrote " << dir << "/controller.pem and " << dir << "/controller.key\n";
    return 0;
  }
  // An agent's certificate names the agent; a client's names a caller of the remote
  // API (cn:ID in the controller's access settings). Both are client certificates.
  if (command == "agent" || command == "client") {
    if (id.empty()) return fail(command + " needs --id", 2);
    for (char c : id) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
        return fail("--id '" + id + "': an id holds letters, digits, '.', '_' and '-' only", 2);
      }
    }
    auto pem = issue_cert(*ca, CertRole::kAgent, id, sans, *type, days);
    if (!pem) return fail(pem.error().describe());
    std::string stem = command + "-" + id;
    if (auto r = write_pem(dir, stem, *pem, true); !r) return fail(r.error().describe());
    std::cout << "wrote " << dir << "/" << stem << ".pem and " << dir << "/" << stem << ".key\n";
    return 0;
  }
  return fail("unknown command '" + command + "' (init, controller, agent, client)", 2);
}

}  // namespace firedrill::controller
