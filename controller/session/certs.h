// The fleet's mutual TLS material, made with OpenSSL's C API: one CA, a controller
// certificate (server and client auth, with the names and addresses agents dial) and
// one certificate per agent whose common name is the agent id (the controller accepts
// exactly that id on a stream that presents it).
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/time.h"

namespace firedrill::controller {

enum class KeyType { kP256, kEd25519 };

Result<KeyType> parse_key_type(std::string_view text);  // "p256" or "ed25519"

struct Pem {
  std::string cert;  // PEM certificate
  std::string key;   // PEM private key (PKCS#8)
};

enum class CertRole { kController, kAgent };

// A new self-signed CA.
Result<Pem> make_ca(const std::string& name, KeyType type, int days);

// A leaf certificate signed by `ca`. `sans` are DNS names or IP addresses (told apart
// by parsing); the controller's also gets "localhost" and 127.0.0.1 when none is given.
Result<Pem> issue_cert(const Pem& ca, CertRole role, const std::string& common_name,
                       const std::vector<std::string>& sans, KeyType type, int days);

// An agent's certificate for `cn` over the public key of a PEM certificate request
// (PKCS#10: its signature is checked, proving the requester holds the key; the
// subject it asks for is ignored), valid for `lifetime`: what enrollment and renewal
// hand out. The private key never reaches the signer.
struct IssuedCert {
  std::string pem;
  std::string serial_hex;
  WallTime not_after;
};
Result<IssuedCert> issue_for_request(const Pem& ca, const std::string& csr_pem, const std::string& cn,
                                     std::chrono::seconds lifetime);

// Files: DIR/ca.pem, DIR/ca.key; DIR/controller.pem|.key; DIR/agent-ID.pem|.key.
// Keys are written 0600. Refuses to overwrite an existing CA unless `force`.
Result<void> write_pem(const std::string& dir, const std::string& stem, const Pem& pem, bool force);
Result<Pem> read_pem(const std::string& cert_path, const std::string& key_path);

// Reads a whole file (TLS material, small).
Result<std::string> read_small_file(const std::string& path);

// The subject common name of a PEM certificate.
Result<std::string> common_name(const std::string& cert_pem);

// `firedrill certs init|controller|agent ...`
int certs_main(int argc, char** argv);

}  // namespace firedrill::controller
