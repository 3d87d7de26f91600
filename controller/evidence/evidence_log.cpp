#include "controller/evidence/evidence_log.h"

#include <thread>

#include "controller/evidence/chain.h"

namespace firedrill::evidence {

EvidenceLog::EvidenceLog(controller::EvidenceRecords& store, const SigningKey& key, std::string run_id, Clock clock)
    : store_(store), key_(key), run_id_(std::move(run_id)), clock_(std::move(clock)) {
  if (!clock_) clock_ = [] { return WallClock::now(); };
}

Result<std::unique_ptr<EvidenceLog>> EvidenceLog::create(controller::EvidenceRecords& store, const SigningKey& key,
                                                         std::string run_id, const RunCreated& created, Clock clock) {
  FD_TRY(check_run_id(run_id), "start evidence log");
  FD_ASSIGN(last, store.last_evidence_event(run_id), "start evidence log of run {}", run_id);
  if (last) return make_error("start evidence log: run {} already has {} events", run_id, last->seq);
  FD_TRY(store.put_public_key(key.fingerprint(), key.public_key().pem()), "start evidence log of run {}", run_id);
  std::unique_ptr<EvidenceLog> log(new EvidenceLog(store, key, std::move(run_id), std::move(clock)));
  std::lock_guard lock(log->mu_);
  FD_TRY(log->append_locked({PendingEvent::of(created)}), "start evidence log of run {}", log->run_id_);
  return log;
}

Result<std::vector<controller::StoredEvent>> read_verified_log(controller::EvidenceRecords& store, std::string_view run_id) {
  FD_ASSIGN(events, store.evidence_events(run_id), "run {}", run_id);
  if (events.empty()) return make_error("run '{}' has no evidence", run_id);
  std::string prev = kZeroHash;
  int64_t seq = 0;
  for (auto& e : events) {
    if (e.seq != ++seq || e.prev_hash != prev || sha256_hex(e.body) != e.hash) {
      return make_error("run {}: stored event {} does not chain (the store was edited)", run_id, e.seq);
    }
    prev = e.hash;
  }
  const controller::StoredEvent& head = events.back();
  FD_ASSIGN(pem, store.public_key(head.key_fingerprint), "run {}", run_id);
  if (!pem) return make_error("run {}: the store lacks public key {} of its head", run_id, head.key_fingerprint);
  FD_ASSIGN(pub, PublicKey::from_pem(*pem, head.key_fingerprint), "run {}", run_id);
  FD_ASSIGN(seal, canonical(make_seal(run_id, head.seq, head.hash, head.key_fingerprint)), "run {}", run_id);
  auto sig = base64_decode(head.head_signature);
  if (pub.fingerprint() != head.key_fingerprint || !sig || !pub.verify(seal, *sig)) {
    return make_error("run {}: the signature of its head (event {}) does not verify with key {}", run_id, head.seq,
                      head.key_fingerprint);
  }
  return events;
}

Result<std::unique_ptr<EvidenceLog>> EvidenceLog::resume(controller::EvidenceRecords& store, const SigningKey& key,
                                                         std::string run_id, Clock clock) {
  FD_ASSIGN(events, read_verified_log(store, run_id), "resume evidence log");
  FD_TRY(store.put_public_key(key.fingerprint(), key.public_key().pem()), "resume evidence log of run {}", run_id);
  std::unique_ptr<EvidenceLog> log(new EvidenceLog(store, key, std::move(run_id), std::move(clock)));
  log->count_ = events.back().seq;
  log->head_ = events.back().hash;
  log->closed_ = events.back().kind == to_string(EventKind::kVerdict);
  return log;
}

Result<AppendedEvent> EvidenceLog::append_json(EventKind kind, const Json& data) {
  std::lock_guard lock(mu_);
  return append_locked({PendingEvent{kind, data}});
}

Result<AppendedEvent> EvidenceLog::append_all(const std::vector<PendingEvent>& events) {
  if (events.empty()) return make_error("run {}: nothing to record", run_id_);
  std::lock_guard lock(mu_);
  return append_locked(events);
}

Result<AppendedEvent> EvidenceLog::append_locked(const std::vector<PendingEvent>& events) {
  std::vector<controller::StoredEvent> rows;
  int64_t seq = count_;
  std::string head = head_;
  bool closed = closed_;
  for (const auto& ev : events) {
    std::string_view kind_name = to_string(ev.kind);
    if (closed) return make_error("run {}: cannot record {} after the verdict", run_id_, kind_name);
    if (ev.kind == EventKind::kRunCreated && seq != 0) {
      return make_error("run {}: run_created may only be the first event", run_id_);
    }
    if (ev.kind != EventKind::kRunCreated && seq == 0) {
      return make_error("run {}: the first event must be run_created, not {}", run_id_, kind_name);
    }
    if (!ev.data.is_object()) return make_error("run {}: {} data is not a JSON object", run_id_, kind_name);
    ++seq;
    WallTime now = clock_();
    std::string at = format_time(now);
    Json data = ev.data;
    utf8_clean_strings(data);
    FD_ASSIGN(body, canonical(make_envelope(run_id_, seq, kind_name, at, data, head)), "run {}: record {}", run_id_,
              kind_name);
    std::string hash = sha256_hex(body);
    rows.push_back(controller::StoredEvent{run_id_, seq, std::string(kind_name), at, to_unix_micros(now), body, head, hash,
                                          "", key_.fingerprint()});
    head = hash;
    closed = ev.kind == EventKind::kVerdict;
  }
  FD_ASSIGN(seal_bytes, canonical(make_seal(run_id_, seq, head, key_.fingerprint())), "run {}: seal", run_id_);
  FD_ASSIGN(signature, key_.sign(seal_bytes), "run {}: seal", run_id_);
  rows.back().head_signature = base64_encode(signature);
  // A busy database (another writer, a checkpoint) is waited out: the same rows are
  // offered again, a few times with a growing pause, before the append fails.
  Result<void> stored = store_.append_evidence(rows);
  for (int attempt = 0; !stored && attempt < kAppendRetries; ++attempt) {
    std::this_thread::sleep_for(kAppendBackoff * (1 << attempt));
    stored = store_.append_evidence(rows);
  }
  FD_TRY(stored, "run {}: record {} (tried {} times)", run_id_, rows.back().kind, kAppendRetries + 1);
  count_ = seq;
  head_ = head;
  closed_ = closed;
  return AppendedEvent{seq, head};
}

std::string EvidenceLog::head() const {
  std::lock_guard lock(mu_);
  return head_;
}

int64_t EvidenceLog::count() const {
  std::lock_guard lock(mu_);
  return count_;
}

bool EvidenceLog::closed() const {
  std::lock_guard lock(mu_);
  return closed_;
}

}  // namespace firedrill::evidence
