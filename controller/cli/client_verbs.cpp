// The operators' verbs: each one call to the daemon's API, printed for people (or as
// JSON with --json). Exit codes: 0 done, 1 refused or failed, 2 bad usage or no daemon.
#include <algorithm>
#include <iostream>

#include <boost/program_options.hpp>
#include <fmt/ranges.h>
#include <google/protobuf/text_format.h>
#include <google/protobuf/util/json_util.h>

#include "common/cli.h"
#include "common/time.h"
#include "controller/api/services.h"
#include "controller/cli/client.h"
#include "controller/cli/run_cli.h"
#include "controller/cli/verbs.h"
#include "controller/store/target_status.h"
#include "controller/targeting/targets.h"
#include "firedrill/v1/controller.grpc.pb.h"

namespace firedrill::controller {
namespace po = boost::program_options;
namespace {

struct Selection {
  std::string selector, mode = "all";
  uint64_t seed = 0;
  uint32_t max_hosts = 0;
  double max_percent = 0;
  std::string max_domains, keep_untouched;
  std::vector<std::string> protect;
  void add(po::options_description& d) {
    d.add_options()
      ("selector,l", po::value(&selector), "label selector over agent tags: 'dc=pangyo,rack in (p1,p2),!canary'")
      ("mode", po::value(&mode), "all (default), count(N), percent(P), one-per(KEY)")
      ("seed", po::value(&seed), "choose among matching hosts with this seed (0: by id)")
      ("max-hosts", po::value(&max_hosts), "blast radius: at most N hosts")
      ("max-percent", po::value(&max_percent), "blast radius: at most P% of the live fleet")
      ("max-domains", po::value(&max_domains), "blast radius: KEY=N, at most N values of tag KEY")
      ("keep-untouched", po::value(&keep_untouched), "blast radius: KEY=N, at least N values of KEY untouched")
      ("protect", po::value(&protect)->composing(), "blast radius: never target hosts this selector matches (repeatable)");
  }
  Result<void> fill(v1::Targets* t, v1::BlastRadius* r) const {
    t->set_selector(selector);
    FD_ASSIGN(m, parse_mode(mode), "--mode");
    *t->mutable_mode() = m;
    t->set_seed(seed);
    r->set_max_hosts(max_hosts);
    r->set_max_percent(max_percent);
    for (auto& p : protect) r->add_protected_selectors(p);
    auto key_count = [](const std::string& text, const char* opt) -> Result<std::pair<std::string, uint32_t>> {
      auto eq = text.find('=');
      if (eq == std::string::npos || eq == 0) return make_error("{} '{}': expected KEY=N", opt, text);
      try {
        return std::pair{text.substr(0, eq), static_cast<uint32_t>(std::stoul(text.substr(eq + 1)))};
      } catch (...) {
        return make_error("{} '{}': N is not a number", opt, text);
      }
    };
    if (!max_domains.empty()) {
      FD_ASSIGN(kc, key_count(max_domains, "--max-domains"), "blast radius");
      r->mutable_max_domains()->set_key(kc.first);
      r->mutable_max_domains()->set_count(kc.second);
    }
    if (!keep_untouched.empty()) {
      FD_ASSIGN(kc, key_count(keep_untouched, "--keep-untouched"), "blast radius");
      r->mutable_keep_untouched()->set_key(kc.first);
      r->mutable_keep_untouched()->set_min(kc.second);
    }
    return ok();
  }
};

std::unique_ptr<v1::ControllerService::Stub> stub(const std::string& api) {
  return v1::ControllerService::NewStub(api_channel(api));
}

using runner::print_json;

std::string ms(const google::protobuf::Duration& d) {
  return fmt::format("{:.1f}ms", std::chrono::duration<double, std::milli>(from_proto(d)).count());
}

void print_verdict(const v1::GuardVerdict& v) {
  if (v.allowed()) {
    std::cout << "guard: allowed\n";
    return;
  }
  std::cout << "guard: REFUSED\n";
  for (auto& viol : v.violations()) {
    std::cout << "  rule " << viol.rule() << " (limit: " << viol.limit() << ")\n    " << viol.message() << "\n";
    if (viol.hosts_size() > 0) {
      std::cout << "    hosts: " << fmt::format("{}", fmt::join(viol.hosts(), ", ")) << "\n";
    }
  }
}

// One line per target: its answer, when it acked and when the fault took effect
// (relative to `since`), and when it was reverted.
void print_faults(const google::protobuf::RepeatedPtrField<v1::FaultRecord>& faults, WallTime since) {
  std::cout << fmt::format("  {:<24} {:<10} {:>10} {:>10} {:>10}  {}\n", "AGENT", "STATUS", "ACK", "EFFECT", "REVERTED",
                           "ERROR");
  auto rel = [&](const google::protobuf::Timestamp& ts, bool has) {
    if (!has) return std::string("-");
    return fmt::format("{:+.1f}ms", std::chrono::duration<double, std::milli>(from_proto(ts) - since).count());
  };
  for (auto& f : faults) {
    std::cout << fmt::format("  {:<24} {:<10} {:>10} {:>10} {:>10}  {}\n", f.agent_id(), target_status_name(f.status()),
                             rel(f.acked_at(), f.has_acked_at()), rel(f.effective_at(), f.has_effective_at()),
                             rel(f.reverted_at(), f.has_reverted_at()), f.error());
  }
}

// What each agent answered to a halt.
void print_outcomes(const google::protobuf::RepeatedPtrField<v1::TargetOutcome>& targets, WallTime since) {
  std::cout << fmt::format("  {:<24} {:<10} {:>10}  {}\n", "AGENT", "STATUS", "ACK", "ERROR");
  for (auto& t : targets) {
    std::string ack = t.has_acked_at() ? fmt::format("+{:.1f}ms", std::chrono::duration<double, std::milli>(
                                                                       from_proto(t.acked_at()) - since).count())
                                       : "-";
    std::string status = t.status() == v1::ACK_STATUS_UNSPECIFIED ? "NO ANSWER" : v1::AckStatus_Name(t.status());
    if (status.starts_with("ACK_")) status = status.substr(4);
    std::cout << fmt::format("  {:<24} {:<10} {:>10}  {}\n", t.agent_id(), status, ack, t.error());
  }
}

Result<v1::FaultSpec> spec_from(const std::string& text, const std::string& fault) {
  v1::FaultSpec spec;
  if (!fault.empty() && !text.empty()) return make_error("give --spec or --fault, not both");
  if (fault == "blackhole") {
    spec.mutable_network()->mutable_blackhole();
  } else if (fault == "power-loss") {
    spec.mutable_power_loss();
  } else if (!fault.empty()) {
    return make_error("--fault '{}' is not one of: blackhole, power-loss (use --spec for the rest)", fault);
  } else if (!text.empty()) {
    google::protobuf::TextFormat::Parser parser;
    if (!parser.ParseFromString(text, &spec)) {
      return make_error("--spec is not a firedrill.v1.FaultSpec in protobuf text format (see the parser's message above)");
    }
    if (spec.kind_case() == v1::FaultSpec::KIND_NOT_SET) return make_error("--spec names no fault kind");
  }
  return spec;
}

constexpr const char* kAgentsUsage = R"(firedrill agents - the agents of the fleet

SYNOPSIS
  firedrill agents [--selector SEL] [--all] [--json]
  firedrill agents revoke ID [--reason TEXT]     (see: agents revoke --help)
  firedrill agents revoked

DESCRIPTION
  Lists live agents with their tags, the fault kinds they offer, the faults they
  hold and when they last reported. --all adds agents seen before that are not live.
  The first line says whether the fleet is halted.

OPTIONS)";

constexpr const char* kPlanUsage = R"(firedrill plan - which hosts a selection would hit, and the guard's verdict

SYNOPSIS
  firedrill plan --selector SEL [--mode MODE] [BLAST RADIUS] [--spec TEXT | --fault KIND]

DESCRIPTION
  A dry run: nothing is sent to any agent. Prints every live host the selector
  matches, the ones the mode chooses, and what the blast-radius guard says of them
  (with the controller's fleet-wide rules). With a fault, also which targets cannot
  apply it. Exit 0 when the guard allows, 1 when it refuses.

OPTIONS)";

constexpr const char* kInjectUsage = R"(firedrill inject - an ad hoc fault on a selection, for a duration

SYNOPSIS
  firedrill inject --selector SEL [--mode MODE] --for DURATION [--in DELAY]
                   (--fault blackhole|power-loss | --spec TEXT) [BLAST RADIUS]
                   [--detach] [--json]

DESCRIPTION
  A run like any other: a one-step experiment without probes, through the same
  preflight (targets, guard, capabilities), coordinated start, revert, restart
  recovery and signed evidence as `firedrill run`. Chooses targets like `plan`,
  asks the guard, and sends the fault to every target with one common start (DELAY
  from now, or the controller's staging delay) for DURATION. Prints the run id, per
  target when it acked and when the fault took effect and the spread between the
  first and the last, then follows the run like `run` until the fault is reverted
  (Ctrl-C reverts it early), and where its report is. With --detach it returns once
  the fault is in effect (`firedrill revert RUN` ends it early).
  If any target refuses, the fault is reverted on the others and the run is
  recorded aborted. --spec is a firedrill.v1.FaultSpec in protobuf text format:
    --spec 'network { drop { percent: 30 percent_set: true } }'
    --spec 'process { kill { select { cgroups: "app.slice/redis" } } }'
  --json prints the answer (and, when followed, the finished run) as JSON.
  Exit 0 applied (and, when followed, ran its course), 1 refused or not applied,
  2 bad usage, no controller, or aborted while followed.

OPTIONS)";

}  // namespace

