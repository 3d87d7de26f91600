// The daemon's run manager, in real time with short runs: runs on their own threads,
// approvals routed by id, a stop that aborts running runs but keeps the ones waiting
// for approval, resumed by the next manager; scheduled launches.
#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "controller/runner/run_manager.h"
#include "tests/unit/runner_fakes.h"

namespace firedrill::runner {
namespace {

using namespace std::chrono_literals;

class RunManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/fde-manager-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    fleet_.add("web1", {{"dc", "pangyo"}, {"role", "web"}});
    fleet_.add("web2", {{"dc", "chuncheon"}, {"role", "web"}});
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<RunManager> manager() {
    RunManagerConfig c;
    c.runs_dir = dir_ + "/runs";
    c.schedules_dir = dir_ + "/schedules";
    c.options.tick = 20ms;
    c.options.start_delay = 50ms;
    int* n = &ids_;
    c.new_run_id = [n] { return "r-test-" + std::to_string(++*n); };
    auto probes = [this](const v1::Experiment& e) {
      auto p = std::make_unique<ScriptedProbes>(&clock_);
      for (const auto& probe : e.probes()) p->add(probe.name(), 50ms, [](WallTime) { return true; });
      return std::unique_ptr<probes::ProbeSource>(std::move(p));
    };
    auto m = std::make_unique<RunManager>(c, &clock_, &fleet_, ObserverFactory{}, probes);
    EXPECT_TRUE(m->start().ok());
    return m;
  }

  experiment::LoadedExperiment file(const std::string& extra, const std::string& duration = "300ms") {
    auto l = experiment::parse_experiment(
        "name: quick\ntargets: {selector: \"dc=pangyo\"}\nsteps: [{fault: {power_loss: {}}, duration: " + duration +
            "}]\nprobes: [{name: web, interval: 100ms, http: {url: \"http://lb/\"}}]\n"
            "steady_state: {hold: 200ms}\nrecovery: {hold: 200ms}\n" + extra,
        "quick.yaml");
    EXPECT_TRUE(l.ok()) << (l.ok() ? "" : l.diagnostics[0].to_string());
    return l;
  }

  // Waits (bounded) until the run is in `phase`.
  v1::RunRecord wait_for(RunManager& m, const std::string& id, v1::RunPhase phase) {
    v1::RunRecord r;
    for (int i = 0; i < 500; ++i) {
      auto got = m.get(id, false);
      if (got.ok()) {
        r = *got;
        if (r.phase() == phase) return r;
      }
      std::this_thread::sleep_for(20ms);
    }
    ADD_FAILURE() << "run " << id << " never reached " << phase_name(phase) << " (is in " << phase_name(r.phase()) << ")";
    return r;
  }

  std::string dir_;
  SystemClock clock_;
  FakeFleet fleet_{&clock_};
  int ids_ = 0;
};

TEST_F(RunManagerTest, ARunWaitsForApprovalThenRunsToItsVerdict) {
  auto m = manager();
  auto id = m->start_run(file("approvals: {required: 1}\n"), "tester", {});
  ASSERT_TRUE(id.ok()) << id.error().describe();
  wait_for(*m, *id, v1::RUN_PHASE_PENDING_APPROVAL);
  EXPECT_TRUE(m->active(*id));
  auto a = m->approve(*id, "kim", "", false);
  EXPECT_EQ(a.error(), "");
  auto r = wait_for(*m, *id, v1::RUN_PHASE_DONE);
  EXPECT_EQ(r.outcome(), v1::RUN_OUTCOME_PASSED) << r.reason();
  ASSERT_EQ(fleet_.faults.size(), 1u);
  EXPECT_TRUE(fleet_.faults[0].until.has_value());
  auto list = m->list(10);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].id(), *id);
  EXPECT_EQ(m->approve("r-nope", "kim", "", false).error(), "no run r-nope");
  EXPECT_EQ(m->approve(*id, "lee", "", false).error(), fmt::format("run {} is not waiting for approval (it is passed)", *id));
}

