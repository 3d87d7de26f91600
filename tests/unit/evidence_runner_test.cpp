// The runner's real state machine (controller/runner) writing evidence through
// RunRecorder: a whole game day over a fake clock, a fake fleet (real selectors and
// guard) and scripted probes, then the report built from the signed log alone. This
// is the hook a run on real agents uses; the report must hold every section.
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <tuple>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "controller/evidence/document.h"
#include "controller/evidence/html_report.h"
#include "controller/runner/run_recorder.h"
#include "controller/store/store.h"
#include "controller/evidence/verify.h"
#include "controller/guard/guard.h"
#include "controller/runner/run.h"
#include "tests/unit/evidence_fixture.h"
#include "tests/unit/runner_fakes.h"

namespace firedrill::evidence {
namespace {

using namespace std::chrono_literals;

const WallTime kT0 = WallTime(std::chrono::seconds(1'795'251'600));  // 2026-11-21T09:00:00Z

using runner::FakeClock;
using runner::ScriptedProbes;

// Agents in memory; faults take effect at their not_before plus a few ms per host.
class FakeFleet : public runner::FleetDriver {
 public:
  explicit FakeFleet(FakeClock* clock) : clock_(clock) {}
  void add(const std::string& id, controller::Tags tags) { hosts_.push_back({id, std::move(tags), "0.1.0"}); }

  Result<std::vector<controller::Host>> resolve(const v1::Targets& targets) override {
    FD_ASSIGN(res, controller::resolve(hosts_, targets), "resolve");
    std::vector<controller::Host> out;
    for (const auto& id : res.targets) {
      for (const auto& h : hosts_) {
        if (h.id == id) out.push_back(h);
      }
    }
    return out;
  }
  v1::GuardVerdict admit(const std::string& run, const std::vector<std::string>& hosts,
                         const v1::BlastRadius& r) override {
    return check(run, hosts, r);
  }
  v1::GuardVerdict check(const std::string&, const std::vector<std::string>& hosts, const v1::BlastRadius& r) override {
    controller::GuardInput in;
    in.fleet = hosts_;
    in.targets = hosts;
    in.radius = r;
    return controller::check_guard(controller::GuardPolicy{}, in);
  }
  void set_run_hosts(const std::string&, const std::vector<std::string>&) override {}
  void end_run(const std::string&) override {}
  std::vector<std::string> not_ready(const std::vector<std::string>&, const v1::FaultSpec&) override { return {}; }
  std::string fault_id(const std::string& run, int step) override { return run + "." + std::to_string(step); }
  runner::FanoutOutcome apply(const std::string&, const std::string& fid, const v1::FaultSpec&,
                              const std::vector<std::string>& hosts, WallTime not_before, WallTime) override {
    runner::FanoutOutcome out;
    int n = 0;
    for (const auto& h : hosts) {
      runner::HostOutcome o;
      o.agent_id = h;
      o.ok = true;
      o.status = v1::TARGET_STATUS_APPLIED;
      o.acked_at = clock_->now();
      o.effective_at = not_before + std::chrono::microseconds(800 + 650 * n);
      // A power loss as an agent reports it: its parts, and its clock.
      for (auto [part, us] : {std::pair{"network cut", 800 + 650 * n}, {"freeze", 900 + 650 * n},
                              {"kill", 1500 + 1000 * n}}) {
        v1::FaultEffect e;
        e.set_part(part);
        *e.mutable_at() = to_proto(not_before + std::chrono::microseconds(us));
        e.set_source(part == std::string("network cut") ? "kernel: first dropped packet" : "agent");
        o.effects.push_back(e);
      }
      o.clock.emplace();
      o.clock->set_synchronized(true);
      o.clock->set_max_error_us(2000 + 1000 * n);
      ++n;
      down_from = not_before;
      out.hosts.push_back(o);
    }
    return out;
  }
  runner::FanoutOutcome revert(const std::string&, const std::vector<std::string>& hosts) override {
    runner::FanoutOutcome out;
    for (const auto& h : hosts) {
      runner::HostOutcome o;
      o.agent_id = h;
      o.ok = true;
      o.status = v1::TARGET_STATUS_REVERTED;
      o.acked_at = clock_->now();
      out.hosts.push_back(o);
    }
    down_until = clock_->now();
    return out;
  }
  std::vector<std::string> lost(const std::vector<std::string>&) override { return {}; }
  std::vector<runner::HostEnded> ended_early(const std::string&, const std::vector<std::string>&) override { return {}; }
  bool halted(std::string*) override { return false; }

  std::optional<WallTime> down_from, down_until;

 private:
  FakeClock* clock_;
  std::vector<controller::Host> hosts_;
};

// Probe round trips that vary a little, as real ones do, so that the report's
// latency figures are not all one value.
std::unique_ptr<ScriptedProbes> varied_probes(FakeClock* clock) {
  auto p = std::make_unique<ScriptedProbes>(clock);
  p->sample_duration = [](uint64_t n) { return std::chrono::microseconds(1200 + 37 * (n % 11)); };
  return p;
}

const char* kGameDay = R"(name: pangyo-datacenter-fire
version: "7"
description: Every rack in dc=pangyo loses power; messaging must fail over to chuncheon.
hypothesis: Sentinel promotes the chuncheon replica within 30s and no acknowledged marker is lost.
owner: jiyoung.park
test_type: game_day
environment: lab
participants:
  - {name: jiyoung.park, role: incident commander}
  - {name: minho.lee, role: messaging on-call}
targets: {selector: "dc=pangyo"}
blast_radius:
  max_domains: {key: dc, count: 1}
  keep_untouched: {key: dc, min: 1}
steps:
  - {name: power loss, fault: {power_loss: {}}, duration: 60s}
probes:
  - {name: messaging, interval: 500ms, tcp: {address: "10.0.2.10:26379"}}
  - {name: web, interval: 500ms, http: {url: "http://10.0.2.20:8080/health"}}
  - {name: markers, interval: 1s, data: {write: [w, "{marker}"], read: [r]}}
steady_state: {hold: 5s}
recovery: {hold: 5s, timeout: 1m}
slo:
  availability: {min: 0.5}
  failover_time: {max: 30s}
  recovery_time: {max: 30s}
  data_loss: {max_markers: 0}
abort: {unavailability_over: 5m}
approvals: {required: 2}
report: {user_notice_threshold: 2h}
)";

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/fdv-runner-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

TEST(EvidenceFromTheRunner, AGameDayRunMakesACompleteVerifiableReport) {
  TempDir dir;
  auto store = controller::open_sqlite_store(dir.path + "/state.db");
  ASSERT_TRUE(store) << store.error().message;
  auto key = SigningKey::generate();
  ASSERT_TRUE(key);
  FakeClock clock(kT0);
  RunRecorder recorder(**store, *key, [&] { return clock.now(); }, 20);

  FakeFleet fleet(&clock);
  for (int r = 1; r <= 2; ++r) {
    for (int h = 1; h <= 2; ++h) {
      std::string id = fmt::format("p{}-h{}", r, h);
      fleet.add(id, {{"dc", "pangyo"}, {"rack", fmt::format("p{}", r)}, {"host", id}});
    }
  }
  fleet.add("c1-h1", {{"dc", "chuncheon"}, {"rack", "c1"}, {"host", "c1-h1"}});

  auto loaded = experiment::parse_experiment(kGameDay, "experiments/pangyo.yaml");
  ASSERT_TRUE(loaded.ok()) << loaded.diagnostics[0].to_string();
  auto probes = varied_probes(&clock);
  // messaging: down from the power loss until Sentinel fails over 12 s later; web:
  // down for 4 s; the data probe keeps writing through the failover.
  probes->add("messaging", 500ms, [&](WallTime t) {
    return !fleet.down_from || t < *fleet.down_from + 500ms || t >= *fleet.down_from + 12s;
  });
  probes->add("web", 500ms, [&](WallTime t) {
    return !fleet.down_from || t < *fleet.down_from + 500ms || t >= *fleet.down_from + 4s;
  });
  probes->add("markers", 1s, [&](WallTime t) {
    return !fleet.down_from || t < *fleet.down_from || t >= *fleet.down_from + 12s;
  }, true);
  runner::RunnerOptions opt;
  opt.start_delay = 1s;
  runner::Run run(runner::new_run_record(loaded, "gd-2026-11-21", "jiyoung.park", clock.now()), &clock, &fleet,
                  std::move(probes), nullptr, &recorder, opt);
  clock.at(kT0 + 3s, [&] { run.approve("hyunwoo.cho", "game day GD-2026-11", false); });
  clock.at(kT0 + 4s, [&] { run.approve("sara.kim", "", false); });
  v1::RunRecord done = run.execute();
  ASSERT_EQ(done.outcome(), v1::RUN_OUTCOME_PASSED) << done.reason();
  ASSERT_FALSE(recorder.error(done.id())) << recorder.error(done.id())->message;

  FindingBook book(**store, &*key, [&] { return clock.now(); });
  ASSERT_TRUE(book.add({done.id(), "low", "minho.lee", "2026-12-31", "web 503s for 4s during failover", "", "jiyoung.park"}));

  auto doc = build_document(**store, done.id(), *key, clock.now(), "firedrill test");
  ASSERT_TRUE(doc) << doc.error().message;
  auto model = build_model((*doc)["evidence"]);
  ASSERT_TRUE(model) << model.error().message;
  auto missing = missing_sections(*model);
  EXPECT_TRUE(missing.empty()) << "missing: " << fmt::format("{}", fmt::join(missing, ", "));

  const auto& m = *model;
  EXPECT_EQ(m.summary.verdict, "pass");
  EXPECT_EQ(m.identity.experiment_name, "pangyo-datacenter-fire");
  EXPECT_EQ(m.identity.experiment_sha256, loaded.sha256);
  EXPECT_EQ(m.identity.test_type, "game_day");
  EXPECT_EQ(m.scope.hosts.size(), 4u);
  // The agents' versions as they registered them, host by host.
  for (const auto& h : m.scope.hosts) EXPECT_EQ(h.agent_version, "0.1.0") << h.host;
  ASSERT_EQ(m.identity.agent_versions.size(), 1u);
  EXPECT_EQ(m.identity.agent_versions[0].rfind("0.1.0 (", 0), 0u) << m.identity.agent_versions[0];
  EXPECT_EQ(m.people.approvals.size(), 2u);
  EXPECT_EQ(m.timeline.steps.at(0).hosts, 4);
  EXPECT_EQ(m.timeline.steps.at(0).start_spread_us, 3 * 650);
  // The runner states detection, failover, fault lifted and recovery; the report uses them.
  EXPECT_EQ(m.timeline.milestones.source_failover, "stated");
  EXPECT_GE(m.timeline.milestones.failover_ms, 11'000);
  EXPECT_LE(m.timeline.milestones.failover_ms, 13'000);
  bool rto = false, rpo = false;
  for (auto& s : m.results.slos) {
    EXPECT_EQ(s.result, "pass") << s.name << " " << s.measured;
    rto |= s.objective == "RTO";
    rpo |= s.objective == "RPO";
  }
  EXPECT_TRUE(rto && rpo);
  EXPECT_EQ(m.results.data_lost_markers, 0);
  // Fidelity: each host's parts from not_before, what the loss did, the spreads beside
  // the clocks' worst error.
  ASSERT_EQ(m.fidelity.hosts.size(), 4u);
  ASSERT_EQ(m.fidelity.hosts[0].parts.size(), 3u);
  EXPECT_EQ(m.fidelity.hosts[0].parts[0].part, "network cut");
  EXPECT_EQ(m.fidelity.hosts[0].parts[0].source, "kernel: first dropped packet");
  std::set<int64_t> cut_offsets;
  for (auto& h : m.fidelity.hosts) cut_offsets.insert(h.parts[0].offset_us);
  EXPECT_EQ(cut_offsets, (std::set<int64_t>{800, 1450, 2100, 2750}));
  EXPECT_NE(fmt::format("{}", fmt::join(m.fidelity.hosts[0].did, "; ")).find("no SIGTERM"), std::string::npos);
  EXPECT_NE(m.fidelity.hosts[0].clock.find("synchronised"), std::string::npos) << m.fidelity.hosts[0].clock;
  std::map<std::string, int64_t> spread;
  for (auto& sp : m.fidelity.spreads) {
    spread[sp.part] = sp.spread_us;
    EXPECT_EQ(sp.hosts, 4);
    EXPECT_EQ(sp.max_clock_error_us, 5000);
  }
  EXPECT_EQ(spread["network cut"], 3 * 650);
  EXPECT_EQ(spread["kill"], 3 * 1000);
  EXPECT_EQ(m.fidelity.data_lost_markers, 0);
  for (auto& c : m.compliance) EXPECT_EQ(c.status, "evidenced") << c.framework << " " << c.clause;

  auto html = render_html(*doc);
  ASSERT_TRUE(html);
  auto v = verify_report_text(*html, &key->public_key());
  EXPECT_TRUE(v.ok()) << (v.issues.empty() ? "" : v.issues[0].message);
  EXPECT_NE(html->find("id=\"fidelity-table\""), std::string::npos);
}

// A store whose appends fail for a while, as a busy or failing database would.
class FlakyStore : public testing::ForwardingStore {
 public:
  FlakyStore(controller::EvidenceRecords& real, int fail_from, int fail_count)
      : ForwardingStore(real), from_(fail_from), count_(fail_count) {}
  Result<void> append_evidence(const std::vector<controller::StoredEvent>& e) override {
    int call = calls_++;
    if (call >= from_ && call < from_ + count_) return make_error("database is locked");
    return real_.append_evidence(e);
  }

 private:
  int from_, count_, calls_ = 0;
};

struct SmallRun {
  v1::RunRecord done;
  std::string verdict_reason;  // as the signed log has it
  Verification verified;
};

SmallRun small_run(int fail_from, int fail_count, const std::string& probe_detail = "") {
  TempDir dir;
  auto real = controller::open_sqlite_store(dir.path + "/state.db");
  EXPECT_TRUE(real);
  FlakyStore store(**real, fail_from, fail_count);
  auto key = SigningKey::generate();
  FakeClock clock(kT0);
  RunRecorder recorder(store, *key, [&] { return clock.now(); }, 5);
  FakeFleet fleet(&clock);
  fleet.add("p1-h1", {{"dc", "pangyo"}, {"rack", "p1"}});
  fleet.add("c1-h1", {{"dc", "chuncheon"}, {"rack", "c1"}});
  auto loaded = experiment::parse_experiment(R"y(name: small
targets: {selector: "dc=pangyo"}
steps: [{fault: {power_loss: {}}, duration: 5s}]
probes: [{name: web, interval: 1s, http: {url: "http://web/"}}]
slo: {availability: {min: 0.5}}
)y", "small.yaml");
  EXPECT_TRUE(loaded.ok()) << loaded.diagnostics[0].to_string();
  auto probes = varied_probes(&clock);
  probes->add("web", 1s, [&](WallTime t) { return !fleet.down_from || t < *fleet.down_from + 1s || t >= *fleet.down_from + 2s; });
  if (!probe_detail.empty()) probes->failure_detail = [probe_detail](uint64_t) { return probe_detail; };
  runner::Run run(runner::new_run_record(loaded, "small-1", "me", clock.now()), &clock, &fleet, std::move(probes),
                  nullptr, &recorder);
  SmallRun out;
  out.done = run.execute();
  auto events = (*real)->evidence_events("small-1");
  EXPECT_TRUE(events);
  if (events && !events->empty()) out.verdict_reason = Json::parse(events->back().body)["data"].value("reason", "");
  auto doc = build_document(**real, "small-1", *key, clock.now(), "t");
  EXPECT_TRUE(doc) << doc.error().message;
  if (doc) out.verified = verify_document(*doc, &key->public_key());
  return out;
}

// Issue 13: an evidence append that failed stopped the run's evidence silently (every
// later event was dropped, the run still "passed"). Now a busy database is retried,
// and what still cannot be written makes the verdict say the evidence is incomplete:
// the run does not pass, so `firedrill run` exits non-zero.
TEST(EvidenceFromTheRunner, AppendsAreRetriedAndALossIsNeverSilent) {
  auto clean = small_run(0, 0);
  ASSERT_EQ(clean.done.outcome(), v1::RUN_OUTCOME_PASSED) << clean.done.reason();
  EXPECT_TRUE(clean.verified.verified());

  // Busy for two attempts: the append's retries get it through, nothing is lost.
  auto busy = small_run(3, 2);
  EXPECT_EQ(busy.done.outcome(), v1::RUN_OUTCOME_PASSED) << busy.done.reason();
  EXPECT_EQ(busy.done.reason().find("evidence incomplete"), std::string::npos) << busy.done.reason();

  // Failing for eight attempts: two appends (four attempts each) are lost.
  auto lost = small_run(3, 8);
  EXPECT_EQ(lost.done.outcome(), v1::RUN_OUTCOME_FAILED) << lost.done.reason();
  EXPECT_THAT(lost.done.reason(), ::testing::MatchesRegex("evidence incomplete: [0-9]+ record\\(s\\) of the signed log could not be written.*"));
  EXPECT_THAT(lost.done.reason(), ::testing::HasSubstr("database is locked"));
  EXPECT_THAT(lost.verdict_reason, ::testing::HasSubstr("evidence incomplete"));
  // What was written still chains and verifies: it is incomplete, not forged.
  EXPECT_TRUE(lost.verified.verified()) << (lost.verified.issues.empty() ? "" : lost.verified.issues[0].message);
}

// Probe output cut inside a UTF-8 character (a 3-byte "가" cut after its first byte)
// made the sample batch unrecordable (canonical JSON refuses invalid UTF-8).
TEST(EvidenceFromTheRunner, ProbeOutputCutInsideACharacterIsStillRecorded) {
  auto cut = small_run(0, 0, std::string("connection reset: \xEA\xB0", 21));
  EXPECT_EQ(cut.done.reason().find("evidence incomplete"), std::string::npos) << cut.done.reason();
  EXPECT_TRUE(cut.verified.verified()) << (cut.verified.issues.empty() ? "" : cut.verified.issues[0].message);
}

// What a run's evidence needs: a store, a key, a clock, a recorder, and a fleet.
struct Recording {
  TempDir dir;
  Result<std::unique_ptr<controller::Store>> store = controller::open_sqlite_store(dir.path + "/state.db");
  Result<SigningKey> key = SigningKey::generate();
  FakeClock clock{kT0};
  RunRecorder recorder{**store, *key, [this] { return clock.now(); }};
  FakeFleet fleet{&clock};

  // Runs `record` to its end (its probe "web" always passes); the finished run and its
  // sealed report document, which must verify.
  std::pair<v1::RunRecord, Json> run(const v1::RunRecord& record) {
    auto probes = varied_probes(&clock);
    probes->add("web", 1s, [](WallTime) { return true; });
    runner::Run r(record, &clock, &fleet, std::move(probes), nullptr, &recorder);
    auto done = r.execute();
    auto doc = build_document(**store, record.id(), *key, clock.now(), "t");
    EXPECT_TRUE(doc) << doc.error().message;
    if (!doc) return {done, Json{}};
    EXPECT_TRUE(verify_document(*doc, &key->public_key()).ok());
    return {done, *doc};
  }
};

TEST(EvidenceFromTheRunner, ARefusedRunStillLeavesASignedRecord) {
  Recording rec;
  ASSERT_TRUE(rec.store && rec.key);
  rec.fleet.add("p1-h1", {{"dc", "pangyo"}, {"rack", "p1"}});
  rec.fleet.add("c1-h1", {{"dc", "chuncheon"}, {"rack", "c1"}});
  // Every dc targeted while one must stay untouched: the guard refuses at preflight.
  std::string yaml = R"y(name: too-wide
targets: {selector: "dc in (pangyo,chuncheon)"}
blast_radius: {keep_untouched: {key: dc, min: 1}}
steps: [{fault: {power_loss: {}}, duration: 10s}]
probes: [{name: web, http: {url: "http://web/"}}]
)y";
  auto loaded = experiment::parse_experiment(yaml, "too-wide.yaml");
  ASSERT_TRUE(loaded.ok()) << loaded.diagnostics[0].to_string();
  auto [done, doc] = rec.run(runner::new_run_record(loaded, "refused-1", "me", rec.clock.now()));
  ASSERT_EQ(done.outcome(), v1::RUN_OUTCOME_REFUSED) << done.reason();
  EXPECT_EQ(doc["report"]["summary"]["verdict"], "refused");
  bool refused_guard = false;
  for (auto& g : doc["report"]["scope"]["guard"]) refused_guard |= !g["allowed"].get<bool>();
  EXPECT_TRUE(refused_guard);
}

// `run --set`/`-l` and targets.from_command: the overrides and the command's output
// are in the signed log, so the report shows them and `report verify` covers them; a
// refused command leaves what it printed in the evidence too.
TEST(EvidenceFromTheRunner, OverridesAndTheTargetCommandAreInTheSignedReport) {
  Recording rec;
  ASSERT_TRUE(rec.store && rec.key);
  rec.fleet.add("p1-h1", {{"dc", "pangyo"}, {"rack", "p1"}, {"host", "p1-h1"}});
  rec.fleet.add("p2-h1", {{"dc", "pangyo"}, {"rack", "p2"}, {"host", "p2-h1"}});
  rec.fleet.add("c1-h1", {{"dc", "chuncheon"}, {"rack", "c1"}, {"host", "c1-h1"}});
  auto report = [&](const std::string& id, const std::string& command, const experiment::Overrides& o) {
    auto loaded = experiment::parse_experiment("name: leader-rack\ntargets: {selector: dc=pangyo}\n"
                                               "steps: [{fault: {power_loss: {}}, duration: 10s}]\n"
                                               "probes: [{name: web, http: {url: \"http://web/\"}}]\n",
                                               "leader.yaml", o);
    EXPECT_TRUE(loaded.ok()) << loaded.diagnostics.at(0).to_string();
    auto record = runner::new_run_record(loaded, id, "me", rec.clock.now());
    record.mutable_experiment()->mutable_targets()->set_from_command(command);
    record.mutable_experiment()->mutable_targets()->clear_selector();
    auto [done, doc] = rec.run(record);
    auto html = render_html(doc);
    EXPECT_TRUE(html);
    return std::make_tuple(done, *build_model(doc["evidence"]), html ? *html : "");
  };

  auto [done, m, html] = report("cmd-1", "echo p2-h1; echo 'found the leader' >&2", {{"steps.0.duration=20s"}, ""});
  ASSERT_NE(done.outcome(), v1::RUN_OUTCOME_REFUSED) << done.reason();
  EXPECT_EQ(m.identity.overrides, std::vector<std::string>{"--set steps.0.duration=20s"});
  ASSERT_EQ(m.scope.from_command.size(), 1u);
  EXPECT_EQ(m.scope.from_command[0].command, "echo p2-h1; echo 'found the leader' >&2");
  EXPECT_EQ(m.scope.from_command[0].output, "p2-h1\n");
  EXPECT_EQ(m.scope.from_command[0].stderr_text, "found the leader\n");
  EXPECT_EQ(m.scope.from_command[0].chose, "hosts p2-h1");
  ASSERT_EQ(m.scope.hosts.size(), 1u);
  EXPECT_EQ(m.scope.hosts[0].host, "p2-h1");
  EXPECT_EQ(m.scenario.steps.at(0).duration_ms, 20'000);
  EXPECT_NE(html.find("--set steps.0.duration=20s"), std::string::npos);
  EXPECT_NE(html.find("chose hosts p2-h1"), std::string::npos);

  auto [refused, rm, rhtml] = report("cmd-2", "echo 'etcd: no leader' >&2; exit 4", {{}, ""});
  ASSERT_EQ(refused.outcome(), v1::RUN_OUTCOME_REFUSED) << refused.reason();
  EXPECT_EQ(rm.summary.verdict, "refused");
  ASSERT_EQ(rm.scope.from_command.size(), 1u);
  EXPECT_EQ(rm.scope.from_command[0].stderr_text, "etcd: no leader\n");
  EXPECT_EQ(rm.scope.from_command[0].status, "exit 4: etcd: no leader");
  EXPECT_NE(rm.scope.from_command[0].error.find("did not succeed"), std::string::npos);
  EXPECT_TRUE(rm.scope.hosts.empty());
  EXPECT_NE(rhtml.find("refused: the command did not succeed"), std::string::npos);
}

TEST(EvidenceFromTheRunner, TheDaemonOpensItsEvidenceOnceAndGivesEachRunAForwarder) {
  TempDir dir;
  auto state = std::filesystem::path(dir.path) / "state";
  std::filesystem::create_directories(state);
  auto store = controller::open_sqlite_store(state / "controller.db");
  ASSERT_TRUE(store) << store.error().message;
  auto ev = ControllerEvidence::open(state, **store);
  ASSERT_TRUE(ev) << ev.error().message;
  EXPECT_TRUE(std::filesystem::exists(state / kKeyFileName));
  EXPECT_TRUE(std::filesystem::exists(state / "controller.db"));
  std::string fingerprint = (*ev)->key.fingerprint();

  auto loaded = experiment::parse_experiment(kGameDay, "pangyo.yaml");
  ASSERT_TRUE(loaded.ok());
  auto record = runner::new_run_record(loaded, "fwd-1", "me", kT0);
  auto observer = (*ev)->recorder->for_run();
  observer->on_created(record);
  observer->on_phase(record, "waiting");
  auto events = (*ev)->store.evidence_events("fwd-1");
  ASSERT_TRUE(events);
  ASSERT_EQ(events->size(), 2u);
  EXPECT_EQ((*events)[0].kind, "run_created");
  EXPECT_EQ((*events)[0].key_fingerprint, fingerprint);
  ev->reset();

  // A restart keeps the key made on the first start.
  auto again = ControllerEvidence::open(state, **store);
  ASSERT_TRUE(again);
  EXPECT_EQ((*again)->key.fingerprint(), fingerprint);
}

}  // namespace
}  // namespace firedrill::evidence
