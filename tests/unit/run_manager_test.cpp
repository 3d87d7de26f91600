// The daemon's run manager, in real time with short runs: runs on their own threads,
// approvals routed by id, a stop that aborts running runs but keeps the ones waiting
// for approval, resumed by the next manager; scheduled launches; an ad hoc inject as a
// one-step run; the one restart recovery for runs of every kind.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <thread>

#include "controller/runner/run_manager.h"
#include "controller/store/target_status.h"
#include "tests/unit/runner_fakes.h"

namespace firedrill::runner {
namespace {

using namespace std::chrono_literals;

class RunManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/fde-manager-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    auto store = controller::open_sqlite_store(dir_ + "/controller.db");
    ASSERT_TRUE(store.ok()) << store.error().describe();
    store_ = std::move(*store);
    fleet_.add("web1", {{"dc", "pangyo"}, {"role", "web"}});
    fleet_.add("web2", {{"dc", "chuncheon"}, {"role", "web"}});
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<RunManager> manager(ObserverFactory observers = {}, std::optional<Takeover> takeover = {},
                                      Readoption* readoption = nullptr) {
    RunManagerConfig c;
    c.store = store_.get();
    c.takeover = takeover;
    c.readoption = readoption;
    c.options.tick = 20ms;
    c.options.start_delay = 50ms;
    int* n = &ids_;
    c.new_run_id = [n] { return "r-test-" + std::to_string(++*n); };
    if (!policy_.empty()) {
      c.policy_approvals = [this](const std::string& env) {
        auto it = policy_.find(env);
        return it == policy_.end() ? 0u : it->second;
      };
    }
    auto probes = [this](const v1::Experiment& e) {
      auto p = std::make_unique<ScriptedProbes>(&clock_);
      for (const auto& probe : e.probes()) p->add(probe.name(), 50ms, [](WallTime) { return true; });
      return std::unique_ptr<probes::ProbeSource>(std::move(p));
    };
    auto m = std::make_unique<RunManager>(c, &clock_, &fleet_, observers, probes);
    auto ended = m->start();
    EXPECT_TRUE(ended.ok());
    if (ended.ok()) ended_ = *ended;
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
  std::unique_ptr<controller::Store> store_;
  std::vector<std::string> ended_;  // what the last start() recovered
  SystemClock clock_;
  FakeFleet fleet_{&clock_};
  int ids_ = 0;
  std::map<std::string, uint32_t> policy_;  // the controller's approvals per environment
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

// What a run's observers heard (the evidence recorder is one).
struct Heard : RunObserver {
  explicit Heard(std::vector<std::string>* log) : log(log) {}
  void on_fault(const v1::RunRecord& r, const v1::FaultRecord& f, bool reverted) override {
    log->push_back(fmt::format("{} fault {} {} {}", r.id(), f.agent_id(), controller::target_status_name(f.status()), reverted ? "reverted" : ""));
  }
  void on_abort(const v1::RunRecord& r, const std::string& reason, const std::string& by) override {
    log->push_back(fmt::format("{} abort {} by {}", r.id(), reason, by));
  }
  void on_verdict(const v1::RunRecord& r) override {
    log->push_back(fmt::format("{} verdict {} {}", r.id(), outcome_name(r.outcome()), phase_name(r.phase())));
  }
  std::vector<std::string>* log;
};

TEST_F(RunManagerTest, AnInjectIsAOneStepRunWithoutProbes) {
  auto m = manager();
  v1::InjectRequest req;
  req.mutable_targets()->set_selector("dc=pangyo");
  req.mutable_spec()->mutable_network()->mutable_blackhole();
  *req.mutable_duration() = to_proto_duration(300ms);
  req.set_description("by hand");
  auto id = m->start_inject(req, "alice");
  ASSERT_TRUE(id.ok()) << id.error().describe();
  auto r = wait_for(*m, *id, v1::RUN_PHASE_DONE);
  EXPECT_EQ(r.kind(), "inject");
  EXPECT_EQ(r.outcome(), v1::RUN_OUTCOME_PASSED) << r.reason();
  EXPECT_EQ(r.started_by(), "alice");
  EXPECT_EQ(r.experiment().description(), "by hand");
  EXPECT_EQ(r.experiment().probes_size(), 0);
  ASSERT_EQ(r.steps_size(), 1);
  EXPECT_EQ(r.steps(0).name(), "network");
  ASSERT_EQ(r.steps(0).faults_size(), 1);
  EXPECT_EQ(r.steps(0).faults(0).agent_id(), "web1");
  EXPECT_EQ(r.steps(0).faults(0).status(), v1::TARGET_STATUS_REVERTED);
  EXPECT_TRUE(r.steps(0).guard().allowed());
  EXPECT_EQ(fleet_.in_effect(), 0u);
  EXPECT_TRUE(fleet_.ended.count(*id));
  // One kind of thing in the list.
  auto list = m->list(10);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].kind(), "inject");

