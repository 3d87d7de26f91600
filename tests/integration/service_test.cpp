// The daemons under a service manager, as systemd runs them: the agent tells a
// NOTIFY_SOCKET (one this test listens on) READY=1 once it serves and WATCHDOG=1 while
// its fault manager answers; the controller READY=1. Logs: JSON lines that parse, and
// under the journal ($JOURNAL_STREAM naming stderr) lines with a priority and no time.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "tests/integration/ctl/ctl_lab.h"

namespace firedrill::ctltest {
namespace {

using ::testing::HasSubstr;

// A datagram socket standing in for systemd's notify socket.
class NotifySocket {
 public:
  explicit NotifySocket(const std::string& path) : path_(path) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    path.copy(a.sun_path, sizeof a.sun_path - 1);
    ::unlink(path.c_str());
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      throw std::runtime_error("bind " + path + ": " + std::strerror(errno));
    }
  }
  ~NotifySocket() {
    ::close(fd_);
    ::unlink(path_.c_str());
  }
  // The next message, or "" when none comes within `within`.
  std::string next(std::chrono::milliseconds within) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(within.count())) <= 0) return "";
    char buf[4096];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
  }

 private:
  std::string path_;
  int fd_ = -1;
};

class Service : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = "/tmp/" + tag() + "-svc";
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::vector<std::string> agent_argv(std::vector<std::string> env, std::string id = "svc-h1") {
    std::vector<std::string> argv = {"env"};
    argv.insert(argv.end(), env.begin(), env.end());
    for (auto& a : std::vector<std::string>{agent_binary(), "--id", id, "--local-socket", dir_ + "/agent.sock",
                                            "--state-dir", dir_ + "/state"}) {
      argv.push_back(a);
    }
    return argv;
  }

  std::string dir_;
};

TEST_F(Service, AgentSendsReadyThenFeedsTheWatchdog) {
  NotifySocket notify(dir_ + "/notify.sock");
  // A 400 ms watchdog: the agent should send WATCHDOG=1 about every 200 ms.
  Process agent(nullptr, agent_argv({"NOTIFY_SOCKET=" + dir_ + "/notify.sock", "WATCHDOG_USEC=400000"}),
                dir_ + "/agent.log");
  std::string first = notify.next(30s);
  ASSERT_THAT(first, HasSubstr("READY=1")) << agent.log();
  EXPECT_THAT(first, HasSubstr("STATUS=id svc-h1"));
  // Ready means serving: the local socket answers by now.
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/agent.sock"));
  int watchdogs = 0;
  for (int i = 0; i < 5; ++i) {
    std::string m = notify.next(5s);
    ASSERT_EQ(m, "WATCHDOG=1") << "message " << i << "\n" << agent.log();
    ++watchdogs;
  }
  EXPECT_EQ(watchdogs, 5);
  EXPECT_EQ(agent.terminate(), 0) << agent.log();
  EXPECT_EQ(notify.next(2s), "STOPPING=1");
}

TEST_F(Service, AgentWithoutAWatchdogSendsOnlyReady) {
  NotifySocket notify(dir_ + "/notify.sock");
  Process agent(nullptr, agent_argv({"NOTIFY_SOCKET=" + dir_ + "/notify.sock"}), dir_ + "/agent.log");
  ASSERT_THAT(notify.next(30s), HasSubstr("READY=1")) << agent.log();
  EXPECT_EQ(notify.next(1500ms), "");
  EXPECT_EQ(agent.terminate(), 0) << agent.log();
}

TEST_F(Service, ControllerSendsReady) {
  NotifySocket notify(dir_ + "/notify.sock");
  Process controller(nullptr,
                     {"env", "NOTIFY_SOCKET=" + dir_ + "/notify.sock", firedrill_binary(), "serve", "--insecure",
                      "--listen", "127.0.0.1:0", "--state-dir", dir_ + "/ctl", "--api", dir_ + "/ctl.sock"},
                     dir_ + "/controller.log");
  std::string m = notify.next(30s);
  ASSERT_THAT(m, HasSubstr("READY=1")) << controller.log();
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/ctl.sock"));
  EXPECT_EQ(controller.terminate(), 0) << controller.log();
}

TEST_F(Service, JsonLogsAreOneObjectPerLine) {
  // The id, with a quote, a backslash and a tab, is in the first message.
  auto argv = agent_argv({}, "h\"1\\x\ty");
  argv.insert(argv.end(), {"--log-format", "json"});
  Process agent(nullptr, argv, dir_ + "/agent.log");
  ASSERT_TRUE(agent.wait_log("ready", 30s)) << agent.log();
  EXPECT_EQ(agent.terminate(), 0);
  std::istringstream lines(agent.log());
  std::string line;
  int n = 0;
  while (std::getline(lines, line)) {
    auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    ASSERT_FALSE(j.is_discarded()) << "not JSON: " << line;
    for (const char* key : {"ts", "level", "logger", "pid", "msg"}) EXPECT_TRUE(j.contains(key)) << line;
    ++n;
  }
  EXPECT_GE(n, 2);
  EXPECT_THAT(agent.log(), HasSubstr(R"(id=h\"1\\x\ty )"));
}

TEST_F(Service, UnderTheJournalLinesCarryAPriorityAndNoTime) {
  std::string log_path = dir_ + "/agent.log";
  std::ofstream(log_path).close();
  struct stat st {};
  ASSERT_EQ(::stat(log_path.c_str(), &st), 0);
  std::string stream = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
  Process agent(nullptr, agent_argv({"JOURNAL_STREAM=" + stream}), log_path);
  ASSERT_TRUE(agent.wait_log("ready", 30s)) << agent.log();
  EXPECT_EQ(agent.terminate(), 0);
  std::istringstream lines(agent.log());
  std::string line;
  std::regex journal_line(R"(^<[0-7]>(trace|debug|info|warning|error|critical) \[[a-z.]+\] .*)");
  int n = 0;
  while (std::getline(lines, line)) {
    EXPECT_TRUE(std::regex_match(line, journal_line)) << line;
    EXPECT_THAT(line, ::testing::Not(::testing::ContainsRegex("^[0-9]{4}-[0-9]{2}-[0-9]{2}T")));
    ++n;
  }
  EXPECT_GE(n, 2);
  // A JOURNAL_STREAM that is not stderr (the agent's stderr was redirected) is ignored.
  Process other(nullptr, agent_argv({"JOURNAL_STREAM=1:2"}), dir_ + "/other.log");
  ASSERT_TRUE(other.wait_log("ready", 30s)) << other.log();
  EXPECT_EQ(other.terminate(), 0);
  EXPECT_THAT(other.log(), ::testing::ContainsRegex("^[0-9]{4}-[0-9]{2}-[0-9]{2}T"));
}

}  // namespace
}  // namespace firedrill::ctltest