int agents_main(int argc, char** argv) {
  if (argc >= 2 && std::string_view(argv[1]) == "revoke") return agents_revoke_main(argc - 1, argv + 1);
  if (argc >= 2 && std::string_view(argv[1]) == "revoked") return agents_revoked_main(argc - 1, argv + 1);
  ClientOptions common;
  std::string selector;
  bool all = false;
  po::options_description desc(kAgentsUsage);
  common.add(desc);
  desc.add_options()
    ("selector,l", po::value(&selector), "only agents this label selector matches")
    ("all", po::bool_switch(&all), "also agents that are not live");
  po::variables_map vm;
  if (int rc = parse_verb(argc, argv, desc, vm, "agents"); rc >= 0) return rc;
  auto s = stub(common.api);
  v1::ListAgentsRequest req;
  req.set_selector(selector);
  req.set_include_lost(all);
  v1::ListAgentsResponse resp;
  grpc::ClientContext ctx;
  deadline(ctx);
  if (auto st = s->ListAgents(&ctx, req, &resp); !st.ok()) return call_error("agents", st, common.api);
  v1::ControllerStatus status;
  grpc::ClientContext ctx2;
  deadline(ctx2);
  (void)s->GetStatus(&ctx2, {}, &status);
  if (common.json) {
    print_json(resp);
    return 0;
  }
  if (status.halted()) {
    std::cout << "FLEET HALTED since " << format_utc(from_proto(status.halted_at())) << ": " << status.halted_reason()
              << " (firedrill release to lift)\n";
  }
  size_t live = std::count_if(resp.agents().begin(), resp.agents().end(), [](auto& a) { return a.live(); });
  std::cout << fmt::format("{} agent(s), {} live\n", resp.agents_size(), live);
  std::cout << fmt::format("{:<20} {:<5} {:<40} {:<7} {:<9} {}\n", "ID", "LIVE", "TAGS", "FAULTS", "VERSION", "OFFERS");
  auto now = WallClock::now();
  for (auto& a : resp.agents()) {
    std::vector<std::string> tags;
    for (auto& [k, v] : std::map<std::string, std::string>(a.tags().begin(), a.tags().end())) tags.push_back(k + "=" + v);
    std::string live_text = a.live() ? "yes" : fmt::format("no ({} ago)", format_duration(std::chrono::duration_cast<std::chrono::seconds>(now - from_proto(a.last_seen()))));
    std::cout << fmt::format("{:<20} {:<5} {:<40} {:<7} {:<9} {}\n", a.id(), live_text, fmt::format("{}", fmt::join(tags, ",")),
                             a.active_faults_size(), a.version(), fmt::format("{}", fmt::join(a.capabilities().fault_kinds(), ",")));
  }
  return 0;
}