  // Bad requests are refused before a run exists.
  v1::InjectRequest no_lease = req;
  no_lease.clear_duration();
  auto refused = m->start_inject(no_lease, "alice");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().message, "inject: a duration is required (every fault has a lease)");
  v1::InjectRequest no_kind = req;
  no_kind.clear_spec();
  EXPECT_FALSE(m->start_inject(no_kind, "alice").ok());

  // A guard refusal is a run, recorded refused with the rule.
  v1::InjectRequest too_wide = req;
  too_wide.mutable_targets()->set_selector("role=web");
  too_wide.mutable_blast_radius()->set_max_hosts(1);
  auto wide = m->start_inject(too_wide, "alice");
  ASSERT_TRUE(wide.ok());
  auto w = wait_for(*m, *wide, v1::RUN_PHASE_DONE);
  EXPECT_EQ(w.outcome(), v1::RUN_OUTCOME_REFUSED);
  EXPECT_NE(w.reason().find("max_hosts"), std::string::npos) << w.reason();
  EXPECT_FALSE(w.steps(0).guard().allowed());
}

TEST_F(RunManagerTest, ARestartEndsInjectsAndExperimentsThroughTheOneRecovery) {
  // Two runs a dead controller left in effect, one of each kind, and one waiting for
  // approval.
  auto loaded = file("", "1m");
  auto in_flight = [&](const std::string& id, const std::string& kind) {
    v1::RunRecord r = new_run_record(loaded, id, "tester", clock_.now());
    r.set_kind(kind);
    r.set_phase(v1::RUN_PHASE_OBSERVE);
    *r.mutable_fault_start() = to_proto(clock_.now());
    auto* f = r.add_steps()->add_faults();
    f->set_fault_id(id + ".0");
    f->set_agent_id("web1");
    f->set_status(v1::TARGET_STATUS_APPLIED);
    ASSERT_TRUE(store_->put_run(r).ok());
    ASSERT_TRUE(store_->append_samples(id, {v1::ProbeSample()}).ok());
  };
  in_flight("r-experiment", "experiment");
  in_flight("r-inject", "inject");
  v1::RunRecord waiting = new_run_record(file("approvals: {required: 1}\n"), "r-waiting", "tester", clock_.now());
  waiting.set_phase(v1::RUN_PHASE_PENDING_APPROVAL);
  ASSERT_TRUE(store_->put_run(waiting).ok());

  std::vector<std::string> heard;
  auto m = manager([&](const v1::RunRecord&, bool resumed) {
    std::vector<std::unique_ptr<RunObserver>> out;
    if (resumed) out.push_back(std::make_unique<Heard>(&heard));
    return out;
  });
  EXPECT_EQ(ended_, (std::vector<std::string>{"r-experiment", "r-inject"}));
  EXPECT_EQ(fleet_.reverts, (std::vector<std::string>{"r-experiment.0", "r-inject.0"}));
  for (std::string id : {"r-experiment", "r-inject"}) {
    auto after = store_->run(id, true);
    ASSERT_TRUE(after.ok() && *after) << id;
    const auto& r = **after;
    EXPECT_EQ(r.phase(), v1::RUN_PHASE_DONE) << id;
    EXPECT_EQ(r.outcome(), v1::RUN_OUTCOME_ABORTED) << id;
    EXPECT_EQ(r.reason(), "the controller restarted while the run was in observe") << id;
    EXPECT_EQ(r.steps(0).faults(0).status(), v1::TARGET_STATUS_REVERTED) << id;
    EXPECT_TRUE(r.has_fault_end()) << id;
    EXPECT_EQ(r.samples_size(), 1) << id;  // what it had measured is kept
    EXPECT_TRUE(fleet_.ended.count(id)) << id;
  }
  // The evidence heard the revert, the abort with its reason and the verdict, per run.
  for (std::string id : {"r-experiment", "r-inject"}) {
    std::vector<std::string> mine;
    for (const auto& h : heard) {
      if (h.starts_with(id + " ")) mine.push_back(h);
    }
    EXPECT_EQ(mine, (std::vector<std::string>{
                        id + " fault web1 reverted reverted",
                        id + " abort the controller restarted while the run was in observe by controller restart",
                        id + " verdict aborted done"}));
  }
  // The one waiting for approval goes on waiting.
  ASSERT_NE(m->live("r-waiting"), nullptr);
  EXPECT_EQ(wait_for(*m, "r-waiting", v1::RUN_PHASE_PENDING_APPROVAL).phase(), v1::RUN_PHASE_PENDING_APPROVAL);
}

