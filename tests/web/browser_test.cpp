// The dashboard in a real headless Chromium (browser.py: python3-selenium and
// chromium-driver) against a real controller and real agents in namespaces (the
// controller integration suite's lab, tests/integration/ctl/ctl_lab.h), during a real
// run: the operator's login link, the fleet, the run's chart growing live, a halt from
// the page with its confirmation, reverting the faults at the agents; a viewer without
// Halt or Abort whose forged POSTs are refused and logged. Screenshots of each page
// land in the build tree (BUILD/web-screenshots/). Root, like the integration suite; a
// missing Chromium fails the test.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "tests/integration/ctl/ctl_lab.h"

namespace firedrill::ctltest {
namespace {

constexpr uint16_t kWebPort = 17420;

class Browser : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(::geteuid(), 0u) << "the browser suite needs root (namespaces, BPF)"; }
  void TearDown() override {
    if (HasFailure() && lab) std::cerr << "--- controller log\n" << lab->controller().log();
    lab.reset();
  }
  std::string link(const std::string& who) {
    auto r = lab->cli({"web", "login", "--as", who, "--ttl", "5m"});
    EXPECT_EQ(r.code, 0) << r.out;
    std::smatch m;
    std::regex re(R"((https://\S+/login\?token=[0-9a-f]{64}))");
    return std::regex_search(r.out, m, re) ? m[1].str() : "";
  }
  std::unique_ptr<Lab> lab;
};

TEST_F(Browser, OperatorWatchesARunAndHaltsViewerCannot) {
  lab = std::make_unique<Lab>(std::vector<HostSpec>{{"w1-h1", {{"dc", "web"}, {"rack", "w1"}}},
                                                    {"w1-h2", {{"dc", "web"}, {"rack", "w1"}}}},
                              "3s");
  std::string web = std::string(Lab::kController) + ":" + std::to_string(kWebPort);
  lab->start_controller({"--web-listen", web, "--operator", "cn:olga", "--viewer", "cn:vera"});
  lab->start_agents();
  ASSERT_TRUE(lab->controller().wait_log("dashboard on https://")) << lab->controller().log();

  std::string exp = lab->dir() + "/web-live.yaml";
  std::ofstream(exp) << "name: web-live\n"
                     << "targets: {selector: \"rack=w1\"}\n"
                     << "steps: [{fault: {network: {blackhole: {}}}, duration: 120s}]\n"
                     << "probes: [{name: app, tcp: {address: \"" << lab->host_addr("w1-h1") << ":"
                     << Lab::kProbePort << "\"}, interval: 100ms}]\n"
                     << "slo: {latency: {max: 50ms}}\n";
  auto started = lab->cli({"run", exp, "--detach"});
  ASSERT_EQ(started.code, 0) << started.out;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(started.out, m, std::regex(R"((r-[0-9T]+-[0-9a-f]+))"))) << started.out;
  std::string run = m[1].str();

  std::string operator_link = link("olga"), viewer_link = link("vera");
  ASSERT_FALSE(operator_link.empty());
  ASSERT_FALSE(viewer_link.empty());
  std::string shots = FDW_SHOTS_DIR;  // in the build tree, never the source tree
  auto b = exec({"ip", "netns", "exec", lab->hub().name(), "/usr/bin/python3", FDW_BROWSER_PY, "--url", "https://" + web,
                 "--operator-link", operator_link, "--viewer-link", viewer_link, "--run", run, "--hosts", "2",
                 "--screenshots", shots},
                std::chrono::seconds(240));
  ASSERT_EQ(b.code, 0) << b.out;
  ASSERT_TRUE(std::regex_search(b.out, m, std::regex(R"(verdict: (\w+))"))) << b.out;

  // The verdict on the page is the CLI's.
  auto show = lab->cli({"show", run, "--json"});
  ASSERT_NE(show.out.find("\"id\": \"" + run + "\""), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("halted from the dashboard"), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("\"outcome\": \"RUN_OUTCOME_" + [&] {
    std::string v = m[1].str();
    for (auto& c : v) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return v;
  }() + "\""), std::string::npos) << m[1].str() << "\n" << show.out;
  EXPECT_EQ(m[1].str(), "aborted");
  // The halt is the operator's, and it reverted the faults at the agents.
  auto halted = lab->cli({"agents"});
  EXPECT_NE(halted.out.find("FLEET HALTED"), std::string::npos) << halted.out;
  auto agents = lab->cli({"agents", "--json"});
  EXPECT_EQ(agents.out.find("\"active_faults\""), std::string::npos) << agents.out;
  EXPECT_TRUE(lab->reachable("w1-h1"));
  // The viewer's forged POSTs were refused and logged with who sent them.
  auto log = lab->controller().log();
  EXPECT_NE(log.find("halt from the dashboard by cn:olga"), std::string::npos) << log;
  EXPECT_NE(log.find("refused POST /api/halt"), std::string::npos) << log;
  EXPECT_NE(log.find("cn:vera"), std::string::npos) << log;
}

}  // namespace
}  // namespace firedrill::ctltest
