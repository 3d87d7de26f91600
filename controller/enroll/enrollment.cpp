#include "controller/enroll/enrollment.h"

#include <grpcpp/grpcpp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <fmt/ranges.h>

#include "common/join_token.h"
#include "common/log.h"
#include "controller/session/agent_streams.h"

namespace firedrill::controller {
namespace {

auto log() {
  static auto l = logger("controller.enroll");
  return l;
}

// Whether `key_pem` is the private key of the certificate `cert_pem`.
Result<void> key_matches(const std::string& cert_pem, const std::string& key_pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> cb(BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size())), BIO_free);
  std::unique_ptr<X509, decltype(&X509_free)> cert(PEM_read_bio_X509(cb.get(), nullptr, nullptr, nullptr), X509_free);
  if (!cert) return make_error("not a PEM certificate");
  std::unique_ptr<BIO, decltype(&BIO_free)> kb(BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())), BIO_free);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, nullptr),
                                                         EVP_PKEY_free);
  if (!key) return make_error("not a PEM private key");
  if (X509_check_private_key(cert.get(), key.get()) != 1) return make_error("it is not the key of the CA certificate");
  return ok();
}

}  // namespace

Result<std::unique_ptr<Enrollment>> Enrollment::open(const EnrollmentConfig& config, Store& store,
                                                     Revocations& revocations, EnrolledTags& enrolled) {
  if (config.cert_lifetime < std::chrono::minutes(1) || config.cert_lifetime > std::chrono::days(3650)) {
    return make_error("the certificate lifetime must be within 1m..3650d");
  }
  std::unique_ptr<Enrollment> e(new Enrollment(config, store, revocations, enrolled));
  FD_ASSIGN(rows, store.agent_revocations(), "revoked agents");
  revocations.load(rows);
  FD_ASSIGN(enrollments, store.agent_enrollments(), "enrolled agents");
  enrolled.load(enrollments);
  if (config.ca_cert_path.empty()) return e;  // --insecure: nothing to sign for
  FD_ASSIGN(ca, read_small_file(config.ca_cert_path), "--tls-ca");
  e->ca_.cert = ca;
  FD_ASSIGN(hash, certificate_sha256(ca), "--tls-ca {}", config.ca_cert_path);
  e->ca_sha256_ = hash;
  if (!config.ca_key_path.empty()) {
    FD_ASSIGN(key, read_small_file(config.ca_key_path), "--ca-key");
    FD_TRY(key_matches(ca, key), "--ca-key {}", config.ca_key_path);
    e->ca_.key = key;
  }
  return e;
}

Error Enrollment::no_key() const {
  return make_error("this controller holds no CA key, so it signs no certificates: start it with --ca-key FILE (the "
                    "key of --tls-ca; enroll.ca_key in controller.yaml), or make agent certificates with `firedrill "
                    "certs agent` where the key is");
}

Result<Enrollment::NewToken> Enrollment::create_token(std::chrono::seconds ttl, uint32_t uses,
                                                      const std::map<std::string, std::string>& tags,
                                                      const std::string& by) {
  if (ca_sha256_.empty()) return make_error("this controller has no fleet CA (--tls-ca): nothing to enroll into");
  if (!can_sign()) return no_key();
  if (ttl < std::chrono::seconds(1) || ttl > std::chrono::days(365)) return make_error("--ttl must be within 1s..365d");
  if (uses > 100000) return make_error("--uses must be within 1..100000");
  FD_ASSIGN(token, new_join_token(ca_sha256_), "join token");
  auto now = WallClock::now();
  JoinTokenRow row{token.secret_sha256(), tags, uses == 0 ? 1u : uses, 0, now, now + ttl, by};
  FD_TRY(store_.put_join_token(row), "join token");
  log()->info("join token {} made by {}: {} use(s), expires {}{}", token.id(), by, row.uses_allowed,
              format_utc(row.expires_at), tags.empty() ? "" : ", tags " + format_tag_list(tags));
  return NewToken{token.text(), row};
}

Result<size_t> Enrollment::revoke_token(const std::string& id) {
  if (id.size() < 8) return make_error("a token id has at least 8 hex digits (`firedrill tokens list`)");
  FD_ASSIGN(n, store_.remove_join_tokens(id), "revoke join token {}", id);
  if (n == 0) return make_error("no join token has id {}", id);
  log()->info("join token {} revoked", id);
  return n;
}

Result<void> Enrollment::revoke_agent(const std::string& agent_id, const std::string& by, const std::string& reason) {
  FD_TRY(validate_agent_id(agent_id), "revoke");
  AgentRevocationRow row{agent_id, WallClock::now(), by, reason};
  FD_TRY(store_.revoke_agent(row), "revoke agent {}", agent_id);
  // The store keeps the first revocation; memory takes what it has.
  FD_ASSIGN(rows, store_.agent_revocations(), "revoke agent {}", agent_id);
  revocations_.load(rows);
  log()->warn("agent {} revoked by {}{}", agent_id, by, reason.empty() ? "" : ": " + reason);
  return ok();
}