// A run the lost leader left in observe, at a takeover: `hosts` hold its fault.
v1::RunRecord in_observe(const experiment::LoadedExperiment& loaded, const std::string& id, WallTime now) {
  v1::RunRecord r = new_run_record(loaded, id, "tester", now);
  r.set_phase(v1::RUN_PHASE_OBSERVE);
  *r.mutable_fault_start() = to_proto(now);
  auto* s = r.add_steps();
  *s->mutable_started_at() = to_proto(now);
  s->add_targets()->set_agent_id("web1");
  auto* f = s->add_faults();
  f->set_fault_id(id + ".0");
  f->set_agent_id("web1");
  f->set_status(v1::TARGET_STATUS_APPLIED);
  return r;
}

// A takeover within the agents' grace: the run goes on from its step with the fault the
// agent reports as the record holds it (re-adopted, reverted at the step's end, as
// planned); the probe gap is one sample per probe that is no success; the evidence
// hears the handover. A run whose agent holds another spec under its fault id is
// aborted (that fault reverted).
TEST_F(RunManagerTest, ATakeoverWithinTheGraceContinuesTheRunWithTheFaultsItsAgentsStillHold) {
  auto loaded = file("", "1500ms");
  WallTime now = clock_.now();
  ASSERT_TRUE(store_->put_run(in_observe(loaded, "r-go-on", now)).ok());
  ASSERT_TRUE(store_->put_run(in_observe(loaded, "r-other", now)).ok());
  Readoption readoption;
  Takeover t{"old", now - std::chrono::milliseconds(700), "new", 2, now, std::chrono::seconds(5)};
  std::vector<std::string> heard;
  std::vector<std::pair<WallTime, WallTime>> gaps;
  struct Handovers : RunObserver {
    std::vector<std::pair<WallTime, WallTime>>* gaps;
    void on_handover(const v1::RunRecord&, const Takeover&, WallTime from, WallTime to) override {
      gaps->push_back({from, to});
    }
  };
  auto m = manager(
      [&](const v1::RunRecord&, bool) {
        std::vector<std::unique_ptr<RunObserver>> out;
        auto h = std::make_unique<Handovers>();
        h->gaps = &gaps;
        out.push_back(std::move(h));
        return out;
      },
      t, &readoption);
  EXPECT_TRUE(ended_.empty()) << "a takeover within the grace ended runs";
  v1::Hello hello;
  hello.set_agent_id("web1");
  v1::ActiveFault held;
  held.set_fault_id("r-go-on.0");
  *held.mutable_spec() = loaded.experiment.steps(0).fault();
  EXPECT_TRUE(readoption.adopt(hello, held));
  v1::ActiveFault other;
  other.set_fault_id("r-other.0");
  other.mutable_spec()->mutable_network()->mutable_blackhole();
  EXPECT_FALSE(readoption.adopt(hello, other)) << "a fault that is not the record's was adopted";
  v1::ActiveFault stranger;
  stranger.set_fault_id("r-go-on.1");
  EXPECT_FALSE(readoption.adopt(hello, stranger));
  readoption.seen(hello);

  auto done = wait_for(*m, "r-go-on", v1::RUN_PHASE_DONE);
  EXPECT_EQ(done.outcome(), v1::RUN_OUTCOME_PASSED) << done.reason();
  auto stored = store_->run("r-go-on", true);
  ASSERT_TRUE(stored.ok() && *stored);
  bool readopted = false;
  for (const auto& e : (*stored)->events()) readopted |= e.message().find("1 fault(s) re-adopted") != std::string::npos;
  EXPECT_TRUE(readopted);
  int unmeasured = 0;
  for (const auto& smp : (*stored)->samples()) {
    if (smp.detail() != kUnmeasured) continue;
    ++unmeasured;
    EXPECT_FALSE(smp.ok());
    EXPECT_LE(std::chrono::abs(from_proto(smp.start()) - t.lost_at), std::chrono::milliseconds(1));
  }
  EXPECT_EQ(unmeasured, 1);
  EXPECT_EQ((*stored)->steps(0).faults(0).status(), v1::TARGET_STATUS_REVERTED);
  ASSERT_EQ(gaps.size(), 2u);
  EXPECT_EQ(gaps[0].first, t.lost_at);

  auto other_run = wait_for(*m, "r-other", v1::RUN_PHASE_DONE);
  EXPECT_EQ(other_run.outcome(), v1::RUN_OUTCOME_ABORTED);
  EXPECT_NE(other_run.reason().find("r-other.0 on web1: the agent holds another spec"), std::string::npos)
      << other_run.reason();
  EXPECT_NE(std::find(fleet_.reverts.begin(), fleet_.reverts.end(), "r-other.0"), fleet_.reverts.end());
}

