// What a power loss does to Redis's acknowledged writes, with `appendonly yes`, on the
// single-site lab (primary and replica both in pangyo, each with its data directory on
// an ext4 image of its own): experiments/redis-unsynced-power-loss.yaml cuts the power
// of both Redis hosts at once, three times.
//   appendfsync everysec, lose_unsynced   the writes acknowledged since Redis's last
//                                         fsync (at most about a second) are lost;
//   appendfsync always, lose_unsynced     every write was fsynced before its answer:
//                                         nothing is lost;
//   appendfsync everysec, no lose_unsynced  the drill as it was: the killed Redis's
//                                         writes stay in the page cache and reach the
//                                         disk later, so nothing is lost, which hides
//                                         what a real cut loses.
// The data probe writes a marker every 100 ms. Redis 7.0 fsyncs its AOF in everysec
// mode at the first write or timer tick after each wall-clock second turns, so a cut
// that lands after that fsync and before the next marker is acknowledged loses none
// (about one cut in ten): the everysec drill is then run again, at most three times in
// all, and three drills without a loss fail.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "tests/e2e/lab_drill.h"

namespace firedrill::e2e {
namespace {

using namespace std::chrono_literals;

constexpr const char* kFile = "experiments/redis-unsynced-power-loss.yaml";
const std::vector<std::string> kRedisHosts = {"p1-h1", "p2-h1"};

// redis-cli in the lab's ops namespace against a host's Redis.
Run redis_cli(const Lab& lab, const std::string& host, const std::string& args) {
  return sh("nsenter --net=/run/netns/" + std::string(Lab::kName) + "-ops timeout 5 redis-cli -h " + lab.ip(host) +
            " -p 6379 " + args);
}

// Sets appendfsync on both Redis servers and in their config files (CONFIG REWRITE), so
// that it holds after the boot that follows the power loss.
void set_appendfsync(const Lab& lab, const std::string& mode) {
  for (auto& h : kRedisHosts) {
    auto set = redis_cli(lab, h, "CONFIG SET appendfsync " + mode);
    ASSERT_EQ(set.output, "OK\n") << h << ": " << set.output;
    auto rewrite = redis_cli(lab, h, "CONFIG REWRITE");
    ASSERT_EQ(rewrite.output, "OK\n") << h << ": " << rewrite.output;
    auto get = redis_cli(lab, h, "--raw CONFIG GET appendfsync");
    ASSERT_EQ(get.output, "appendfsync\n" + mode + "\n") << h;
  }
}

// One of the two replicates the other (the lab is whole again between drills).
bool replicating(const Lab& lab) {
  for (auto& h : kRedisHosts) {
    if (redis_cli(lab, h, "INFO replication").output.find("master_link_status:up") != std::string::npos) return true;
  }
  return false;
}

// How many times "data file system(s) shut down without flushing" is in a host's agent log.
size_t shutdowns(const Lab& lab, const std::string& host) {
  std::ifstream in(lab.host_dir(host) + "/agent.log");
  size_t n = 0;
  for (std::string line; std::getline(in, line);) n += line.find("shut down without flushing") != std::string::npos;
  return n;
}

struct Loss {
  Drill drill;
  const v1::DataReadBack* markers = nullptr;
};

// One drill of `file`: it passes its own SLOs, the markers were read back, and the cut
// found writes going on.
Loss run(const Lab& lab, const std::string& file, const std::string& label) {
  EXPECT_TRUE(eventually([&] { return replicating(lab); }, 60s, 500ms)) << label << ": no replica in sync";
  Loss l{drill(lab, file), nullptr};
  if (l.drill.id.empty()) return l;
  EXPECT_EQ(l.drill.record.outcome(), v1::RUN_OUTCOME_PASSED) << label << ": " << l.drill.record.reason() << "\n"
                                                              << l.drill.cli.output;
  l.markers = data(l.drill.record, "markers");
  if (!l.markers) {
    ADD_FAILURE() << label << ": no read-back of the markers";
    return l;
  }
  EXPECT_TRUE(l.markers->ok()) << label << ": " << l.markers->error();
  EXPECT_GT(l.markers->acknowledged(), 50u) << label;
  std::printf("%s: %lu of %lu acknowledged markers lost, span %.3f s\n", label.c_str(),
              static_cast<unsigned long>(l.markers->lost_size()), static_cast<unsigned long>(l.markers->acknowledged()),
              l.markers->lost_span().seconds() + l.markers->lost_span().nanos() / 1e9);
  return l;
}

TEST(LabUnsynced, EverysecLosesTheLastSecondAlwaysLosesNothingAndTheOldDrillHidIt) {
  Lab lab("single-site", Lab::Controller::kServe);
  ASSERT_FALSE(::testing::Test::HasFailure());
  for (auto& h : kRedisHosts) {
    ASSERT_NE(redis_cli(lab, h, "--raw CONFIG GET appendonly").output.find("yes"), std::string::npos) << h;
  }

  // 1. everysec with lose_unsynced: the last second's acknowledged writes are gone.
  Loss everysec;
  for (int attempt = 1; attempt <= 3; ++attempt) {
    everysec = run(lab, kFile, "everysec, lose_unsynced (drill " + std::to_string(attempt) + ")");
    ASSERT_NE(everysec.markers, nullptr);
    if (everysec.markers->lost_size() > 0) break;
  }
  ASSERT_GT(everysec.markers->lost_size(), 0) << "three everysec drills with lose_unsynced lost no acknowledged write";
  // About a second's worth, and exactly the last ones before the cut.
  EXPECT_LE(everysec.markers->lost_size(), 16);
  const auto& rec = everysec.drill.record;
  ASSERT_EQ(rec.steps_size(), 1);
  ASSERT_EQ(rec.steps(0).targets_size(), 2);
  auto cut = wall(rec.steps(0).started_at());
  std::set<uint64_t> lost(everysec.markers->lost().begin(), everysec.markers->lost().end());
  for (const auto& s : rec.samples()) {
    if (s.probe() != "markers" || !s.ok()) continue;
    double before_cut = seconds_between(wall(s.start()), cut);
    if (lost.count(s.marker())) {
      EXPECT_LT(before_cut, 1.6) << "marker " << s.marker() << " was written " << before_cut
                                 << " s before the cut: older than the last fsync";
    }
  }
  std::map<std::string, size_t> shut_after_everysec;
  for (auto& h : kRedisHosts) {
    shut_after_everysec[h] = shutdowns(lab, h);
    EXPECT_GE(shut_after_everysec[h], 1u) << h << ": its data file system was never shut down";
  }

  // 2. always with lose_unsynced: every acknowledged write was fsynced first.
  set_appendfsync(lab, "always");
  auto always = run(lab, kFile, "always, lose_unsynced");
  ASSERT_NE(always.markers, nullptr);
  EXPECT_EQ(always.markers->lost_size(), 0) << "appendfsync always lost acknowledged writes";
  for (auto& h : kRedisHosts) EXPECT_EQ(shutdowns(lab, h), shut_after_everysec[h] + 1) << h;

  // 3. everysec without lose_unsynced: the old drill, which kept the page cache.
  set_appendfsync(lab, "everysec");
  std::ifstream in(kFile);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  auto at = text.find("lose_unsynced: true");
  ASSERT_NE(at, std::string::npos);
  text.replace(at, std::string("lose_unsynced: true").size(), "lose_unsynced: false");
  std::string old_drill = "/tmp/firedrill-e2e-redis-power-loss-" + std::to_string(::getpid()) + ".yaml";
  std::ofstream(old_drill) << text;
  auto kept = run(lab, old_drill, "everysec, no lose_unsynced");
  std::filesystem::remove(old_drill);
  ASSERT_NE(kept.markers, nullptr);
  EXPECT_EQ(kept.markers->lost_size(), 0) << "a power loss without lose_unsynced lost acknowledged writes";
  for (auto& h : kRedisHosts) {
    EXPECT_EQ(shutdowns(lab, h), shut_after_everysec[h] + 1) << h << ": shut down without lose_unsynced";
  }

  auto problems = lab.down_and_check(lab.processes(), lab.agent_bpf_programs());
  EXPECT_TRUE(problems.empty()) << ::testing::PrintToString(problems);
}

}  // namespace
}  // namespace firedrill::e2e
