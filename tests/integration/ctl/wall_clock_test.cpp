// The controller's leases and its liveness of agents run on the monotonic clock: a
// controller whose wall clock jumps two hours ahead, and back, loses no agent and lets
// no lease lapse. The jump is libfaketime's (LD_PRELOAD into the controller alone,
// CLOCK_REALTIME moved through a file it re-reads, CLOCK_MONOTONIC left alone): the
// machine's own clock is never touched.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>

#include "tests/integration/ctl/ctl_lab.h"

namespace firedrill::ctltest {
namespace {

const char* kFaketime = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

TEST(WallClock, AJumpOfTheControllersWallClockLosesNoAgentAndNoLease) {
  ASSERT_EQ(::geteuid(), 0u) << "the controller integration suite needs root (namespaces, BPF)";
  ASSERT_TRUE(std::filesystem::exists(kFaketime)) << kFaketime << " is missing (libfaketime; scripts/install-deps.sh)";
  Lab lab({{"w1", {{"dc", "a"}}}, {"w2", {{"dc", "b"}}}}, "2s");
  const std::string offset = lab.dir() + "/faketime";
  std::ofstream(offset) << "+0\n";
  // Only the controller is started under libfaketime.
  ::setenv("LD_PRELOAD", kFaketime, 1);
  ::setenv("FAKETIME_TIMESTAMP_FILE", offset.c_str(), 1);
  ::setenv("FAKETIME_NO_CACHE", "1", 1);
  ::setenv("FAKETIME_DONT_FAKE_MONOTONIC", "1", 1);
  lab.start_controller();
  for (const char* v : {"LD_PRELOAD", "FAKETIME_TIMESTAMP_FILE", "FAKETIME_NO_CACHE", "FAKETIME_DONT_FAKE_MONOTONIC"}) {
    ::unsetenv(v);
  }
  lab.start_agents();

  for (const char* jump : {"+7200", "+0"}) {
    std::ofstream(offset) << jump << "\n";
    // Three lease graces under the jumped clock.
    std::this_thread::sleep_for(6s);
    EXPECT_TRUE(lab.wait_live(2, 1s)) << "after a jump to " << jump << ":\n" << lab.cli({"agents"}).out;
    if (std::string(jump) == "+7200") {
      // The jump is real for the controller: a halt made now is logged two hours ahead.
      ASSERT_EQ(lab.cli({"halt", "--reason", "wall clock test"}).code, 0);
      ASSERT_EQ(lab.cli({"release"}).code, 0);
      auto ahead = std::chrono::system_clock::now() + 2h;
      auto t = std::chrono::system_clock::to_time_t(ahead);
      char hour[32];
      std::strftime(hour, sizeof hour, "%Y-%m-%dT%H:", std::gmtime(&t));
      auto log = lab.controller().log();
      auto at = log.find("HALT by");
      ASSERT_NE(at, std::string::npos) << log;
      auto line = log.substr(log.rfind('\n', at) + 1, at - log.rfind('\n', at));
      EXPECT_EQ(line.rfind(hour, 0), 0u) << "expected the controller's clock at " << hour << ", its log says: " << line;
    }
  }
  EXPECT_EQ(lab.controller().log().find(" lost: "), std::string::npos) << lab.controller().log();
  for (auto& id : lab.ids()) {
    EXPECT_EQ(lab.agent(id).log().find("DEAD-MAN SWITCH"), std::string::npos) << id << ":\n" << lab.agent(id).log();
  }
}

}  // namespace
}  // namespace firedrill::ctltest
