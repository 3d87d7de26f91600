// Enrollment, the controller's side: join tokens (made for operators, kept hashed in
// the store), certificates signed for hosts that present one (`firedrill-agent
// enroll`), renewals over an agent's stream, and revoked agents. The controller signs
// with the fleet CA's key only when it is given one (`serve --ca-key`); without it,
// tokens and enrollment are refused saying so, and certificates are made with
// `firedrill certs` as before.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "controller/session/certs.h"
#include "controller/session/enrolled_tags.h"
#include "controller/session/revocations.h"
#include "controller/store/store.h"
#include "firedrill/v1/agent.pb.h"
#include "firedrill/v1/enroll.pb.h"

namespace firedrill::controller {

struct EnrollmentConfig {
  std::string ca_cert_path;  // the fleet CA (serve --tls-ca)
  std::string ca_key_path;   // its key (serve --ca-key); "": no signing here
  std::chrono::seconds cert_lifetime = std::chrono::days(30);
};

// Why a request was refused: a gRPC status code and a message for the agent.
struct Refusal {
  int code;
  std::string why;
};

class Enrollment {
 public:
  // Reads the CA (and its key, when given: it must be the CA's), the revoked agents and
  // the tags each enrolled agent's token was limited to.
  static Result<std::unique_ptr<Enrollment>> open(const EnrollmentConfig& config, Store& store,
                                                  Revocations& revocations, EnrolledTags& enrolled);

  const std::string& ca_sha256() const { return ca_sha256_; }
  bool can_sign() const { return !ca_.key.empty(); }
  std::chrono::seconds cert_lifetime() const { return config_.cert_lifetime; }

  struct NewToken {
    std::string token;  // shown once
    JoinTokenRow row;
  };
  Result<NewToken> create_token(std::chrono::seconds ttl, uint32_t uses, const std::map<std::string, std::string>& tags,
                                const std::string& by);
  Result<std::vector<JoinTokenRow>> tokens() { return store_.join_tokens(); }
  Result<size_t> revoke_token(const std::string& id);

  // Recorded in the store first, then refused at once.
  Result<void> revoke_agent(const std::string& agent_id, const std::string& by, const std::string& reason);
  std::optional<AgentRevocationRow> revoked(const std::string& agent_id) const { return revocations_.find(agent_id); }

  // A host joining with a token. `peer` is for the log. The token's tags are recorded
  // for the agent's id (replacing those of an earlier enrollment) and held to at every
  // Hello of its stream.
  std::optional<Refusal> enroll(const v1::EnrollRequest& request, const std::string& peer, v1::EnrollResponse* out);
  // A connected agent's new certificate (its stream's identity is `agent_id`).
  Result<IssuedCert> renew(const std::string& agent_id, const std::string& csr_pem);
  // The same as the stream's answer (CertificateIssued, its error set when refused).
  v1::CertificateIssued renew_message(const std::string& agent_id, const std::string& csr_pem);

 private:
  Enrollment(EnrollmentConfig config, Store& store, Revocations& revocations, EnrolledTags& enrolled)
      : config_(std::move(config)), store_(store), revocations_(revocations), enrolled_(enrolled) {}
  Error no_key() const;

  EnrollmentConfig config_;
  Store& store_;
  Revocations& revocations_;
  EnrolledTags& enrolled_;
  Pem ca_;  // key "" without --ca-key
  std::string ca_sha256_;
};

}  // namespace firedrill::controller