std::optional<Refusal> Enrollment::enroll(const v1::EnrollRequest& req, const std::string& peer,
                                          v1::EnrollResponse* out) {
  auto refuse = [&](grpc::StatusCode code, std::string why) {
    log()->warn("enrollment from {} as '{}' refused: {}", peer, req.agent_id(), why);
    return Refusal{code, std::move(why)};
  };
  auto token = parse_join_token(req.token());
  if (!token) return refuse(grpc::StatusCode::INVALID_ARGUMENT, token.error().message);
  if (auto v = validate_agent_id(req.agent_id()); !v) return refuse(grpc::StatusCode::INVALID_ARGUMENT, v.error().message);
  if (token->ca_sha256 != ca_sha256_) {
    return refuse(grpc::StatusCode::PERMISSION_DENIED,
                  fmt::format("the token is for the CA of SHA-256 {}, and this controller's CA is {}", token->ca_sha256,
                              ca_sha256_));
  }
  if (auto r = revocations_.find(req.agent_id())) {
    return refuse(grpc::StatusCode::PERMISSION_DENIED, revocations_.refusal(*r));
  }
  if (!can_sign()) return refuse(grpc::StatusCode::FAILED_PRECONDITION, no_key().message);
  auto hash = token->secret_sha256();
  auto row = store_.join_token(hash);
  if (!row) return refuse(grpc::StatusCode::UNAVAILABLE, row.error().describe());
  auto now = WallClock::now();
  if (!row->has_value()) {
    return refuse(grpc::StatusCode::PERMISSION_DENIED,
                  fmt::format("join token {} is unknown here (never made, or revoked)", token->id()));
  }
  const JoinTokenRow& t = **row;
  if (t.expires_at <= now) {
    return refuse(grpc::StatusCode::PERMISSION_DENIED,
                  fmt::format("join token {} expired at {}", token->id(), format_utc(t.expires_at)));
  }
  if (t.uses >= t.uses_allowed) {
    return refuse(grpc::StatusCode::PERMISSION_DENIED,
                  fmt::format("join token {} is used up ({} of {} use(s))", token->id(), t.uses, t.uses_allowed));
  }
  std::map<std::string, std::string> claimed(req.tags().begin(), req.tags().end());
  if (auto misfit = tags_not_fitting(t.tags, claimed); !misfit.empty()) {
    return refuse(grpc::StatusCode::PERMISSION_DENIED,
                  fmt::format("join token {} is for tags {}; not met: {}", token->id(), format_tag_list(t.tags),
                              fmt::join(misfit, "; ")));
  }
  auto cert = issue_for_request(ca_, req.csr_pem(), req.agent_id(), config_.cert_lifetime);
  if (!cert) return refuse(grpc::StatusCode::INVALID_ARGUMENT, cert.error().describe());
  // The use is taken after the request proved good, atomically: two hosts racing for
  // the last use of a token cannot both have it.
  auto used = store_.use_join_token(hash, now);
  if (!used) return refuse(grpc::StatusCode::UNAVAILABLE, used.error().describe());
  if (!*used) {
    return refuse(grpc::StatusCode::PERMISSION_DENIED,
                  fmt::format("join token {} was used up or expired meanwhile", token->id()));
  }
  // Recorded before the certificate is handed out: an agent never holds one whose tags
  // the controller would not hold it to.
  AgentEnrollmentRow enrolled{req.agent_id(), t.tags, token->id(), now};
  if (auto put = store_.put_agent_enrollment(enrolled); !put) {
    return refuse(grpc::StatusCode::UNAVAILABLE, put.error().describe());
  }
  enrolled_.put(enrolled);
  out->set_certificate_pem(cert->pem);
  out->set_ca_pem(ca_.cert);
  *out->mutable_not_after() = to_proto(cert->not_after);
  out->set_serial(cert->serial_hex);
  log()->info("agent {} enrolled from {} with join token {} ({} of {} use(s)): certificate {} until {}", req.agent_id(),
              peer, token->id(), t.uses + 1, t.uses_allowed, cert->serial_hex, format_utc(cert->not_after));
  return std::nullopt;
}

Result<IssuedCert> Enrollment::renew(const std::string& agent_id, const std::string& csr_pem) {
  if (auto r = revocations_.find(agent_id)) return make_error("{}", revocations_.refusal(*r));
  if (!can_sign()) return no_key();
  FD_ASSIGN(cert, issue_for_request(ca_, csr_pem, agent_id, config_.cert_lifetime), "renewal of {}", agent_id);
  log()->info("agent {}: certificate renewed, {} until {}", agent_id, cert.serial_hex, format_utc(cert.not_after));
  return cert;
}

v1::CertificateIssued Enrollment::renew_message(const std::string& agent_id, const std::string& csr_pem) {
  v1::CertificateIssued out;
  auto cert = renew(agent_id, csr_pem);
  if (!cert) {
    out.set_error(cert.error().describe());
    return out;
  }
  out.set_certificate_pem(cert->pem);
  out.set_ca_pem(ca_.cert);
  *out.mutable_not_after() = to_proto(cert->not_after);
  return out;
}

}  // namespace firedrill::controller
