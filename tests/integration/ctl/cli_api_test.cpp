// The evidence verbs (report, keys, finding) as a user meets them: run from another
// working directory, with no state directory and no FIREDRILL_STATE_DIR, against a
// served controller reached through its API socket only. `report verify FILE` works
// with no controller at all.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "tests/integration/ctl/ctl_lab.h"

namespace firedrill::ctltest {
namespace {

namespace fs = std::filesystem;
using support::read_file;
using support::sh;

std::string q(const std::string& s) { return "'" + s + "'"; }

class CliThroughApi : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/fdc-cliapi-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    elsewhere_ = dir_ + "/elsewhere";
    fs::create_directories(elsewhere_);
    api_ = dir_ + "/api.sock";
    controller_ = std::make_unique<Process>(
        nullptr,
        std::vector<std::string>{firedrill_binary(), "serve", "--insecure", "--listen", "127.0.0.1:0", "--state-dir",
                                 dir_ + "/state", "--api", api_, "--log-level", "info"},
        dir_ + "/controller.log");
    ASSERT_TRUE(controller_->wait_log("ready", 15s)) << controller_->log();
  }
  void TearDown() override {
    if (HasFailure() && controller_) std::cerr << "--- controller log\n" << controller_->log();
    controller_.reset();
    fs::remove_all(dir_);
  }
  // `firedrill ARGS` in a directory of its own, the API from the environment, and no
  // state directory anywhere in sight.
  Exec cli(const std::string& args, const std::string& api = "") const {
    return sh("cd " + q(elsewhere_) + " && env -u FIREDRILL_STATE_DIR FIREDRILL_API=" + q(api.empty() ? api_ : api) +
              " " + q(firedrill_binary()) + " " + args);
  }
  // A run with evidence: an inject that no live host matches is refused, and recorded.
  std::string refused_run() const {
    auto r = cli("inject -l host=nowhere --for 1s --fault blackhole --json");
    EXPECT_EQ(r.code, 1) << r.out;
    auto at = r.out.find("\"run_id\": \"");
    EXPECT_NE(at, std::string::npos) << r.out;
    if (at == std::string::npos) return "";
    at += 11;
    return r.out.substr(at, r.out.find('"', at) - at);
  }
  std::string dir_, elsewhere_, api_;
  std::unique_ptr<Process> controller_;
};

TEST_F(CliThroughApi, ReportsKeysAndFindingsFromAnotherDirectoryWithoutAStateDirectory) {
  std::string run = refused_run();
  ASSERT_FALSE(run.empty());

  auto list = cli("report list");
  ASSERT_EQ(list.code, 0) << list.out;
  EXPECT_NE(list.out.find(run + "  3 events  last verdict"), std::string::npos) << list.out;

  auto show = cli("keys show");
  ASSERT_EQ(show.code, 0) << show.out;
  EXPECT_NE(show.out.find("sha256:"), std::string::npos) << show.out;
  EXPECT_NE(show.out.find(dir_ + "/state/evidence-ed25519.pem"), std::string::npos) << show.out;

  auto report = cli("report " + run + " --format json -o report.json");
  ASSERT_EQ(report.code, 0) << report.out;
  auto html = cli("report " + run + " -o report.html");
  ASSERT_EQ(html.code, 0) << html.out;
  EXPECT_NE(read_file(elsewhere_ + "/report.html").find("<html"), std::string::npos);
  auto pub = cli("keys export -o controller.pub");
  ASSERT_EQ(pub.code, 0) << pub.out;
  EXPECT_NE(read_file(elsewhere_ + "/controller.pub").find("BEGIN PUBLIC KEY"), std::string::npos);

  // Offline, with no controller reachable at all.
  auto offline = cli("report verify report.html --key controller.pub", dir_ + "/no-controller.sock");
  EXPECT_EQ(offline.code, 0) << offline.out;
  EXPECT_NE(offline.out.find("VERIFIED: 3 events"), std::string::npos) << offline.out;
  // Fetched from the controller and checked here, against the key it serves.
  auto fetched = cli("report verify --run " + run + " -o kept.json");
  EXPECT_EQ(fetched.code, 0) << fetched.out;
  EXPECT_NE(fetched.out.find("pinned: sha256:"), std::string::npos) << fetched.out;
  EXPECT_NE(fetched.out.find("VERIFIED: 3 events"), std::string::npos) << fetched.out;
  EXPECT_NE(read_file(elsewhere_ + "/kept.json").find("firedrill-evidence-report/1"), std::string::npos);
  // Pinned to another key: refused.
  std::ofstream(elsewhere_ + "/other.pub") << "-----BEGIN PUBLIC KEY-----\n"
                                              "MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n"
                                              "-----END PUBLIC KEY-----\n";
  auto wrong = cli("report verify --run " + run + " --key other.pub");
  EXPECT_EQ(wrong.code, 1) << wrong.out;

  // Findings: signed by the controller, listed, and a close that proves nothing refused.
  auto add = cli("finding add " + run + " --severity high --owner ops --due 2026-12-31 --title 'no host matched'");
  ASSERT_EQ(add.code, 0) << add.out;
  EXPECT_NE(add.out.find("F-0001  open  high  owner ops"), std::string::npos) << add.out;
  auto listed = cli("finding list " + run);
  EXPECT_EQ(listed.code, 0) << listed.out;
  EXPECT_NE(listed.out.find("F-0001  open"), std::string::npos) << listed.out;
  auto close = cli("finding close F-0001 --retest " + run);
  EXPECT_EQ(close.code, 1) << close.out;
  EXPECT_NE(close.out.find("the retest must be a later run"), std::string::npos) << close.out;
  // The finding is in the report rendered afterwards.
  auto again = cli("report " + run + " --format json");
  EXPECT_NE(again.out.find("no host matched"), std::string::npos);

  // Bad input, named.
  auto severity = cli("finding add " + run + " --severity huge --owner ops --due 2026-12-31");
  EXPECT_EQ(severity.code, 2) << severity.out;
  EXPECT_NE(severity.out.find("severity 'huge' is not one of low, medium, high, critical"), std::string::npos)
      << severity.out;
  auto due = cli("finding add " + run + " --severity low --owner ops --due 2026-02-30");
  EXPECT_EQ(due.code, 2) << due.out;
  EXPECT_NE(due.out.find("2026-02-30"), std::string::npos) << due.out;
  auto unknown = cli("report r-nope --format json");
  EXPECT_EQ(unknown.code, 1) << unknown.out;
  EXPECT_NE(unknown.out.find("run 'r-nope' has no evidence"), std::string::npos) << unknown.out;
  auto format = cli("report " + run + " --format pdf");
  EXPECT_EQ(format.code, 2) << format.out;

  // Nothing was written where the CLI ran but what it was asked to write.
  for (auto& e : fs::directory_iterator(elsewhere_)) {
    auto name = e.path().filename().string();
    EXPECT_TRUE(name == "report.json" || name == "report.html" || name == "controller.pub" || name == "kept.json" ||
                name == "other.pub")
        << name;
  }
}

