#include "agent/enroll/enroll.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include <boost/program_options.hpp>
#include <grpcpp/grpcpp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/cli.h"
#include "common/host_port.h"
#include "common/join_token.h"
#include "common/log.h"
#include "common/read_file.h"
#include "common/output_file.h"
#include "common/yaml/yaml_proto.h"
#include "firedrill/v1/config.pb.h"
#include "firedrill/v1/enroll.grpc.pb.h"

namespace firedrill::agent {
namespace {

template <typename T, void (*F)(T*)>
struct Deleter {
  void operator()(T* p) const { F(p); }
};
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;
using ReqPtr = std::unique_ptr<X509_REQ, Deleter<X509_REQ, X509_REQ_free>>;
using StorePtr = std::unique_ptr<X509_STORE, Deleter<X509_STORE, X509_STORE_free>>;
using StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, Deleter<X509_STORE_CTX, X509_STORE_CTX_free>>;
using SslCtxPtr = std::unique_ptr<SSL_CTX, Deleter<SSL_CTX, SSL_CTX_free>>;
using SslPtr = std::unique_ptr<SSL, Deleter<SSL, SSL_free>>;

constexpr auto kTimeout = std::chrono::seconds(15);

std::string ssl_reason() {
  unsigned long e = ERR_get_error();
  char buf[256] = "unknown OpenSSL error";
  if (e) ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

Result<std::string> pem_of(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!PEM_write_bio_X509(bio.get(), cert)) return make_error("write certificate: {}", ssl_reason());
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

Result<X509Ptr> parse_cert(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  X509Ptr x(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!x) return make_error("not a PEM certificate: {}", ssl_reason());
  return x;
}

std::string digest_hex(X509* cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  X509_digest(cert, EVP_sha256(), md, &n);
  static const char* d = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < n; ++i) {
    out += d[md[i] >> 4];
    out += d[md[i] & 15];
  }
  return out;
}

std::string subject_of(X509* cert) {
  char buf[256] = {};
  X509_NAME_oneline(X509_get_subject_name(cert), buf, sizeof buf);
  return buf;
}

// A TCP connection with send and receive timeouts (connect honours SO_SNDTIMEO).
Result<int> dial(const std::string& host, const std::string& port) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rc != 0) {
    return make_error("cannot resolve {}: {}", host, gai_strerror(rc));
  }
  std::string last = "no address";
  for (auto* p = res; p; p = p->ai_next) {
    int fd = ::socket(p->ai_family, p->ai_socktype | SOCK_CLOEXEC, p->ai_protocol);
    if (fd < 0) continue;
    timeval tv{static_cast<time_t>(kTimeout.count()), 0};
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (::connect(fd, p->ai_addr, p->ai_addrlen) == 0) {
      ::freeaddrinfo(res);
      return fd;
    }
    last = std::strerror(errno);
    ::close(fd);
  }
  ::freeaddrinfo(res);
  return make_error("cannot connect to {}:{}: {}", host, port, last);
}

// The certificate chain the controller presents, leaf first, as it is: nothing is
// trusted yet (the token's CA hash decides what is).
Result<std::vector<X509Ptr>> presented_chain(const std::string& host, const std::string& port) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) return make_error("TLS: {}", ssl_reason());
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  static const unsigned char kAlpn[] = {2, 'h', '2'};
  SSL_CTX_set_alpn_protos(ctx.get(), kAlpn, sizeof kAlpn);
  FD_ASSIGN(fd, dial(host, port), "controller");
  SslPtr ssl(SSL_new(ctx.get()));
  SSL_set_fd(ssl.get(), fd);
  unsigned char ip[16];
  if (inet_pton(AF_INET, host.c_str(), ip) != 1 && inet_pton(AF_INET6, host.c_str(), ip) != 1) {
    SSL_set_tlsext_host_name(ssl.get(), host.c_str());
  }
  int rc = SSL_connect(ssl.get());
  std::vector<X509Ptr> out;
  if (rc == 1) {
    if (STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl.get())) {
      for (int i = 0; i < sk_X509_num(chain); ++i) {
        X509* c = sk_X509_value(chain, i);
        X509_up_ref(c);
        out.emplace_back(c);
      }
    }
    SSL_shutdown(ssl.get());
  }
  std::string why = rc == 1 ? "" : ssl_reason();
  ::close(fd);
  if (rc != 1) return make_error("TLS handshake with {}:{} failed: {}", host, port, why);
  if (out.empty()) return make_error("{}:{} presented no certificate", host, port);
  return out;
}

