// The network classifier's cost per packet with a packet-altering rule installed,
// against no rule and against a drop rule that matches and lets the packet pass
// (percent 0: the same lookup and scan, no action), side by side in one run, under
// BPF_PROG_TEST_RUN on the tc egress program. Runs in a network namespace of its own: a
// duplicate rule's copies go to that namespace's loopback (down), never to the host.
#include <sched.h>

#include <cstdio>
#include <fstream>
#include <iostream>

#include <bpf/bpf.h>
#include <google/protobuf/text_format.h>

#include "agent/net/dataplane.h"
#include "common/cli.h"
#include "tests/bpf/net_packet.h"

namespace po = boost::program_options;
using namespace firedrill;
using namespace firedrill::agent::net;

namespace {

struct Case {
  const char* name;
  const char* fault;  // NetworkFault text; "" for none
};

Result<double> ns_per_packet(NetDataplane& dp, const std::vector<uint8_t>& pkt, int repeat, int rounds) {
  std::vector<uint8_t> out(pkt.size() + 256);
  double best = 1e18;
  // The best of a few rounds: the machine is shared, the fastest round is the program's.
  for (int r = 0; r < rounds; ++r) {
    LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt.data(), .data_out = out.data(),
                .data_size_in = static_cast<uint32_t>(pkt.size()), .data_size_out = static_cast<uint32_t>(out.size()),
                .repeat = repeat);
    if (bpf_prog_test_run_opts(dp.prog_fd(Program::kEgress), &o) != 0) return sys_error(errno, "BPF_PROG_TEST_RUN");
    best = std::min(best, double(o.duration));
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  po::options_description desc("degrade_bench: classifier cost per packet with altering rules");
  std::string json;
  int repeat = 200000, rounds = 5;
  desc.add_options()("help", "this text")("json", po::value(&json), "write the results as JSON here")(
      "repeat", po::value(&repeat)->default_value(repeat), "packets per round")(
      "rounds", po::value(&rounds)->default_value(rounds), "rounds (the best is kept)");
  po::variables_map vm;
  if (auto r = parse_verb_options(argc, argv, desc, vm, "degrade_bench")) return *r;
  if (::unshare(CLONE_NEWNET) != 0) {
    std::perror("degrade_bench: unshare(CLONE_NEWNET) (needs root)");
    return 1;
  }
  const std::vector<Case> cases = {
      {"none", ""},
      {"drop 0% (match, no action)", "drop { percent: 0 percent_set: true match { protocol: L4_UDP } }"},
      {"corrupt 100%, checksum wrong", "corrupt { percent: 100 match { protocol: L4_UDP } }"},
      {"corrupt 100%, checksum fixed", "corrupt { percent: 100 fix_checksums: true match { protocol: L4_UDP } }"},
      {"duplicate 100%", "duplicate { percent: 100 match { protocol: L4_UDP } }"},
      {"delay 1 ms", "delay { delay_us: 1000 match { direction: DIRECTION_EGRESS } }"},
  };
  auto pkt = testing::Packet().eth().ipv4("10.9.0.1", "10.9.0.2").udp(4000, 5000).payload(1000).bytes();
  std::vector<std::pair<std::string, double>> results;
  for (auto& c : cases) {
    auto dp = NetDataplane::load();
    if (!dp) {
      std::cerr << "degrade_bench: " << dp.error().describe() << "\n";
      return 1;
    }
    if (*c.fault) {
      v1::NetworkFault f;
      google::protobuf::TextFormat::ParseFromString(c.fault, &f);
      auto compiled = compile_network_fault(f);
      if (!compiled) {
        std::cerr << "degrade_bench: " << compiled.error().describe() << "\n";
        return 1;
      }
      if (auto r = (*dp)->install("bench", *compiled, NF_IFACES_ALL); !r) {
        std::cerr << "degrade_bench: " << r.error().describe() << "\n";
        return 1;
      }
    }
    auto ns = ns_per_packet(**dp, pkt, repeat, rounds);
    if (!ns) {
      std::cerr << "degrade_bench: " << ns.error().describe() << "\n";
      return 1;
    }
    results.emplace_back(c.name, *ns);
  }
  double base = results.front().second;
  std::printf("classifier cost per packet (tc egress, 1,042-byte UDP packet, best of %d x %d)\n", rounds, repeat);
  std::printf("%-32s %10s %10s\n", "rule", "ns/packet", "x none");
  for (auto& [name, ns] : results) std::printf("%-32s %10.1f %10.2f\n", name.c_str(), ns, ns / base);
  if (!json.empty()) {
    std::ofstream out(json);
    out << "{\n  \"suite\": \"degrade\",\n  \"classifier_ns_per_packet\": [\n";
    for (size_t i = 0; i < results.size(); ++i) {
      out << "    {\"rule\": \"" << results[i].first << "\", \"ns\": " << results[i].second
          << ", \"ratio_to_none\": " << results[i].second / base << "}" << (i + 1 < results.size() ? "," : "") << "\n";
    }
    out << "  ]\n}\n";
  }
  return 0;
}