int plan_main(int argc, char** argv) {
  ClientOptions common;
  Selection sel;
  std::string spec_text, fault;
  po::options_description desc(kPlanUsage);
  common.add(desc);
  sel.add(desc);
  desc.add_options()
    ("spec", po::value(&spec_text), "a FaultSpec (text format): also check targets can apply it")
    ("fault", po::value(&fault), "blackhole or power-loss: also check targets can apply it");
  po::variables_map vm;
  if (int rc = parse_verb(argc, argv, desc, vm, "plan"); rc >= 0) return rc;
  v1::PlanRequest req;
  if (auto r = sel.fill(req.mutable_targets(), req.mutable_blast_radius()); !r) return verb_usage_error("plan", r.error().message);
  if (!spec_text.empty() || !fault.empty()) {
    auto spec = spec_from(spec_text, fault);
    if (!spec) return verb_usage_error("plan", spec.error().message);
    *req.mutable_spec() = *spec;
  }
  v1::PlanResponse resp;
  grpc::ClientContext ctx;
  deadline(ctx);
  if (auto st = stub(common.api)->Plan(&ctx, req, &resp); !st.ok()) return call_error("plan", st, common.api);
  if (common.json) {
    print_json(resp);
  } else {
    std::cout << fmt::format("selector \"{}\" mode {} matches {} of {} live host(s); targets {}:\n  {}\n",
                             sel.selector, sel.mode, resp.matched_size(), resp.fleet_size(), resp.targets_size(),
                             fmt::join(resp.targets(), ", "));
    print_verdict(resp.verdict());
    for (auto& i : resp.incapable()) std::cout << "cannot apply: " << i << "\n";
  }
  return resp.verdict().allowed() && resp.incapable().empty() ? 0 : 1;
}

