// The runner's state machine with a fake clock (sleeps advance time at once), a fake
// fleet (real selectors and guard, in-memory agents) and scripted probes whose health
// follows the faults the fake fleet holds. Pure logic: every scenario is deterministic.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>

#include "controller/guard/guard.h"
#include "controller/runner/run.h"
#include "tests/unit/runner_fakes.h"

namespace firedrill::runner {
namespace {

using namespace std::chrono_literals;

// gtest's Test::Run hides the runner's Run inside fixtures.
using RunT = firedrill::runner::Run;

WallTime at(std::chrono::nanoseconds d) { return kT0 + std::chrono::duration_cast<WallClock::duration>(d); }
double secs(WallTime t) { return std::chrono::duration<double>(t - kT0).count(); }

class RunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/fde-runner-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    auto store = controller::open_sqlite_store(dir_ + "/controller.db");
    ASSERT_TRUE(store.ok()) << store.error().describe();
    store_ = std::move(*store);
    fleet_.add("web1", {{"dc", "pangyo"}, {"rack", "p1"}, {"role", "web"}});
    fleet_.add("web2", {{"dc", "chuncheon"}, {"rack", "c1"}, {"role", "web"}});
    fleet_.add("db1", {{"dc", "pangyo"}, {"rack", "p1"}, {"role", "db"}});
    fleet_.add("db2", {{"dc", "pangyo"}, {"rack", "p2"}, {"role", "db"}});
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  experiment::LoadedExperiment load(const std::string& yaml) {
    auto l = experiment::parse_experiment(yaml, "runner.yaml");
    EXPECT_TRUE(l.ok()) << (l.ok() ? "" : l.diagnostics[0].to_string());
    return l;
  }

  // Runs `yaml` to its end; `setup` may script probes and hooks first.
  v1::RunRecord run(const std::string& yaml, std::function<void(ScriptedProbes&, RunT&)> setup = {}) {
    auto loaded = load(yaml);
    auto probes = std::make_unique<ScriptedProbes>(&clock_);
    probes_ = probes.get();
    RunnerOptions opt;
    opt.start_delay = 1s;
    run_ = std::make_unique<RunT>(new_run_record(loaded, "r-test", "tester", clock_.now()), &clock_, &fleet_,
                                 std::move(probes), store_.get(), nullptr, opt);
    if (setup) setup(*probes_, *run_);
    return run_->execute();
  }

  std::vector<std::string> phases(const v1::RunRecord& r) {
    std::vector<std::string> out;
    for (const auto& e : r.events()) {
      if (e.kind() == "phase") out.push_back(e.message().substr(0, e.message().find(':')));
    }
    return out;
  }

  const v1::SloRow* row(const v1::RunRecord& r, const std::string& objective, const std::string& probe) {
    for (const auto& x : r.slo()) {
      if (x.objective() == objective && x.probe() == probe) return &x;
    }
    return nullptr;
  }

  std::string dir_;
  FakeClock clock_;
  FakeFleet fleet_{&clock_};
  std::unique_ptr<controller::Store> store_;
  ScriptedProbes* probes_ = nullptr;
  std::unique_ptr<RunT> run_;
};

const char* kSingleHost = R"(name: single-host
targets: {selector: "role=web,dc=pangyo"}
steps: [{fault: {network: {blackhole: {}}}, duration: 30s}]
probes: [{name: web, interval: 500ms, http: {url: "http://web/"}}]
steady_state: {hold: 5s}
recovery: {hold: 5s, timeout: 1m}
slo:
  availability: {min: 0.9}
  failover_time: {max: 10s}
)";

