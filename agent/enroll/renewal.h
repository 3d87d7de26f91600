// Renewal of an enrolled agent's certificate over its stream (agent.proto,
// CertificateRequest / CertificateIssued), without a restart.
//
// At two thirds of the certificate's life (from when it was written here, or its
// notBefore if later, to its notAfter) the agent makes a new key and asks for a
// certificate over the stream it has; the answer is checked against that key and the
// fleet CA and written beside the old files (agent.key.next, agent.pem.next), then
// renamed over them, key first. The live stream keeps the connection it has (the old
// certificate stays good until it expires); the next connection uses the new one.
// finish_renewal() completes a renaming that a crash cut in two, so that the key and
// the certificate on disk always belong together.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "agent/enroll/enroll.h"
#include "common/result.h"
#include "common/time.h"
#include "firedrill/v1/agent.pb.h"

namespace firedrill::agent {

Result<void> finish_renewal(const TlsFiles& files);

class CertificateRenewal {
 public:
  static Result<std::unique_ptr<CertificateRenewal>> open(const TlsFiles& files, const std::string& agent_id);

  // A CertificateRequest to send when the certificate is past two thirds of its life
  // and no request is waiting for its answer.
  std::optional<v1::AgentMessage> request_if_due(WallTime now);
  // The controller's answer, checked and written.
  Result<void> on_issued(const v1::CertificateIssued& issued);
  // A request the stream did not answer is asked again on the next one.
  void stream_ended();
  // Counts the certificates written: a connection made before a change uses the old one.
  uint64_t generation() const;
  WallTime not_after() const;

 private:
  CertificateRenewal(TlsFiles files, std::string id) : files_(std::move(files)), id_(std::move(id)) {}
  Result<void> read_current();

  TlsFiles files_;
  std::string id_;
  mutable std::mutex mu_;
  WallTime start_{}, not_after_{};
  std::optional<std::string> pending_key_;
  WallTime retry_at_{};
  uint64_t generation_ = 0;
};

}  // namespace firedrill::agent
