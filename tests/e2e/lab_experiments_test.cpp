// The experiment files of experiments/ run by the controller on the lab fleet, each
// once: the Pangyo game day on both placements (two-site passes, single-site fails on
// failover), and rack-power-loss, dc-partition, kill-primary and continuous. The
// verdicts are asserted, and the failover time firedrill measures is checked against
// the time Sentinel itself logged the switch.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include "tests/e2e/lab_drill.h"

namespace firedrill::e2e {
namespace {

using Controller = Lab::Controller;

// The evidence report of a run renders and verifies.
void expect_verified_report(const Lab& lab, const Drill& d) {
  std::string path = "/tmp/firedrill-e2e-report-" + d.id + ".json";
  auto r = lab.firedrill("report " + d.id + " --format json -o " + path);
  ASSERT_EQ(r.status, 0) << r.output;
  std::string pub = "/tmp/firedrill-e2e-report-" + d.id + ".pub";
  auto k = lab.firedrill("keys export -o " + pub);
  ASSERT_EQ(k.status, 0) << k.output;
  auto v = lab.firedrill("report verify " + path + " --key " + pub);
  EXPECT_EQ(v.status, 0) << v.output;
  std::filesystem::remove(path);
  std::filesystem::remove(pub);
}

std::string redis_pid(const Lab& lab, const std::string& host) {
  std::ifstream in(lab.cgroup() + "/hosts/" + host + "/redis/cgroup.procs");
  std::string pid;
  in >> pid;
  return pid;
}

TEST(LabExperiments, FilesValidate) {
  auto r = sh(quote(build_dir() + "/controller/firedrill") + " validate experiments/*.yaml");
  EXPECT_EQ(r.status, 0) << r.output;
  for (const char* f : {"pangyo-fire.yaml", "pangyo-fire-ci.yaml", "rack-power-loss.yaml", "dc-partition.yaml",
                        "kill-primary.yaml", "continuous.yaml", "redis-unsynced-power-loss.yaml",
                        "slow-redis.yaml"}) {
    EXPECT_NE(r.output.find(std::string("experiments/") + f + ": valid"), std::string::npos) << f << "\n" << r.output;
  }
}

TEST(LabExperiments, PangyoFireTwoSitePassesAndAgreesWithSentinel) {
  Lab lab("two-site", Controller::kServe);
  ASSERT_FALSE(::testing::Test::HasFailure());
  // The lab's Prometheus scrapes all eight agents, the controller and HAProxy's exporter
  // (the pangyo-fire files probe it).
  std::map<std::string, double> agents;
  for (int i = 0; i < 40 && agents.size() < 8; ++i) {
    if (i > 0) std::this_thread::sleep_for(std::chrono::milliseconds(250));
    agents = prometheus_values(lab, "up{job=\"firedrill-agent\"} == 1", "host");
  }
  for (const char* h : {"p1-h1", "p1-h2", "p2-h1", "p2-h2", "c1-h1", "c1-h2", "c2-h1", "c2-h2"}) {
    EXPECT_EQ(agents.count(h), 1u) << h << " is not scraped: " << ::testing::PrintToString(agents);
  }
  EXPECT_EQ(prometheus_values(lab, "up{job=\"firedrill-controller\"}", "job")["firedrill-controller"], 1.0);
  EXPECT_EQ(prometheus_values(lab, "up{job=\"haproxy\"}", "job")["haproxy"], 1.0);
  EXPECT_EQ(prometheus_values(lab, "sum(firedrill_controller_agents_connected)", "")[""], 8.0);
  auto d = drill(lab, "experiments/pangyo-fire-ci.yaml");
  ASSERT_FALSE(d.id.empty());
  EXPECT_EQ(d.cli.status, 0) << d.cli.output;
  EXPECT_EQ(d.record.outcome(), v1::RUN_OUTCOME_PASSED) << d.record.reason();
  ASSERT_EQ(d.record.steps_size(), 1);
  EXPECT_EQ(d.record.steps(0).targets_size(), 4);

  auto* failover = slo(d.record, "failover_time", "messaging");
  ASSERT_NE(failover, nullptr);
  EXPECT_TRUE(failover->pass()) << failover->measured() << " " << failover->detail();
  EXPECT_GT(failover->value(), 0.0);
  EXPECT_LT(failover->value(), 30.0);

  // Sentinel's own account: the ops Sentinel's +switch-master, from the fault's start.
  auto switches = switch_masters(lab.sentinel_log("ops"));
  ASSERT_EQ(switches.size(), 1u);
  EXPECT_EQ(switches[0].to, lab.ip("c1-h1") + ":6379");
  double sentinel = seconds_between(wall(d.record.fault_start()), switches[0].at);
  EXPECT_LT(std::abs(failover->value() - sentinel), 1.0)
      << "firedrill measured " << failover->value() << " s, Sentinel switched " << sentinel << " s after the fault";
  std::printf("two-site failover: firedrill %.2f s, Sentinel +switch-master %.2f s\n", failover->value(), sentinel);

  auto* loss = data(d.record, "markers");
  ASSERT_NE(loss, nullptr);
  EXPECT_TRUE(loss->ok()) << loss->error();
  EXPECT_GT(loss->acknowledged(), 20u);
  EXPECT_LE(loss->lost_size(), 1);
  auto* web = slo(d.record, "availability", "web");
  ASSERT_NE(web, nullptr);
  EXPECT_TRUE(web->pass()) << web->measured();
  // The Prometheus probe asked the real server all along: HAProxy's 5xx rate stayed low.
  auto* errors = slo(d.record, "availability", "web-errors");
  ASSERT_NE(errors, nullptr);
  EXPECT_TRUE(errors->pass()) << errors->measured() << " " << errors->detail();
  EXPECT_GT(during_fault(d.record, "web-errors").size(), 20u);
  expect_verified_report(lab, d);

  // Every panel of the Grafana dashboard (deploy/grafana) has data over the drill, as
  // Grafana would ask the lab's Prometheus for it (a range query).
  auto dashboard = nlohmann::json::parse(sh("cat deploy/grafana/firedrill.json").output, nullptr, false);
  ASSERT_FALSE(dashboard.is_discarded());
  auto seconds = [](WallTime t) {
    return std::to_string(std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count());
  };
  std::string from = seconds(wall(d.record.fault_start()) - std::chrono::seconds(15));
  std::string to = seconds(std::chrono::system_clock::now());
  size_t queries = 0;
  for (const auto& panel : dashboard["panels"]) {
    for (const auto& target : panel["targets"]) {
      std::string expr = target["expr"];
      auto got = prometheus(lab, "/api/v1/query_range", {{"query", expr}, {"start", from}, {"end", to}, {"step", "2"}});
      ++queries;
      EXPECT_FALSE(got.is_null() || got["result"].empty())
          << "panel '" << panel["title"].get<std::string>() << "': no data for " << expr;
    }
  }
  EXPECT_GE(queries, 10u);

  auto problems = lab.down_and_check(lab.processes(), lab.agent_bpf_programs());
  EXPECT_TRUE(problems.empty()) << ::testing::PrintToString(problems);
}

TEST(LabExperiments, PangyoFireSingleSiteFailsOnFailover) {
  Lab lab("single-site", Controller::kServe);
  ASSERT_FALSE(::testing::Test::HasFailure());
  auto d = drill(lab, "experiments/pangyo-fire-ci.yaml");
  ASSERT_FALSE(d.id.empty());
  EXPECT_EQ(d.cli.status, 1) << d.cli.output;
  EXPECT_EQ(d.record.outcome(), v1::RUN_OUTCOME_FAILED) << d.record.reason();

  // Which SLO, and why: no primary was reachable for the whole fault.
  auto* failover = slo(d.record, "failover_time", "messaging");
  ASSERT_NE(failover, nullptr);
  EXPECT_FALSE(failover->pass());
  // "never"; or, when samples begun in the last instant of the fault succeeded because
  // they lasted past the power's return, no earlier than that.
  double fault_seconds = seconds_between(wall(d.record.fault_start()), wall(d.record.fault_end()));
  EXPECT_TRUE(std::isnan(failover->value()) || failover->value() > fault_seconds - 1.0) << failover->measured();
  EXPECT_NE(d.record.reason().find("failover_time"), std::string::npos) << d.record.reason();
  auto samples = during_fault(d.record, "messaging");
  EXPECT_GT(samples.size(), 30u);
  for (auto* s : samples) EXPECT_FALSE(s->ok()) << "messaging answered during the fault: " << s->detail();
  for (auto h : {"p1-h2", "p2-h2", "c1-h2"}) {
    EXPECT_TRUE(switch_masters(lab.sentinel_log(h)).empty()) << "Sentinel on " << h << " switched";
  }
  // The rest held: the web tier has chuncheon backends, and nothing acknowledged was lost.
  auto* web = slo(d.record, "availability", "web");
  ASSERT_NE(web, nullptr);
  EXPECT_TRUE(web->pass()) << web->measured();
  auto* loss = data(d.record, "markers");
  ASSERT_NE(loss, nullptr);
  EXPECT_EQ(loss->lost_size(), 0);
  expect_verified_report(lab, d);

  auto problems = lab.down_and_check(lab.processes(), lab.agent_bpf_programs());
  EXPECT_TRUE(problems.empty()) << ::testing::PrintToString(problems);
}

TEST(LabExperiments, RackPowerLossStaysInOneRackAndSingleSiteSurvivesIt) {
  Lab lab("single-site", Controller::kServe);
  ASSERT_FALSE(::testing::Test::HasFailure());
  // The guard keeps it to one rack: the same file aimed at the whole site is refused
  // before any fault, naming the rule.
  std::ifstream in("experiments/rack-power-loss.yaml");
  std::string text((std::istreambuf_iterator<char>(in)), {});
  auto at = text.find("selector: \"dc=pangyo,rack=p1\"");
  ASSERT_NE(at, std::string::npos);
  text.replace(at, std::string("selector: \"dc=pangyo,rack=p1\"").size(), "selector: \"dc=pangyo\"");
  std::string wide = "/tmp/firedrill-e2e-rack-power-loss-wide.yaml";
  std::ofstream(wide) << text;
  auto refused = drill(lab, wide);
  std::filesystem::remove(wide);
  EXPECT_EQ(refused.cli.status, 2) << refused.cli.output;
  EXPECT_EQ(refused.record.outcome(), v1::RUN_OUTCOME_REFUSED) << refused.record.reason();
  EXPECT_NE(refused.record.reason().find("max_domains"), std::string::npos) << refused.record.reason();
  EXPECT_TRUE(refused.record.steps_size() == 0 || refused.record.steps(0).faults_size() == 0);

  // One rack is what a single site survives: p2-h2 and c1-h2 are two of three Sentinels.
  auto d = drill(lab, "experiments/rack-power-loss.yaml");
  ASSERT_FALSE(d.id.empty());
  EXPECT_EQ(d.record.outcome(), v1::RUN_OUTCOME_PASSED) << d.record.reason() << "\n" << d.cli.output;
  ASSERT_EQ(d.record.steps_size(), 1);
  EXPECT_EQ(d.record.steps(0).targets_size(), 2);
  for (const auto& t : d.record.steps(0).targets()) EXPECT_EQ(t.tags().at("rack"), "p1");
  auto switches = switch_masters(lab.sentinel_log("c1-h2"));
  ASSERT_EQ(switches.size(), 1u);
  EXPECT_EQ(switches[0].to, lab.ip("p2-h1") + ":6379");
}

TEST(LabExperiments, DcPartitionShowsTwoPrimariesAndTheLossOnHeal) {
  Lab lab("two-site", Controller::kServe);
  ASSERT_FALSE(::testing::Test::HasFailure());
  auto d = drill(lab, "experiments/dc-partition.yaml");
  ASSERT_FALSE(d.id.empty());
  // Chuncheon and ops fail over; pangyo's primary keeps taking its own clients' writes.
  auto* failover = slo(d.record, "failover_time", "messaging");
  ASSERT_NE(failover, nullptr);
  EXPECT_TRUE(failover->pass()) << failover->measured();
  // Two primaries: while chuncheon's took ops' writes, pangyo's acknowledged those of
  // the application inside pangyo.
  int pangyo_acked = 0;
  for (auto* s : during_fault(d.record, "pangyo-app")) pangyo_acked += s->ok();
  EXPECT_GE(pangyo_acked, 5) << "the cut-off primary should keep acknowledging pangyo's writes";
  // On heal it became a replica of the chuncheon primary and dropped every one of them
  // (give or take the writes in flight when the cut began and ended).
  auto* lost = data(d.record, "pangyo-app");
  ASSERT_NE(lost, nullptr);
  EXPECT_TRUE(lost->ok()) << lost->error();
  EXPECT_GE(lost->lost_size(), pangyo_acked - 1);
  EXPECT_LE(lost->lost_size(), pangyo_acked + 3);
  std::printf("dc-partition: pangyo's primary acknowledged %d writes during the cut; %d lost on heal\n",
              pangyo_acked, lost->lost_size());
  auto* row = slo(d.record, "data_loss", "pangyo-app");
  ASSERT_NE(row, nullptr);
  EXPECT_FALSE(row->pass());
  EXPECT_EQ(d.record.outcome(), v1::RUN_OUTCOME_FAILED) << d.record.reason();
  EXPECT_EQ(d.cli.status, 1);
  // Ops' own markers went to whichever primary it could reach: at most the one in flight.
  auto* ops = data(d.record, "markers");
  ASSERT_NE(ops, nullptr);
  EXPECT_LE(ops->lost_size(), 1);
  // Healed: one primary again, the same from both sides.
  EXPECT_EQ(lab.redis("primary").output, lab.ip("c1-h1") + ":6379\n");
  EXPECT_EQ(lab.redis("--from p2-h2 primary").output, lab.ip("c1-h1") + ":6379\n");
}

TEST(LabExperiments, KillPrimaryKeepsItDownAndTouchesNothingElse) {
  Lab lab("two-site", Controller::kServe);
  ASSERT_FALSE(::testing::Test::HasFailure());
  std::string replica_pid = redis_pid(lab, "c1-h1");
  ASSERT_FALSE(replica_pid.empty());
  auto d = drill(lab, "experiments/kill-primary.yaml");
  ASSERT_FALSE(d.id.empty());
  EXPECT_EQ(d.record.outcome(), v1::RUN_OUTCOME_PASSED) << d.record.reason() << "\n" << d.cli.output;
  ASSERT_EQ(d.record.steps_size(), 1);
  ASSERT_EQ(d.record.steps(0).targets_size(), 1);
  EXPECT_EQ(d.record.steps(0).targets(0).agent_id(), "p1-h1");
  // The replica on another host of the same kernel was not touched, and was promoted.
  EXPECT_EQ(redis_pid(lab, "c1-h1"), replica_pid);
  EXPECT_EQ(lab.redis("primary").output, lab.ip("c1-h1") + ":6379\n");
  // The supervisor on p1-h1 survived the keep-down and brought Redis back afterwards.
  EXPECT_TRUE(eventually([&] { return !redis_pid(lab, "p1-h1").empty(); }, std::chrono::seconds(15),
                         std::chrono::milliseconds(500)));
}

// Up but broken: 300 ms more per Redis answer from the web tier. Nothing is down, so
// Sentinel does not fail over and availability holds; the latency SLO fails.
TEST(LabExperiments, SlowRedisIsUpButFailsTheLatencySlo) {
  Lab lab("two-site", Controller::kServe);
  ASSERT_FALSE(::testing::Test::HasFailure());
  auto d = drill(lab, "experiments/slow-redis.yaml");
  ASSERT_FALSE(d.id.empty());
  EXPECT_EQ(d.record.outcome(), v1::RUN_OUTCOME_FAILED) << d.record.reason() << "\n" << d.cli.output;
  auto* latency = slo(d.record, "latency_p95", "web-redis");
  ASSERT_NE(latency, nullptr);
  EXPECT_FALSE(latency->pass()) << latency->measured();
  EXPECT_GE(latency->value(), 0.3) << latency->measured();
  for (const char* probe : {"web-redis", "messaging"}) {
    auto* up = slo(d.record, "availability", probe);
    ASSERT_NE(up, nullptr) << probe;
    EXPECT_TRUE(up->pass()) << probe << ": " << up->measured();
  }
  for (auto h : {"p2-h1", "c2-h1"}) {
    EXPECT_TRUE(switch_masters(lab.sentinel_log(h)).empty()) << "Sentinel on " << h << " switched";
  }
  auto problems = lab.down_and_check(lab.processes(), lab.agent_bpf_programs());
  EXPECT_TRUE(problems.empty()) << ::testing::PrintToString(problems);
}

TEST(LabExperiments, ContinuousWebKillRunsOnce) {
  Lab lab("two-site", Controller::kServe);
  ASSERT_FALSE(::testing::Test::HasFailure());
  auto d = drill(lab, "experiments/continuous.yaml");
  ASSERT_FALSE(d.id.empty());
  EXPECT_EQ(d.record.outcome(), v1::RUN_OUTCOME_PASSED) << d.record.reason() << "\n" << d.cli.output;
  ASSERT_EQ(d.record.steps_size(), 1);
  ASSERT_EQ(d.record.steps(0).targets_size(), 1);
  EXPECT_EQ(d.record.steps(0).targets(0).tags().at("web"), "true");

  // As a schedule: the next occurrence is on the 10-minute grid, Monday to Friday,
  // 10:00 to 17:00 in Seoul (UTC+9, no daylight saving).
  auto added = lab.firedrill("schedule add experiments/continuous.yaml");
  ASSERT_EQ(added.status, 0) << added.output;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(added.output, m, std::regex(R"(schedule (\S+) added)"))) << added.output;
  std::string id = m[1];
  auto list = lab.firedrill("schedule list");
  ASSERT_TRUE(std::regex_search(list.output, m,
                                std::regex(id + R"(\s+continuous-web-kill.*?(\d{4}-\d\d-\d\dT\d\d:\d\d):00\.000Z)")))
      << list.output;
  struct tm tm = {};
  ASSERT_NE(strptime(m[1].str().c_str(), "%Y-%m-%dT%H:%M", &tm), nullptr);
  time_t seoul = timegm(&tm) + 9 * 3600;
  struct tm local = {};
  gmtime_r(&seoul, &local);
  EXPECT_GE(local.tm_wday, 1) << m[1];
  EXPECT_LE(local.tm_wday, 5) << m[1];
  EXPECT_GE(local.tm_hour, 10) << m[1];
  EXPECT_LT(local.tm_hour, 17) << m[1];
  EXPECT_EQ(local.tm_min % 10, 0) << m[1];
  EXPECT_EQ(lab.firedrill("schedule remove " + id).status, 0);
}

}  // namespace
}  // namespace firedrill::e2e