TEST_F(RunnerTest, SingleHostBlackholeFailsAvailability) {
  auto r = run(kSingleHost, [&](ScriptedProbes& p, RunT&) {
    p.add("web", 500ms, [&](WallTime t) { return !fleet_.down("web1", t); });
  });
  EXPECT_EQ(r.outcome(), v1::RUN_OUTCOME_FAILED) << r.reason();
  EXPECT_EQ(r.phase(), v1::RUN_PHASE_DONE);
  EXPECT_EQ(phases(r), (std::vector<std::string>{"preflight", "steady_state", "inject", "observe", "revert", "recover",
                                                 "verdict"}));
  // Steady state held 5s from the start; the fault started 1s (the start delay) later.
  EXPECT_DOUBLE_EQ(secs(from_proto(r.steady_since())), 0);
  EXPECT_DOUBLE_EQ(secs(from_proto(r.fault_start())), 6);
  EXPECT_DOUBLE_EQ(secs(from_proto(r.fault_end())), 36);
  ASSERT_EQ(r.steps_size(), 1);
  ASSERT_EQ(r.steps(0).faults_size(), 1);
  EXPECT_EQ(r.steps(0).faults(0).agent_id(), "web1");
  EXPECT_EQ(r.steps(0).faults(0).status(), v1::TARGET_STATUS_REVERTED);
  EXPECT_EQ(fleet_.in_effect(), 0u);
  const auto* avail = row(r, "availability", "web");
  ASSERT_NE(avail, nullptr);
  EXPECT_FALSE(avail->pass());
  EXPECT_LT(avail->value(), 0.5);
  const auto* failover = row(r, "failover_time", "web");
  ASSERT_NE(failover, nullptr);
  EXPECT_FALSE(failover->pass());
  EXPECT_EQ(failover->measured(), "never (no 3 consecutive successes before the fault ended)");
  EXPECT_EQ(failover->term(), "RTO");
  EXPECT_TRUE(r.has_recovered_at());
  EXPECT_NE(r.reason().find("availability of web"), std::string::npos) << r.reason();
  // The stored record is the final one, samples included.
  auto stored = store_->run("r-test", true);
  ASSERT_TRUE(stored.ok() && *stored);
  EXPECT_EQ((*stored)->outcome(), v1::RUN_OUTCOME_FAILED);
  EXPECT_EQ((*stored)->samples_size(), r.samples_size());
  for (int i = 0; i < r.samples_size(); ++i) {
    ASSERT_EQ((*stored)->samples(i).SerializeAsString(), r.samples(i).SerializeAsString()) << "sample " << i;
  }
  EXPECT_GT(r.samples_size(), 80);
  EXPECT_TRUE(fleet_.ended.count("r-test"));
}

TEST_F(RunnerTest, FailoverBehindALoadBalancerPasses) {
  // Two web hosts; the probe sees errors for 2s after the fault starts (the balancer
  // notices), then the other host serves.
  auto r = run(R"(name: two-hosts
targets: {selector: "role=web,dc=pangyo"}
steps: [{fault: {network: {blackhole: {}}}, duration: 30s}]
probes: [{name: web, interval: 500ms, http: {url: "http://lb/"}}]
steady_state: {hold: 5s}
recovery: {hold: 5s}
slo:
  availability: {min: 0.9}
  failover_time: {max: 10s, consecutive: 3}
  time_to_detect: {max: 5s}
  max_unavailability: {max: 5s}
)",
               [&](ScriptedProbes& p, RunT&) {
                 p.add("web", 500ms, [&](WallTime t) {
                   for (const auto& f : fleet_.faults) {
                     if (t >= f.from && t < f.from + 2s) return false;
                   }
                   return true;
                 });
               });
  EXPECT_EQ(r.outcome(), v1::RUN_OUTCOME_PASSED) << r.reason();
  EXPECT_EQ(r.reason(), "every SLO was met");
  const auto* failover = row(r, "failover_time", "web");
  ASSERT_NE(failover, nullptr);
  EXPECT_TRUE(failover->pass());
  // Steady state held at 5s, the fault took effect at 6s (the start delay); samples
  // every 500 ms from 0: the first failure is the one at 6.0 (detected at once), the
  // first good one at 8.0, observed when it completed 5 ms later: failover 2.005s,
  // unavailable for 2s.
  EXPECT_DOUBLE_EQ(secs(from_proto(r.fault_start())), 6);
  EXPECT_DOUBLE_EQ(failover->value(), 2.005);
  EXPECT_DOUBLE_EQ(row(r, "time_to_detect", "web")->value(), 0.0);
  EXPECT_DOUBLE_EQ(row(r, "max_unavailability", "web")->value(), 2.0);
}

TEST_F(RunnerTest, AbortConditionStopsEarlyAndRevertsEverything) {
  auto r = run(std::string(kSingleHost) + "abort: {unavailability_over: 5s}\n", [&](ScriptedProbes& p, RunT&) {
    p.add("web", 500ms, [&](WallTime t) { return !fleet_.down("web1", t); });
  });
  EXPECT_EQ(r.outcome(), v1::RUN_OUTCOME_ABORTED);
  EXPECT_EQ(r.reason(), "probe web unavailable for 5.1s (abort.unavailability_over 5s)");
  // Down from 6s: stopped at the first look past 5s of unavailability (one 100 ms tick
  // later), 25 s before the fault's end, and reverted at once.
  EXPECT_NEAR(secs(from_proto(r.fault_end())), 11.1, 1e-6);
  EXPECT_EQ(fleet_.in_effect(), 0u);
  EXPECT_EQ(r.steps(0).faults(0).status(), v1::TARGET_STATUS_REVERTED);
  // The abort was recorded with who stopped it, and SLOs were still measured.
  bool recorded = false;
  for (const auto& e : r.events()) recorded |= e.kind() == "abort" && e.message().find("by abort condition: web") != std::string::npos;
  EXPECT_TRUE(recorded);
  EXPECT_GT(r.slo_size(), 0);
}