// Slower than the agents' grace: they reverted on their own; the run ends aborted and
// says why, and what it held is reverted again.
TEST_F(RunManagerTest, ATakeoverSlowerThanTheGraceAbortsTheRunAndSaysWhy) {
  auto loaded = file("", "1m");
  WallTime now = clock_.now();
  ASSERT_TRUE(store_->put_run(in_observe(loaded, "r-late", now - std::chrono::seconds(20))).ok());
  Readoption readoption;
  Takeover t{"old", now - std::chrono::seconds(9), "new", 3, now, std::chrono::seconds(5)};
  auto m = manager({}, t, &readoption);
  auto done = wait_for(*m, "r-late", v1::RUN_PHASE_DONE);
  EXPECT_EQ(done.outcome(), v1::RUN_OUTCOME_ABORTED);
  EXPECT_NE(done.reason().find("later than the agents' lease grace 5s"), std::string::npos) << done.reason();
  EXPECT_EQ(fleet_.reverts, (std::vector<std::string>{"r-late.0"}));
  // Nothing is expected back: a fault an agent still reports is reverted.
  v1::Hello hello;
  hello.set_agent_id("web1");
  v1::ActiveFault held;
  held.set_fault_id("r-late.0");
  *held.mutable_spec() = loaded.experiment.steps(0).fault();
  EXPECT_FALSE(readoption.adopt(hello, held));
}

// The approval policy's environment is where the targets are (their agents' env tag):
// an experiment cannot name another to dodge the approvals of its targets'.
TEST_F(RunManagerTest, AClaimedEnvironmentThatContradictsTheTargetsIsRefused) {
  policy_ = {{"production", 2}};
  fleet_.retag("web1", {{"dc", "pangyo"}, {"role", "web"}, {"env", "production"}});
  auto m = manager();
  auto id = m->start_run(file("environment: staging\n"), "tester", {});
  ASSERT_FALSE(id.ok());
  EXPECT_NE(id.error().describe().find("the experiment says environment 'staging' but its targets report "
                                       "env=production (web1)"),
            std::string::npos)
      << id.error().describe();
  EXPECT_TRUE(fleet_.faults.empty());
  auto list = m->list(10);
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list->empty());
}

