#include "agent/app/ctl.h"

#include <iostream>

#include <boost/program_options.hpp>
#include <google/protobuf/text_format.h>

#include "agent/local/control_socket.h"
#include "common/cli.h"
#include "common/time.h"

namespace firedrill::agent {
namespace po = boost::program_options;

namespace {

constexpr const char* kUsage = R"(firedrill-agent ctl - drive a running agent through its local control socket

SYNOPSIS
  firedrill-agent ctl [--socket PATH] apply --id ID --for DURATION [--in DELAY] --spec TEXT
  firedrill-agent ctl [--socket PATH] revert --id ID
  firedrill-agent ctl [--socket PATH] revert-all
  firedrill-agent ctl [--socket PATH] status

DESCRIPTION
  apply sends an ApplyFault whose spec is a firedrill.v1.FaultSpec in protobuf text
  format, expiring DURATION from now (and starting DELAY from now, with --in):
    --spec 'network { blackhole {} }'
    --spec 'network { interfaces: "veth0" drop { percent: 30 percent_set: true
             match { protocol: L4_UDP dst_ports { first: 5201 } } } }'
    --spec 'network { partition { peer_cidrs: "10.0.2.0/24" direction: DIRECTION_EGRESS } }'
    --spec 'process { kill { select { cgroups: "app/redis" comms: "redis-server" } } }'
    --spec 'process { keep_down { select { exe_paths: "/usr/bin/redis-server" } kill_running: true } }'
    --spec 'process { freeze { cgroups: "app/batch" } }'
    --spec 'power_loss {}'
  status prints the faults in effect with their counters (a fault whose revert fails
  shows revert_error: it is still in effect and retried), and the faults that ended
  lately with why. revert of an id the agent does not hold answers ACK_NOT_IN_EFFECT.
  The answer is printed in protobuf text format. Exit 0 when applied (or scheduled),
  1 when refused, failed or not in effect, 2 on bad usage, no agent or no answer
  within --timeout.

OPTIONS)";

}  // namespace

int ctl_main(int argc, char** argv) {
  std::string socket = "/run/firedrill-agent.sock", command, id, spec_text, duration = "", delay = "0s";
  std::string timeout_text = "30s";
  po::options_description desc(kUsage);
  desc.add_options()
    ("help,h", "print this help")
    ("socket", po::value(&socket), "the agent's control socket (default /run/firedrill-agent.sock)")
    ("id", po::value(&id), "fault id")
    ("for", po::value(&duration), "lease: the fault expires this long from now (apply)")
    ("in", po::value(&delay), "not_before: the fault starts this long from now (apply)")
    ("spec", po::value(&spec_text), "FaultSpec in protobuf text format (apply)")
    ("timeout", po::value(&timeout_text), "give up when the agent has not answered this long (default 30s)")
    ("command", po::value(&command), "apply, revert, revert-all or status");
  po::positional_options_description pos;
  pos.add("command", 1);
  po::variables_map vm;
  if (auto done = parse_verb_options(argc, argv, desc, vm, "firedrill-agent ctl", &pos)) return *done;
  if (command.empty()) {
    std::cout << desc << "\n";
    return 2;
  }

  v1::ControllerMessage msg;
  msg.set_command_id(static_cast<uint64_t>(WallClock::now().time_since_epoch().count()));
  auto usage = [](const std::string& what) { return usage_error("firedrill-agent ctl", what); };
  if (command == "apply") {
    if (id.empty() || duration.empty() || spec_text.empty()) return usage("apply needs --id, --for and --spec");
    auto lease = parse_duration(duration);
    if (!lease) return usage("--for: " + lease.error().describe());
    auto start = parse_duration(delay);
    if (!start) return usage("--in: " + start.error().describe());
    auto* apply = msg.mutable_apply();
    apply->set_fault_id(id);
    if (!google::protobuf::TextFormat::ParseFromString(spec_text, apply->mutable_spec())) {
      return usage("--spec is not a firedrill.v1.FaultSpec in text format (the parser's message is above)");
    }
    auto now = WallClock::now();
    auto nb = now + std::chrono::duration_cast<WallClock::duration>(*start);
    *apply->mutable_not_before() = to_proto(nb);
    *apply->mutable_expires_at() = to_proto(nb + std::chrono::duration_cast<WallClock::duration>(*lease));
  } else if (command == "revert") {
    if (id.empty()) return usage("revert needs --id");
    msg.mutable_revert()->set_fault_id(id);
  } else if (command == "revert-all") {
    msg.mutable_revert_all()->set_reason("firedrill-agent ctl revert-all");
  } else if (command == "status") {
    msg.mutable_status();
  } else {
    return usage("unknown command '" + command + "' (apply, revert, revert-all, status)");
  }

  auto timeout = parse_duration(timeout_text);
  if (!timeout || *timeout < std::chrono::milliseconds(1)) {
    return usage("--timeout: " + (timeout ? std::string("must be at least 1ms") : timeout.error().describe()));
  }
  auto reply = local_call(socket, msg, std::chrono::duration_cast<std::chrono::milliseconds>(*timeout));
  if (!reply) {
    std::cerr << "firedrill-agent ctl: " << reply.error().describe() << "\n";
    return 2;
  }
  std::string text;
  google::protobuf::TextFormat::PrintToString(*reply, &text);
  std::cout << text;
  if (reply->has_ack()) {
    auto s = reply->ack().status();
    return (s == v1::ACK_APPLIED || s == v1::ACK_SCHEDULED) ? 0 : 1;
  }
  return 0;
}

}  // namespace firedrill::agent