TEST_F(RunnerTest, ApprovalsFromDistinctAllowedPeople) {
  std::vector<v1::ApproveResponse> answers;
  auto r = run(std::string(kSingleHost) + "approvals: {required: 2, approvers: [kim, lee, park]}\n",
               [&](ScriptedProbes& p, RunT& run) {
                 p.add("web", 500ms, [&](WallTime t) { return !fleet_.down("web1", t); });
                 clock_.at(at(10s), [&] { answers.push_back(run.approve("kim", "go", false)); });
                 clock_.at(at(20s), [&] { answers.push_back(run.approve("kim", "again", false)); });
                 clock_.at(at(30s), [&] { answers.push_back(run.approve("mallory", "", false)); });
                 clock_.at(at(40s), [&] { answers.push_back(run.approve("lee", "", false)); });
               });
  ASSERT_EQ(answers.size(), 4u);
  EXPECT_EQ(answers[0].error(), "");
  EXPECT_EQ(answers[0].approvals(), 1u);
  EXPECT_EQ(answers[1].error(), "kim has already approved run r-test; approvals must come from distinct people");
  EXPECT_EQ(answers[2].error(), "mallory may not approve this run (approvers: kim, lee, park)");
  EXPECT_EQ(answers[3].approvals(), 2u);
  ASSERT_EQ(r.approvals_size(), 2);
  EXPECT_EQ(r.approvals(0).approver(), "kim");
  EXPECT_EQ(r.approvals(0).comment(), "go");
  EXPECT_DOUBLE_EQ(secs(from_proto(r.approvals(0).at())), 10);
  EXPECT_EQ(r.approvals(1).approver(), "lee");
  EXPECT_EQ(phases(r).front(), "pending_approval");
  // Nothing happened before the second approval.
  EXPECT_GE(secs(from_proto(r.fault_start())), 40);
  EXPECT_EQ(r.outcome(), v1::RUN_OUTCOME_FAILED);
  // Late approvals are refused.
  EXPECT_NE(run_->approve("park", "", false).error().find("is not waiting for approval"), std::string::npos);
}

TEST_F(RunnerTest, ARejectionRefusesTheRun) {
  auto r = run(std::string(kSingleHost) + "approvals: {required: 1}\n", [&](ScriptedProbes& p, RunT& run) {
    p.add("web", 500ms, [](WallTime) { return true; });
    clock_.at(at(5s), [&] { run.approve("kim", "not during the sale", true); });
  });
  EXPECT_EQ(r.outcome(), v1::RUN_OUTCOME_REFUSED);
  EXPECT_EQ(r.reason(), "rejected by kim: not during the sale");
  EXPECT_TRUE(fleet_.faults.empty());
  EXPECT_EQ(fleet_.admits, 0);
}

TEST_F(RunnerTest, GuardRefusalAtPreflightNamesTheRule) {
  auto r = run(R"(name: too-wide
targets: {selector: "role=web"}
blast_radius: {max_hosts: 1}
steps: [{fault: {power_loss: {}}, duration: 30s}]
probes: [{name: web, http: {url: "http://lb/"}}]
)", [&](ScriptedProbes& p, RunT&) { p.add("web", 1s, [](WallTime) { return true; }); });
  EXPECT_EQ(r.outcome(), v1::RUN_OUTCOME_REFUSED);
  EXPECT_NE(r.reason().find("max_hosts"), std::string::npos) << r.reason();
  EXPECT_NE(r.reason().find("web1"), std::string::npos) << r.reason();
  EXPECT_TRUE(fleet_.faults.empty());
  EXPECT_EQ(probes_->started, WallTime{});  // probes never started
}

