#include "controller/evidence/verify.h"

#include <map>
#include <set>

#include "controller/evidence/chain.h"
#include "controller/evidence/document.h"
#include "controller/evidence/html_report.h"
#include "controller/evidence/report_model.h"

namespace firedrill::evidence {

std::string_view to_string(Problem p) {
  switch (p) {
    case Problem::kTruncated: return "truncated";
    case Problem::kMalformed: return "malformed";
    case Problem::kChangedEvent: return "changed-event";
    case Problem::kRemovedEvent: return "removed-event";
    case Problem::kReorderedEvents: return "reordered-events";
    case Problem::kBrokenLink: return "broken-link";
    case Problem::kHeadMismatch: return "head-mismatch";
    case Problem::kBadSignature: return "bad-signature";
    case Problem::kWrongKey: return "wrong-key";
    case Problem::kVerdictChanged: return "verdict-changed";
    case Problem::kReportChanged: return "report-changed";
    case Problem::kPageChanged: return "page-changed";
    case Problem::kFindingChanged: return "finding-changed";
    case Problem::kFindingRemoved: return "finding-removed";
    case Problem::kFindingAdded: return "finding-added";
    case Problem::kSealedMetadata: return "sealed-metadata-changed";
  }
  return "unknown";
}

bool Pinned::trusts(std::string_view fingerprint) const {
  if (key_ && key_->fingerprint() == fingerprint) return true;
  return ring_ && ring_->find(fingerprint);
}

std::string Pinned::names() const {
  if (key_) return key_->fingerprint();
  return ring_ ? ring_->fingerprints() : "";
}

bool Verification::has(Problem p) const {
  for (auto& i : issues) {
    if (i.problem == p) return true;
  }
  return false;
}

namespace {

std::string short_hash(const std::string& h) { return h.size() > 16 ? h.substr(0, 16) + "…" : h; }

std::string text_of(const Json& j) {
  if (j.is_string()) return "'" + j.get<std::string>() + "'";
  std::string s = j.dump();
  return s.size() > 80 ? s.substr(0, 77) + "..." : s;
}

// Every path where two JSON values differ, at most `limit`.
void diff(const Json& want, const Json& have, const std::string& path, std::vector<std::string>& out, size_t limit) {
  if (out.size() >= limit) return;
  if (want.type() != have.type() && !(want.is_number() && have.is_number())) {
    out.push_back(path.empty() ? "/" : path);
    return;
  }
  if (want.is_object()) {
    std::set<std::string> keys;
    for (auto it = want.begin(); it != want.end(); ++it) keys.insert(it.key());
    for (auto it = have.begin(); it != have.end(); ++it) keys.insert(it.key());
    for (auto& k : keys) {
      if (!want.contains(k) || !have.contains(k)) out.push_back(path + "/" + k);
      else diff(want[k], have[k], path + "/" + k, out, limit);
      if (out.size() >= limit) return;
    }
  } else if (want.is_array()) {
    if (want.size() != have.size()) {
      out.push_back(fmt::format("{} (has {} entries, the events give {})", path, have.size(), want.size()));
      return;
    }
    for (size_t i = 0; i < want.size(); ++i) diff(want[i], have[i], path + "/" + std::to_string(i), out, limit);
  } else if (want != have) {
    out.push_back(path);
  }
}

Json at_path(const Json& root, const std::string& path) {
  try {
    return root.at(Json::json_pointer(path));
  } catch (...) {
    return Json();
  }
}

void check_chain(const Json& ev, const std::string& run, Verification& v) {
  const Json& events = ev["events"];
  auto add = [&](Problem p, std::string msg) { v.issues.push_back(Issue{p, std::move(msg)}); };
  std::set<size_t> explained;  // positions whose broken link an ordering problem explains
  int64_t expect = 1;
  std::string prev_hash = kZeroHash;
  for (size_t i = 0; i < events.size(); ++i) {
    const Json& e = events[i];
    if (!e.is_object() || !e.contains("seq") || !e["seq"].is_number_integer() || !e.contains("hash")) {
      add(Problem::kMalformed, fmt::format("event at position {} is not a complete event record", i + 1));
      prev_hash = "";
      ++expect;
      continue;
    }
    int64_t seq = e["seq"].get<int64_t>();
    std::string kind = e.value("kind", "?");
    std::string stored = e["hash"].is_string() ? e["hash"].get<std::string>() : "";
    if (seq != expect) {
      bool swapped = i + 1 < events.size() && events[i + 1].is_object() &&
                     events[i + 1].value("seq", int64_t{-1}) == expect && seq == expect + 1;
      if (swapped) {
        add(Problem::kReorderedEvents, fmt::format("events {} and {} are swapped: event {} ({}) stands before event {} ({})",
                                                   expect, expect + 1, seq, kind, expect,
                                                   events[i + 1].value("kind", "?")));
        explained.insert(i);
        explained.insert(i + 1);
        explained.insert(i + 2);
      } else if (seq > expect) {
        add(Problem::kRemovedEvent,
            seq == expect + 1
                ? fmt::format("event {} was removed: the log goes from event {} to event {}", expect, expect - 1, seq)
                : fmt::format("events {} to {} were removed: the log goes from event {} to event {}", expect, seq - 1,
                              expect - 1, seq));
        explained.insert(i);
        expect = seq;
      } else if (!explained.count(i)) {
        add(Problem::kReorderedEvents,
            fmt::format("event {} ({}) is out of order: it stands after event {}", seq, kind, expect - 1));
        explained.insert(i);
        explained.insert(i + 1);
      }
    }
    if (e.value("run", "") != run) {
      add(Problem::kChangedEvent, fmt::format("event {} ({}) belongs to run '{}', not to run '{}'", seq, kind,
                                              e.value("run", ""), run));
    }
    auto h = envelope_hash(e);
    if (!h || *h != stored) {
      add(Problem::kChangedEvent,
          fmt::format("event {} ({}) was changed: its content does not match its hash {}{}", seq, kind,
                      short_hash(stored), kind == "verdict" ? " (the verdict was changed)" : ""));
    }
    std::string prev = e.value("prev", "");
    if (prev != prev_hash && !explained.count(i)) {
      if (i == 0) {
        add(Problem::kRemovedEvent,
            fmt::format("the chain does not start at its first event: event {} links to {} (events before it were removed)",
                        seq, short_hash(prev)));
      } else {
        int64_t before = events[i - 1].value("seq", int64_t{0});
        add(Problem::kBrokenLink,
            fmt::format("event {} ({}) does not link to event {} before it: event {} was changed and re-hashed, or "
                        "events between them were removed or moved",
                        seq, kind, before, before));
      }
    }
    // The chain continues from what this event says its hash is, so that one
    // changed event is named once, not again at every event after it.
    prev_hash = stored;
    expect = std::max(expect, seq + 1);
  }
}

// The signer of a seal or record against the pinned keys: an issue when it is not one
// of them, a note when nothing is pinned.
void check_signer(const std::string& what, const std::string& fingerprint, const Pinned& pinned, Verification& v) {
  if (!pinned.any()) return;
  if (!pinned.trusts(fingerprint)) {
    v.issues.push_back(Issue{Problem::kWrongKey, fmt::format("{} is signed by another key: {}, the pinned key{} {}",
                                                             what, fingerprint,
                                                             pinned.names().find(',') == std::string::npos ? " is" : "s are",
                                                             pinned.names())});
  }
}

void check_seal(const Json& ev, const std::string& run, const Pinned& pinned, Verification& v) {
  auto add = [&](Problem p, std::string msg) { v.issues.push_back(Issue{p, std::move(msg)}); };
  const Json& events = ev["events"];
  if (!ev.contains("seal") || !ev["seal"].is_object() || !ev["seal"].contains("statement")) {
    add(Problem::kMalformed, "the evidence has no seal (signed head)");
    return;
  }
  const Json& seal = ev["seal"];
  const Json& st = seal["statement"];
  int64_t sealed_events = st.value("events", int64_t{0});
  std::string sealed_head = st.value("head", "");
  std::string key_fpr = st.value("key", "");
  v.signer = key_fpr;
  v.head = sealed_head;
  if (st.value("type", "") != kSealType || st.value("run", "") != run) {
    add(Problem::kMalformed, fmt::format("the seal is not a firedrill seal of run '{}'", run));
  }
  int64_t have = static_cast<int64_t>(events.size());
  int64_t last_seq = have ? events.back().value("seq", int64_t{0}) : 0;
  std::string last_hash = have ? events.back().value("hash", "") : "";
  if (last_seq < sealed_events && !v.has(Problem::kRemovedEvent)) {
    add(Problem::kTruncated, fmt::format("truncated log: the signature covers {} events but the file ends at event {} "
                                         "(the last {} were removed)",
                                         sealed_events, last_seq, sealed_events - last_seq));
  } else if (last_seq > sealed_events) {
    add(Problem::kChangedEvent, fmt::format("events {} to {} were added after the signed head (event {})",
                                            sealed_events + 1, last_seq, sealed_events));
  } else if (last_hash != sealed_head && last_seq == sealed_events) {
    add(Problem::kHeadMismatch,
        fmt::format("the chain's head {} is not the signed head {}: events were changed and the chain rebuilt",
                    short_hash(last_hash), short_hash(sealed_head)));
  }
  auto pub = PublicKey::from_pem(seal.value("public_key", ""), "the seal's public key");
  if (!pub) {
    add(Problem::kBadSignature, pub.error().message);
    return;
  }
  if (pub->fingerprint() != key_fpr) {
    add(Problem::kBadSignature, fmt::format("the seal names key {} but carries key {}", key_fpr, pub->fingerprint()));
  }
  auto sig = base64_decode(seal.value("signature", ""));
  auto bytes = canonical(st);
  if (!sig || !bytes || !pub->verify(*bytes, *sig)) {
    add(Problem::kBadSignature, fmt::format("the seal's signature does not verify with key {}: the signed head, the "
                                            "seal or the signature was changed",
                                            pub->fingerprint()));
  } else {
    v.checked.push_back(fmt::format("seal: {} events, head {}, Ed25519 signature valid for key {}", sealed_events,
                                    short_hash(sealed_head), pub->fingerprint()));
  }
  if (pinned.any()) {
    size_t before = v.issues.size();
    check_signer("the evidence", pub->fingerprint(), pinned, v);
    if (v.issues.size() == before) v.checked.push_back("signer is a pinned key: " + pub->fingerprint());
  }
}

// A run continued at another controller after a takeover carries a seal for each
// earlier part: the last head its controller signed. Each must be a head of this chain,
// signed by the key it names, and (pinned) by a pinned key: every part's signer is.
void check_part_seals(const Json& ev, const std::string& run, const Pinned& pinned, Verification& v) {
  if (!ev.contains("part_seals")) return;
  auto add = [&](Problem p, std::string msg) { v.issues.push_back(Issue{p, std::move(msg)}); };
  const Json& parts = ev["part_seals"];
  if (!parts.is_array()) {
    add(Problem::kMalformed, "part_seals is not a list");
    return;
  }
  std::map<int64_t, std::string> hash_at;
  for (const auto& e : ev["events"]) {
    if (e.is_object()) hash_at[e.value("seq", int64_t{0})] = e.value("hash", "");
  }
  int64_t previous = 0;
  std::vector<std::string> signers;
  for (size_t i = 0; i < parts.size(); ++i) {
    const Json& part = parts[i];
    std::string what = fmt::format("part seal {}", i + 1);
    if (!part.is_object() || !part.contains("statement") || !part["statement"].is_object()) {
      add(Problem::kMalformed, what + " has no statement");
      continue;
    }
    const Json& st = part["statement"];
    int64_t upto = st.value("events", int64_t{0});
    std::string head = st.value("head", "");
    std::string key_fpr = st.value("key", "");
    if (st.value("type", "") != kSealType || st.value("run", "") != run) {
      add(Problem::kMalformed, fmt::format("{} is not a firedrill seal of run '{}'", what, run));
    }
    if (upto <= previous) add(Problem::kMalformed, fmt::format("{} (events 1..{}) is out of order", what, upto));
    previous = std::max(previous, upto);
    auto at = hash_at.find(upto);
    if (at == hash_at.end() || at->second != head) {
      add(Problem::kHeadMismatch, fmt::format("{} signs head {} at event {}, which is not this chain's", what,
                                              short_hash(head), upto));
    }
    auto pub = PublicKey::from_pem(part.value("public_key", ""), what + "'s public key");
    if (!pub) {
      add(Problem::kBadSignature, pub.error().message);
      continue;
    }
    auto sig = base64_decode(part.value("signature", ""));
    auto bytes = canonical(st);
    if (pub->fingerprint() != key_fpr || !sig || !bytes || !pub->verify(*bytes, *sig)) {
      add(Problem::kBadSignature, fmt::format("{}'s signature does not verify with key {}", what, pub->fingerprint()));
      continue;
    }
    v.checked.push_back(fmt::format("{}: events 1..{}, head {}, Ed25519 signature valid for key {}", what, upto,
                                    short_hash(head), pub->fingerprint()));
    if (signers.empty() || signers.back() != pub->fingerprint()) signers.push_back(pub->fingerprint());
    size_t before = v.issues.size();
    check_signer(what, pub->fingerprint(), pinned, v);
    if (pinned.any() && v.issues.size() == before) v.checked.push_back(what + " signer is a pinned key: " + pub->fingerprint());
  }
  // Who signed, part by part: "A, then B".
  if (!signers.empty() && signers.back() != v.signer) signers.push_back(v.signer);
  if (signers.size() > 1) v.signer = fmt::format("{}", fmt::join(signers, ", then "));
}

void check_findings(const Json& ev, const std::string& run, const Pinned& pinned, bool link, Verification& v) {
  auto add = [&](std::string msg) { v.issues.push_back(Issue{Problem::kFindingChanged, std::move(msg)}); };
  if (!ev.contains("findings")) return;
  const Json& events = ev["events"];
  std::map<std::string, std::pair<int64_t, std::string>> last;  // id -> (rev, hash)
  std::map<std::string, FindingRecord> latest;
  int good = 0;
  size_t issues_before = v.issues.size();
  for (auto& f : ev["findings"]) {
    auto rec = finding_from_json(f.value("record", Json()));
    if (!rec) {
      add("a finding record is malformed: " + rec.error().message);
      continue;
    }
    std::string name = fmt::format("finding {} rev {}", rec->id, rec->rev);
    auto bytes = canonical(f["record"]);
    std::string hash = f.value("hash", "");
    if (!bytes || sha256_hex(*bytes) != hash) {
      add(name + " was changed: its content does not match its hash");
      continue;
    }
    auto pub = PublicKey::from_pem(f.value("public_key", ""), name + " key");
    auto sig = base64_decode(f.value("signature", ""));
    if (!pub || !sig || pub->fingerprint() != rec->key || !pub->verify(*bytes, *sig)) {
      add(name + ": its signature does not verify");
      continue;
    }
    check_signer(name, pub->fingerprint(), pinned, v);
    auto it = last.find(rec->id);
    std::string want_prev = it == last.end() ? kZeroHash : it->second.second;
    int64_t want_rev = it == last.end() ? 1 : it->second.first + 1;
    if (rec->rev != want_rev || rec->prev != want_prev) {
      add(fmt::format("{} does not follow revision {} of the finding (a revision was removed or reordered)", name,
                      want_rev - 1));
    }
    last[rec->id] = {rec->rev, hash};
    latest[rec->id] = *rec;
    ++good;
  }
  // The latest revision of each finding must tie it to this run's chain: the head the
  // run had when the finding was opened, or the head of this run as its retest.
  std::set<std::string> hashes;
  for (auto& e : events) hashes.insert(e.value("hash", ""));
  if (!link) latest.clear();
  for (auto& [fid, rec] : latest) {
    std::string name = fmt::format("finding {} rev {}", rec.id, rec.rev);
    if (rec.run == run) {
      int64_t at = rec.run_events;
      bool linked = at >= 1 && at <= static_cast<int64_t>(events.size()) &&
                    events[static_cast<size_t>(at - 1)].value("hash", "") == rec.run_head;
      if (!linked) {
        add(fmt::format("{} points at event {} with hash {}, which is not in this run's chain", name, at,
                        short_hash(rec.run_head)));
      }
    } else if (rec.retest_run == run) {
      if (!hashes.count(rec.retest_head)) {
        add(fmt::format("{} names retest head {}, which is not in this run's chain", name, short_hash(rec.retest_head)));
      }
    } else {
      add(fmt::format("{} belongs to run {}, not to this run", name, rec.run));
    }
  }
  if (good && v.issues.size() == issues_before) {
    v.checked.push_back(fmt::format("{} finding record(s): hashes, signatures{} valid", good, link ? " and links" : ""));
  }
}

// The report seal: signed when the report was rendered, over the findings it shows,
// its generation time and generator, and the evidence head it was rendered from.
void check_report_seal(const Json& doc, const Json& ev, const Pinned& pinned, Verification& v) {
  auto add = [&](Problem p, std::string msg) { v.issues.push_back(Issue{p, std::move(msg)}); };
  if (!doc.contains("seal") || !doc["seal"].is_object() || !doc["seal"].contains("statement") ||
      !doc["seal"]["statement"].is_object()) {
    add(Problem::kMalformed, "the report has no report seal: its findings, generation time and generator are not "
                             "signed (the seal was removed, or an older firedrill made it)");
    return;
  }
  const Json& seal = doc["seal"];
  const Json& st = seal["statement"];
  auto pub = PublicKey::from_pem(seal.value("public_key", ""), "the report seal's public key");
  if (!pub) {
    add(Problem::kBadSignature, pub.error().message);
    return;
  }
  auto sig = base64_decode(seal.value("signature", ""));
  auto bytes = canonical(st);
  if (pub->fingerprint() != st.value("key", "") || !sig || !bytes || !pub->verify(*bytes, *sig)) {
    add(Problem::kBadSignature, fmt::format("the report seal's signature does not verify with key {}: the findings, "
                                            "generation time or generator it covers were changed",
                                            pub->fingerprint()));
    return;
  }
  check_signer("the report seal", pub->fingerprint(), pinned, v);
  size_t before = v.issues.size();
  Json want = make_report_seal(doc, pub->fingerprint());
  if (st.value("type", "") != kReportSealType) add(Problem::kMalformed, "the report seal is not a firedrill report seal");
  for (const char* field : {"run", "events", "head"}) {
    if (want[field] != st.value(field, Json())) {
      add(Problem::kReportChanged, fmt::format("the report seal covers {} {}, the evidence has {}: the evidence was "
                                               "swapped after the report was rendered",
                                               field, text_of(st.value(field, Json())), text_of(want[field])));
    }
  }
  if (want["generated_at"] != st.value("generated_at", Json())) {
    add(Problem::kSealedMetadata, fmt::format("generation time changed: the file says {}, the report was sealed at {}",
                                              text_of(want["generated_at"]), text_of(st.value("generated_at", Json()))));
  }
  if (want["generator"] != st.value("generator", Json())) {
    add(Problem::kSealedMetadata, fmt::format("generator changed: the file says {}, the report was sealed by {}",
                                              text_of(want["generator"]), text_of(st.value("generator", Json()))));
  }
  std::map<std::string, Json> sealed, shown;
  if (st.contains("findings") && st["findings"].is_array()) {
    for (const auto& f : st["findings"]) {
      if (f.is_object()) sealed[f.value("id", "")] = f;
    }
  }
  for (const auto& f : want["findings"]) shown[f.value("id", "")] = f;
  for (const auto& [id, f] : sealed) {
    auto it = shown.find(id);
    if (it == shown.end()) {
      add(Problem::kFindingRemoved,
          fmt::format("finding {} was removed from the report: it was sealed with {} revision(s), head {}", id,
                      f.value("revs", int64_t{0}), short_hash(f.value("head", ""))));
    } else if (it->second != f) {
      add(Problem::kFindingChanged,
          fmt::format("finding {} differs from the one the report was sealed with: sealed {} revision(s), head {}; the "
                      "file shows {}, head {}",
                      id, f.value("revs", int64_t{0}), short_hash(f.value("head", "")),
                      it->second.value("revs", int64_t{0}), short_hash(it->second.value("head", ""))));
    }
  }
  for (const auto& [id, f] : shown) {
    if (!sealed.count(id)) {
      add(Problem::kFindingAdded, fmt::format("finding {} was added to the report after it was sealed", id));
    }
  }
  if (v.issues.size() == before) {
    v.checked.push_back(fmt::format("report seal: {} finding(s), generated {} by {}, signature valid for key {}",
                                    sealed.size(), text_of(want["generated_at"]), text_of(want["generator"]),
                                    pub->fingerprint()));
  }
}

void check_report(const Json& doc, const Json& ev, Verification& v) {
  auto model = build_model(ev);
  if (!model) {
    v.issues.push_back(Issue{Problem::kMalformed, "the events do not make a report: " + model.error().message});
    return;
  }
  Json want = to_json(*model);
  const Json& have = doc.contains("report") ? doc["report"] : Json();
  std::vector<std::string> paths;
  diff(want, have, "", paths, 8);
  for (auto& path : paths) {
    std::string base = path.substr(0, path.find(' '));
    if (base == "/summary/verdict" || base == "/results/verdict") {
      if (v.has(Problem::kVerdictChanged)) continue;
      v.issues.push_back(Issue{Problem::kVerdictChanged,
                               fmt::format("verdict changed: the report says {} but the signed log says {}",
                                           text_of(at_path(have, base)), text_of(at_path(want, base)))});
    } else {
      v.issues.push_back(Issue{Problem::kReportChanged,
                               fmt::format("report content at {} differs from the signed events: the file has {}, the "
                                           "events give {}",
                                           path, text_of(at_path(have, base)), text_of(at_path(want, base)))});
    }
  }
  if (paths.empty()) v.checked.push_back("report content matches what the signed events give");
}

void check_page(const Json& doc, std::string_view html, Verification& v) {
  auto page = render_html(doc);
  if (!page) {
    v.issues.push_back(Issue{Problem::kPageChanged, "the page's evidence cannot be rendered: " + page.error().message});
    return;
  }
  if (*page == html) {
    v.checked.push_back("the page is exactly what its signed evidence renders to");
    return;
  }
  size_t line = 1, i = 0;
  while (i < page->size() && i < html.size() && (*page)[i] == html[i]) {
    if (html[i] == '\n') ++line;
    ++i;
  }
  size_t from = i > 40 ? i - 40 : 0;
  std::string near(html.substr(from, std::min<size_t>(100, html.size() - std::min(from, html.size()))));
  for (auto& c : near) {
    if (c == '\n') c = ' ';
  }
  std::string generator = doc.value("generator", "");
  v.issues.push_back(Issue{
      Problem::kPageChanged,
      fmt::format("the page was edited: it differs from what its signed evidence renders to, first at line {} near "
                  "\"{}\"{}",
                  line, near,
                  generator == std::string("firedrill ") + FIREDRILL_VERSION
                      ? ""
                      : fmt::format(" (it was rendered by {}; re-render with this version to compare)", generator))});
}

void verify_document_checked(const Json& doc, const Pinned& pinned, std::string_view html, Verification& v) {
  if (!doc.is_object() || doc.value("format", "") != kReportFormat) {
    v.issues.push_back(Issue{Problem::kMalformed, fmt::format("not a firedrill report (format is not {})", kReportFormat)});
    return;
  }
  if (!doc.contains("evidence") || !doc["evidence"].is_object() || !doc["evidence"].contains("events") ||
      !doc["evidence"]["events"].is_array()) {
    v.issues.push_back(Issue{Problem::kMalformed, "the report carries no evidence events"});
    return;
  }
  const Json& ev = doc["evidence"];
  std::string run = ev.value("run", "");
  v.events = static_cast<int64_t>(ev["events"].size());
  if (ev["events"].empty()) {
    v.issues.push_back(Issue{Problem::kTruncated, "the report carries no events at all"});
    return;
  }
  size_t before = v.issues.size();
  check_chain(ev, run, v);
  if (v.issues.size() == before) {
    v.checked.push_back(fmt::format("chain: {} events, every hash and link recomputed", ev["events"].size()));
  }
  check_seal(ev, run, pinned, v);
  check_part_seals(ev, run, pinned, v);
  // When the evidence itself is broken, everything derived from it differs too: name
  // the broken evidence, not every consequence of it.
  bool evidence_ok = v.issues.size() == before;
  check_findings(ev, run, pinned, evidence_ok, v);
  check_report_seal(doc, ev, pinned, v);
  if (!evidence_ok) {
    v.skipped.push_back("report content and finding links not compared: the evidence they derive from failed");
    return;
  }
  check_report(doc, ev, v);
  if (!html.empty()) check_page(doc, html, v);
}

}  // namespace

Verification verify_document(const Json& doc, Pinned pinned, std::string_view html) {
  Verification v;
  v.pinned = pinned.any();
  // Whatever a forger wrote, a member of the wrong type is a named problem, not a crash.
  try {
    verify_document_checked(doc, pinned, html, v);
  } catch (const Json::exception& e) {
    v.issues.push_back(Issue{Problem::kMalformed, fmt::format("the report is malformed: {}", e.what())});
  }
  if (!v.pinned) {
    v.checked.push_back("signer not pinned (no --key or --keys): the signatures were checked against the keys the "
                        "report carries, which anyone can make");
  }
  return v;
}

Verification verify_report_text(std::string_view text, Pinned pinned, std::string_view what) {
  Verification v;
  std::string json_text;
  bool html = false;
  size_t start = text.find_first_not_of(" \t\r\n");
  if (start != std::string_view::npos && text[start] == '<') {
    html = true;
    auto embedded = extract_embedded_json(text);
    if (!embedded) {
      bool cut = embedded.error().message.find("truncated") != std::string::npos ||
                 text.find("</html>") == std::string_view::npos;
      v.issues.push_back(Issue{cut ? Problem::kTruncated : Problem::kMalformed,
                               fmt::format("{}: {}{}", what, embedded.error().message,
                                           cut && embedded.error().message.find("truncated") == std::string::npos
                                               ? " (truncated file: the page has no end)"
                                               : "")});
      return v;
    }
    json_text = *embedded;
  } else {
    json_text = std::string(text);
  }
  auto doc = parse_json(json_text, what);
  if (!doc) {
    bool cut = doc.error().message.find("truncated") != std::string::npos;
    v.issues.push_back(Issue{cut ? Problem::kTruncated : Problem::kMalformed, doc.error().message});
    return v;
  }
  Verification out = verify_document(*doc, pinned, html ? text : std::string_view());
  if (html && text.find("</html>") == std::string_view::npos && !out.has(Problem::kTruncated)) {
    out.issues.push_back(Issue{Problem::kTruncated, fmt::format("{}: truncated file: the page has no end", what)});
  }
  return out;
}

}  // namespace firedrill::evidence
