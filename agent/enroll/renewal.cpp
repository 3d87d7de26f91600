#include "agent/enroll/renewal.h"

#include <openssl/pem.h>
#include <openssl/x509.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/join_token.h"
#include "common/log.h"
#include "common/read_file.h"
#include "common/output_file.h"

namespace firedrill::agent {
namespace {

auto log() {
  static auto l = logger("agent.enroll");
  return l;
}

Result<std::pair<WallTime, WallTime>> validity(const std::string& pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  std::unique_ptr<X509, decltype(&X509_free)> cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr), X509_free);
  if (!cert) return make_error("not a PEM certificate");
  tm b{}, a{};
  if (ASN1_TIME_to_tm(X509_get0_notBefore(cert.get()), &b) != 1 || ASN1_TIME_to_tm(X509_get0_notAfter(cert.get()), &a) != 1) {
    return make_error("the certificate's validity does not parse");
  }
  return std::pair{std::chrono::system_clock::from_time_t(timegm(&b)), std::chrono::system_clock::from_time_t(timegm(&a))};
}

std::string next(const std::string& path) { return path + ".next"; }

}  // namespace

Result<void> finish_renewal(const TlsFiles& files) {
  namespace fs = std::filesystem;
  std::error_code ec;
  bool key_next = fs::exists(next(files.key)), cert_next = fs::exists(next(files.cert));
  if (cert_next) {
    // Both were written whole before the first rename: finish what was begun.
    if (key_next) fs::rename(next(files.key), files.key, ec);
    if (ec) return make_error("finish the renewal: rename {}: {}", next(files.key), ec.message());
    fs::rename(next(files.cert), files.cert, ec);
    if (ec) return make_error("finish the renewal: rename {}: {}", next(files.cert), ec.message());
    log()->warn("a certificate renewal cut short was finished: {} and {} are the renewed ones", files.cert, files.key);
  } else if (key_next) {
    fs::remove(next(files.key), ec);  // a key whose certificate never came
  }
  return ok();
}

Result<std::unique_ptr<CertificateRenewal>> CertificateRenewal::open(const TlsFiles& files, const std::string& agent_id) {
  std::unique_ptr<CertificateRenewal> r(new CertificateRenewal(files, agent_id));
  FD_TRY(r->read_current(), "certificate renewal");
  return r;
}

Result<void> CertificateRenewal::read_current() {
  FD_ASSIGN(pem, read_whole_file(files_.cert, "read"), "certificate");
  FD_ASSIGN(v, validity(pem), "{}", files_.cert);
  std::error_code ec;
  auto written = std::filesystem::last_write_time(files_.cert, ec);
  WallTime start = v.first;
  if (!ec) {
    auto mtime = std::chrono::file_clock::to_sys(written);
    // Certificates are valid from a while before they are issued (clock skew): the
    // life that counts starts when this host got it.
    start = std::max(start, std::chrono::time_point_cast<WallTime::duration>(mtime));
  }
  std::lock_guard lock(mu_);
  start_ = start;
  not_after_ = v.second;
  return ok();
}

std::optional<v1::AgentMessage> CertificateRenewal::request_if_due(WallTime now) {
  std::lock_guard lock(mu_);
  if (pending_key_ || now < retry_at_) return std::nullopt;
  if (now < start_ + (not_after_ - start_) * 2 / 3) return std::nullopt;
  auto kr = new_key_and_request(id_);
  if (!kr) {
    log()->error("certificate renewal: {}", kr.error().describe());
    retry_at_ = now + std::chrono::seconds(30);
    return std::nullopt;
  }
  pending_key_ = kr->key_pem;
  v1::AgentMessage m;
  m.mutable_certificate_request()->set_csr_pem(kr->csr_pem);
  log()->info("certificate renewal: asking the controller (the certificate expires {})", format_utc(not_after_));
  return m;
}

Result<void> CertificateRenewal::on_issued(const v1::CertificateIssued& issued) {
  std::unique_lock lock(mu_);
  if (!pending_key_) return make_error("certificate renewal: an answer to no request");
  std::string key = std::move(*pending_key_);
  pending_key_.reset();
  auto now = WallClock::now();
  if (!issued.error().empty()) {
    // Asked again later, well before the certificate expires.
    retry_at_ = now + std::max<WallClock::duration>(std::chrono::seconds(10), (not_after_ - start_) / 20);
    return make_error("certificate renewal refused by the controller: {}", issued.error());
  }
  FD_ASSIGN(ca, read_whole_file(files_.ca, "read"), "certificate renewal: the fleet CA");
  FD_ASSIGN(ours, certificate_sha256(ca), "certificate renewal: {}", files_.ca);
  FD_ASSIGN(theirs, certificate_sha256(issued.ca_pem()), "certificate renewal: the CA sent");
  if (ours != theirs) return make_error("certificate renewal: the controller sent the CA {}, not ours ({})", theirs, ours);
  FD_ASSIGN(not_after, check_issued(issued.certificate_pem(), key, ca, id_), "certificate renewal");
  FD_TRY(write_output_file(next(files_.key), key, 0600), "certificate renewal");
  FD_TRY(write_output_file(next(files_.cert), issued.certificate_pem(), 0600), "certificate renewal");
  FD_TRY(finish_renewal(files_), "certificate renewal");
  start_ = now;
  not_after_ = not_after;
  ++generation_;
  log()->info("certificate renewed: {} until {} (the next connection uses it)", files_.cert, format_utc(not_after));
  return ok();
}

void CertificateRenewal::stream_ended() {
  std::lock_guard lock(mu_);
  pending_key_.reset();
}

uint64_t CertificateRenewal::generation() const {
  std::lock_guard lock(mu_);
  return generation_;
}

WallTime CertificateRenewal::not_after() const {
  std::lock_guard lock(mu_);
  return not_after_;
}

}  // namespace firedrill::agent