int inject_main(int argc, char** argv) {
  ClientOptions common;
  Selection sel;
  std::string spec_text, fault, duration, delay, description;
  bool detach = false, quiet = false;
  po::options_description desc(kInjectUsage);
  common.add(desc);
  sel.add(desc);
  desc.add_options()
    ("for", po::value(&duration), "how long the fault is on (required): 30s, 10m")
    ("in", po::value(&delay), "common start this long from now (default: the controller's staging delay)")
    ("fault", po::value(&fault), "blackhole or power-loss")
    ("spec", po::value(&spec_text), "a firedrill.v1.FaultSpec in protobuf text format")
    ("description", po::value(&description), "what this is for, kept with the run")
    ("detach", po::bool_switch(&detach), "return once the fault is in effect; do not follow the run")
    ("quiet,q", po::bool_switch(&quiet), "when following: no live status line");
  po::variables_map vm;
  if (int rc = parse_verb(argc, argv, desc, vm, "inject"); rc >= 0) return rc;
  if (duration.empty()) return verb_usage_error("inject", "--for DURATION is required (every fault has a lease)");
  if (spec_text.empty() && fault.empty()) return verb_usage_error("inject", "give the fault: --fault KIND or --spec TEXT");
  v1::InjectRequest req;
  if (auto r = sel.fill(req.mutable_targets(), req.mutable_blast_radius()); !r) return verb_usage_error("inject", r.error().message);
  auto spec = spec_from(spec_text, fault);
  if (!spec) return verb_usage_error("inject", spec.error().message);
  *req.mutable_spec() = *spec;
  auto d = parse_duration(duration);
  if (!d) return verb_usage_error("inject", "--for: " + d.error().message);
  *req.mutable_duration() = to_proto_duration(*d);
  if (!delay.empty()) {
    auto dl = parse_duration(delay);
    if (!dl) return verb_usage_error("inject", "--in: " + dl.error().message);
    *req.mutable_start_delay() = to_proto_duration(*dl);
  }
  req.set_description(description);
  sigset_t sigs = runner::block_interrupts();
  v1::InjectResponse resp;
  grpc::ClientContext ctx;
  deadline(ctx);
  if (auto st = stub(common.api)->Inject(&ctx, req, &resp); !st.ok()) return call_error("inject", st, common.api);
  if (common.json) {
    print_json(resp);
    if (!resp.applied() || detach) return resp.applied() ? 0 : 1;
    return runner::follow_run(common.api, resp.run_id(), sigs, true, "inject", true);
  }
  std::cout << "run " << resp.run_id() << "\n";
  if (resp.verdict().violations_size() > 0) print_verdict(resp.verdict());
  if (resp.faults_size() == 0) {
    std::cout << "not sent: " << resp.error() << "\n";
    return 1;
  }
  auto nb = from_proto(resp.not_before());
  std::cout << fmt::format("not before {}, expires {}\n", format_utc(nb), format_utc(from_proto(resp.expires_at())));
  print_faults(resp.faults(), nb);
  std::cout << fmt::format("last ack {} after dispatch; ack spread {}; effect spread {}\n",
                           ms(resp.dispatch_to_last_ack()), ms(resp.ack_spread()), ms(resp.effect_spread()));
  if (!resp.applied()) {
    std::cout << "FAILED: " << resp.error() << "\n";
    return 1;
  }
  if (detach) {
    std::cout << "applied; reverted when its time is up (or: firedrill revert " << resp.run_id() << ")\n";
    return 0;
  }
  std::cout << std::flush;
  return runner::follow_run(common.api, resp.run_id(), sigs, quiet, "inject", false);
}

