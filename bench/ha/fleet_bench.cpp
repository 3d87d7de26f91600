#include "bench/ha/fleet_bench.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <grpcpp/grpcpp.h>

#include "bench/fanout/sim_fleet.h"
#include "common/spawn.h"
#include "common/time.h"
#include "controller/session/certs.h"
#include "firedrill/v1/controller.grpc.pb.h"
#include "tests/support/postgres.h"

namespace firedrill::bench {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

struct Round {
  bool applied = false;
  std::string error;
  double apply_to_last_ack = NAN, inject_rpc = NAN, halt_to_last_confirmation = NAN, halt_rpc = NAN;
  Clock::time_point injected;  // when the inject's answer came
};

// An inject of a blackhole on every agent (the empty selector), then a halt and a
// release, as fanout_bench's rounds.
Round inject_halt(v1::ControllerService::Stub& api, const std::string& why) {
  Round r;
  v1::InjectRequest req;
  req.mutable_spec()->mutable_network()->mutable_blackhole();
  *req.mutable_duration() = to_proto_duration(60s);
  req.set_description(why);
  v1::InjectResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 120s);
  auto t0 = Clock::now();
  auto st = api.Inject(&ctx, req, &resp);
  r.injected = Clock::now();
  r.inject_rpc = ms_since(t0);
  r.applied = st.ok() && resp.applied();
  if (r.applied) {
    r.apply_to_last_ack = std::chrono::duration<double, std::milli>(from_proto(resp.dispatch_to_last_ack())).count();
  } else {
    r.error = st.ok() ? resp.error().substr(0, 300) : st.error_message();
  }
  v1::HaltRequest hreq;
  hreq.set_reason(why);
  v1::HaltResponse hresp;
  grpc::ClientContext hctx;
  hctx.set_deadline(std::chrono::system_clock::now() + 120s);
  t0 = Clock::now();
  if (api.Halt(&hctx, hreq, &hresp).ok()) {
    r.halt_rpc = ms_since(t0);
    if (hresp.unconfirmed_size() == 0) {
      r.halt_to_last_confirmation =
          std::chrono::duration<double, std::milli>(from_proto(hresp.to_last_confirmation())).count();
    }
  }
  grpc::ClientContext rctx;
  v1::ReleaseResponse rresp;
  (void)api.Release(&rctx, {}, &rresp);
  return r;
}

nlohmann::json failed(const std::string& what) {
  std::cout << "  not measured: " << what << "\n\n";
  return {{"error", what}};
}

}  // namespace

