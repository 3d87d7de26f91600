#include "controller/cli/run_cli.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include <boost/program_options.hpp>
#include <google/protobuf/util/json_util.h>

#include "common/cli.h"
#include "controller/api/services.h"
#include "controller/cli/client.h"
#include "controller/experiment/loader.h"
#include "controller/runner/run.h"
#include "controller/store/store.h"
#include "controller/store/target_status.h"
#include "firedrill/v1/evidence.grpc.pb.h"
#include "firedrill/v1/run.grpc.pb.h"

namespace firedrill::runner {
namespace po = boost::program_options;

namespace {

std::unique_ptr<v1::RunService::Stub> connect(const std::string& api) {
  return v1::RunService::NewStub(controller::api_channel(api));
}

int rpc_failed(const char* verb, const std::string& api, const grpc::Status& s) {
  if (s.error_code() == grpc::StatusCode::UNAVAILABLE) {
    std::cerr << "firedrill " << verb << ": cannot reach the controller at " << api
              << " (is `firedrill serve` running? --api or $FIREDRILL_API): " << s.error_message() << "\n";
  } else {
    std::cerr << "firedrill " << verb << ": " << s.error_message() << "\n";
  }
  return 2;
}

std::string hms(std::chrono::nanoseconds d) {
  auto s = std::chrono::duration_cast<std::chrono::seconds>(d).count();
  if (s < 0) s = 0;
  if (s >= 3600) return fmt::format("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60);
  return fmt::format("{:02}:{:02}", s / 60, s % 60);
}

std::string local_time(const google::protobuf::Timestamp& t) {
  if (t.seconds() == 0 && t.nanos() == 0) return "-";
  return format_utc(from_proto(t));
}

// Columns padded to their widest cell.
std::string table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& r : rows) {
    for (size_t i = 0; i < r.size(); ++i) {
      if (width.size() <= i) width.push_back(0);
      width[i] = std::max(width[i], r[i].size());
    }
  }
  std::string out;
  for (const auto& r : rows) {
    std::string line = "  ";
    for (size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size()) line += std::string(width[i] - r[i].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

std::string event_line(const v1::RunRecord& run, const v1::RunEvent& e) {
  auto rel = from_proto(e.at()) - from_proto(run.created_at());
  return fmt::format("[{}] {:<9} {}", hms(rel), e.kind(), e.message());
}

std::string status_line(const v1::RunUpdate& u, WallTime now) {
  const auto& r = u.run();
  std::string s = fmt::format("{} {}", hms(now - from_proto(r.created_at())), phase_name(r.phase()));
  if (r.phase() == v1::RUN_PHASE_INJECT || r.phase() == v1::RUN_PHASE_OBSERVE) {
    s += fmt::format(" step {}/{}", r.step() + 1, r.experiment().steps_size());
    if (r.steps_size() > static_cast<int>(r.step())) {
      const auto& st = r.steps(static_cast<int>(r.step()));
      int applied = 0;
      for (const auto& f : st.faults()) applied += controller::target_holds_fault(f.status());
      s += fmt::format(" ({}/{} hosts faulted", applied, st.faults_size());
      if (r.phase() == v1::RUN_PHASE_OBSERVE && st.has_started_at()) {
        auto left = from_proto(st.started_at()) + std::chrono::duration_cast<WallClock::duration>(
                                                      from_proto(r.experiment().steps(static_cast<int>(r.step())).duration())) -
                    now;
        s += fmt::format(", {} left", hms(left));
      }
      s += ")";
    }
  }
  for (const auto& p : u.probes()) {
    if (p.samples() == 0) {
      s += fmt::format(" | {} ...", p.name());
      continue;
    }
    s += fmt::format(" | {} {} {}/{}", p.name(), p.last_ok() ? "ok" : "FAIL", p.samples() - p.failures(), p.samples());
    auto down = from_proto(p.failing_for());
    if (!p.last_ok() && down > std::chrono::seconds(0)) s += fmt::format(" down {}", format_duration(std::chrono::duration_cast<std::chrono::milliseconds>(down)));
  }
  return s;
}

std::atomic<bool> g_interrupted{false};


}  // namespace

int exit_code(const v1::RunRecord& run) {
  switch (run.outcome()) {
    case v1::RUN_OUTCOME_PASSED: return 0;
    case v1::RUN_OUTCOME_FAILED: return 1;
    default: return 2;
  }
}

std::string render_verdict(const v1::RunRecord& run) {
  std::string out;
  if (run.slo_size() > 0) {
    std::vector<std::vector<std::string>> rows = {{"SLO", "probe", "target", "measured", "result"}};
    for (const auto& r : run.slo()) {
      std::string name = r.objective() + (r.term().empty() ? "" : " (" + r.term() + ")");
      rows.push_back({name, r.probe(), r.target(), r.measured(), r.pass() ? "pass" : "FAIL"});
    }
    out += "\n" + table(rows);
  }
  for (const auto& d : run.data()) {
    if (!d.ok()) {
      out += fmt::format("  data {}: read-back failed: {}\n", d.probe(), d.error());
    } else {
      out += fmt::format("  data {}: {} acknowledged, {} read back, {} lost", d.probe(), d.acknowledged(), d.read(),
                         d.lost_size());
      if (d.lost_size()) out += fmt::format(" over {}", format_duration(from_proto(d.lost_span())));
      out += "\n";
    }
  }
  std::string verdict;
  switch (run.outcome()) {
    case v1::RUN_OUTCOME_PASSED: verdict = "PASSED"; break;
    case v1::RUN_OUTCOME_FAILED: verdict = "FAILED"; break;
    case v1::RUN_OUTCOME_ABORTED: verdict = "ABORTED"; break;
    case v1::RUN_OUTCOME_REFUSED: verdict = "REFUSED"; break;
    default: verdict = "RUNNING (" + phase_name(run.phase()) + ")"; break;
  }
  out += fmt::format("\nverdict: {} - {}\n", verdict, run.reason());
  return out;
}

void print_json(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions o;
  o.add_whitespace = true;
  o.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(m, &out, o);
  std::cout << out << std::flush;
}

sigset_t block_interrupts() {
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  return sigs;
}

namespace {

// --api A,B: controllers that share one store, the first asked first.
std::vector<std::string> api_list(const std::string& api) {
  std::vector<std::string> out;
  for (size_t at = 0; at <= api.size();) {
    size_t comma = std::min(api.find(',', at), api.size());
    if (comma > at) out.push_back(api.substr(at, comma - at));
    at = comma + 1;
  }
  if (out.empty()) out.push_back(api);
  return out;
}

// How long a follow goes on with no controller of the list carrying the run on (none
// answers, or only followers do), before it gives up: a takeover takes seconds.
constexpr auto kNoControllerFor = std::chrono::seconds(60);

}  // namespace

int follow_run(const std::string& api_arg, const std::string& id, sigset_t sigs, bool quiet, const char* verb, bool json) {
  const std::vector<std::string> apis = api_list(api_arg);
  // The controller followed now: the next of the list when one stops answering. Ctrl-C's
  // abort goes there too.
  auto current = std::make_shared<std::atomic<size_t>>(0);
  std::thread([sigs, apis, current, id, verb] {
    int sig = 0;
    while (sigwait(&sigs, &sig) == 0) {
      if (g_interrupted.exchange(true)) {
        std::cerr << "\nfiredrill " << verb << ": interrupted again; leaving (the controller finishes the abort)\n";
        std::_Exit(2);
      }
      std::cerr << "\nfiredrill " << verb << ": aborting run " << id << " (reverting its faults)...\n";
      v1::AbortRunRequest a;
      a.set_run_id(id);
      a.set_reason("interrupted from the terminal");
      v1::AbortRunResponse ar;
      grpc::ClientContext c;
      c.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
      auto st = v1::RunService::NewStub(controller::api_channel(apis[*current % apis.size()]))->AbortRun(&c, a, &ar);
      if (!st.ok() || !ar.error().empty()) std::cerr << "firedrill " << verb << ": abort: " << (st.ok() ? ar.error() : st.error_message()) << "\n";
    }
  }).detach();

  quiet = quiet || json;
  bool tty = ::isatty(STDOUT_FILENO) && !quiet;
  int printed = 0;
  auto last_status = std::chrono::steady_clock::now() - std::chrono::seconds(10);
  auto progress = std::chrono::steady_clock::now();  // the last new event, or a live stream
  bool status_shown = false;
  v1::RunRecord final_run;
  for (;;) {
    const std::string& api = apis[*current];
    auto stub = connect(api);
    grpc::ClientContext watch_ctx;
    v1::WatchRunRequest wr;
    wr.set_run_id(id);
    auto reader = stub->WatchRun(&watch_ctx, wr);
    v1::RunUpdate u;
    for (int updates = 1; reader->Read(&u); ++updates) {
      if (updates > 1 || u.run().events_size() > printed) progress = std::chrono::steady_clock::now();
      const auto& r = u.run();
      if (r.events_size() > printed && status_shown) {
        std::cout << "\r\033[K";
        status_shown = false;
      }
      for (; printed < r.events_size(); ++printed) {
        if (!json) std::cout << event_line(r, r.events(printed)) << "\n";
      }
      if (r.phase() == v1::RUN_PHASE_DONE) break;
      auto now = std::chrono::steady_clock::now();
      if (tty) {
        std::cout << "\r\033[K" << status_line(u, WallClock::now()) << std::flush;
        status_shown = true;
      } else if (!quiet && now - last_status >= std::chrono::seconds(5)) {
        std::cout << status_line(u, WallClock::now()) << "\n" << std::flush;
        last_status = now;
      }
    }
    if (status_shown) std::cout << "\r\033[K";
    status_shown = false;
    auto s = reader->Finish();
    v1::GetRunRequest gr;
    gr.set_run_id(id);
    grpc::ClientContext get_ctx;
    get_ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    auto st = stub->GetRun(&get_ctx, gr, &final_run);
    if (st.ok() && (final_run.phase() == v1::RUN_PHASE_DONE || apis.size() == 1)) {
      if (final_run.phase() != v1::RUN_PHASE_DONE) {
        if (!json) {
          for (; printed < final_run.events_size(); ++printed) std::cout << event_line(final_run, final_run.events(printed)) << "\n";
          std::cout << render_verdict(final_run) << std::flush;
        }
        std::cerr << "firedrill " << verb << ": the controller stopped reporting before the run ended"
                  << (s.ok() ? "" : ": " + s.error_message()) << "\n";
        return 2;
      }
      break;
    }
    if (!st.ok() && st.error_code() != grpc::StatusCode::UNAVAILABLE) return rpc_failed(verb, api, st);
    if (g_interrupted && apis.size() == 1) return rpc_failed(verb, api, st);
    if (!st.ok() && apis.size() == 1) {
      // Controllers that share a PostgreSQL store: the one that takes over from a lost
      // leader within the agents' grace continues its runs.
      std::cerr << "firedrill " << verb << ": the controller at " << api << " stopped answering while run " << id
                << " was in flight (" << st.error_message() << ").\n"
                << "  With several controllers on one store the run goes on at the one that takes over; follow it "
                   "there:\n    firedrill show " << id << " --follow --api " << api << ",OTHER_CONTROLLER_API\n"
                << "  (any controller answers `firedrill show " << id << "`; a follower names the leader).\n";
      return 2;
    }
    if (std::chrono::steady_clock::now() - progress > kNoControllerFor) {
      std::cerr << "firedrill " << verb << ": no controller of " << api_arg << " carried run " << id << " on for "
                << format_duration(kNoControllerFor) << (st.ok() ? "" : ": " + st.error_message()) << "\n";
      return 2;
    }
    if (st.ok()) {
      // A follower answers from the database, one snapshot at a time, until it leads (or
      // the leader it names finishes the run): asked again in a second.
      if (printed < final_run.events_size()) progress = std::chrono::steady_clock::now();
      for (; printed < final_run.events_size(); ++printed) {
        if (!json) std::cout << event_line(final_run, final_run.events(printed)) << "\n";
      }
      std::cout << std::flush;
    } else {
      size_t next = (*current + 1) % apis.size();
      std::cerr << "firedrill " << verb << ": the controller at " << api << " stopped answering while run " << id
                << " was in flight (" << st.error_message() << "): following it at " << apis[next] << "\n";
      *current = next;
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  const std::string& api = apis[*current];
  if (json) {
    print_json(final_run);
  } else {
    for (; printed < final_run.events_size(); ++printed) std::cout << event_line(final_run, final_run.events(printed)) << "\n";
    std::cout << render_verdict(final_run) << std::flush;
  }
  if (!json) std::cout << report_hint(api, id);
  return exit_code(final_run);
}

// Where a finished run's report is, and the exact commands that fetch it and verify it
// against the controller's exported key.
std::string report_hint(const std::string& api, const std::string& id) {
  std::string where = "in the controller's store";
  v1::EvidenceKey key;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  if (v1::EvidenceService::NewStub(controller::api_channel(api))->GetEvidenceKey(&ctx, {}, &key).ok()) {
    where += " (" + (std::filesystem::path(key.path()).parent_path() / controller::kStoreFileName).string() +
             " on the controller's host, signed by " + key.fingerprint() + ")";
  }
  std::string with_api = api == controller::default_api_socket() ? "" : " --api " + api;
  return fmt::format(
      "report: run {0}'s signed evidence is {1}. Fetch and verify it:\n"
      "  firedrill report {0} --format json -o {0}.json{2} && firedrill keys export -o controller.pub{2} && "
      "firedrill report verify {0}.json --key controller.pub\n"
      "  (the page: firedrill report {0} -o {0}.html{2}; in one step: firedrill report verify --run {0}{2})\n",
      id, where, with_api);
}

int run_main(int argc, char** argv) {
  std::string api = controller::default_api_socket(), file, as;
  std::vector<std::string> participants;
  experiment::Overrides overrides;
  bool detach = false, quiet = false, json = false;
  po::options_description desc(R"(firedrill run - start an experiment and follow it live

SYNOPSIS
  firedrill run FILE [--set PATH=VALUE]... [-l SELECTOR] [--as NAME]
                [--participant NAME[:ROLE]]... [--detach] [--json]

DESCRIPTION
  Checks FILE (as `firedrill validate` does), starts a run on the controller and
  follows it: the phase, the elapsed time, each probe's state, the faults applied per
  step, every event as it happens; then the SLO table and the verdict. A run that
  needs approvals waits for `firedrill approve RUN` by people other than its starter.
  Ctrl-C aborts the run: the controller reverts whatever is in effect. It ends with
  the command that fetches the run's signed report and verifies it. With controllers
  that share a PostgreSQL store, --api A,B lists them: the run starts at A, and when
  the controller followed stops answering the run is followed on at the next one of
  the list (the one that takes over carries the run on).
  --json prints only the finished run (firedrill.v1.RunRecord as JSON; with --detach,
  the start's answer) for scripts.

  --set PATH=VALUE changes one field of FILE for this run: PATH is the field's keys and
  list indexes joined by '.' (steps.0.duration, steps.1.targets.selector,
  targets.mode.count), VALUE is written as in the file (30s, 2, 'rack in (p1,p2)'),
  and the result is checked as the file would be; an error names the --set and the
  field. -l SELECTOR, applied after every --set, replaces the selector of the
  experiment's targets and of every step that has targets of its own (their
  from_command or hosts dropped, their mode kept). The run's record and its signed
  evidence keep FILE's SHA-256 and every override; the report lists them.

EXIT STATUS
  0  passed: every SLO was met
  1  failed: at least one SLO was missed
  2  invalid file, refused (guard, targets, approval), aborted, or no controller

OPTIONS)");
  desc.add_options()
    ("help,h", "print this help")
    ("file", po::value(&file), "the experiment file")
    ("as", po::value(&as), "who starts the run: must be the caller's own identity (the controller takes it from the connection)")
    ("participant", po::value(&participants)->composing(), "a participant, NAME or NAME:ROLE (repeatable)")
    ("set", po::value(&overrides.set)->composing(), "PATH=VALUE: change a field of FILE for this run (repeatable)")
    ("selector,l", po::value(&overrides.selector), "target the hosts this label selector matches, in every step")
    ("detach", po::bool_switch(&detach), "print the run id and return; follow later with `firedrill show`")
    ("quiet,q", po::bool_switch(&quiet), "no live status line, events and verdict only")
    ("json", po::bool_switch(&json), "print the finished run as JSON, nothing else");
  controller::add_api_options(desc, &api);
  po::positional_options_description pos;
  pos.add("file", 1);
  po::variables_map vm;
  if (auto done = parse_verb_options(argc, argv, desc, vm, "firedrill run", &pos)) return *done;
  if (file.empty()) return usage_error("firedrill run", "no experiment file given (see firedrill run --help)");
  if (vm.count("selector") && overrides.selector.empty()) return usage_error("firedrill run", "-l: empty selector");
  auto loaded = experiment::load_experiment_file(file, overrides);
  if (!loaded.ok()) {
    for (const auto& d : loaded.diagnostics) std::cerr << d.to_string() << "\n";
    std::cerr << file << ": " << loaded.diagnostics.size() << " error(s); nothing was run\n";
    return 2;
  }
  // Ctrl-C (or SIGTERM) asks the controller to abort the run; the watch goes on and
  // shows the revert. Blocked before gRPC starts its threads, so that only the waiting
  // thread below ever takes them.
  sigset_t sigs = block_interrupts();
  v1::StartRunRequest req;
  req.set_experiment_file(file);
  req.set_experiment_yaml(loaded.text);
  for (const auto& o : overrides.set) req.add_set(o);
  req.set_selector(overrides.selector);
  req.set_started_by(as);
  for (const auto& p : participants) {
    auto* x = req.add_participants();
    auto colon = p.find(':');
    x->set_name(p.substr(0, colon));
    if (colon != std::string::npos) x->set_role(p.substr(colon + 1));
  }
  auto stub = connect(api_list(api).front());
  v1::StartRunResponse resp;
  grpc::ClientContext start_ctx;
  start_ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  if (auto s = stub->StartRun(&start_ctx, req, &resp); !s.ok()) return rpc_failed("run", api, s);
  if (!resp.errors().empty()) {
    for (const auto& e : resp.errors()) {
      std::cerr << fmt::format("{}:{}:{}: {}: {}\n", e.file(), e.line(), e.column(), e.field(), e.message());
    }
    return 2;
  }
  if (!resp.error().empty()) {
    std::cerr << "firedrill run: " << resp.error() << "\n";
    return 2;
  }
  const std::string id = resp.run_id();
  if (json && detach) {
    print_json(resp);
    return 0;
  }
  if (!json) {
    std::cout << fmt::format("run {} of {} ({}{})\n", id, loaded.experiment.name(), file,
                             loaded.overrides.empty() ? "" : " " + fmt::format("{}", fmt::join(loaded.overrides, " ")))
              << std::flush;
  }
  if (detach) return 0;

  return follow_run(api, id, sigs, quiet, "run", json);
}

int show_main(int argc, char** argv) {
  std::string api = controller::default_api_socket(), id;
  bool samples = false, json = false, follow = false, quiet = false;
  unsigned limit = 20;
  po::options_description desc(R"(firedrill show - an experiment run in full, or the recent runs

SYNOPSIS
  firedrill show [RUN] [--samples] [--limit N] [--json]
  firedrill show RUN --follow [--quiet] [--json]

DESCRIPTION
  With RUN: the experiment and its file's SHA-256, who started it, approvals, each
  step's targets and faults (applied, effective and reverted times), the timeline,
  the data read-back, the SLO table and the verdict. --samples adds every probe
  sample (start, duration, outcome, detail). Without RUN: the recent runs.
  Exit status as for `firedrill run` (0 passed, 1 failed, 2 otherwise).

OPTIONS)");
  desc.add_options()
    ("help,h", "print this help")
    ("run", po::value(&id), "the run id")
    ("samples", po::bool_switch(&samples), "print every probe sample")
    ("json", po::bool_switch(&json), "print the run (firedrill.v1.RunRecord) or the list as JSON")
    ("follow", po::bool_switch(&follow), "follow the run live to its end, as `run` does (Ctrl-C aborts it; "
                                         "--api A,B: on at B when A stops answering)")
    ("quiet,q", po::bool_switch(&quiet), "with --follow: no live status line")
    ("limit", po::value(&limit), "how many recent runs (default 20)");
  controller::add_api_options(desc, &api);
  po::positional_options_description pos;
  pos.add("run", 1);
  po::variables_map vm;
  if (auto done = parse_verb_options(argc, argv, desc, vm, "firedrill show", &pos)) return *done;
  if (follow) {
    if (id.empty()) return usage_error("firedrill show", "--follow needs a run id");
    return follow_run(api, id, block_interrupts(), quiet, "show", json);
  }
  auto stub = connect(api_list(api).front());
  if (id.empty()) {
    v1::ListExperimentRunsRequest req;
    req.set_limit(limit);
    v1::ListExperimentRunsResponse resp;
    grpc::ClientContext ctx;
    if (auto s = stub->ListExperimentRuns(&ctx, req, &resp); !s.ok()) return rpc_failed("show", api, s);
    if (json) {
      print_json(resp);
      return 0;
    }
    std::vector<std::vector<std::string>> rows = {{"RUN", "EXPERIMENT", "STARTED", "PHASE", "OUTCOME", "REASON"}};
    for (const auto& r : resp.runs()) {
      std::string reason = r.reason().size() > 60 ? r.reason().substr(0, 57) + "..." : r.reason();
      rows.push_back({r.id(), r.experiment().name(), local_time(r.created_at()), phase_name(r.phase()),
                      outcome_name(r.outcome()), reason});
    }
    std::cout << table(rows);
    return 0;
  }
  v1::GetRunRequest req;
  req.set_run_id(id);
  req.set_with_samples(samples);
  v1::RunRecord r;
  grpc::ClientContext ctx;
  if (auto s = stub->GetRun(&ctx, req, &r); !s.ok()) return rpc_failed("show", api, s);
  if (json) {
    print_json(r);
    return exit_code(r);
  }
  const auto& e = r.experiment();
  std::cout << fmt::format("run         {}\nexperiment  {}{} ({}, sha256 {})\n", r.id(), e.name(),
                           e.version().empty() ? "" : " v" + e.version(), r.experiment_file(), r.experiment_sha256());
  if (!e.hypothesis().empty()) std::cout << "hypothesis  " << e.hypothesis() << "\n";
  std::cout << fmt::format("started by  {}{}\ncreated     {}\nended       {}\nphase       {}\n", r.started_by(),
                           r.schedule_id().empty() ? "" : " (schedule " + r.schedule_id() + ")", local_time(r.created_at()),
                           local_time(r.ended_at()), phase_name(r.phase()));
  for (const auto& o : r.overrides()) std::cout << "override    " << o << "\n";
  for (const auto& c : r.target_commands()) {
    std::cout << fmt::format("targets     {} from `{}` ({}, {}): {}\n", c.field(), c.command(), c.status(),
                             format_duration(from_proto(c.took())),
                             !c.error().empty() ? "refused: " + c.error()
                             : c.hosts_size() > 0 ? fmt::format("hosts {}", fmt::join(c.hosts(), ","))
                                                  : "selector " + c.selector());
  }
  for (const auto& a : r.approvals()) {
    std::cout << fmt::format("approved    by {} at {}{}\n", a.approver(), local_time(a.at()),
                             a.comment().empty() ? "" : ": " + a.comment());
  }
  for (const auto& p : r.participants()) {
    std::cout << fmt::format("participant {}{}\n", p.name(), p.role().empty() ? "" : " (" + p.role() + ")");
  }
  if (r.has_fault_start()) {
    std::cout << fmt::format("fault       {} .. {}\n", local_time(r.fault_start()), local_time(r.fault_end()));
  }
  for (const auto& st : r.steps()) {
    std::cout << fmt::format("\nstep {} {}: {} target(s), started {}, effect spread {}\n", st.index() + 1, st.name(),
                             st.targets_size(), local_time(st.started_at()), format_duration(from_proto(st.effect_spread())));
    std::vector<std::vector<std::string>> rows = {{"HOST", "STATUS", "ACKED", "EFFECTIVE", "REVERTED", "ERROR"}};
    for (const auto& f : st.faults()) {
      rows.push_back({f.agent_id(), controller::target_status_name(f.status()), local_time(f.acked_at()), local_time(f.effective_at()),
                      local_time(f.reverted_at()), f.error()});
    }
    if (st.faults_size()) std::cout << table(rows);
  }
  std::cout << "\ntimeline\n";
  for (const auto& ev : r.events()) std::cout << "  " << event_line(r, ev) << "\n";
  if (samples) {
    std::cout << "\nsamples\n";
    std::vector<std::vector<std::string>> rows = {{"PROBE", "START", "DURATION", "OK", "DETAIL"}};
    for (const auto& s : r.samples()) {
      rows.push_back({s.probe(), local_time(s.start()), format_duration(from_proto(s.duration())), s.ok() ? "ok" : "FAIL",
                      s.detail()});
    }
    std::cout << table(rows);
  }
  std::cout << render_verdict(r);
  return exit_code(r);
}

int approve_main(int argc, char** argv) {
  std::string api = controller::default_api_socket(), id, as, comment;
  bool reject = false;
  po::options_description desc(R"(firedrill approve - approve (or reject) a run that waits for approval

SYNOPSIS
  firedrill approve RUN [--comment TEXT] [--reject]

DESCRIPTION
  A run that requires N approvals (the controller's approval policy for its
  environment, or more when its experiment asks) starts only once N distinct people
  approved it. The approver is whoever calls: the controller takes the identity from
  the connection (the Unix user, or a client certificate) and needs it to hold the
  approver role; nobody approves a run they started. Each approval is recorded with
  its name and time. A rejection refuses the run.
  Exit 0 when recorded, 1 when refused (already approved, not an approver, not
  waiting), 2 on bad usage or no controller.

OPTIONS)");
  desc.add_options()
    ("help,h", "print this help")
    ("run", po::value(&id), "the run id")
    ("as", po::value(&as), "the approver's name: when given, must be the caller's own identity")
    ("comment", po::value(&comment), "a remark recorded with the approval")
    ("reject", po::bool_switch(&reject), "reject the run instead");
  controller::add_api_options(desc, &api);
  po::positional_options_description pos;
  pos.add("run", 1);
  po::variables_map vm;
  if (auto done = parse_verb_options(argc, argv, desc, vm, "firedrill approve", &pos)) return *done;
  if (id.empty()) return usage_error("firedrill approve", "RUN is required (see firedrill approve --help)");
  v1::ApproveRequest req;
  req.set_run_id(id);
  req.set_approver(as);
  req.set_comment(comment);
  req.set_reject(reject);
  v1::ApproveResponse resp;
  grpc::ClientContext ctx;
  if (auto s = connect(api)->Approve(&ctx, req, &resp); !s.ok()) return rpc_failed("approve", api, s);
  if (!resp.error().empty()) {
    std::cerr << "firedrill approve: " << resp.error() << "\n";
    return 1;
  }
  if (reject) {
    std::cout << fmt::format("run {} rejected by {}\n", id, resp.approver());
  } else {
    std::cout << fmt::format("run {} approved by {} ({} of {})\n", id, resp.approver(), resp.approvals(), resp.required());
  }
  return 0;
}

int abort_main(int argc, char** argv) {
  std::string api = controller::default_api_socket(), id, reason;
  po::options_description desc(R"(firedrill abort - stop an experiment run

SYNOPSIS
  firedrill abort RUN [--reason TEXT]

DESCRIPTION
  The run reverts whatever it has in effect and ends aborted, with the reason and who
  asked. (`firedrill halt` stops every run and fault in the fleet.)

OPTIONS)");
  desc.add_options()
    ("help,h", "print this help")
    ("run", po::value(&id), "the run id")
    ("reason", po::value(&reason), "why (recorded)");
  controller::add_api_options(desc, &api);
  po::positional_options_description pos;
  pos.add("run", 1);
  po::variables_map vm;
  if (auto done = parse_verb_options(argc, argv, desc, vm, "firedrill abort", &pos)) return *done;
  if (id.empty()) return usage_error("firedrill abort", "RUN is required");
  v1::AbortRunRequest req;
  req.set_run_id(id);
  req.set_reason(reason);
  v1::AbortRunResponse resp;
  grpc::ClientContext ctx;
  if (auto s = connect(api)->AbortRun(&ctx, req, &resp); !s.ok()) return rpc_failed("abort", api, s);
  if (!resp.error().empty()) {
    std::cerr << "firedrill abort: " << resp.error() << "\n";
    return 1;
  }
  std::cout << "run " << id << ": abort requested; its faults are being reverted\n";
  return 0;
}

namespace {

void print_schedules(const std::vector<v1::ScheduleRecord>& list) {
  std::vector<std::vector<std::string>> rows = {{"SCHEDULE", "EXPERIMENT", "CRON", "ZONE", "STATE", "NEXT", "LAST"}};
  for (const auto& s : list) {
    const auto& sc = s.experiment().schedule();
    std::string last = s.history_size() ? s.history(s.history_size() - 1).outcome() : "-";
    if (s.history_size() && !s.history(s.history_size() - 1).run_id().empty()) {
      last += " " + s.history(s.history_size() - 1).run_id();
    }
    rows.push_back({s.id(), s.experiment().name(), sc.cron(), sc.time_zone().empty() ? "UTC" : sc.time_zone(),
                    s.paused() ? "paused" : "active", s.has_next_due() ? local_time(s.next_due()) : "never", last});
  }
  std::cout << table(rows);
}

}  // namespace

int schedule_main(int argc, char** argv) {
  std::string api = controller::default_api_socket(), command, arg;
  po::options_description desc(R"(firedrill schedule - continuous chaos: experiments on a schedule

SYNOPSIS
  firedrill schedule add FILE
  firedrill schedule list
  firedrill schedule pause|resume|remove ID

DESCRIPTION
  add registers an experiment whose file has a `schedule` (cron in a time zone,
  allowed windows, blackout dates, concurrency forbid|allow, random_targets). The
  controller keeps schedules in its state directory: a restart keeps them and never
  starts one occurrence twice. pause keeps a schedule without running it; resume counts
  from the moment of resuming.

OPTIONS)");
  desc.add_options()
    ("help,h", "print this help")
    ("command", po::value(&command), "add, list, pause, resume or remove")
    ("arg", po::value(&arg), "FILE for add, ID for the others");
  controller::add_api_options(desc, &api);
  po::positional_options_description pos;
  pos.add("command", 1).add("arg", 1);
  po::variables_map vm;
  if (auto done = parse_verb_options(argc, argv, desc, vm, "firedrill schedule", &pos)) return *done;
  auto stub = connect(api);
  if (command == "list") {
    v1::ListSchedulesResponse resp;
    grpc::ClientContext ctx;
    if (auto s = stub->ListSchedules(&ctx, {}, &resp); !s.ok()) return rpc_failed("schedule", api, s);
    print_schedules({resp.schedules().begin(), resp.schedules().end()});
    return 0;
  }
  if (arg.empty() || (command != "add" && command != "pause" && command != "resume" && command != "remove")) {
    return usage_error("firedrill schedule", "expected add FILE, list, pause ID, resume ID or remove ID");
  }
  v1::ScheduleRecord rec;
  grpc::ClientContext ctx;
  grpc::Status s;
  if (command == "add") {
    auto loaded = experiment::load_experiment_file(arg);
    if (!loaded.ok()) {
      for (const auto& d : loaded.diagnostics) std::cerr << d.to_string() << "\n";
      return 2;
    }
    v1::AddScheduleRequest req;
    req.set_experiment_file(arg);
    req.set_experiment_yaml(loaded.text);
    s = stub->AddSchedule(&ctx, req, &rec);
  } else {
    v1::ScheduleIdRequest req;
    req.set_id(arg);
    if (command == "pause") s = stub->PauseSchedule(&ctx, req, &rec);
    if (command == "resume") s = stub->ResumeSchedule(&ctx, req, &rec);
    if (command == "remove") s = stub->RemoveSchedule(&ctx, req, &rec);
  }
  if (!s.ok()) return rpc_failed("schedule", api, s);
  std::cout << fmt::format("schedule {} {}\n", rec.id(),
                           command == "add" ? "added" : command == "remove" ? "removed" : command + "d");
  if (command != "remove") print_schedules({rec});
  return 0;
}

}  // namespace firedrill::runner