int revert_main(int argc, char** argv) {
  ClientOptions common;
  std::string run;
  po::options_description desc(R"(firedrill revert - end a run before its time

SYNOPSIS
  firedrill revert RUN-ID

DESCRIPTION
  Aborts the run (an ad hoc inject or an experiment): its fault is reverted on every
  target and the run is recorded aborted, "reverted by" you. Prints what each target
  answered. Exit 0 when every target confirmed the revert, 1 otherwise.

OPTIONS)");
  common.add(desc);
  desc.add_options()("run", po::value(&run), "the run id (also the first argument)");
  po::positional_options_description pos;
  pos.add("run", 1);
  po::variables_map vm;
  if (int rc = parse_verb(argc, argv, desc, vm, "revert", &pos); rc >= 0) return rc;
  if (run.empty()) return verb_usage_error("revert", "give the run id");
  v1::RevertRunRequest req;
  req.set_run_id(run);
  v1::RevertRunResponse resp;
  grpc::ClientContext ctx;
  deadline(ctx);
  auto start = WallClock::now();
  if (auto st = stub(common.api)->RevertRun(&ctx, req, &resp); !st.ok()) return call_error("revert", st, common.api);
  if (common.json) {
    print_json(resp);
  } else {
    print_faults(resp.faults(), start);
    std::cout << resp.reason() << "\n";
  }
  bool all = std::all_of(resp.faults().begin(), resp.faults().end(), [](auto& f) { return f.status() == v1::TARGET_STATUS_REVERTED; });
  return all ? 0 : 1;
}

int halt_main(int argc, char** argv) {
  ClientOptions common;
  std::string reason;
  po::options_description desc(R"(firedrill halt - revert every fault in the fleet and refuse new runs

SYNOPSIS
  firedrill halt [--reason TEXT]

DESCRIPTION
  Sends RevertAll to every live agent, aborts every run in flight and refuses new
  runs until `firedrill release`. The halt survives a controller restart. Prints
  each agent's confirmation and the time from the halt to the last one. Exit 0 when
  every live agent confirmed, 1 otherwise (agents that did not confirm revert on
  their own when their lease runs out).

  With several controllers on one PostgreSQL store, any of them takes a halt: a
  follower records it in the database and the leader acts on it within a second,
  as on its own halt; the follower says whether the leader did (exit 0) or not yet,
  or that no controller leads now (exit 1: agents revert on their lease grace, and
  the next leader halts the fleet as it starts). `firedrill release` is the
  leader's alone.

OPTIONS)");
  common.add(desc);
  desc.add_options()("reason", po::value(&reason), "why, kept in the record");
  po::variables_map vm;
  if (int rc = parse_verb(argc, argv, desc, vm, "halt"); rc >= 0) return rc;
  v1::HaltRequest req;
  req.set_reason(reason);
  v1::HaltResponse resp;
  grpc::ClientContext ctx;
  deadline(ctx);
  if (auto st = stub(common.api)->Halt(&ctx, req, &resp); !st.ok()) return call_error("halt", st, common.api);
  if (resp.recorded_for_leader()) {
    // Given at a follower: the database holds it for the leader.
    if (common.json) {
      print_json(resp);
    } else if (resp.leader().empty()) {
      std::cout << "halt recorded; no controller leads now: agents revert on their grace (the next leader halts "
                   "the fleet as it starts)\n";
    } else if (resp.leader_acted()) {
      std::cout << fmt::format("halt recorded at this follower; the leader {} HALTED the fleet (its `firedrill halt` "
                               "answers are at the leader; `firedrill release` there lifts it)\n",
                               resp.leader());
    } else {
      std::cout << fmt::format("halt recorded at this follower; the leader {} has not acted on it yet (it does "
                               "within a second while it leads; else agents revert on their grace)\n",
                               resp.leader());
    }
    return resp.leader_acted() ? 0 : 1;
  }
  if (common.json) {
    print_json(resp);
  } else {
    auto at = from_proto(resp.halted_at());
    std::cout << "HALTED at " << format_utc(at) << "; new runs are refused until `firedrill release`\n";
    if (resp.aborted_runs_size() > 0) std::cout << fmt::format("aborted runs: {}\n", fmt::join(resp.aborted_runs(), ", "));
    print_outcomes(resp.agents(), at);
    std::cout << fmt::format("{} of {} agent(s) confirmed; the last {} after the halt\n",
                             resp.agents_size() - resp.unconfirmed_size(), resp.agents_size(),
                             resp.has_to_last_confirmation() ? ms(resp.to_last_confirmation()) : std::string("-"));
    if (resp.unconfirmed_size() > 0) {
      std::cout << fmt::format("UNCONFIRMED: {} (they revert on their own when their lease runs out)\n",
                               fmt::join(resp.unconfirmed(), ", "));
    }
  }
  return resp.unconfirmed_size() == 0 ? 0 : 1;
}