TEST_F(RunnerTest, PreflightRefusesUnresolvableAndIncapableTargets) {
  auto r = run(R"(name: nobody
targets: {selector: "role=cache"}
steps: [{fault: {power_loss: {}}, duration: 30s}]
probes: [{name: web, http: {url: "http://lb/"}}]
)", [&](ScriptedProbes& p, RunT&) { p.add("web", 1s, [](WallTime) { return true; }); });
  EXPECT_EQ(r.outcome(), v1::RUN_OUTCOME_REFUSED);
  EXPECT_NE(r.reason().find("step 1 targets (role=cache)"), std::string::npos) << r.reason();

  fleet_.incapable["web1"] = "power_loss";
  auto r2 = run(kSingleHost, [&](ScriptedProbes& p, RunT&) { p.add("web", 500ms, [](WallTime) { return true; }); });
  EXPECT_EQ(r2.outcome(), v1::RUN_OUTCOME_REFUSED);
  EXPECT_EQ(r2.reason(), "step 1: target(s) not live or not capable: web1: agent offers no power_loss");
}

TEST_F(RunnerTest, SteadyStateNotReachedAbortsBeforeAnyFault) {
  auto r = run(std::string(kSingleHost), [&](ScriptedProbes& p, RunT&) {
    p.add("web", 500ms, [](WallTime t) { return false; });
  });
  EXPECT_EQ(r.outcome(), v1::RUN_OUTCOME_ABORTED);
  EXPECT_NE(r.reason().find("steady state not reached within 65s (web: connection refused)"), std::string::npos)
      << r.reason();
  EXPECT_TRUE(fleet_.faults.empty());
  EXPECT_FALSE(r.has_fault_start());
  EXPECT_EQ(r.slo_size(), 0);
}

// A power loss of rack p1 (web1, db1), watched by one probe.
const char* kRack = R"(name: rack
targets: {selector: "rack=p1"}
steps: [{fault: {power_loss: {}}, duration: 1m}]
probes: [{name: db, tcp: {address: "db:5432"}}]
steady_state: {hold: 2s}
)";

TEST_F(RunnerTest, LostAgentAbortsAndRevertsTheOthers) {
  auto r = run(kRack, [&](ScriptedProbes& p, RunT&) {
    p.add("db", 1s, [](WallTime) { return true; });
    clock_.at(at(20s), [&] { fleet_.lose("db1"); });
  });
  EXPECT_EQ(r.outcome(), v1::RUN_OUTCOME_ABORTED);
  EXPECT_EQ(r.reason(), "agent(s) lost while their fault was on: db1");
  EXPECT_DOUBLE_EQ(secs(from_proto(r.fault_end())), 20.0);
  // web1 was reverted; db1's revert is not confirmed (its agent will revert by lease).
  for (const auto& f : r.steps(0).faults()) {
    if (f.agent_id() == "web1") {
      EXPECT_EQ(f.status(), v1::TARGET_STATUS_REVERTED);
    } else {
      EXPECT_NE(f.error().find("revert"), std::string::npos) << f.agent_id();
    }
  }
}

// A fault the agent ended on its own (its expiry by its clock, the dead-man switch, a
// local revert, a restart...) breaks the step on that host: recorded there with when
// and why, and the run aborts, reverting the others.
TEST_F(RunnerTest, AFaultEndedEarlyOnAHostAbortsTheRun) {
  auto r = run(kRack, [&](ScriptedProbes& p, RunT&) {
    p.add("db", 1s, [](WallTime) { return true; });
    clock_.at(at(20s), [&] {
      fleet_.early_ends["r-test.0@db1"] = {"db1", "its lease expired by the agent's clock", at(19s), false};
    });
  });
  EXPECT_EQ(r.outcome(), v1::RUN_OUTCOME_ABORTED);
  EXPECT_NE(r.reason().find("step 1 is broken on db1: fault r-test.0 ended early on db1 at "), std::string::npos)
      << r.reason();
  EXPECT_NE(r.reason().find("its lease expired by the agent's clock"), std::string::npos) << r.reason();
  for (const auto& f : r.steps(0).faults()) {
    if (f.agent_id() == "db1") {
      EXPECT_EQ(f.status(), v1::TARGET_STATUS_ENDED_EARLY);
      EXPECT_DOUBLE_EQ(secs(from_proto(f.reverted_at())), 19.0);  // when the agent ended it
      EXPECT_NE(f.error().find("its lease expired"), std::string::npos);
    } else {
      EXPECT_EQ(f.status(), v1::TARGET_STATUS_REVERTED) << f.agent_id();
    }
  }
  bool told = false;
  for (const auto& e : r.events()) told |= e.kind() == "fault" && e.message().find("ended early on db1") != std::string::npos;
  EXPECT_TRUE(told);
}