TEST_F(CliThroughApi, NoControllerIsExit2NamingTheSocket) {
  std::string none = dir_ + "/no-controller.sock";
  for (std::string args : {"report list", "report r-1", "keys show", "keys export", "finding list",
                           "report verify --run r-1"}) {
    auto r = cli(args, none);
    EXPECT_EQ(r.code, 2) << args << ": " << r.out;
    EXPECT_NE(r.out.find("no controller answers on " + none), std::string::npos) << args << ": " << r.out;
  }
}

// Output files never follow a link or go through a predictable temporary name.
TEST_F(CliThroughApi, OutputFilesNeverFollowALinkOrAPredictableName) {
  std::string run = refused_run();
  ASSERT_FALSE(run.empty());
  std::string victim = dir_ + "/victim";
  std::ofstream(victim) << "precious\n";
  fs::create_symlink(victim, elsewhere_ + "/report.json");
  auto r = cli("report " + run + " --format json -o report.json");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(read_file(victim), "precious\n") << "the report was written through the symlink";
  EXPECT_TRUE(fs::is_regular_file(fs::symlink_status(elsewhere_ + "/report.json")));
  struct stat st {};
  ASSERT_EQ(::stat((elsewhere_ + "/report.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
  fs::create_symlink(victim, elsewhere_ + "/controller.pub");
  auto k = cli("keys export -o controller.pub");
  ASSERT_EQ(k.code, 0) << k.out;
  EXPECT_EQ(read_file(victim), "precious\n");
  EXPECT_NE(read_file(elsewhere_ + "/controller.pub").find("BEGIN PUBLIC KEY"), std::string::npos);
  for (auto& e : fs::directory_iterator(elsewhere_)) {
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
  }
  auto v = cli("report verify report.json --key controller.pub");
  EXPECT_EQ(v.code, 0) << v.out;
}

// `firedrill run` ends by saying where the report is and the exact commands that fetch
// and verify it; the commands, run as printed, verify.
TEST_F(CliThroughApi, RunEndsWithWhereItsReportIsAndCommandsThatVerifyIt) {
  auto r = cli(std::string("run ") + FDC_EXPERIMENTS + "/continuous.yaml -q");
  EXPECT_EQ(r.code, 2) << r.out;  // refused: no live agent matches
  auto at = r.out.find("report: run ");
  ASSERT_NE(at, std::string::npos) << r.out;
  EXPECT_NE(r.out.find("signed evidence is in the controller's store (" + dir_ + "/state/controller.db", at),
            std::string::npos)
      << r.out;
  auto cmd = r.out.find("\n  firedrill report ", at);
  ASSERT_NE(cmd, std::string::npos) << r.out;
  std::string line = r.out.substr(cmd + 3, r.out.find('\n', cmd + 3) - cmd - 3);
  std::string runnable;
  for (size_t i = 0; i < line.size();) {
    if (line.compare(i, 10, "firedrill ") == 0) {
      runnable += q(firedrill_binary()) + " ";
      i += 10;
    } else {
      runnable += line[i++];
    }
  }
  auto v = sh("cd " + q(elsewhere_) + " && export FIREDRILL_API=" + q(api_) + " && " + runnable);
  EXPECT_EQ(v.code, 0) << line << "\n" << v.out;
  EXPECT_NE(v.out.find("VERIFIED:"), std::string::npos) << v.out;
}

}  // namespace
}  // namespace firedrill::ctltest

namespace firedrill::ctltest {
namespace {

// `run --set` and `-l` through the daemon: a bad one is refused before anything runs,
// naming the override and the field; good ones are in the run's record and its signed
// report (refused here: no agent is live, but every run has evidence).
TEST_F(CliThroughApi, RunOverridesAreCheckedRecordedAndInTheReport) {
  const std::string file = std::string(FDC_EXPERIMENTS) + "/continuous.yaml";
  auto bad = cli("run " + q(file) + " --set steps.0.duration=3x -q");
  EXPECT_EQ(bad.code, 2) << bad.out;
  EXPECT_NE(bad.out.find("--set steps.0.duration=3x: steps[0].duration: "), std::string::npos) << bad.out;
  EXPECT_NE(bad.out.find("nothing was run"), std::string::npos) << bad.out;
  auto bad_l = cli("run " + q(file) + " -l " + q("rack in (p1") + " -q");
  EXPECT_EQ(bad_l.code, 2) << bad_l.out;
  EXPECT_NE(bad_l.out.find("-l rack in (p1: targets.selector: "), std::string::npos) << bad_l.out;

  auto r = cli("run " + q(file) + " --set steps.0.duration=45s --set targets.mode.count=2 -l " + q("rack=p9") +
               " --json");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("\"--set steps.0.duration=45s\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"-l rack=p9\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"selector\": \"rack=p9\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"duration\": \"45s\""), std::string::npos) << r.out;
  auto at = r.out.find("\"id\": \"");
  ASSERT_NE(at, std::string::npos) << r.out;
  std::string id = r.out.substr(at + 7, r.out.find('"', at + 7) - at - 7);
  auto report = cli("report " + id + " --format json -o " + q(dir_ + "/r.json"));
  ASSERT_EQ(report.code, 0) << report.out;
  auto json = read_file(dir_ + "/r.json");
  EXPECT_NE(json.find("--set targets.mode.count=2"), std::string::npos);
  EXPECT_NE(json.find("-l rack=p9"), std::string::npos);
}

// targets.from_command run by the daemon at preflight, a real command: what it printed
// is in the run; output that chooses nothing refuses the run with it.
TEST_F(CliThroughApi, TargetsFromACommandAreRunAtPreflightAndRecorded) {
  std::string exp = dir_ + "/leader.yaml";
  auto write = [&](const std::string& command) {
    std::ofstream(exp) << "name: leader-rack\ntargets: {from_command: \"" << command << "\"}\n"
                       << "steps: [{fault: {power_loss: {}}, duration: 10s}]\n"
                       << "probes: [{name: web, http: {url: \"http://127.0.0.1:9/\"}}]\n";
  };
  write("echo looking >&2; echo 'rack=p9'");
  auto r = cli("run " + q(exp) + " -q");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("the command (exit 0: looking) chose selector rack=p9"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("selector \"rack=p9\" matches none"), std::string::npos) << r.out;
  auto id_at = r.out.find("run r-");
  ASSERT_NE(id_at, std::string::npos) << r.out;
  std::string id = r.out.substr(id_at + 4, r.out.find(' ', id_at + 4) - id_at - 4);
  auto show = cli("show " + id + " --json");
  EXPECT_NE(show.out.find("\"out\": \"rack=p9\\n\""), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("\"err\": \"looking\\n\""), std::string::npos) << show.out;

  write("echo no leader >&2; exit 3");
  auto failed = cli("run " + q(exp) + " -q");
  EXPECT_EQ(failed.code, 2) << failed.out;
  EXPECT_NE(failed.out.find("targets.from_command \"echo no leader >&2; exit 3\": the command did not succeed: exit 3: "
                            "no leader"),
            std::string::npos)
      << failed.out;
}

}  // namespace
}  // namespace firedrill::ctltest
