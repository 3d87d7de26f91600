// Identities and roles on the real API socket: a real `firedrill serve` and the real
// CLI run as other uids (setpriv; uids without a user entry, so nothing on the host
// changes). The caller is whoever the kernel says is on the other end (SO_PEERCRED):
// each refusal below is one a caller could get around before by naming someone else.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include "common/spawn.h"
#include "tests/support/process.h"

namespace firedrill {
namespace {

using support::Exec;

// Ids far from any real user's, chosen per test process so parallel runs differ.
const uid_t kBase = 61000 + static_cast<uid_t>(::getpid() % 400) * 10;
const uid_t kViewer = kBase, kOperator = kBase + 1, kLead1 = kBase + 2, kLead2 = kBase + 3, kOtherApprover = kBase + 4,
            kNobody = kBase + 5;

std::string uid_name(uid_t u) { return "uid:" + std::to_string(u); }

class ApiAccess : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::geteuid(), 0u) << "this test runs the CLI as other uids: it needs root";
    char t[] = "/tmp/fd-access-XXXXXX";
    ASSERT_NE(::mkdtemp(t), nullptr);
    dir_ = t;
    ::chmod(dir_.c_str(), 0755);  // the other uids reach the socket through it
    sock_ = dir_ + "/api.sock";
    SpawnOptions o;
    o.argv = {FDC_FIREDRILL_BIN, "serve", "--insecure", "--listen", "127.0.0.1:0", "--state-dir", dir_ + "/state",
              "--api", sock_, "--api-mode", "0666",
              "--viewer", uid_name(kViewer), "--operator", uid_name(kOperator), "--approver", uid_name(kOperator),
              "--approver", uid_name(kLead1), "--approver", uid_name(kLead2), "--approver", uid_name(kOtherApprover),
              "--approval-policy", "production=2:" + uid_name(kLead1) + "," + uid_name(kLead2)};
    o.output_file = dir_ + "/serve.log";
    auto pid = start(o);
    ASSERT_TRUE(pid) << pid.error().describe();
    pid_ = *pid;
    for (int i = 0; i < 100 && !std::filesystem::exists(sock_); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    ASSERT_TRUE(std::filesystem::exists(sock_)) << support::read_file(dir_ + "/serve.log");
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // socket mode set after bind
  }
  void TearDown() override {
    support::stop_group(pid_);
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  // The CLI as `uid` (no user entry, no supplementary groups); uid 0 runs it as root.
  Exec as(uid_t uid, const std::string& args) {
    std::string cmd = fmt::format("FIREDRILL_API={} ", sock_);
    if (uid != 0) cmd += fmt::format("setpriv --reuid={} --regid={} --clear-groups ", uid, uid);
    return support::sh(cmd + FDC_FIREDRILL_BIN + " " + args + " 2>&1", std::chrono::seconds(30));
  }
  std::string write_experiment(const std::string& name, const std::string& environment) {
    std::string path = dir_ + "/" + name + ".yaml";
    std::ofstream(path) << "name: " << name << "\nenvironment: " << environment
                        << "\ntargets: {selector: host=nowhere}\nsteps:\n  - fault: {network: {blackhole: {}}}\n"
                           "    duration: 5s\n";
    ::chmod(path.c_str(), 0644);
    return path;
  }
  std::string start_run(uid_t uid, const std::string& file) {
    auto r = as(uid, "run --detach " + file);
    std::smatch m;
    if (r.code != 0 || !std::regex_search(r.out, m, std::regex("run (r-[^ ]+) of"))) {
      ADD_FAILURE() << r.out;
      return "";
    }
    return m[1];
  }

  std::string dir_, sock_;
  pid_t pid_ = -1;
};

TEST_F(ApiAccess, RolesComeFromTheConnection) {
  // Root is admin by default: the README's single-user commands keep working.
  auto root = as(0, "runs");
  EXPECT_EQ(root.code, 0) << root.out;

  // No role: not even a read.
  auto nobody = as(kNobody, "runs");
  EXPECT_NE(nobody.code, 0);
  EXPECT_NE(nobody.out.find(uid_name(kNobody) + " (uid " + std::to_string(kNobody) + ") may not read"), std::string::npos)
      << nobody.out;

  // A viewer reads, and may neither halt nor inject.
  EXPECT_EQ(as(kViewer, "runs").code, 0);
  auto halt = as(kViewer, "halt --reason test");
  EXPECT_NE(halt.code, 0);
  EXPECT_NE(halt.out.find("may not halt: that needs the operator role"), std::string::npos) << halt.out;
  auto inject = as(kViewer, "inject --selector host=nowhere --for 5s --fault blackhole --detach");
  EXPECT_NE(inject.code, 0);
  EXPECT_NE(inject.out.find("may not operate"), std::string::npos) << inject.out;
  auto schedule = as(kOperator, "schedule remove s-none");
  EXPECT_NE(schedule.out.find("may not administer: that needs the admin role"), std::string::npos) << schedule.out;

  // Every operator may halt, and the halt records who did it (not what the CLI said).
  auto op_halt = as(kOperator, "halt --reason drill");
  EXPECT_EQ(op_halt.code, 0) << op_halt.out;
  auto status = as(kViewer, "runs");
  auto log = support::read_file(dir_ + "/serve.log");
  EXPECT_NE(log.find(uid_name(kOperator)), std::string::npos) << log;
  EXPECT_EQ(as(kOperator, "release").code, 0);
}

TEST_F(ApiAccess, ApprovalPolicyOfTheEnvironment) {
  // The file asks for no approval; the controller's policy for production asks two
  // from the leads.
  std::string id = start_run(kOperator, write_experiment("access-prod", "production"));
  ASSERT_FALSE(id.empty());
  // Starting under another name is refused.
  auto impostor = as(kOperator, "run --detach --as " + uid_name(kLead1) + " " + write_experiment("access-two", "production"));
  EXPECT_NE(impostor.out.find("may not start a run as " + uid_name(kLead1)), std::string::npos) << impostor.out;

  // The submitter (an approver too) cannot approve their own run.
  auto own = as(kOperator, "approve " + id);
  EXPECT_NE(own.code, 0);
  EXPECT_NE(own.out.find("started this run and may not approve it"), std::string::npos) << own.out;
  // A viewer is no approver.
  auto viewer = as(kViewer, "approve " + id);
  EXPECT_NE(viewer.out.find("needs the approver role"), std::string::npos) << viewer.out;
  // An approver outside the environment's policy.
  auto other = as(kOtherApprover, "approve " + id);
  EXPECT_NE(other.out.find("may not approve runs in environment 'production'"), std::string::npos) << other.out;
  // Approving under someone else's name.
  auto as_other = as(kLead1, "approve " + id + " --as " + uid_name(kLead2));
  EXPECT_NE(as_other.out.find("may not approve as " + uid_name(kLead2)), std::string::npos) << as_other.out;

  auto first = as(kLead1, "approve " + id + " --comment CHG-1");
  EXPECT_EQ(first.code, 0) << first.out;
  EXPECT_NE(first.out.find("(1 of 2)"), std::string::npos) << first.out;
  // Two approvals by one person count once.
  auto again = as(kLead1, "approve " + id);
  EXPECT_NE(again.code, 0);
  EXPECT_NE(again.out.find("approvals must come from distinct people"), std::string::npos) << again.out;
  auto show = as(kViewer, "show " + id);
  EXPECT_NE(show.out.find("pending_approval"), std::string::npos) << show.out;

  auto second = as(kLead2, "approve " + id);
  EXPECT_EQ(second.code, 0) << second.out;
  EXPECT_NE(second.out.find("(2 of 2)"), std::string::npos) << second.out;
  // The record names the real identities.
  show = as(kViewer, "show " + id);
  EXPECT_NE(show.out.find("started by  " + uid_name(kOperator)), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("approved    by " + uid_name(kLead1)), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("approved    by " + uid_name(kLead2)), std::string::npos) << show.out;

  // A staging run is not under the production rule.
  std::string staging = start_run(kOperator, write_experiment("access-staging", "staging"));
  ASSERT_FALSE(staging.empty());
  auto done = as(kViewer, "show " + staging);
  EXPECT_EQ(done.out.find("pending_approval"), std::string::npos) << done.out;
}

}  // namespace
}  // namespace firedrill