// The CA of the chain whose SHA-256 is `expected`, after checking that the chain's
// leaf is signed by it. The error names the hash expected and the ones seen.
Result<std::string> trusted_ca(const std::vector<X509Ptr>& chain, const std::string& expected,
                               const std::string& where) {
  X509* ca = nullptr;
  std::string seen;
  for (auto& c : chain) {
    auto h = digest_hex(c.get());
    if (h == expected) ca = c.get();
    seen += fmt::format("{}{} ({})", seen.empty() ? "" : ", ", h, subject_of(c.get()));
  }
  if (!ca) {
    return make_error("the controller at {} is not of the fleet this token is for: the token expects the CA of SHA-256 "
                      "{}, and the controller's certificate chain holds {}",
                      where, expected, seen);
  }
  StorePtr store(X509_STORE_new());
  X509_STORE_add_cert(store.get(), ca);
  StoreCtxPtr ctx(X509_STORE_CTX_new());
  struct StackFree {
    void operator()(STACK_OF(X509) * s) const { sk_X509_free(s); }  // the certificates stay the chain's
  };
  std::unique_ptr<STACK_OF(X509), StackFree> untrusted(sk_X509_new_null());
  for (size_t i = 1; i < chain.size(); ++i) sk_X509_push(untrusted.get(), chain[i].get());
  X509_STORE_CTX_init(ctx.get(), store.get(), chain.front().get(), untrusted.get());
  if (X509_verify_cert(ctx.get()) != 1) {
    return make_error("the controller at {} presents the CA of SHA-256 {}, but its certificate ({}) does not verify "
                      "against it: {}",
                      where, expected, subject_of(chain.front().get()),
                      X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get())));
  }
  return pem_of(ca);
}

Result<void> add_tags_file(const std::string& path, std::map<std::string, std::string>* tags) {
  FD_ASSIGN(text, read_whole_file(path, "--tags-file"), "tags");
  std::istringstream in(text);
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.empty() || line[0] == '#') continue;
    auto kv = parse_tag_list(line);
    if (!kv || kv->size() != 1) return make_error("{}:{}: expected one key=value", path, n);
    (*tags)[kv->begin()->first] = kv->begin()->second;
  }
  return ok();
}

}  // namespace

TlsFiles agent_tls_files(const std::string& state_dir) {
  return {state_dir + "/ca.pem", state_dir + "/agent.pem", state_dir + "/agent.key"};
}

Result<KeyAndRequest> new_key_and_request(const std::string& cn) {
  PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!key) return make_error("generate key: {}", ssl_reason());
  ReqPtr req(X509_REQ_new());
  X509_REQ_set_version(req.get(), 0);
  X509_NAME* name = X509_REQ_get_subject_name(req.get());
  if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1,
                                  0)) {
    return make_error("certificate request for '{}': {}", cn, ssl_reason());
  }
  if (!X509_REQ_set_pubkey(req.get(), key.get()) || !X509_REQ_sign(req.get(), key.get(), EVP_sha256())) {
    return make_error("sign the certificate request: {}", ssl_reason());
  }
  KeyAndRequest out;
  BioPtr kb(BIO_new(BIO_s_mem())), rb(BIO_new(BIO_s_mem()));
  if (!PEM_write_bio_PrivateKey(kb.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) ||
      !PEM_write_bio_X509_REQ(rb.get(), req.get())) {
    return make_error("write key and request: {}", ssl_reason());
  }
  char* data = nullptr;
  long n = BIO_get_mem_data(kb.get(), &data);
  out.key_pem.assign(data, static_cast<size_t>(n));
  n = BIO_get_mem_data(rb.get(), &data);
  out.csr_pem.assign(data, static_cast<size_t>(n));
  return out;
}