// ... unless the experiment says to go on: the host's record still says so.
TEST_F(RunnerTest, AFaultEndedEarlyIsRecordedWhenTheRunContinues) {
  auto r = run(std::string(kRack) + "abort: {continue_when_fault_ends: true}\n", [&](ScriptedProbes& p, RunT&) {
    p.add("db", 1s, [](WallTime) { return true; });
    clock_.at(at(20s), [&] {
      fleet_.early_ends["r-test.0@web1"] = {"web1", "revert failing: cgroup busy", at(19s), true};
    });
  });
  EXPECT_NE(r.outcome(), v1::RUN_OUTCOME_ABORTED) << r.reason();
  for (const auto& f : r.steps(0).faults()) {
    if (f.agent_id() == "web1") {
      EXPECT_NE(f.error().find("ended early on web1"), std::string::npos) << f.error();
      EXPECT_NE(f.error().find("revert failing: cgroup busy"), std::string::npos) << f.error();
    }
  }
}

TEST_F(RunnerTest, HaltAbortsARunningExperiment) {
  auto r = run(kSingleHost, [&](ScriptedProbes& p, RunT&) {
    p.add("web", 500ms, [](WallTime) { return true; });
    clock_.at(at(15s), [&] { fleet_.halt(); });
  });
  EXPECT_EQ(r.outcome(), v1::RUN_OUTCOME_ABORTED);
  EXPECT_EQ(r.reason(), "the fleet was halted: game over");
  EXPECT_EQ(fleet_.in_effect(), 0u);
}

TEST_F(RunnerTest, OperatorAbortWhileWaitingForApproval) {
  auto r = run(std::string(kSingleHost) + "approvals: {required: 1}\n", [&](ScriptedProbes& p, RunT& run) {
    p.add("web", 500ms, [](WallTime) { return true; });
    clock_.at(at(3s), [&] { run.abort("changed our minds", "operator alice"); });
  });
  EXPECT_EQ(r.outcome(), v1::RUN_OUTCOME_ABORTED);
  EXPECT_EQ(r.reason(), "changed our minds");
  EXPECT_TRUE(fleet_.faults.empty());
}

// Rack p1 blackholed for a minute, one probe.
constexpr const char* kRackBlackhole = R"(name: rack
targets: {selector: "rack=p1"}
steps: [{fault: {network: {blackhole: {}}}, duration: 1m}]
probes: [{name: db, tcp: {address: "db:5432"}}]
steady_state: {hold: 1s}
)";

TEST_F(RunnerTest, AFaultRefusedByOneTargetIsRevertedEverywhere) {
  fleet_.refuse["db1"] = "tcx unavailable";
  auto r = run(kRackBlackhole, [&](ScriptedProbes& p, RunT&) { p.add("db", 1s, [](WallTime) { return true; }); });
  EXPECT_EQ(r.outcome(), v1::RUN_OUTCOME_ABORTED);
  EXPECT_EQ(r.reason(), "step 1: the fault was not applied on db1: tcx unavailable");
  EXPECT_EQ(fleet_.in_effect(), 0u);
  EXPECT_EQ(fleet_.reverts.size(), 1u);
}

// A halt that lands while a step's fault goes out is why the run ends, not the agents'
// refusals it caused: the run is recorded as halted, with what was not applied.
TEST_F(RunnerTest, AHaltDuringTheFanOutIsTheReasonNotTheRefusalsItCaused) {
  fleet_.refuse["db1"] = "the fleet is halted";
  fleet_.during_apply = [&] { fleet_.halt(); };
  auto r = run(kRackBlackhole, [&](ScriptedProbes& p, RunT&) { p.add("db", 1s, [](WallTime) { return true; }); });
  EXPECT_EQ(r.outcome(), v1::RUN_OUTCOME_ABORTED);
  EXPECT_EQ(r.reason(), "the fleet was halted: game over (step 1: the fault was not applied on db1: the fleet is halted)");
  EXPECT_EQ(fleet_.in_effect(), 0u);
}

