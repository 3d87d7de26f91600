// libFuzzer over the DNS side of the fault proxy: any datagram a steered process could
// send reaches DnsRules::decide, and dns_answer for the actions that answer. Whatever
// arrives, no crash; a query that is not one passes untouched (no verdict); an answer
// the proxy builds is a response ldns reads back with the query's id, question and the
// rcode the rule asked. Built with clang by scripts/fuzz.sh.
#include "agent/sockfault/ldns.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <google/protobuf/text_format.h>

#include "agent/sockfault/dns.h"

namespace {

using firedrill::agent::sockfault::DnsRules;
namespace v1 = firedrill::v1;

const DnsRules& rules() {
  static const DnsRules r = [] {
    v1::DnsFault f;
    google::protobuf::TextFormat::ParseFromString(
        "rules { names: \"redis.lab\" action: DNS_NXDOMAIN } rules { domains: \"svc.lab\" action: DNS_SERVFAIL } "
        "rules { names: \"slow.lab\" action: DNS_DELAY delay_us: 1000 } rules { domains: \"gone\" action: DNS_NO_ANSWER }",
        &f);
    auto compiled = DnsRules::compile(f);
    if (!compiled) __builtin_trap();
    return *compiled;
  }();
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view message(reinterpret_cast<const char*>(data), size);
  auto verdict = rules().decide(message);
  bool fails = verdict.action == v1::DNS_NXDOMAIN || verdict.action == v1::DNS_SERVFAIL;
  for (auto action : {v1::DNS_NXDOMAIN, v1::DNS_SERVFAIL}) {
    auto answer = firedrill::agent::sockfault::dns_answer(message, action);
    if (fails && !answer) __builtin_trap();  // a query it matched is one it can answer
    if (!answer) continue;
    // The query's header and question, read as the proxy reads them (other sections
    // emptied: ldns leaks repeated TSIG records, see parse_query).
    std::string head_and_question(message);
    auto* wire = reinterpret_cast<uint8_t*>(head_and_question.data());
    for (size_t off : {LDNS_ANCOUNT_OFF, LDNS_NSCOUNT_OFF, LDNS_ARCOUNT_OFF}) ldns_write_uint16(wire + off, 0);
    ldns_pkt *q = nullptr, *a = nullptr;
    if (ldns_wire2pkt(&q, wire, head_and_question.size()) != LDNS_STATUS_OK) __builtin_trap();
    if (ldns_wire2pkt(&a, reinterpret_cast<const uint8_t*>(answer->data()), answer->size()) != LDNS_STATUS_OK) {
      __builtin_trap();
    }
    auto want = action == v1::DNS_NXDOMAIN ? LDNS_RCODE_NXDOMAIN : LDNS_RCODE_SERVFAIL;
    if (!ldns_pkt_qr(a) || ldns_pkt_id(a) != ldns_pkt_id(q) || ldns_pkt_get_rcode(a) != want ||
        ldns_pkt_qdcount(a) != 1 || ldns_pkt_ancount(a) != 0 ||
        ldns_rr_compare(ldns_rr_list_rr(ldns_pkt_question(a), 0), ldns_rr_list_rr(ldns_pkt_question(q), 0)) != 0) {
      __builtin_trap();
    }
    ldns_pkt_free(q);
    ldns_pkt_free(a);
  }
  return 0;
}