Result<WallTime> check_issued(const std::string& cert_pem, const std::string& key_pem, const std::string& ca_pem,
                              const std::string& cn) {
  FD_ASSIGN(cert, parse_cert(cert_pem), "the certificate the controller returned");
  FD_ASSIGN(ca, parse_cert(ca_pem), "the CA");
  BioPtr kb(BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())));
  PkeyPtr key(PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, nullptr));
  if (!key || X509_check_private_key(cert.get(), key.get()) != 1) {
    return make_error("the certificate the controller returned is not for this host's key");
  }
  char buf[256] = {};
  int n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert.get()), NID_commonName, buf, sizeof buf);
  if (n <= 0 || std::string(buf, static_cast<size_t>(n)) != cn) {
    return make_error("the certificate the controller returned names '{}', not '{}'", n > 0 ? buf : "", cn);
  }
  StorePtr store(X509_STORE_new());
  X509_STORE_add_cert(store.get(), ca.get());
  StoreCtxPtr ctx(X509_STORE_CTX_new());
  X509_STORE_CTX_init(ctx.get(), store.get(), cert.get(), nullptr);
  if (X509_verify_cert(ctx.get()) != 1) {
    return make_error("the certificate the controller returned does not verify against the fleet CA: {}",
                      X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get())));
  }
  tm t{};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert.get()), &t) != 1) return make_error("the certificate has no notAfter");
  return std::chrono::system_clock::from_time_t(timegm(&t));
}

Result<Enrolled> enroll(const EnrollRequestConfig& config) {
  FD_ASSIGN(token, parse_join_token(config.token), "--token");
  FD_ASSIGN(hp, split_host_port(config.controller, "--controller"), "enroll");
  auto files = agent_tls_files(config.state_dir);
  if (!config.force && std::filesystem::exists(files.cert)) {
    return make_error("{} exists: this host is enrolled already (--force to enroll again)", files.cert);
  }
  // Nothing is sent before the controller proved to be of the token's fleet.
  FD_ASSIGN(chain, presented_chain(hp.first, hp.second), "controller {}", config.controller);
  FD_ASSIGN(ca_pem, trusted_ca(chain, token.ca_sha256, config.controller), "refused");
  FD_ASSIGN(kr, new_key_and_request(config.id), "key");

  grpc::SslCredentialsOptions opts;
  opts.pem_root_certs = ca_pem;
  auto channel = grpc::CreateChannel(config.controller, grpc::SslCredentials(opts));
  auto stub = v1::EnrollService::NewStub(channel);
  v1::EnrollRequest req;
  req.set_token(config.token);
  req.set_agent_id(config.id);
  for (auto& [k, v] : config.tags) (*req.mutable_tags())[k] = v;
  req.set_csr_pem(kr.csr_pem);
  req.set_version(FIREDRILL_VERSION);
  v1::EnrollResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + kTimeout);
  auto status = stub->Enroll(&ctx, req, &resp);
  if (!status.ok()) return make_error("the controller at {} refused the enrollment: {}", config.controller, status.error_message());
  FD_ASSIGN(returned_ca, certificate_sha256(resp.ca_pem()), "the CA the controller returned");
  if (returned_ca != token.ca_sha256) {
    return make_error("the controller returned the CA of SHA-256 {}, not the token's {}", returned_ca, token.ca_sha256);
  }
  FD_ASSIGN(not_after, check_issued(resp.certificate_pem(), kr.key_pem, resp.ca_pem(), config.id), "refused");
  std::error_code ec;
  // A directory made here is the agent's alone, as its unit makes it.
  if (std::filesystem::create_directories(config.state_dir, ec)) {
    std::filesystem::permissions(config.state_dir, std::filesystem::perms::owner_all, ec);
  }
  if (ec) return make_error("state directory {}: {}", config.state_dir, ec.message());
  FD_TRY(write_output_file(files.key, kr.key_pem, 0600), "key");
  FD_TRY(write_output_file(files.cert, resp.certificate_pem(), 0600), "certificate");
  FD_TRY(write_output_file(files.ca, resp.ca_pem(), 0600), "CA");
  return Enrolled{files.cert, files.key, files.ca, not_after, resp.serial()};
}

namespace {

constexpr const char* kUsage = R"(firedrill-agent enroll - join the fleet with a join token

SYNOPSIS
  firedrill-agent enroll --controller HOST:PORT --token TOKEN [--id ID] [--tag K=V]...
                         [--config /etc/firedrill/agent.yaml] [--state-dir DIR] [--force|--if-needed]

DESCRIPTION
  Makes this host's private key (P-256; it never leaves the host), checks that the
  controller at HOST:PORT (its `serve --enroll-listen` port) presents the fleet CA
  whose SHA-256 the token carries and a certificate that CA signed (else it stops,
  naming the hash it expected and the ones it saw), and sends a certificate request
  with the token, the agent id and the tags the agent will run with. The certificate
  it gets back (common name: the id) and the CA are written with the key, mode 0600,
  to DIR/agent.pem, DIR/ca.pem and DIR/agent.key, where the agent finds them when no
  --tls-* is given. A token limited to tags binds the agent to them: the controller
  refuses the agent's stream while it claims tags that do not fit the token's, until
  it enrolls again (--force) with a token for its tags. The id, tags and state
  directory are read from --config (the agent's configuration file) when given; flags
  win. The token comes from `firedrill tokens create` on the controller (or
  $FIREDRILL_JOIN_TOKEN).

OPTIONS)";

}  // namespace

