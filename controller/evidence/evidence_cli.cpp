#include "controller/evidence/evidence_cli.h"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include <boost/program_options.hpp>

#include "common/output_file.h"
#include "controller/evidence/document.h"
#include "controller/evidence/findings.h"
#include "controller/evidence/html_report.h"
#include "controller/evidence/signing_key.h"
#include "controller/evidence/sqlite_store.h"
#include "controller/evidence/verify.h"

namespace firedrill::evidence {

namespace po = boost::program_options;
namespace fs = std::filesystem;

fs::path default_state_dir() {
  if (const char* env = std::getenv("FIREDRILL_STATE_DIR"); env && *env) return env;
  return "/var/lib/firedrill";
}

namespace {

struct Where {
  std::string state_dir;
  std::string db;
  fs::path dir() const { return state_dir.empty() ? default_state_dir() : fs::path(state_dir); }
  fs::path db_path() const { return db.empty() ? dir() / kDatabaseName : fs::path(db); }
  // For verbs that only read: the database given must exist, or the state directory
  // must be a controller's (it has the evidence key), so that a wrong path is an error
  // and not a new, empty database.
  Result<void> check() const {
    std::error_code ec;
    if (!db.empty()) {
      if (!fs::exists(db, ec)) return make_error("no evidence database {}", db);
      return ok();
    }
    if (!fs::exists(dir() / kKeyFileName, ec)) {
      return make_error("{} is not a controller's state directory: it has no evidence key {} (only `firedrill serve` "
                        "makes one)",
                        dir().string(), (dir() / kKeyFileName).string());
    }
    return ok();
  }
};

void add_where(po::options_description& o, Where& w) {
  o.add_options()("state-dir", po::value(&w.state_dir),
                  "controller state directory (default $FIREDRILL_STATE_DIR or /var/lib/firedrill)")(
      "db", po::value(&w.db), "evidence database (default STATE_DIR/controller.db, the controller's store)");
}

// Parses options; returns -1 to go on, else the exit code (help printed, or an error).
int parse(int argc, char** argv, po::options_description& visible, po::options_description& all,
          po::positional_options_description& pos, po::variables_map& vm, const char* usage) {
  try {
    po::store(po::command_line_parser(argc, argv).options(all).positional(pos).run(), vm);
    if (vm.count("help")) {
      std::cout << usage << "\n" << visible << "\n";
      return 0;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "firedrill " << argv[0] << ": " << e.what() << "\n\n" << usage << "\n" << visible;
    return 2;
  }
  return -1;
}

Result<std::string> read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return sys_error(errno, "open {}", path.string());
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int fail(std::string_view verb, const Error& e) {
  std::cerr << "firedrill " << verb << ": " << e.describe() << "\n";
  return 1;
}

const char* kReportUsage =
    "NAME\n"
    "  firedrill report - render a run's evidence report, or verify one\n\n"
    "SYNOPSIS\n"
    "  firedrill report RUN [--format json|html] [-o FILE] [--state-dir DIR] [--db FILE]\n"
    "  firedrill report verify FILE --key PUBLIC.pem | --keys KEYS.pem\n"
    "  firedrill report list\n\n"
    "DESCRIPTION\n"
    "  A report is built from the run's hash-chained, signed event log alone. The JSON\n"
    "  carries the report, the events, the chain and the signature; the HTML page is one\n"
    "  self-contained file that embeds the same document.\n"
    "  The report is sealed when it is rendered, with the controller's evidence key\n"
    "  (STATE_DIR/evidence-ed25519.pem): the seal covers the findings it shows, the\n"
    "  generation time and the generator.\n"
    "  verify recomputes every hash, checks the Ed25519 seals against the pinned key\n"
    "  (--key: the controller's public key from `firedrill keys export`; --keys: a file of\n"
    "  several, e.g. before and after a key rotation), checks finding records and the\n"
    "  findings the report was sealed with, derives the report again and compares it, and\n"
    "  for a page renders it again. It names each problem (changed, removed or reordered\n"
    "  events, changed verdict, removed, added or edited finding, another key, truncated\n"
    "  file).\n\n"
    "EXIT STATUS\n"
    "  0  VERIFIED: no problem, and every signature is by a pinned key\n"
    "  1  NOT VERIFIED: a problem was found\n"
    "  2  usage error, or the file or key could not be read\n"
    "  3  no problem, but no key was pinned: the signatures are valid for the keys the\n"
    "     report carries, and anyone can make a key\n";

int report_verify(int argc, char** argv) {
  std::string file, key, keys;
  po::options_description visible("Options");
  visible.add_options()("help,h", "this help")("key", po::value(&key), "PEM public key the report must be signed by")(
      "keys", po::value(&keys), "file of PEM public keys, one of which must have signed the report");
  po::options_description all;
  all.add(visible).add_options()("file", po::value(&file)->required(), "report file");
  po::positional_options_description pos;
  pos.add("file", 1);
  po::variables_map vm;
  if (int rc = parse(argc, argv, visible, all, pos, vm, kReportUsage); rc >= 0) return rc;

  auto unreadable = [](const Error& e) {
    std::cerr << "firedrill report verify: " << e.describe() << "\n";
    return 2;
  };
  KeyRing ring;
  if (!keys.empty()) {
    auto loaded = KeyRing::load(keys);
    if (!loaded) return unreadable(loaded.error());
    ring = std::move(*loaded);
  }
  if (!key.empty()) {
    auto loaded = PublicKey::load(key);
    if (!loaded) return unreadable(loaded.error());
    ring.add(std::move(*loaded));
  }
  auto text = read_file(file);
  if (!text) return unreadable(text.error());
  Verification v = verify_report_text(*text, &ring, file);
  std::cout << "report verify: " << file << "\n";
  for (auto& c : v.checked) std::cout << "  ok: " << c << "\n";
  for (auto& c : v.skipped) std::cout << "  skipped: " << c << "\n";
  for (auto& i : v.issues) std::cout << "  FAIL [" << to_string(i.problem) << "]: " << i.message << "\n";
  if (!v.ok()) {
    std::cout << "NOT VERIFIED: " << v.issues.size() << " problem" << (v.issues.size() == 1 ? "" : "s") << "\n";
    return 1;
  }
  if (!v.pinned) {
    std::cout << "SIGNATURE VALID, SIGNER NOT PINNED: " << v.events << " events, head " << v.head
              << ", signed by " << v.signer << ", a key the report carries; pass --key or --keys with the "
              << "controller's public key to verify who signed it\n";
    return 3;
  }
  std::cout << "VERIFIED: " << v.events << " events, head " << v.head << ", signed by " << v.signer << "\n";
  return 0;
}

int report_list(int argc, char** argv) {
  Where w;
  po::options_description visible("Options");
  visible.add_options()("help,h", "this help");
  add_where(visible, w);
  po::positional_options_description pos;
  po::variables_map vm;
  if (int rc = parse(argc, argv, visible, visible, pos, vm, kReportUsage); rc >= 0) return rc;
  if (auto r = w.check(); !r) return fail("report list", r.error());
  auto store = SqliteEvidenceStore::open(w.db_path());
  if (!store) return fail("report list", store.error());
  auto runs = (*store)->runs();
  if (!runs) return fail("report list", runs.error());
  for (auto& r : *runs) {
    auto last = (*store)->last_event(r);
    if (!last || !*last) continue;
    std::cout << r << "  " << (*last)->seq << " events  last " << (*last)->kind << "  " << (*last)->recorded_at << "\n";
  }
  return 0;
}

}  // namespace

int report_main(int argc, char** argv) {
  if (argc >= 2 && std::string_view(argv[1]) == "verify") return report_verify(argc - 1, argv + 1);
  if (argc >= 2 && std::string_view(argv[1]) == "list") return report_list(argc - 1, argv + 1);
  Where w;
  std::string run, format = "html", out;
  po::options_description visible("Options");
  visible.add_options()("help,h", "this help")("format", po::value(&format), "json or html (default html)")(
      "output,o", po::value(&out), "file to write (default: standard output)");
  add_where(visible, w);
  po::options_description all;
  all.add(visible).add_options()("run", po::value(&run)->required(), "run id");
  po::positional_options_description pos;
  pos.add("run", 1);
  po::variables_map vm;
  if (int rc = parse(argc, argv, visible, all, pos, vm, kReportUsage); rc >= 0) return rc;
  if (format != "json" && format != "html") {
    std::cerr << "firedrill report: --format '" << format << "' is not json or html\n";
    return 2;
  }
  auto key = SigningKey::load(w.dir());
  if (!key) return fail("report", key.error());
  auto store = SqliteEvidenceStore::open(w.db_path());
  if (!store) return fail("report", store.error());
  auto doc = build_document(**store, run, *key, WallClock::now(), std::string("firedrill ") + FIREDRILL_VERSION);
  if (!doc) return fail("report", doc.error());
  std::string text;
  if (format == "json") {
    text = render_json(*doc);
  } else {
    auto html = render_html(*doc);
    if (!html) return fail("report", html.error());
    text = std::move(*html);
  }
  if (out.empty() || out == "-") {
    std::cout << text;
    return 0;
  }
  if (auto r = write_output_file(out, text); !r) return fail("report", r.error());
  std::cerr << "firedrill report: wrote " << out << " (" << format << ", run " << run << ", head "
            << (*doc)["evidence"]["seal"]["statement"].value("head", "") << ")\n";
  return 0;
}

namespace {

const char* kFindingUsage =
    "NAME\n"
    "  firedrill finding - record weaknesses found by a run, and close them after a retest\n\n"
    "SYNOPSIS\n"
    "  firedrill finding add RUN --severity low|medium|high|critical --owner WHO --due YYYY-MM-DD\n"
    "                        [--title TEXT] [--description TEXT] [--by WHO]\n"
    "  firedrill finding close ID --retest RUN2 [--note TEXT] [--by WHO]\n"
    "  firedrill finding list [RUN]\n\n"
    "DESCRIPTION\n"
    "  A finding is its own record, signed with the controller's evidence key and linked to\n"
    "  the run's signed head; the run's own log never changes. Closing needs a later run\n"
    "  that passed (the retest). Findings appear in every report rendered afterwards, of\n"
    "  the run they were found in and of the retest run.\n";

void print_finding(const FindingRecord& f) {
  std::cout << f.id << "  " << f.status << "  " << f.severity << "  owner " << f.owner << "  due " << f.due << "  run "
            << f.run << (f.retest_run.empty() ? "" : "  retest " + f.retest_run) << "  " << f.title << "\n";
}

}  // namespace

int finding_main(int argc, char** argv) {
  std::string sub = argc >= 2 ? argv[1] : "";
  if (sub.empty() || sub == "--help" || sub == "-h") {
    std::cout << kFindingUsage;
    return sub.empty() ? 2 : 0;
  }
  Where w;
  std::string target, severity, owner, due, title, description, by, retest, note;
  po::options_description visible("Options");
  visible.add_options()("help,h", "this help");
  if (sub == "add") {
    visible.add_options()("severity", po::value(&severity)->required(), "low, medium, high or critical")(
        "owner", po::value(&owner)->required(), "who fixes it")("due", po::value(&due)->required(),
                                                                "due date, YYYY-MM-DD")(
        "title", po::value(&title), "one line")("description", po::value(&description), "what was found")(
        "by", po::value(&by), "who records it (default $USER)");
  } else if (sub == "close") {
    visible.add_options()("retest", po::value(&retest)->required(), "the later run that shows it fixed")(
        "note", po::value(&note), "what was done")("by", po::value(&by), "who closes it (default $USER)");
  } else if (sub != "list") {
    std::cerr << "firedrill finding: unknown subcommand '" << sub << "' (add, close, list)\n";
    return 2;
  }
  add_where(visible, w);
  po::options_description all;
  all.add(visible).add_options()("target", po::value(&target), "run or finding id");
  po::positional_options_description pos;
  pos.add("target", 1);
  po::variables_map vm;
  if (int rc = parse(argc - 1, argv + 1, visible, all, pos, vm, kFindingUsage); rc >= 0) return rc;
  if (by.empty()) {
    if (const char* u = std::getenv("USER")) by = u;
  }
  if ((sub == "add" || sub == "close") && target.empty()) {
    std::cerr << "firedrill finding " << sub << ": give the " << (sub == "add" ? "run" : "finding id") << "\n";
    return 2;
  }
  // The key first: a state directory without one is the wrong one, and opening its
  // database would make an empty one there.
  std::optional<SigningKey> key;
  if (sub != "list") {
    auto loaded = SigningKey::load(w.dir());
    if (!loaded) return fail("finding " + sub, loaded.error());
    key = std::move(*loaded);
  } else if (auto r = w.check(); !r) {
    return fail("finding list", r.error());
  }
  auto store = SqliteEvidenceStore::open(w.db_path());
  if (!store) return fail("finding", store.error());
  if (sub == "list") {
    FindingBook book(**store, nullptr);
    auto list = target.empty() ? book.all() : book.of_run(target);
    if (!list) return fail("finding list", list.error());
    for (auto& f : *list) print_finding(f);
    return 0;
  }
  FindingBook book(**store, &*key);
  auto r = sub == "add" ? book.add(NewFinding{target, severity, owner, due, title, description, by})
                        : book.close(target, retest, note, by);
  if (!r) return fail("finding " + sub, r.error());
  print_finding(*r);
  return 0;
}

int keys_main(int argc, char** argv) {
  std::string sub = argc >= 2 ? argv[1] : "";
  const char* usage =
      "NAME\n"
      "  firedrill keys - the controller's Ed25519 evidence key\n\n"
      "SYNOPSIS\n"
      "  firedrill keys export [-o FILE] [--state-dir DIR]   the public half, PEM\n"
      "  firedrill keys show [--state-dir DIR]               fingerprint and file\n\n"
      "DESCRIPTION\n"
      "  The key pair is made on the controller's first start (`firedrill serve`) in its\n"
      "  state directory; no other verb makes one, and a directory without it is an error\n"
      "  (evidence-ed25519.pem, mode 0600) and signs every run's evidence and every\n"
      "  finding. Give auditors the public half: `firedrill report verify FILE --key it`.\n";
  if (sub != "export" && sub != "show") {
    std::cerr << (sub.empty() || sub == "--help" || sub == "-h" ? "" : "firedrill keys: unknown subcommand '" + sub + "'\n\n")
              << usage;
    return sub == "--help" || sub == "-h" ? 0 : 2;
  }
  Where w;
  std::string out;
  po::options_description visible("Options");
  visible.add_options()("help,h", "this help")("output,o", po::value(&out), "file to write (default: standard output)")(
      "state-dir", po::value(&w.state_dir), "controller state directory (default $FIREDRILL_STATE_DIR or /var/lib/firedrill)");
  po::positional_options_description pos;
  po::variables_map vm;
  if (int rc = parse(argc - 1, argv + 1, visible, visible, pos, vm, usage); rc >= 0) return rc;
  auto key = SigningKey::load(w.dir());
  if (!key) return fail("keys " + sub, key.error());
  if (sub == "show") {
    std::cout << key->fingerprint() << "  " << (w.dir() / kKeyFileName).string() << "\n";
    return 0;
  }
  if (out.empty() || out == "-") {
    std::cout << key->public_key().pem();
    return 0;
  }
  if (auto r = write_output_file(out, key->public_key().pem()); !r) return fail("keys export", r.error());
  std::cerr << "firedrill keys: wrote " << out << " (" << key->fingerprint() << ")\n";
  return 0;
}

}  // namespace firedrill::evidence
