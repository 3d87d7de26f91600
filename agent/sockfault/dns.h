// What a DNS fault does to one query (DnsFault in fault.proto): the query's name is
// read with ldns and compared with the fault's rules; the fault's own answers
// (NXDOMAIN, SERVFAIL) are built with ldns from the query. No DNS message is parsed or
// built by hand. Pure functions of bytes: the proxy (proxy.h) does the sockets, the
// fuzzer (tests/fuzz/dns_fuzz.cpp) feeds them anything.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "firedrill/v1/fault.pb.h"

namespace firedrill::agent::sockfault {

struct DnsVerdict {
  v1::DnsAction action = v1::DNS_ACTION_UNSPECIFIED;  // unspecified: passed through
  std::chrono::microseconds delay{0};                 // DNS_DELAY
  std::string name;                                   // the query's name, lower case, no final dot
};

class DnsRules {
 public:
  // Names lower-cased and without a final dot; errors name the field (dns.rules[i]...).
  static Result<DnsRules> compile(const v1::DnsFault& fault);

  // What happens to a query (the wire bytes of a DNS message). Anything that is not a
  // standard query with one question passes through untouched: the proxy decides about
  // names, never about what it does not understand.
  DnsVerdict decide(std::string_view message) const;

  // Whether a name (lower case, no final dot) matches rule `i`.
  bool matches(size_t i, std::string_view name) const;
  size_t size() const { return rules_.size(); }

 private:
  struct Rule {
    std::vector<std::string> names, domains;
    v1::DnsAction action;
    std::chrono::microseconds delay;
  };
  std::vector<Rule> rules_;
};

// The answer a resolver gives `query` when it fails it with `action` (DNS_NXDOMAIN or
// DNS_SERVFAIL): the query's id, opcode and question, RD copied, QR and RA set, the
// rcode. None when the query cannot be parsed or the action is not an answer.
std::optional<std::string> dns_answer(std::string_view query, v1::DnsAction action);

}  // namespace firedrill::agent::sockfault