TEST_F(RunnerTest, StepsWidenWithHoldAndTheGuardSeesEachStep) {
  auto r = run(R"(name: widen
targets: {selector: "dc=pangyo"}
blast_radius: {max_domains: {key: dc, count: 1}}
steps:
  - {name: host, fault: {power_loss: {}}, duration: 10s, targets: {selector: "rack=p1,role=db"}, hold: true}
  - {name: rack, fault: {power_loss: {}}, duration: 10s, targets: {selector: "rack=p1"}, hold: true}
  - {name: site, fault: {power_loss: {}}, duration: 10s}
probes: [{name: db, tcp: {address: "db:5432"}}]
steady_state: {hold: 1s}
recovery: {hold: 1s}
)", [&](ScriptedProbes& p, RunT&) { p.add("db", 1s, [](WallTime) { return true; }); });
  EXPECT_EQ(r.outcome(), v1::RUN_OUTCOME_PASSED) << r.reason();
  ASSERT_EQ(fleet_.faults.size(), 1u + 2u + 3u);
  // While step 3 ran, every host of steps 1 and 2 was still down.
  WallTime during3 = from_proto(r.steps(2).started_at()) + 5s;
  for (const char* h : {"web1", "db1", "db2"}) EXPECT_TRUE(fleet_.down(h, during3)) << h;
  // The guard was asked again before each step, with the held hosts included.
  ASSERT_GE(fleet_.checks.size(), 6u);
  auto last = fleet_.checks.back();
  std::sort(last.begin(), last.end());
  EXPECT_EQ(last, (std::vector<std::string>{"db1", "db2", "web1"}));
  // A held fault's lease covers the steps after it.
  WallTime step1_expiry = from_proto(r.steps(0).faults(0).expires_at());
  EXPECT_GT(step1_expiry, from_proto(r.steps(2).started_at()) + 10s);
  EXPECT_EQ(fleet_.in_effect(), 0u);
}

TEST_F(RunnerTest, AStepWithoutHoldIsRevertedBeforeTheNext) {
  auto r = run(R"(name: one-by-one
targets: {selector: "role=db"}
steps:
  - {fault: {process: {kill: {select: {comms: [postgres]}}}}, duration: 5s, targets: {selector: "rack=p1,role=db"}}
  - {fault: {process: {kill: {select: {comms: [postgres]}}}}, duration: 5s, targets: {selector: "rack=p2"}}
probes: [{name: db, tcp: {address: "db:5432"}}]
steady_state: {hold: 1s}
recovery: {hold: 1s}
)", [&](ScriptedProbes& p, RunT&) { p.add("db", 1s, [](WallTime) { return true; }); });
  EXPECT_EQ(r.outcome(), v1::RUN_OUTCOME_PASSED) << r.reason();
  ASSERT_EQ(fleet_.faults.size(), 2u);
  EXPECT_LE(*fleet_.faults[0].until, fleet_.faults[1].from);
}

// A power loss with a data probe writing a marker every second.
constexpr const char* kDataRun = R"(name: data
targets: {selector: "role=db,rack=p1"}
steps: [{fault: {power_loss: {}}, duration: 10s}]
probes:
  - {name: db, tcp: {address: "db:5432"}}
  - {name: markers, interval: 1s, data: {write: [w, "{marker}"], read: [r]}}
steady_state: {hold: 2s}
recovery: {hold: 2s}
slo:
  data_loss: {max_markers: 0}
)";

TEST_F(RunnerTest, DataLossIsMeasuredFromMarkers) {
  auto r = run(kDataRun, [&](ScriptedProbes& p, RunT&) {
    p.add("db", 1s, [](WallTime) { return true; });
    p.add("markers", 1s, [](WallTime) { return true; }, true);
    p.lost_markers = {5, 6};
  });
  EXPECT_EQ(r.outcome(), v1::RUN_OUTCOME_FAILED);
  ASSERT_EQ(r.data_size(), 1);
  EXPECT_TRUE(r.data(0).ok());
  EXPECT_EQ(std::vector<uint64_t>(r.data(0).lost().begin(), r.data(0).lost().end()), (std::vector<uint64_t>{5, 6}));
  const auto* loss = row(r, "data_loss", "markers");
  ASSERT_NE(loss, nullptr);
  EXPECT_FALSE(loss->pass());
  EXPECT_EQ(loss->term(), "RPO");
  EXPECT_EQ(loss->value(), 2);
}

TEST_F(RunnerTest, TheDataCheckAndTheSloRowCountTheSameMarkers) {
  // The write in flight when the read-back starts is acknowledged: the data check's
  // own line and the SLO row both count it.
  auto r = run(kDataRun, [&](ScriptedProbes& p, RunT&) {
    p.add("db", 1s, [](WallTime) { return true; });
    p.add("markers", 1s, [](WallTime) { return true; }, true);
    p.write_in_flight = true;
  });
  ASSERT_EQ(r.data_size(), 1);
  EXPECT_EQ(r.data(0).acknowledged(), probes_->written.size());
  const auto* loss = row(r, "data_loss", "markers");
  ASSERT_NE(loss, nullptr);
  EXPECT_TRUE(loss->pass());
  EXPECT_EQ(loss->measured(), fmt::format("0 of {} lost, span 0s", r.data(0).acknowledged()));
}

