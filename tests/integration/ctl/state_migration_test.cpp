// A controller of this version started on the state directory of firedrill 0.1.0
// (tests/data/state-0.1.0: an experiment run with samples, an ad hoc inject, a halt
// in force): the database is migrated, the run files imported, the halt kept, the
// 0.1.0 report still verifies, and a second start changes nothing. A database of a
// newer schema is refused with what was found and what to do.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "controller/store/sqlite.h"
#include "controller/store/store.h"
#include "tests/integration/ctl/ctl_lab.h"

namespace firedrill::ctltest {
namespace {

namespace fs = std::filesystem;

// The runs make.sh made (their ids are in the data).
constexpr const char* kExperiment = "r-20261202T185042-b53051";
constexpr const char* kInject = "r-20261202T185047-9a63c8";

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void make_db(const std::string& path, const std::string& sql) {
  auto db = sqlite::open(path);
  ASSERT_TRUE(db) << db.error().describe();
  auto r = sqlite::exec(*db, sql.c_str());
  sqlite3_close(*db);
  ASSERT_TRUE(r) << r.error().describe();
}

class StateMigration : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/fdc-migrate-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    state_ = dir_ + "/state";
    api_ = dir_ + "/api.sock";
  }
  void TearDown() override {
    if (HasFailure() && controller_) std::cerr << "--- controller log\n" << controller_->log();
    controller_.reset();
    fs::remove_all(dir_);
  }
  void serve() {
    controller_ = std::make_unique<Process>(
        nullptr,
        std::vector<std::string>{firedrill_binary(), "serve", "--insecure", "--listen", "127.0.0.1:0", "--state-dir",
                                 state_, "--api", api_, "--log-level", "info"},
        dir_ + "/controller-" + std::to_string(++starts_) + ".log");
  }
  Exec cli(std::vector<std::string> args) {
    args.insert(args.begin(), firedrill_binary());
    args.push_back("--api");
    args.push_back(api_);
    return exec(args);
  }
  std::string dir_, state_, api_;
  int starts_ = 0;
  std::unique_ptr<Process> controller_;
};

TEST_F(StateMigration, A010StateDirectoryIsMigratedImportedAndStillVerifies) {
  fs::create_directories(state_);
  fs::copy(std::string(FDC_STATE_010) + "/runs", state_ + "/runs");
  make_db(state_ + "/controller.db", slurp(std::string(FDC_STATE_010) + "/controller.sql"));
  serve();
  ASSERT_TRUE(controller_->wait_log("controller", 10s));
  ASSERT_TRUE(controller_->wait_log("ready", 15s)) << controller_->log();
  EXPECT_TRUE(controller_->wait_log(fmt::format("migrated from schema 1 (firedrill 0.1.0) to {}: 2 run(s)", controller::kSchemaVersion), 1s));
  EXPECT_TRUE(controller_->wait_log("imported 1 file(s) of firedrill 0.1.0 from " + state_ + "/runs", 1s));
  EXPECT_FALSE(fs::exists(state_ + "/runs"));
  EXPECT_TRUE(fs::exists(state_ + "/runs.imported-0.1.0/" + std::string(kExperiment) + ".run"));

  // One list of runs: the experiment (from its file) and the inject (from its row).
  auto runs = cli({"runs"});
  ASSERT_EQ(runs.code, 0) << runs.out;
  EXPECT_NE(runs.out.find(std::string(kExperiment) + "   experiment completed"), std::string::npos) << runs.out;
  EXPECT_NE(runs.out.find(std::string(kInject) + "   inject     completed"), std::string::npos) << runs.out;
  auto inject = cli({"runs", kInject});
  EXPECT_NE(inject.out.find("h1"), std::string::npos) << inject.out;
  // The experiment with its verdict and every probe sample.
  auto show = cli({"show", kExperiment, "--samples"});
  EXPECT_EQ(show.code, 0) << show.out;
  EXPECT_NE(show.out.find("verdict: PASSED"), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("availability  alive  >= 0.5  1.0000 (16/16)"), std::string::npos) << show.out;
  // The halt stays in force.
  auto agents = cli({"agents"});
  EXPECT_NE(agents.out.find("FLEET HALTED"), std::string::npos) << agents.out;
  EXPECT_NE(agents.out.find("left in force by make.sh"), std::string::npos) << agents.out;
  // The 0.1.0 evidence still verifies.
  std::string file = dir_ + "/report.json";
  auto report = cli({"report", kExperiment, "--format", "json", "-o", file});
  ASSERT_EQ(report.code, 0) << report.out;
  // Pinned: the 0.1.0 controller's key (it sealed the evidence; the database keeps
  // its public half) and this controller's (it sealed the report as rendered).
  std::string ring = dir_ + "/keys.pem";
  auto exported = cli({"keys", "export", "-o", ring});
  ASSERT_EQ(exported.code, 0) << exported.out;
  {
    auto db = sqlite::open(state_ + "/controller.db");
    ASSERT_TRUE(db) << db.error().describe();
    std::ofstream out(ring, std::ios::app);
    {
      sqlite::Stmt keys(*db, "SELECT public_pem FROM evidence_keys");
      while (keys.step() == SQLITE_ROW) out << keys.text(0);
    }
    sqlite3_close(*db);
  }
  auto verify = exec({firedrill_binary(), "report", "verify", file, "--keys", ring});
  EXPECT_EQ(verify.code, 0) << verify.out;
  EXPECT_EQ(exec({firedrill_binary(), "report", "verify", file}).code, 3);

  // A second start migrates and imports nothing.
  ASSERT_EQ(controller_->terminate(), 0);
  serve();
  ASSERT_TRUE(controller_->wait_log("ready", 15s)) << controller_->log();
  EXPECT_EQ(controller_->log().find("migrated"), std::string::npos) << controller_->log();
  EXPECT_EQ(controller_->log().find("imported"), std::string::npos) << controller_->log();
  auto again = cli({"runs"});
  EXPECT_EQ(again.out, runs.out);
}

TEST_F(StateMigration, ANewerSchemaIsRefusedAndLeftAlone) {
  fs::create_directories(state_);
  make_db(state_ + "/controller.db",
          "CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (99);");
  auto before = slurp(state_ + "/controller.db");
  auto r = exec({firedrill_binary(), "serve", "--insecure", "--listen", "127.0.0.1:0", "--state-dir", state_, "--api",
                 api_},
                20s);
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find(state_ + "/controller.db: its schema is version 99, written by a newer firedrill"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("Run the newer firedrill on it, or move the state directory aside"), std::string::npos) << r.out;
  EXPECT_TRUE(slurp(state_ + "/controller.db") == before) << "the refused database was changed";
}

}  // namespace
}  // namespace firedrill::ctltest
