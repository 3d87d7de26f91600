// `firedrill web login` and `firedrill certs user`: the two ways a person gets into the
// dashboard (controller/web): a login link asked from the daemon (WebService, admins
// only), or a client certificate of the fleet's CA made from the CA's files.
#include <unistd.h>

#include <iostream>
#include <memory>

#include <boost/program_options.hpp>
#include <fmt/format.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>

#include "common/cli.h"
#include "common/output_file.h"
#include "common/time.h"
#include "controller/cli/client.h"
#include "controller/cli/run_cli.h"
#include "controller/cli/verbs.h"
#include "controller/session/certs.h"
#include "controller/web/web_auth.h"
#include "firedrill/v1/web.grpc.pb.h"

namespace firedrill::controller {
namespace po = boost::program_options;
namespace {

constexpr const char* kWebUsage = R"(firedrill web login - a one-time link into the dashboard

SYNOPSIS
  firedrill web login --as NAME [--ttl DURATION] [--host HOST]

DESCRIPTION
  Prints a link to the controller's dashboard (firedrill serve --web-listen) that
  signs NAME in: the first browser to open it gets a session (12 hours) as cn:NAME,
  with the roles the controller's policy gives cn:NAME (--viewer, --operator,
  --approver, --admin cn:NAME). The link works once and only for --ttl (default 10m,
  at most 1h); the controller keeps only its SHA-256. Hand it over as you would a
  password. Admins only. Controllers that share a store (PostgreSQL) share the links:
  one made at any of them, a follower too, works once at any of them.

  The link names the dashboard's listen address; --host replaces its host (the name
  the controller's certificate carries, as browsers reach it).

OPTIONS)";

constexpr const char* kCertsUserUsage = R"(firedrill certs user - a person's client certificate for the dashboard

SYNOPSIS
  firedrill certs user --dir DIR --name NAME --role viewer|operator|approver|admin
                       [--days N] [--p12-password PASSWORD]

DESCRIPTION
  Makes DIR/user-NAME.pem and .key, signed by the fleet's CA (DIR/ca.pem, ca.key),
  whose common name is NAME, and DIR/user-NAME.p12 (the two in PKCS#12, to import into
  a browser). The dashboard and the remote API know its holder as cn:NAME. The role
  is not in the certificate: roles are the controller's policy, so the command prints
  the setting that gives cn:NAME the role (--ROLE cn:NAME); until the controller has
  it, the certificate signs in to nothing.

OPTIONS)";

int web_login(int argc, char** argv) {
  ClientOptions common;
  std::string as, ttl_text = "10m", host;
  po::options_description desc(kWebUsage);
  common.add(desc);
  desc.add_options()
    ("as", po::value(&as), "the person's name (required): they are cn:NAME")
    ("ttl", po::value(&ttl_text), "how long the link works, once (default 10m, at most 1h)")
    ("host", po::value(&host), "the host name in the link (default: the dashboard's listen address)");
  po::variables_map vm;
  if (int rc = parse_verb(argc, argv, desc, vm, "web login"); rc >= 0) return rc;
  if (auto r = web::check_person_name(as, "--as"); !r) return verb_usage_error("web login", r.error().message);
  auto ttl = parse_duration(ttl_text);
  if (!ttl) return verb_usage_error("web login", "--ttl: " + ttl.error().message);
  auto seconds = std::chrono::duration_cast<std::chrono::seconds>(*ttl);
  if (seconds < std::chrono::seconds(1) || seconds > web::kMaxLinkLifetime) {
    return verb_usage_error("web login", "--ttl must be within 1s..1h");
  }
  v1::CreateLoginLinkRequest req;
  req.set_as(as);
  req.set_ttl_seconds(static_cast<uint64_t>(seconds.count()));
  v1::CreateLoginLinkResponse resp;
  grpc::ClientContext ctx;
  deadline(ctx);
  if (auto st = v1::WebService::NewStub(api_channel(common.api))->CreateLoginLink(&ctx, req, &resp); !st.ok()) {
    return call_error("web login", st, common.api);
  }
  if (host.empty()) {
    auto colon = resp.listen().rfind(':');
    host = colon == std::string::npos ? resp.listen() : resp.listen().substr(0, colon);
    if (host.empty() || host == "0.0.0.0" || host == "[::]") {
      char name[256] = {};
      ::gethostname(name, sizeof name - 1);
      host = name;
    }
  }
  std::string url = fmt::format("https://{}:{}{}", host, resp.port(), resp.path());
  if (common.json) {
    std::cout << fmt::format(R"({{"url":"{}","identity":"{}","roles":"{}","expires_at":"{}"}})", url, resp.identity(),
                             resp.roles(), format_utc(from_proto(resp.expires_at())))
              << "\n";
    return 0;
  }
  std::cout << url << "\n";
  std::cerr << fmt::format("a link for {} ({}), for one use until {}\n", resp.identity(), resp.roles(),
                           format_utc(from_proto(resp.expires_at())));
  return 0;
}