TEST_F(RunManagerTest, StopKeepsPendingRunsForTheNextStartAndAbortsRunningOnes) {
  std::string pending, running;
  {
    auto m = manager();
    auto p = m->start_run(file("approvals: {required: 2}\n"), "tester", {});
    auto r = m->start_run(file("", "1m"), "tester", {});
    ASSERT_TRUE(p.ok() && r.ok());
    pending = *p;
    running = *r;
    wait_for(*m, pending, v1::RUN_PHASE_PENDING_APPROVAL);
    EXPECT_EQ(m->approve(pending, "kim", "", false).error(), "");
    wait_for(*m, running, v1::RUN_PHASE_OBSERVE);
    m->stop("controller restart");
    auto stopped = m->get(running, false);
    ASSERT_TRUE(stopped.ok());
    EXPECT_EQ(stopped->outcome(), v1::RUN_OUTCOME_ABORTED);
    EXPECT_EQ(stopped->reason(), "controller restart");
    EXPECT_EQ(fleet_.in_effect(), 0u);
  }
  // The next controller resumes the pending run with its approval so far.
  auto m2 = manager();
  auto resumed = m2->get(pending, false);
  ASSERT_TRUE(resumed.ok());
  EXPECT_EQ(resumed->phase(), v1::RUN_PHASE_PENDING_APPROVAL);
  ASSERT_NE(m2->live(pending), nullptr);
  ASSERT_EQ(resumed->approvals_size(), 1);
  EXPECT_EQ(m2->approve(pending, "kim", "", false).error(),
            fmt::format("kim has already approved run {}; approvals must come from distinct people", pending));
  EXPECT_EQ(m2->approve(pending, "lee", "", false).approvals(), 2u);
  auto done = wait_for(*m2, pending, v1::RUN_PHASE_DONE);
  EXPECT_EQ(done.outcome(), v1::RUN_OUTCOME_PASSED) << done.reason();
}

TEST_F(RunManagerTest, AbortByIdRevertsAndRecordsWho) {
  auto m = manager();
  auto id = m->start_run(file("", "1m"), "tester", {});
  ASSERT_TRUE(id.ok());
  wait_for(*m, *id, v1::RUN_PHASE_OBSERVE);
  ASSERT_TRUE(m->abort(*id, "", "alice").ok());
  auto r = wait_for(*m, *id, v1::RUN_PHASE_DONE);
  EXPECT_EQ(r.outcome(), v1::RUN_OUTCOME_ABORTED);
  EXPECT_EQ(r.reason(), "aborted by alice");
  EXPECT_EQ(fleet_.in_effect(), 0u);
  auto again = m->abort(*id, "", "alice");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().message, fmt::format("run {} has ended (aborted)", *id));
}

TEST_F(RunManagerTest, TheSchedulerLaunchesRunsThroughTheManager) {
  auto m = manager();
  auto f = file("schedule: {cron: \"* * * * *\", random_targets: 1}\n");
  v1::ScheduleRecord s;
  s.set_id("s-test");
  s.set_experiment_file(f.file);
  s.set_experiment_yaml(f.text);
  s.set_experiment_sha256(f.sha256);
  *s.mutable_experiment() = f.experiment;
  auto e = scheduler::Scheduler::for_run(f.experiment, 42);
  auto id = m->launch(s, e, clock_.now());
  ASSERT_TRUE(id.ok());
  auto r = wait_for(*m, *id, v1::RUN_PHASE_DONE);
  EXPECT_EQ(r.schedule_id(), "s-test");
  EXPECT_EQ(r.seed(), 42u);
  EXPECT_EQ(r.started_by(), "scheduler (schedule s-test)");
  EXPECT_EQ(r.experiment().targets().mode().count(), 1u);
  EXPECT_FALSE(m->active(*id));
}

}  // namespace
}  // namespace firedrill::runner
