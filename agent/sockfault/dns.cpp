#include "agent/sockfault/dns.h"

#include "agent/sockfault/ldns.h"

#include <algorithm>
#include <cctype>
#include <memory>

namespace firedrill::agent::sockfault {
namespace {

struct PktFree {
  void operator()(ldns_pkt* p) const { ldns_pkt_free(p); }
};
using Pkt = std::unique_ptr<ldns_pkt, PktFree>;

std::string normal(std::string_view name) {
  std::string n(name);
  if (n.ends_with('.')) n.pop_back();
  std::transform(n.begin(), n.end(), n.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return n;
}

// A standard query with exactly one question, parsed; none otherwise. Only the header
// and the question are parsed: the copy handed to ldns says the other sections are
// empty. Nothing after the question decides a verdict or goes into an answer, and
// ldns_wire2pkt leaks every TSIG record of the additional section but the last (found
// by dns_fuzz: a datagram of repeated TSIG records grew the agent by their size each
// time it was sent).
Pkt parse_query(std::string_view message) {
  if (message.size() < LDNS_HEADER_SIZE) return nullptr;
  std::string head_and_question(message);
  auto* wire = reinterpret_cast<uint8_t*>(head_and_question.data());
  for (size_t off : {LDNS_ANCOUNT_OFF, LDNS_NSCOUNT_OFF, LDNS_ARCOUNT_OFF}) ldns_write_uint16(wire + off, 0);
  ldns_pkt* raw = nullptr;
  if (ldns_wire2pkt(&raw, wire, head_and_question.size()) != LDNS_STATUS_OK) return nullptr;
  Pkt pkt(raw);
  if (ldns_pkt_qr(raw) || ldns_pkt_get_opcode(raw) != LDNS_PACKET_QUERY || ldns_pkt_qdcount(raw) != 1 ||
      ldns_rr_list_rr_count(ldns_pkt_question(raw)) != 1) {
    return nullptr;
  }
  return pkt;
}

// The question's name as ldns prints it, lower case, without the final dot.
std::string question_name(const ldns_pkt* pkt) {
  const ldns_rr* q = ldns_rr_list_rr(ldns_pkt_question(pkt), 0);
  char* text = ldns_rdf2str(ldns_rr_owner(q));
  if (!text) return "";
  std::string name = normal(text);
  free(text);  // NOLINT: ldns allocates with malloc
  return name;
}

}  // namespace

Result<DnsRules> DnsRules::compile(const v1::DnsFault& fault) {
  DnsRules out;
  for (int i = 0; i < fault.rules_size(); ++i) {
    const auto& r = fault.rules(i);
    if (r.action() < v1::DNS_NXDOMAIN || r.action() > v1::DNS_DELAY) {
      return make_error("dns.rules[{}].action: unknown DNS action {}", i, int(r.action()));
    }
    Rule rule{{}, {}, r.action(), std::chrono::microseconds(r.delay_us())};
    for (const auto& n : r.names()) rule.names.push_back(normal(n));
    for (const auto& d : r.domains()) rule.domains.push_back(normal(d));
    for (const auto& n : rule.names) {
      if (n.empty()) return make_error("dns.rules[{}].names: empty name", i);
    }
    for (const auto& d : rule.domains) {
      if (d.empty()) return make_error("dns.rules[{}].domains: empty name", i);
    }
    out.rules_.push_back(std::move(rule));
  }
  return out;
}

bool DnsRules::matches(size_t i, std::string_view name) const {
  const Rule& r = rules_.at(i);
  if (std::find(r.names.begin(), r.names.end(), name) != r.names.end()) return true;
  for (const auto& d : r.domains) {
    if (name == d) return true;
    if (name.size() > d.size() && name.ends_with(d) && name[name.size() - d.size() - 1] == '.') return true;
  }
  return false;
}

DnsVerdict DnsRules::decide(std::string_view message) const {
  DnsVerdict v;
  Pkt pkt = parse_query(message);
  if (!pkt) return v;
  v.name = question_name(pkt.get());
  for (size_t i = 0; i < rules_.size(); ++i) {
    if (matches(i, v.name)) {
      v.action = rules_[i].action;
      v.delay = rules_[i].delay;
      break;
    }
  }
  return v;
}

std::optional<std::string> dns_answer(std::string_view query, v1::DnsAction action) {
  ldns_pkt_rcode rcode;
  switch (action) {
    case v1::DNS_NXDOMAIN: rcode = LDNS_RCODE_NXDOMAIN; break;
    case v1::DNS_SERVFAIL: rcode = LDNS_RCODE_SERVFAIL; break;
    default: return std::nullopt;
  }
  Pkt q = parse_query(query);
  if (!q) return std::nullopt;
  Pkt a(ldns_pkt_new());
  if (!a) return std::nullopt;
  ldns_pkt_set_id(a.get(), ldns_pkt_id(q.get()));
  ldns_pkt_set_qr(a.get(), true);
  ldns_pkt_set_opcode(a.get(), ldns_pkt_get_opcode(q.get()));
  ldns_pkt_set_rd(a.get(), ldns_pkt_rd(q.get()));
  ldns_pkt_set_cd(a.get(), ldns_pkt_cd(q.get()));
  ldns_pkt_set_ra(a.get(), true);
  ldns_pkt_set_rcode(a.get(), rcode);
  ldns_rr* question = ldns_rr_clone(ldns_rr_list_rr(ldns_pkt_question(q.get()), 0));
  if (!question || !ldns_pkt_push_rr(a.get(), LDNS_SECTION_QUESTION, question)) {
    if (question) ldns_rr_free(question);
    return std::nullopt;
  }
  uint8_t* wire = nullptr;
  size_t size = 0;
  if (ldns_pkt2wire(&wire, a.get(), &size) != LDNS_STATUS_OK) return std::nullopt;
  std::string out(reinterpret_cast<const char*>(wire), size);
  free(wire);  // NOLINT: ldns allocates with malloc
  return out;
}

}  // namespace firedrill::agent::sockfault