TEST_F(RunManagerTest, AnExperimentWithoutEnvironmentTakesItsTargetsPolicy) {
  policy_ = {{"production", 2}};
  fleet_.retag("web1", {{"dc", "pangyo"}, {"role", "web"}, {"env", "production"}});
  auto m = manager();
  auto id = m->start_run(file(""), "tester", {});
  ASSERT_TRUE(id.ok()) << id.error().describe();
  auto r = wait_for(*m, *id, v1::RUN_PHASE_PENDING_APPROVAL);
  EXPECT_EQ(r.experiment().environment(), "production");
  EXPECT_EQ(r.experiment().approvals().required(), 2u);
  EXPECT_TRUE(fleet_.faults.empty());
  // Naming the targets' own environment is the same run.
  auto named = m->start_run(file("environment: production\n"), "tester", {});
  ASSERT_TRUE(named.ok()) << named.error().describe();
  EXPECT_EQ(wait_for(*m, *named, v1::RUN_PHASE_PENDING_APPROVAL).experiment().approvals().required(), 2u);
}

TEST_F(RunManagerTest, TargetsInSeveralEnvironmentsAreRefused) {
  policy_ = {{"production", 2}};
  fleet_.retag("web1", {{"dc", "pangyo"}, {"role", "web"}, {"env", "production"}});
  fleet_.retag("web2", {{"dc", "chuncheon"}, {"role", "web"}, {"env", "staging"}});
  auto m = manager();
  auto l = experiment::parse_experiment(
      "name: both\ntargets: {selector: \"role=web\"}\nsteps: [{fault: {power_loss: {}}, duration: 300ms}]\n", "both.yaml");
  ASSERT_TRUE(l.ok());
  auto id = m->start_run(l, "tester", {});
  ASSERT_FALSE(id.ok());
  EXPECT_NE(id.error().describe().find("its targets are in several environments: env=production (web1); "
                                       "env=staging (web2)"),
            std::string::npos)
      << id.error().describe();
}

TEST_F(RunManagerTest, AnInjectGoesThroughTheSamePolicy) {
  policy_ = {{"production", 1}};
  fleet_.retag("web1", {{"dc", "pangyo"}, {"role", "web"}, {"env", "production"}});
  auto m = manager();
  v1::InjectRequest req;
  req.mutable_targets()->set_selector("dc=pangyo");
  req.mutable_spec()->mutable_network()->mutable_blackhole();
  *req.mutable_duration() = to_proto_duration(300ms);
  auto id = m->start_inject(req, "alice");
  ASSERT_TRUE(id.ok()) << id.error().describe();
  auto r = wait_for(*m, *id, v1::RUN_PHASE_PENDING_APPROVAL);
  EXPECT_EQ(r.experiment().approvals().required(), 1u);
  EXPECT_TRUE(fleet_.faults.empty());
  EXPECT_EQ(m->approve(*id, "kim", "", false).error(), "");
  EXPECT_EQ(wait_for(*m, *id, v1::RUN_PHASE_DONE).outcome(), v1::RUN_OUTCOME_PASSED);
  EXPECT_EQ(fleet_.faults.size(), 1u);
}

TEST_F(RunManagerTest, TargetsThatReportAnotherEnvironmentAfterTheApprovalAreRefused) {
  policy_ = {{"staging", 1}, {"production", 2}};
  fleet_.retag("web1", {{"dc", "pangyo"}, {"role", "web"}, {"env", "staging"}});
  auto m = manager();
  auto id = m->start_run(file(""), "tester", {});
  ASSERT_TRUE(id.ok()) << id.error().describe();
  EXPECT_EQ(wait_for(*m, *id, v1::RUN_PHASE_PENDING_APPROVAL).experiment().approvals().required(), 1u);
  // The host comes back as a production one before the staging approval arrives.
  fleet_.retag("web1", {{"dc", "pangyo"}, {"role", "web"}, {"env", "production"}});
  EXPECT_EQ(m->approve(*id, "kim", "", false).error(), "");
  auto r = wait_for(*m, *id, v1::RUN_PHASE_DONE);
  EXPECT_EQ(r.outcome(), v1::RUN_OUTCOME_REFUSED);
  EXPECT_NE(r.reason().find("step 1: the run was placed in environment 'staging' (its approvals are that "
                            "environment's) but targets report env=production (web1)"),
            std::string::npos)
      << r.reason();
  EXPECT_TRUE(fleet_.faults.empty());
}

}  // namespace
}  // namespace firedrill::runner
