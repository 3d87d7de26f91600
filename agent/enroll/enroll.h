// `firedrill-agent enroll`: a host joins the fleet with a join token (common/join_token.h).
//
// The private key is made here and never leaves the host. Before anything is sent, the
// controller's TLS chain must hold the CA whose SHA-256 the token carries, and the
// controller's certificate must be signed by it; then a certificate request goes to
// the controller's enrollment port with the token, the agent id and the tags the agent
// will run with, and the certificate that comes back (common name: the id) is checked
// against the key and the CA before STATE_DIR/agent.key, agent.pem and ca.pem are
// written (0600). The agent then finds them there by default (agent_tls_files()).
#pragma once

#include <map>
#include <string>

#include "common/result.h"
#include "common/time.h"

namespace firedrill::agent {

struct EnrollRequestConfig {
  std::string controller;  // HOST:PORT of `serve --enroll-listen`
  std::string token;
  std::string id;
  std::map<std::string, std::string> tags;
  std::string state_dir;
  bool force = false;  // replace an existing certificate
};

struct Enrolled {
  std::string cert_path, key_path, ca_path;
  WallTime not_after;
  std::string serial;
};

Result<Enrolled> enroll(const EnrollRequestConfig& config);

// The certificate files of STATE_DIR an enrolled agent uses.
struct TlsFiles {
  std::string ca, cert, key;
};
TlsFiles agent_tls_files(const std::string& state_dir);

// A new key (P-256) and a certificate request for `common_name` signed by it, PEM.
struct KeyAndRequest {
  std::string key_pem, csr_pem;
};
Result<KeyAndRequest> new_key_and_request(const std::string& common_name);

// Checks that `cert_pem` is for `key_pem`, names `common_name`, and verifies against
// `ca_pem`; its notAfter.
Result<WallTime> check_issued(const std::string& cert_pem, const std::string& key_pem, const std::string& ca_pem,
                              const std::string& common_name);

// `firedrill-agent enroll ...`
int enroll_main(int argc, char** argv);

}  // namespace firedrill::agent