int enroll_main(int argc, char** argv) {
  namespace po = boost::program_options;
  EnrollRequestConfig c;
  std::string config_file, tags_file;
  std::vector<std::string> tags;
  bool if_needed = false;
  po::options_description desc(kUsage);
  desc.add_options()
    ("help,h", "print this help")
    ("controller", po::value(&c.controller), "the controller's enrollment address HOST:PORT (serve --enroll-listen)")
    ("token", po::value(&c.token), "the join token (default $FIREDRILL_JOIN_TOKEN)")
    ("id", po::value(&c.id), "agent id, unique in the fleet (default: --config's, else the hostname)")
    ("tag", po::value(&tags)->composing(), "a tag key=value the agent runs with (repeatable)")
    ("tags-file", po::value(&tags_file), "a file of key=value lines")
    ("config", po::value(&config_file), "the agent's configuration file: its id, tags and state_dir")
    ("state-dir", po::value(&c.state_dir), "where the key and certificates go (default /var/lib/firedrill-agent)")
    ("force", po::bool_switch(&c.force), "enroll again over an existing certificate")
    ("if-needed", po::bool_switch(&if_needed),
     "do nothing (exit 0) when the state directory holds a certificate already (an init container's rerun)");
  po::variables_map vm;
  if (auto done = parse_verb_options(argc, argv, desc, vm, "firedrill-agent enroll")) return *done;
  auto usage = [](const std::string& what) { return usage_error("firedrill-agent enroll", what); };
  init_logging({});
  std::map<std::string, std::string> all_tags;
  if (!config_file.empty()) {
    auto text = read_whole_file(config_file, "--config");
    if (!text) return usage(text.error().describe());
    YAML::Node root;
    auto diags = parse_yaml_document(*text, config_file, "agent configuration", &root);
    v1::AgentConfigFile file;
    SourceMap source;
    if (diags.empty()) diags = yaml_to_message(root, &file, config_file, &source);
    if (!diags.empty()) {
      std::string all;
      for (auto& d : diags) all += "\n" + d.to_string();
      return usage("--config" + all);
    }
    if (c.id.empty()) c.id = file.id();
    if (c.state_dir.empty()) c.state_dir = file.state_dir();
    for (auto& [k, v] : file.tags()) all_tags[k] = v;
    if (tags_file.empty()) tags_file = file.tags_file();
  }
  if (!tags_file.empty()) {
    if (auto r = add_tags_file(tags_file, &all_tags); !r) return usage(r.error().describe());
  }
  for (auto& t : tags) {
    auto kv = parse_tag_list(t);
    if (!kv || kv->size() != 1) return usage("--tag '" + t + "': expected key=value");
    all_tags[kv->begin()->first] = kv->begin()->second;
  }
  c.tags = all_tags;
  if (c.token.empty()) {
    if (const char* env = std::getenv("FIREDRILL_JOIN_TOKEN")) c.token = env;
  }
  if (c.controller.empty()) return usage("--controller HOST:PORT is required (the controller's --enroll-listen)");
  if (c.token.empty()) return usage("--token is required (firedrill tokens create, on the controller)");
  if (c.state_dir.empty()) c.state_dir = "/var/lib/firedrill-agent";
  if (c.id.empty()) {
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    c.id = host;
  }
  if (if_needed && !c.force && std::filesystem::exists(agent_tls_files(c.state_dir).cert)) {
    std::cout << "enrolled already: " << agent_tls_files(c.state_dir).cert << "\n";
    return 0;
  }
  auto done = enroll(c);
  if (!done) {
    std::cerr << "firedrill-agent enroll: " << done.error().describe() << "\n";
    return 1;
  }
  std::cout << fmt::format("enrolled as {}: certificate {} until {} in {} (key {}, CA {})\n", c.id, done->serial,
                           format_utc(done->not_after), done->cert_path, done->key_path, done->ca_path);
  return 0;
}

}  // namespace firedrill::agent