TEST_F(RunnerTest, AnAbortedRunStillReadsItsMarkersBack) {
  auto r = run(R"(name: data-abort
targets: {selector: "role=db,rack=p1"}
steps: [{fault: {power_loss: {}}, duration: 30s}]
probes:
  - {name: db, tcp: {address: "db:5432"}}
  - {name: markers, interval: 1s, data: {write: [w, "{marker}"], read: [r]}}
steady_state: {hold: 2s}
abort: {unavailability_over: 3s}
slo:
  data_loss: {max_markers: 0}
)", [&](ScriptedProbes& p, RunT&) {
    p.add("db", 1s, [&](WallTime t) { return !fleet_.down("db1", t); });
    p.add("markers", 1s, [](WallTime) { return true; }, true);
    p.lost_markers = {4};
  });
  EXPECT_EQ(r.outcome(), v1::RUN_OUTCOME_ABORTED);
  // The faults are off before the read-back, and the loss is measured all the same.
  EXPECT_EQ(fleet_.in_effect(), 0u);
  ASSERT_EQ(r.data_size(), 1);
  EXPECT_TRUE(r.data(0).ok());
  EXPECT_EQ(std::vector<uint64_t>(r.data(0).lost().begin(), r.data(0).lost().end()), (std::vector<uint64_t>{4}));
  const auto* loss = row(r, "data_loss", "markers");
  ASSERT_NE(loss, nullptr);
  EXPECT_FALSE(loss->pass());
  EXPECT_EQ(loss->value(), 1);
}

TEST_F(RunnerTest, TheRecordIsPersistedAtEveryPhase) {
  std::vector<v1::RunPhase> seen;
  auto r = run(kSingleHost, [&](ScriptedProbes& p, RunT&) {
    p.add("web", 500ms, [&](WallTime t) { return !fleet_.down("web1", t); });
    // Halfway through the fault, what is on disk says "observe" with the fault applied.
    clock_.at(at(20s), [&] {
      auto stored = store_->run("r-test", true);
      ASSERT_TRUE(stored.ok() && *stored);
      seen.push_back((*stored)->phase());
      ASSERT_EQ((*stored)->steps_size(), 1);
      EXPECT_EQ((*stored)->steps(0).faults(0).status(), v1::TARGET_STATUS_SCHEDULED);
      // Every sample taken so far is stored (appended as the run takes them).
      EXPECT_GT((*stored)->samples_size(), 20);
      EXPECT_EQ((*stored)->samples_size(), run_->snapshot(true).samples_size());
    });
  });
  EXPECT_EQ(seen, std::vector<v1::RunPhase>{v1::RUN_PHASE_OBSERVE});
  auto list = store_->runs(0);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].samples_size(), 0);  // lists leave the samples out
  EXPECT_EQ((*list)[0].kind(), "experiment");
}

}  // namespace
}  // namespace firedrill::runner