nlohmann::json measure_takeover(const TakeoverOptions& o) {
  std::cout << fmt::format("takeover: two controllers on one PostgreSQL database, {} simulated agents given both "
                           "(mTLS on loopback), lease grace {}; the leader SIGKILLed, {} repeats\n\n",
                           o.agents, o.lease_grace, o.repeats);
  raise_fd_limit(static_cast<size_t>(o.agents) * 3 + 1024);
  Fleet fleet;
  if (auto e = make_fleet(fleet, o.agents, "takeover"); !e.empty()) return failed("certificates: " + e);
  int ports[2] = {support::free_loopback_port(), support::free_loopback_port()};
  std::vector<Controller> ctl;
  for (int i = 0; i < 2; ++i) {
    std::string name = i == 0 ? "a" : "b";
    ctl.push_back(make_controller(fleet, FDH_FIREDRILL_BIN, name, ports[i],
                                  {"--store", o.store_url, "--controller-id", name, "--advertise",
                                   fmt::format("127.0.0.1:{}", ports[i]), "--lease-grace", o.lease_grace}));
  }
  struct Stop {
    std::vector<Controller>& c;
    ~Stop() {
      for (auto& x : c) x.kill(SIGKILL);
    }
  } stop{ctl};
  if (!ctl[0].start() || !ctl[0].wait_says("leader lease: leading as a", 0, 60s)) {
    return failed("controller a did not lead:\n" + read_file(ctl[0].log));
  }
  if (!ctl[1].start() || !ctl[1].wait_says("a follower until", 0, 60s)) {
    return failed("controller b did not start as a follower:\n" + read_file(ctl[1].log));
  }
  Sims sims(fleet, ports[0], {ports[1]}, 1000ms);
  if (!sims.ok()) return failed("cannot start the simulated agents");
  int leader = 0;
  if (!wait_live(*api_stub(ctl[0].api), o.agents, 120s)) return failed("not every agent reached the leader");

  Stats lead, all_live, acked;
  std::vector<std::string> errors;
  for (int r = 0; r < o.repeats; ++r) {
    auto& old = ctl[leader];
    auto& next = ctl[1 - leader];
    auto api = api_stub(next.api);
    size_t from = next.log_size();
    auto t0 = Clock::now();
    old.kill(SIGKILL);
    double t_lead = NAN, t_live = NAN, t_acked = NAN;
    for (auto deadline = t0 + 60s; Clock::now() < deadline; std::this_thread::sleep_for(5ms)) {
      if (std::isnan(t_lead)) {
        if (next.says("leader lease: leading as " + next.name, from)) t_lead = ms_since(t0);
        continue;
      }
      if (live_agents(*api) >= static_cast<uint32_t>(o.agents)) {
        t_live = ms_since(t0);
        break;
      }
    }
    Round round;
    if (!std::isnan(t_live)) {
      round = inject_halt(*api, fmt::format("ha bench takeover {}", r + 1));
      if (round.applied) t_acked = std::chrono::duration<double, std::milli>(round.injected - t0).count();
    }
    if (std::isnan(t_acked)) {
      errors.push_back(fmt::format("round {}: {}", r + 1,
                                   std::isnan(t_lead) ? "no new leader within 60 s"
                                   : std::isnan(t_live) ? "not every agent came over within 60 s"
                                                        : "the apply failed: " + round.error));
    } else {
      lead.ms.push_back(t_lead);
      all_live.ms.push_back(t_live);
      acked.ms.push_back(t_acked);
    }
    std::cerr << fmt::format("takeover {}: leads {:.0f} ms, every agent live {:.0f} ms, apply acked on all {:.0f} ms\n",
                             r + 1, t_lead, t_live, t_acked);
    // The killed one comes back as the follower (its supervisor's restart).
    size_t old_from = old.log_size();
    if (!old.start() || !old.wait_says("a follower until", old_from, 60s)) {
      errors.push_back("the killed controller did not come back as a follower");
      break;
    }
    leader = 1 - leader;
  }
  sims.stop();

  auto grace_ms = std::chrono::duration<double, std::milli>(*parse_duration(o.lease_grace)).count();
  bool pass = errors.empty() && acked.pct(99) < grace_ms;
  std::cout << fmt::format("  {:<52} {:>10} {:>10}  {}\n", "from the leader's SIGKILL to", "p50", "p99", "target");
  auto row = [](const char* what, const Stats& s, const std::string& target) {
    std::cout << fmt::format("  {:<52} {:>8.0f}ms {:>8.0f}ms  {}\n", what, s.pct(50), s.pct(99), target);
  };
  row("  the other leading (its log)", lead, "");
  row("  every agent live at it", all_live, "");
  row("  an apply acked on every agent", acked,
      fmt::format("p99 < lease grace {}: {}", o.lease_grace, pass ? "PASS" : "FAIL"));
  std::cout << fmt::format("  ({} of {} rounds measured{}{})\n\n", acked.ms.size(), o.repeats,
                           errors.empty() ? "" : "; ", errors.empty() ? "" : errors.front());
  return {{"agents", o.agents},
          {"repeats", o.repeats},
          {"lease_grace", o.lease_grace},
          {"to_new_leader", lead.json()},
          {"to_every_agent_live", all_live.json()},
          {"to_apply_acked_on_every_agent", acked.json()},
          {"errors", errors},
          {"target_p99_under_lease_grace", pass}};
}