int release_main(int argc, char** argv) {
  ClientOptions common;
  po::options_description desc(R"(firedrill release - lift a halt

SYNOPSIS
  firedrill release

DESCRIPTION
  Runs may start again. Prints whether the fleet was halted.

OPTIONS)");
  common.add(desc);
  po::variables_map vm;
  if (int rc = parse_verb(argc, argv, desc, vm, "release"); rc >= 0) return rc;
  v1::ReleaseRequest req;
  v1::ReleaseResponse resp;
  grpc::ClientContext ctx;
  deadline(ctx);
  if (auto st = stub(common.api)->Release(&ctx, req, &resp); !st.ok()) return call_error("release", st, common.api);
  if (common.json) {
    print_json(resp);
  } else {
    std::cout << (resp.was_halted() ? "released: runs may start again\n" : "the fleet was not halted\n");
  }
  return 0;
}

int runs_main(int argc, char** argv) {
  ClientOptions common;
  std::string run;
  uint32_t limit = 20;
  po::options_description desc(R"(firedrill runs - recent runs, or one run with its targets

SYNOPSIS
  firedrill runs [--limit N]
  firedrill runs RUN-ID

DESCRIPTION
  Every run, ad hoc injects and experiments alike, newest first, with its status
  (active, completed, aborted, refused, failed) and why it ended so. With a run id,
  also each target's answer and times. `firedrill report RUN` renders any run's
  signed evidence.

OPTIONS)");
  common.add(desc);
  desc.add_options()
    ("limit", po::value(&limit), "how many (default 20)")
    ("run", po::value(&run), "one run (also the first argument)");
  po::positional_options_description pos;
  pos.add("run", 1);
  po::variables_map vm;
  if (int rc = parse_verb(argc, argv, desc, vm, "runs", &pos); rc >= 0) return rc;
  v1::ListRunsRequest req;
  req.set_limit(limit);
  req.set_run_id(run);
  v1::ListRunsResponse resp;
  grpc::ClientContext ctx;
  deadline(ctx);
  if (auto st = stub(common.api)->ListRuns(&ctx, req, &resp); !st.ok()) return call_error("runs", st, common.api);
  if (common.json) {
    print_json(resp);
    return 0;
  }
  std::cout << fmt::format("{:<26} {:<10} {:<10} {:<24} {}\n", "RUN", "KIND", "STATUS", "CREATED", "REASON");
  for (auto& r : resp.runs()) {
    std::string status = v1::RunStatus_Name(r.status());
    if (status.starts_with("RUN_STATUS_")) status = status.substr(11);
    std::transform(status.begin(), status.end(), status.begin(), ::tolower);
    std::cout << fmt::format("{:<26} {:<10} {:<10} {:<24} {}\n", r.id(), r.kind(), status,
                             format_utc(from_proto(r.created_at())), r.reason());
    if (!run.empty()) {
      std::cout << fmt::format("  {}, started by {}; {}\n", r.description(), r.requested_by(), r.state());
      print_faults(r.faults(), from_proto(r.created_at()));
    }
  }
  return 0;
}

}  // namespace firedrill::controller
