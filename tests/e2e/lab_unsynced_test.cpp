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

#include <nlohmann/json.hpp>

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

// The run's report, as `firedrill report` gives it: its fidelity section shows each Redis
// host's parts from not_before (the network cut timed by the kernel or by the agent, as
// it says), what the cut did there, the clock, and the spread per part; the data file
// system's shutdown is claimed exactly when the drill asked for it. The HTML page shows
// the same rows.
void expect_fidelity(const Lab& lab, const std::string& run_id, bool lose_unsynced) {
  std::string json = lab.dir() + "/fidelity-" + run_id + ".json", html = lab.dir() + "/fidelity-" + run_id + ".html";
  for (auto [format, path] : {std::pair{"json", json}, {"html", html}}) {
    auto r = lab.firedrill("report " + run_id + " --format " + format + " -o " + path);
    ASSERT_EQ(r.status, 0) << r.output;
  }
  std::ifstream in(json);
  auto doc = nlohmann::json::parse(in, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << json;
  const auto& f = doc["report"]["fidelity"];
  ASSERT_EQ(f["hosts"].size(), kRedisHosts.size()) << f.dump(2);
  std::set<std::string> hosts;
  for (const auto& h : f["hosts"]) {
    hosts.insert(h["host"].get<std::string>());
    std::set<std::string> parts;
    std::map<std::string, int64_t> offset;
    for (const auto& p : h["parts"]) {
      parts.insert(p["part"].get<std::string>());
      offset[p["part"].get<std::string>()] = p["offset_us"].get<int64_t>();
      // Each part at not_before or after (staged, never early), within seconds.
      EXPECT_GE(p["offset_us"].get<int64_t>(), -1000) << h.dump(2);
      EXPECT_LT(p["offset_us"].get<int64_t>(), 5'000'000) << h.dump(2);
    }
    std::set<std::string> expected = {"network cut", "freeze", "kill"};
    if (lose_unsynced) expected.insert("fs shutdown");
    EXPECT_EQ(parts, expected) << h.dump(2);
    // In the order of a real cut: frozen before the data file system stops, killed last.
    if (lose_unsynced) EXPECT_LE(offset["freeze"], offset["fs shutdown"]) << h.dump(2);
    if (lose_unsynced) EXPECT_LE(offset["fs shutdown"], offset["kill"]) << h.dump(2);
    EXPECT_LE(offset["freeze"], offset["kill"]) << h.dump(2);
    std::string did = h["did"].dump();
    EXPECT_NE(did.find("no SIGTERM"), std::string::npos) << did;
    EXPECT_EQ(did.find("shut down without flushing") != std::string::npos, lose_unsynced) << did;
    EXPECT_EQ(did.find("page cache outlived the cut") != std::string::npos, !lose_unsynced) << did;
    EXPECT_NE(h["clock"].get<std::string>(), "not reported") << h.dump(2);
  }
  EXPECT_EQ(hosts, std::set<std::string>(kRedisHosts.begin(), kRedisHosts.end()));
  std::map<std::string, int> spread_hosts;
  for (const auto& sp : f["spreads"]) {
    spread_hosts[sp["part"].get<std::string>()] = sp["hosts"].get<int>();
    EXPECT_GE(sp["spread_us"].get<int64_t>(), 0);
    std::printf("fidelity %s: %s spread %ld us across %d hosts\n", run_id.c_str(),
                sp["part"].get<std::string>().c_str(), static_cast<long>(sp["spread_us"].get<int64_t>()),
                sp["hosts"].get<int>());
  }
  EXPECT_EQ(spread_hosts["network cut"], 2);
  EXPECT_EQ(spread_hosts["kill"], 2);
  EXPECT_EQ(spread_hosts.count("fs shutdown") == 1, lose_unsynced);

  std::ifstream page_in(html);
  std::string page((std::istreambuf_iterator<char>(page_in)), {});
  EXPECT_NE(page.find("id=\"fidelity-table\""), std::string::npos);
  EXPECT_NE(page.find("id=\"fidelity-spreads\""), std::string::npos);
  for (auto& h : kRedisHosts) {
    auto row = page.find("<tr class=\"fidelity-row\"><td class=\"nowrap\">" + h + "</td>");
    ASSERT_NE(row, std::string::npos) << h;
    auto text = page.substr(row, page.find("</tr>", row) - row);
    EXPECT_NE(text.find("network cut"), std::string::npos) << text;
    EXPECT_EQ(text.find("fs shutdown") != std::string::npos, lose_unsynced) << text;
  }
  std::filesystem::remove(json);
  std::filesystem::remove(html);
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
  expect_fidelity(lab, everysec.drill.id, true);
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
  expect_fidelity(lab, kept.drill.id, false);
  for (auto& h : kRedisHosts) {
    EXPECT_EQ(shutdowns(lab, h), shut_after_everysec[h] + 1) << h << ": shut down without lose_unsynced";
  }

  auto problems = lab.down_and_check(lab.processes(), lab.agent_bpf_programs());
  EXPECT_TRUE(problems.empty()) << ::testing::PrintToString(problems);
}

}  // namespace
}  // namespace firedrill::e2e