namespace firedrill::runner {
namespace {

// targets.from_command (target_command.h), with real commands through /bin/sh.
class TargetCommandTest : public RunnerTest {
 protected:
  v1::RunRecord run_with(const std::string& targets) {
    return run("name: by-command\ntargets: " + targets +
                   "\nsteps: [{fault: {network: {blackhole: {}}}, duration: 10s}]\n"
                   "probes: [{name: web, http: {url: \"http://lb/\"}}]\n",
               [&](ScriptedProbes& p, RunT&) { p.add("web", 1s, [](WallTime) { return true; }); });
  }
};

TEST_F(TargetCommandTest, HostIdsChooseThoseHostsAndAreRecordedWithTheOutput) {
  auto r = run_with(R"({from_command: "printf 'db2\n\nweb2\n'; echo note >&2"})");
  EXPECT_NE(r.outcome(), v1::RUN_OUTCOME_REFUSED) << r.reason();
  ASSERT_EQ(r.steps_size(), 1);
  std::set<std::string> hit;
  for (const auto& f : r.steps(0).faults()) hit.insert(f.agent_id());
  EXPECT_EQ(hit, (std::set<std::string>{"db2", "web2"}));
  ASSERT_EQ(r.target_commands_size(), 1);
  const auto& c = r.target_commands(0);
  EXPECT_EQ(c.field(), "targets");
  EXPECT_EQ(c.out(), "db2\n\nweb2\n");
  EXPECT_EQ(c.err(), "note\n");
  EXPECT_EQ(c.status(), "exit 0: note");
  EXPECT_EQ(std::vector<std::string>(c.hosts().begin(), c.hosts().end()), (std::vector<std::string>{"db2", "web2"}));
  EXPECT_TRUE(c.error().empty());
  // The experiment as recorded still says what was declared.
  EXPECT_EQ(r.experiment().targets().from_command(), "printf 'db2\n\nweb2\n'; echo note >&2");
}

TEST_F(TargetCommandTest, OneSelectorLineIsASelectorAndTheModeStillApplies) {
  auto r = run_with(R"({from_command: "echo 'dc=pangyo,role=db'", mode: {count: 1}})");
  EXPECT_NE(r.outcome(), v1::RUN_OUTCOME_REFUSED) << r.reason();
  ASSERT_EQ(r.steps_size(), 1);
  ASSERT_EQ(r.steps(0).faults_size(), 1);
  EXPECT_EQ(r.steps(0).faults(0).agent_id(), "db1");  // count(1) in id order of db1, db2
  ASSERT_EQ(r.target_commands_size(), 1);
  EXPECT_EQ(r.target_commands(0).selector(), "dc=pangyo,role=db");
  EXPECT_EQ(r.target_commands(0).hosts_size(), 0);
}

TEST_F(TargetCommandTest, FailingEmptyGarbageOrSlowOutputRefusesTheRun) {
  struct Bad {
    std::string targets;
    std::string says;
  };
  for (const Bad& b : std::vector<Bad>{
           {R"({from_command: "echo no leader >&2; exit 3"})", "the command did not succeed: exit 3: no leader"},
           {R"({from_command: "true"})", "it printed nothing"},
           {R"({from_command: "printf '   \n\n'"})", "it printed nothing"},
           {R"({from_command: "printf 'web1\nweb9\n'"})", "its 2 lines are not host ids of live agents"},
           {R"({from_command: "echo 'rack in (p1'"})", "neither a live agent's id"},
           {R"({from_command: "echo role=cache"})", "selector \"role=cache\" matches none"},
           {R"({from_command: "sleep 5", from_command_timeout: 300ms})", "timed out after 300ms"},
           {R"({from_command: "head -c 70000 /dev/zero | tr '\\0' a"})", "more than 65536 bytes"},
       }) {
    auto r = run_with(b.targets);
    EXPECT_EQ(r.outcome(), v1::RUN_OUTCOME_REFUSED) << b.targets;
    EXPECT_NE(r.reason().find(b.says), std::string::npos) << b.targets << "\n" << r.reason();
    EXPECT_TRUE(fleet_.faults.empty()) << b.targets;
    if (b.says.find("matches none") != std::string::npos) continue;  // refused when resolved, after the command chose
    ASSERT_EQ(r.target_commands_size(), 1) << b.targets;
    EXPECT_FALSE(r.target_commands(0).error().empty()) << b.targets;
    EXPECT_NE(r.reason().find("targets.from_command"), std::string::npos) << r.reason();
  }
}

TEST_F(TargetCommandTest, AStepOfItsOwnRunsItsOwnCommandAndSharedOnesRunOnce) {
  auto counter = dir_ + "/runs";
  auto r = run("name: two\ntargets: {from_command: \"echo x >> " + counter + "; echo web1\"}\n"
               "steps:\n"
               "  - {fault: {network: {blackhole: {}}}, duration: 10s}\n"
               "  - {fault: {network: {blackhole: {}}}, duration: 10s}\n"
               "  - {fault: {network: {blackhole: {}}}, duration: 10s, targets: {from_command: \"echo db2\"}}\n"
               "probes: [{name: web, http: {url: \"http://lb/\"}}]\n",
               [&](ScriptedProbes& p, RunT&) { p.add("web", 1s, [](WallTime) { return true; }); });
  EXPECT_NE(r.outcome(), v1::RUN_OUTCOME_REFUSED) << r.reason();
  ASSERT_EQ(r.target_commands_size(), 2);
  EXPECT_EQ(r.target_commands(0).field(), "targets");
  EXPECT_EQ(r.target_commands(1).field(), "steps[2].targets");
  ASSERT_EQ(r.steps_size(), 3);
  EXPECT_EQ(r.steps(1).targets(0).agent_id(), "web1");
  EXPECT_EQ(r.steps(2).targets(0).agent_id(), "db2");
  std::ifstream in(counter);
  std::string all((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(all, "x\n") << "the experiment's command ran once for both steps that use it";
}

}  // namespace
}  // namespace firedrill::runner
