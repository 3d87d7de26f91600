// The evidence verbs: report, keys, finding. Each is a client of the controller's
// EvidenceService (evidence.proto), so it works wherever the API socket is reachable
// and needs no state directory; only `report verify FILE` runs offline
// (controller/evidence/verify_cli.h).
#include <iostream>

#include <boost/program_options.hpp>

#include "common/output_file.h"
#include "controller/cli/client.h"
#include "controller/cli/evidence_verbs.h"
#include "controller/cli/run_cli.h"
#include "controller/evidence/verify_cli.h"
#include "firedrill/v1/evidence.grpc.pb.h"

namespace firedrill::controller {
namespace po = boost::program_options;
namespace {

std::unique_ptr<v1::EvidenceService::Stub> evidence_stub(const std::string& api) {
  return v1::EvidenceService::NewStub(api_channel(api));
}

// Writes `text` to `out` (never through a link), or to stdout for "" and "-".
int emit(const char* verb, const std::string& out, const std::string& text, const std::string& what) {
  if (out.empty() || out == "-") {
    std::cout << text;
    return 0;
  }
  if (auto r = write_output_file(out, text); !r) {
    std::cerr << "firedrill " << verb << ": " << r.error().describe() << "\n";
    return 1;
  }
  std::cerr << "firedrill " << verb << ": wrote " << out << " (" << what << ")\n";
  return 0;
}

constexpr const char* kReportUsage =
    "firedrill report - a run's evidence report, from the controller; or verify one\n\n"
    "SYNOPSIS\n"
    "  firedrill report RUN [--format json|html] [-o FILE] [--api SOCKET]\n"
    "  firedrill report list [--json] [--api SOCKET]\n"
    "  firedrill report verify FILE --key PUBLIC.pem | --keys KEYS.pem     (offline)\n"
    "  firedrill report verify --run RUN [--key PUBLIC.pem | --keys KEYS.pem] [-o FILE]\n\n"
    "DESCRIPTION\n"
    "  A report is built by the controller from the run's hash-chained, signed event log\n"
    "  in its store, and sealed with its evidence key when it is rendered: the seal covers\n"
    "  the findings it shows, the generation time and the generator. The JSON carries the\n"
    "  report, the events, the chain and the signatures; the HTML page is one\n"
    "  self-contained file that embeds the same document. list names every run with\n"
    "  evidence. These verbs reach the controller through its API socket (--api or\n"
    "  $FIREDRILL_API), from any directory and any host path; they read no state directory.\n";

int report_list(int argc, char** argv) {
  ClientOptions common;
  po::options_description desc(std::string(kReportUsage) + "\nOPTIONS");
  common.add(desc);
  po::variables_map vm;
  if (int rc = parse_verb(argc, argv, desc, vm, "report list"); rc >= 0) return rc;
  v1::ListReportsResponse resp;
  grpc::ClientContext ctx;
  deadline(ctx);
  if (auto st = evidence_stub(common.api)->ListReports(&ctx, {}, &resp); !st.ok()) {
    return call_error("report list", st, common.api);
  }
  if (common.json) {
    runner::print_json(resp);
    return 0;
  }
  for (const auto& r : resp.reports()) {
    std::cout << r.run_id() << "  " << r.events() << " events  last " << r.last_kind() << "  " << r.last_recorded_at()
              << "\n";
  }
  return 0;
}

Result<v1::GetReportResponse> fetch_report(const std::string& api, const std::string& run, v1::ReportFormat format,
                                           grpc::Status& status) {
  v1::GetReportRequest req;
  req.set_run_id(run);
  req.set_format(format);
  v1::GetReportResponse resp;
  grpc::ClientContext ctx;
  deadline(ctx);
  status = evidence_stub(api)->GetReport(&ctx, req, &resp);
  if (!status.ok()) return make_error("{}", status.error_message());
  return resp;
}

// verify --run RUN: the controller's JSON report, verified here.
int report_verify_run(const std::string& api, const std::string& run, const std::string& key, const std::string& keys,
                      const std::string& out) {
  auto ring = evidence::pinned_keys(key, keys);
  if (!ring) return verb_usage_error("report verify", ring.error().describe());
  if (ring->empty()) {
    v1::EvidenceKey served;
    grpc::ClientContext ctx;
    deadline(ctx);
    if (auto st = evidence_stub(api)->GetEvidenceKey(&ctx, {}, &served); !st.ok()) {
      return std::max(2, call_error("report verify", st, api));
    }
    auto pub = evidence::PublicKey::from_pem(served.public_pem(), "the controller's evidence key");
    if (!pub) return verb_usage_error("report verify", pub.error().describe());
    std::cout << "pinned: " << served.fingerprint() << ", the key the controller on " << api << " serves\n";
    ring->add(std::move(*pub));
  }
  grpc::Status st;
  auto report = fetch_report(api, run, v1::REPORT_FORMAT_JSON, st);
  if (!report) return std::max(2, call_error("report verify", st, api));
  if (!out.empty()) {
    if (int rc = emit("report verify", out, report->document(), "json, run " + run); rc != 0) return 2;
  }
  return evidence::print_verification(report->document(), *ring, "run " + run + " from the controller on " + api);
}

int report_verify(int argc, char** argv) {
  // A FILE (no --run) is verified offline, with no controller.
  bool has_run = false;
  for (int i = 1; i < argc; ++i) has_run |= std::string_view(argv[i]) == "--run" || std::string_view(argv[i]).starts_with("--run=");
  if (!has_run) return evidence::report_verify_main(argc, argv);
  ClientOptions common;
  std::string run, key, keys, out;
  po::options_description desc(std::string(kReportUsage) + evidence::kVerifyHelp + "\nOPTIONS");
  common.add(desc, false);
  desc.add_options()
    ("run", po::value(&run), "the run whose report the controller renders")
    ("key", po::value(&key), "PEM public key the report must be signed by (default: the controller's)")
    ("keys", po::value(&keys), "file of PEM public keys: every key that signed a part of the report must be one")
    ("output,o", po::value(&out), "also keep the report verified, as JSON, in this file");
  po::variables_map vm;
  if (int rc = parse_verb(argc, argv, desc, vm, "report verify"); rc >= 0) return rc;
  if (run.empty()) return verb_usage_error("report verify", "--run needs a run id");
  return report_verify_run(common.api, run, key, keys, out);
}

}  // namespace

int report_main(int argc, char** argv) {
  if (argc >= 2 && std::string_view(argv[1]) == "verify") return report_verify(argc - 1, argv + 1);
  if (argc >= 2 && std::string_view(argv[1]) == "list") return report_list(argc - 1, argv + 1);
  ClientOptions common;
  std::string run, format = "html", out;
  po::options_description desc(std::string(kReportUsage) + evidence::kVerifyHelp + "\nOPTIONS");
  common.add(desc, false);
  desc.add_options()
    ("format", po::value(&format), "json or html (default html)")
    ("output,o", po::value(&out), "file to write (default: standard output)")
    ("run", po::value(&run), "run id");
  po::positional_options_description pos;
  pos.add("run", 1);
  po::variables_map vm;
  if (int rc = parse_verb(argc, argv, desc, vm, "report", &pos); rc >= 0) return rc;
  if (run.empty()) return verb_usage_error("report", "give the run id (or list, or verify FILE)");
  if (format != "json" && format != "html") return verb_usage_error("report", "--format '" + format + "' is not json or html");
  grpc::Status st;
  auto report = fetch_report(common.api, run, format == "json" ? v1::REPORT_FORMAT_JSON : v1::REPORT_FORMAT_HTML, st);
  if (!report) return call_error("report", st, common.api);
  return emit("report", out, report->document(),
              fmt::format("{}, run {}, {} events, head {}, sealed by {}", format, run, report->events(), report->head(),
                          report->key_fingerprint()));
}

int keys_main(int argc, char** argv) {
  std::string sub = argc >= 2 ? argv[1] : "";
  const char* usage =
      "firedrill keys - the controller's Ed25519 evidence key\n\n"
      "SYNOPSIS\n"
      "  firedrill keys export [-o FILE] [--api SOCKET]   the public half, PEM\n"
      "  firedrill keys export --all [-o FILE]            every controller's public key in the store, PEM\n"
      "  firedrill keys show [--api SOCKET]               fingerprint, and where the controller keeps it\n\n"
      "DESCRIPTION\n"
      "  The key pair is made on the controller's first start (`firedrill serve`) in its\n"
      "  state directory (evidence-ed25519.pem, mode 0600); it signs every run's evidence\n"
      "  and every finding. These verbs ask the controller for its public half through the\n"
      "  API socket. Give auditors the public half: `firedrill report verify FILE --key it`.\n"
      "  Controllers that share one PostgreSQL store each sign with their own key; a run\n"
      "  continued at another controller after a takeover is signed by both. --all writes\n"
      "  every key the store holds (each controller's, with a comment naming it), for\n"
      "  `firedrill report verify FILE --keys FILE`.\n";
  if (sub != "export" && sub != "show") {
    if (sub == "--help" || sub == "-h") {
      std::cout << usage;
      return 0;
    }
    std::cerr << (sub.empty() ? "" : "firedrill keys: unknown subcommand '" + sub + "' (export, show)\n\n") << usage;
    return 2;
  }
  ClientOptions common;
  std::string out;
  po::options_description desc(std::string(usage) + "\nOPTIONS");
  common.add(desc, sub == "show");
  bool all = false;
  if (sub == "export") {
    desc.add_options()("output,o", po::value(&out), "file to write (default: standard output)")(
        "all", po::bool_switch(&all), "every controller's public key the store holds");
  }
  po::variables_map vm;
  std::string verb = "keys " + sub;
  if (int rc = parse_verb(argc - 1, argv + 1, desc, vm, verb.c_str()); rc >= 0) return rc;
  if (all) {
    v1::ListEvidenceKeysResponse keys;
    grpc::ClientContext ctx;
    deadline(ctx);
    if (auto st = evidence_stub(common.api)->ListEvidenceKeys(&ctx, {}, &keys); !st.ok()) {
      return call_error(verb.c_str(), st, common.api);
    }
    std::string text;
    for (const auto& k : keys.keys()) text += "# " + k.fingerprint() + "\n" + k.public_pem();
    return emit("keys", out, text, fmt::format("{} key(s)", keys.keys_size()));
  }
  v1::EvidenceKey key;
  grpc::ClientContext ctx;
  deadline(ctx);
  if (auto st = evidence_stub(common.api)->GetEvidenceKey(&ctx, {}, &key); !st.ok()) {
    return call_error(verb.c_str(), st, common.api);
  }
  if (sub == "show") {
    if (common.json) {
      runner::print_json(key);
    } else {
      std::cout << key.fingerprint() << "  " << key.path() << "\n";
    }
    return 0;
  }
  return emit("keys", out, key.public_pem(), key.fingerprint());
}

namespace {

constexpr const char* kFindingUsage =
    "firedrill finding - record weaknesses found by a run, and close them after a retest\n\n"
    "SYNOPSIS\n"
    "  firedrill finding add RUN --severity low|medium|high|critical --owner WHO --due YYYY-MM-DD\n"
    "                        [--title TEXT] [--description TEXT]\n"
    "  firedrill finding close ID --retest RUN2 [--note TEXT]\n"
    "  firedrill finding list [RUN]\n\n"
    "DESCRIPTION\n"
    "  A finding is its own record, signed by the controller with its evidence key and\n"
    "  linked to the run's signed head; the run's own log never changes. Closing needs a\n"
    "  later run of the same experiment that passed (the retest). Findings appear in every\n"
    "  report rendered afterwards, of the run they were found in and of the retest run.\n"
    "  Each is recorded under the caller's identity, which the controller takes from the\n"
    "  connection.\n"
    "  Through the controller's API socket (--api or $FIREDRILL_API).\n";

void print_finding(const v1::Finding& f) {
  std::cout << f.id() << "  " << f.status() << "  " << f.severity() << "  owner " << f.owner() << "  due " << f.due()
            << "  run " << f.run_id() << (f.retest_run().empty() ? "" : "  retest " + f.retest_run()) << "  "
            << f.title() << "\n";
}

}  // namespace

int finding_main(int argc, char** argv) {
  std::string sub = argc >= 2 ? argv[1] : "";
  if (sub.empty() || sub == "--help" || sub == "-h") {
    std::cout << kFindingUsage;
    return sub.empty() ? 2 : 0;
  }
  if (sub != "add" && sub != "close" && sub != "list") {
    std::cerr << "firedrill finding: unknown subcommand '" << sub << "' (add, close, list)\n";
    return 2;
  }
  ClientOptions common;
  std::string target, severity, owner, due, title, description, retest, note;
  po::options_description desc(std::string(kFindingUsage) + "\nOPTIONS");
  common.add(desc);
  if (sub == "add") {
    desc.add_options()
      ("severity", po::value(&severity)->required(), "low, medium, high or critical")
      ("owner", po::value(&owner)->required(), "who fixes it")
      ("due", po::value(&due)->required(), "due date, YYYY-MM-DD")
      ("title", po::value(&title), "one line")
      ("description", po::value(&description), "what was found");
  } else if (sub == "close") {
    desc.add_options()
      ("retest", po::value(&retest)->required(), "the later run that shows it fixed")
      ("note", po::value(&note), "what was done");
  }
  desc.add_options()("target", po::value(&target), "run or finding id");
  po::positional_options_description pos;
  pos.add("target", 1);
  po::variables_map vm;
  std::string verb = "finding " + sub;
  if (int rc = parse_verb(argc - 1, argv + 1, desc, vm, verb.c_str(), &pos); rc >= 0) return rc;
  if ((sub == "add" || sub == "close") && target.empty()) {
    return verb_usage_error(verb.c_str(), sub == "add" ? "give the run" : "give the finding id");
  }
  auto stub = evidence_stub(common.api);
  grpc::ClientContext ctx;
  deadline(ctx);
  if (sub == "list") {
    v1::ListFindingsRequest req;
    req.set_run_id(target);
    v1::ListFindingsResponse resp;
    if (auto st = stub->ListFindings(&ctx, req, &resp); !st.ok()) return call_error(verb.c_str(), st, common.api);
    if (common.json) {
      runner::print_json(resp);
    } else {
      for (const auto& f : resp.findings()) print_finding(f);
    }
    return 0;
  }
  v1::Finding f;
  grpc::Status st;
  if (sub == "add") {
    v1::AddFindingRequest req;
    req.set_run_id(target);
    req.set_severity(severity);
    req.set_owner(owner);
    req.set_due(due);
    req.set_title(title);
    req.set_description(description);
    st = stub->AddFinding(&ctx, req, &f);
  } else {
    v1::CloseFindingRequest req;
    req.set_finding_id(target);
    req.set_retest_run(retest);
    req.set_note(note);
    st = stub->CloseFinding(&ctx, req, &f);
  }
  if (!st.ok()) return call_error(verb.c_str(), st, common.api);
  if (common.json) {
    runner::print_json(f);
  } else {
    print_finding(f);
  }
  return 0;
}

}  // namespace firedrill::controller