// The certificate and key of `pem` as PKCS#12 (DER), under `password`.
Result<std::string> pkcs12_of(const Pem& pem, const std::string& name, const std::string& password) {
  std::unique_ptr<BIO, decltype(&BIO_free)> cb(BIO_new_mem_buf(pem.cert.data(), static_cast<int>(pem.cert.size())), BIO_free);
  std::unique_ptr<BIO, decltype(&BIO_free)> kb(BIO_new_mem_buf(pem.key.data(), static_cast<int>(pem.key.size())), BIO_free);
  std::unique_ptr<X509, decltype(&X509_free)> cert(PEM_read_bio_X509(cb.get(), nullptr, nullptr, nullptr), X509_free);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, nullptr),
                                                          EVP_PKEY_free);
  if (!cert || !key) return make_error("the new certificate or key cannot be read back");
  std::unique_ptr<PKCS12, decltype(&PKCS12_free)> p12(
      PKCS12_create(password.c_str(), name.c_str(), key.get(), cert.get(), nullptr, 0, 0, 0, 0, 0), PKCS12_free);
  if (!p12) return make_error("PKCS#12 of {}: OpenSSL refused to make it", name);
  unsigned char* der = nullptr;
  int n = i2d_PKCS12(p12.get(), &der);
  if (n <= 0) return make_error("PKCS#12 of {}: cannot encode it", name);
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(n));
  OPENSSL_free(der);
  return out;
}

int certs_user(int argc, char** argv) {
  std::string dir, name, role, password, key_type = "p256";
  int days = 365;
  po::options_description desc(kCertsUserUsage);
  desc.add_options()
    ("help,h", "print this help")
    ("dir", po::value(&dir), "directory of the fleet's CA (ca.pem, ca.key) and of the files written")
    ("name", po::value(&name), "the person's name (required): cn:NAME")
    ("role", po::value(&role), "viewer, operator, approver or admin (required): the policy setting to print")
    ("days", po::value(&days), "validity in days (default 365)")
    ("key-type", po::value(&key_type), "p256 (default) or ed25519 (browsers may refuse ed25519)")
    ("p12-password", po::value(&password), "the PKCS#12 file's password (default: none)");
  po::variables_map vm;
  if (auto done = parse_verb_options(argc, argv, desc, vm, "firedrill certs user")) return *done;
  auto usage = [](const std::string& what) { return usage_error("firedrill certs user", what); };
  if (dir.empty()) return usage("--dir is required");
  if (auto r = web::check_person_name(name, "--name"); !r) return usage(r.error().message);
  if (role != "viewer" && role != "operator" && role != "approver" && role != "admin") {
    return usage("--role '" + role + "': expected viewer, operator, approver or admin");
  }
  if (days <= 0 || days > 3650) return usage("--days must be in 1..3650");
  auto type = parse_key_type(key_type);
  if (!type) return usage("--key-type: " + type.error().message);
  auto ca = read_pem(dir + "/ca.pem", dir + "/ca.key");
  if (!ca) {
    std::cerr << "firedrill certs user: " << ca.error().describe() << " (run `firedrill certs init --dir " << dir
              << "` first)\n";
    return 1;
  }
  auto pem = issue_cert(*ca, CertRole::kAgent, name, {}, *type, days);
  auto p12 = pem ? pkcs12_of(*pem, name, password) : Result<std::string>(pem.error());
  std::string stem = "user-" + name;
  Result<void> written = p12 ? write_pem(dir, stem, *pem, true) : Result<void>(p12.error());
  if (written) written = write_output_file(dir + "/" + stem + ".p12", *p12, 0600);
  if (!written) {
    std::cerr << "firedrill certs user: " << written.error().describe() << "\n";
    return 1;
  }
  std::cout << fmt::format("wrote {0}/{1}.pem, {0}/{1}.key and {0}/{1}.p12 (import the .p12 into the browser)\n", dir, stem);
  std::cout << fmt::format("give it the role at the controller: firedrill serve --{0} cn:{1} (config file: access: {{{0}s: "
                           "[\"cn:{1}\"]}})\n",
                           role, name);
  return 0;
}

}  // namespace

int web_main(int argc, char** argv) {
  std::string sub = argc > 1 ? argv[1] : "";
  if (sub == "login") return web_login(argc - 1, argv + 1);
  if (sub == "-h" || sub == "--help") {
    std::cout << kWebUsage << "\n";
    return 0;
  }
  std::cerr << "firedrill web: give a command: login (see firedrill web login --help)\n";
  return 2;
}

int certs_verbs_main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "user") return certs_user(argc - 1, argv + 1);
  return certs_main(argc, argv);
}

}  // namespace firedrill::controller