nlohmann::json measure_fanout_stores(const FanoutOptions& o) {
  std::cout << fmt::format("fan-out by store: one controller on SQLite, then one on PostgreSQL, the same {} simulated "
                           "agents (mTLS on loopback), {} rounds each\n\n",
                           o.agents, o.repeats);
  raise_fd_limit(static_cast<size_t>(o.agents) * 3 + 1024);
  auto t0 = Clock::now();
  Fleet fleet;
  if (auto e = make_fleet(fleet, o.agents, "fan-out"); !e.empty()) return failed("certificates: " + e);
  std::cerr << fmt::format("fan-out: {} certificates in {:.1f} s\n", o.agents, ms_since(t0) / 1000);
  int port = support::free_loopback_port();
  // As fanout_bench: heartbeats every 5 s and a 10 s grace, so that the idle fleet
  // leaves the 2 CPUs to the rounds.
  std::vector<std::string> timing = {"--heartbeat", "5s", "--lease-grace", "10s"};
  std::vector<Controller> ctl = {make_controller(fleet, FDH_FIREDRILL_BIN, "sqlite", port, timing),
                                 make_controller(fleet, FDH_FIREDRILL_BIN, "postgres", port, timing)};
  ctl[1].argv.insert(ctl[1].argv.end(), {"--store", o.postgres_url});
  struct Stop {
    std::vector<Controller>& c;
    ~Stop() {
      for (auto& x : c) x.kill(SIGKILL);
    }
  } stop{ctl};
  // One simulated fleet for both: when the first controller goes, the agents come back
  // to the second on the same port (their list names it twice).
  Sims sims(fleet, port, {port}, 5000ms);
  if (!sims.ok()) return failed("cannot start the simulated agents");
  nlohmann::json out = {{"agents", o.agents}, {"repeats", o.repeats}};
  struct Measured {
    Stats apply, inject_rpc, halt, halt_rpc;
    double connect_s = NAN;
    std::vector<std::string> errors;
  };
  std::vector<Measured> m(ctl.size());
  for (size_t k = 0; k < ctl.size(); ++k) {
    auto c0 = Clock::now();
    if (!ctl[k].start() || !ctl[k].wait_says("(port ", 0, 60s)) {
      return failed(ctl[k].name + " did not start:\n" + read_file(ctl[k].log));
    }
    auto api = api_stub(ctl[k].api);
    if (!wait_live(*api, o.agents, std::chrono::seconds(120 + o.agents / 20))) {
      sims.drain();
      return failed(fmt::format("{}: only {} of {} agents live", ctl[k].name, live_agents(*api), o.agents));
    }
    m[k].connect_s = ms_since(c0) / 1000;
    std::cerr << fmt::format("fan-out {}: {} agents live in {:.1f} s\n", ctl[k].name, o.agents, m[k].connect_s);
    std::this_thread::sleep_for(3s);  // the connection storm settles
    for (int r = 0; r < o.repeats; ++r) {
      auto round = inject_halt(*api, fmt::format("ha bench fan-out {}", r + 1));
      if (!round.applied) m[k].errors.push_back(round.error);
      if (round.applied) m[k].apply.ms.push_back(round.apply_to_last_ack);
      m[k].inject_rpc.ms.push_back(round.inject_rpc);
      if (!std::isnan(round.halt_to_last_confirmation)) m[k].halt.ms.push_back(round.halt_to_last_confirmation);
      if (!std::isnan(round.halt_rpc)) m[k].halt_rpc.ms.push_back(round.halt_rpc);
      std::cerr << fmt::format("fan-out {} round {}: apply to last ack {:.1f} ms, halt {:.1f} ms\n", ctl[k].name, r + 1,
                               round.apply_to_last_ack, round.halt_to_last_confirmation);
    }
    ctl[k].kill(SIGTERM);
  }
  sims.stop();

  std::cout << fmt::format("  {:<40} {:>10} {:>10} {:>10} {:>10} {:>8}\n", "measure", "sqlite p50", "sqlite p99",
                           "pg p50", "pg p99", "pg/sqlite");
  bool pass = m[0].errors.empty() && m[1].errors.empty();
  auto row = [&](const char* what, const char* key, Stats Measured::*s, bool target) {
    const Stats& a = m[0].*s;
    const Stats& b = m[1].*s;
    double ratio = b.pct(99) / a.pct(99);
    if (target) pass = pass && ratio <= 1.2;
    std::cout << fmt::format("  {:<40} {:>8.1f}ms {:>8.1f}ms {:>8.1f}ms {:>8.1f}ms {:>8.2f}  {}\n", what, a.pct(50),
                             a.pct(99), b.pct(50), b.pct(99), ratio, target ? "(p99, target <= 1.2)" : "");
    out[key] = {{"sqlite", a.json()}, {"postgres", b.json()}, {"postgres_over_sqlite_p99", ratio}};
  };
  row("ApplyFault on all -> last ack", "apply_to_last_ack", &Measured::apply, true);
  row("  inject RPC, the CLI's view", "inject_rpc", &Measured::inject_rpc, false);
  row("halt -> last confirmation", "halt_to_last_confirmation", &Measured::halt, true);
  row("  halt RPC, the CLI's view", "halt_rpc", &Measured::halt_rpc, false);
  std::cout << fmt::format("  agents live after start: sqlite {:.1f} s, postgres {:.1f} s; PostgreSQL within 1.2x: {}\n",
                           m[0].connect_s, m[1].connect_s, pass ? "PASS" : "FAIL");
  for (size_t k = 0; k < m.size(); ++k) {
    if (!m[k].errors.empty()) std::cout << "  " << ctl[k].name << ": " << m[k].errors.front() << "\n";
  }
  std::cout << "\n";
  out["connect_s"] = {{"sqlite", m[0].connect_s}, {"postgres", m[1].connect_s}};
  out["target_postgres_within_1_2x"] = pass;
  return out;
}

}  // namespace firedrill::bench
