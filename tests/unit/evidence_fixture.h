// A synthetic but complete run for the evidence tests and the sample report: a
// Pangyo-style data-centre power loss on six hosts in two racks, two probes sampled
// every 500 ms, a data (RPO) probe, four SLOs, approvals, guard verdicts, and one
// finding. Times are fixed so the report is the same on every machine.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "controller/evidence/evidence_log.h"
#include "controller/evidence/findings.h"
#include "controller/evidence/signing_key.h"
#include "controller/store/store.h"

namespace firedrill::evidence::testing {

using namespace std::chrono_literals;

// 2026-11-21T09:00:00Z
inline WallTime fixture_t0() { return WallTime(std::chrono::seconds(1795251600)); }

struct FixtureClock {
  WallTime now = fixture_t0();
  EvidenceLog::Clock fn() {
    return [this] { return now; };
  }
};

struct RunShape {
  std::string run_id = "run-pangyo-0001";
  bool fail_failover = false;  // the messaging probe never recovers within the fault
  int hosts_per_rack = 3;
  std::string experiment_name;    // "" keeps the fixture's
  std::string experiment_sha256;  // "" keeps the fixture's
};

inline RunCreated fixture_created() {
  RunCreated c;
  c.experiment_name = "pangyo-datacenter-fire";
  c.experiment_version = "3";
  c.experiment_sha256 = "9f2c1c3b5d7e4a1f0b8e6d2c4a6f8e0d1c3b5a7f9e1d3c5b7a9f1e3d5c7b9a1f";
  c.experiment_file = "experiments/pangyo.yaml";
  c.scenario = "Every rack in dc=pangyo loses power at once; messaging must fail over to chuncheon.";
  c.hypothesis = "Redis Sentinel promotes the chuncheon replica within 60 s and no acknowledged message is lost.";
  c.test_type = TestType::kGameDay;
  c.environment = "staging";
  c.controller_version = "firedrill 0.1.0";
  c.controller_host = "ctl-chuncheon-1";
  c.owner = "jiyoung.park";
  c.participants = {{"jiyoung.park", "incident commander"}, {"minho.lee", "messaging on-call"},
                    {"sara.kim", "observer (risk)"}};
  c.required_approvals = 2;
  c.selector = "dc=pangyo";
  c.mode = "all";
  c.blast_radius = {"max_domains dc <= 1", "keep_untouched dc >= 1", "protected role=controller"};
  c.steps = {{1, "power loss", "power_loss {}", "dc=pangyo", 120'000}};
  c.probes = {{"messaging", "command", "redis-cli -h 10.0.2.10 -p 26379 PING", 500, "chuncheon"},
              {"web", "http", "http://10.0.2.20:8080/health", 500, "chuncheon"},
              {"orders-data", "data", "redis markers via sentinel", 500, "chuncheon"}};
  c.slos = {{"messaging failover", "failover_time", "messaging", "<=", 60, "s", "RTO", ""},
            {"web availability", "availability", "web", ">=", 0.8, "ratio", "", ""},
            {"orders data loss", "data_loss", "orders-data", "<=", 0, "markers", "RPO", ""},
            {"messaging recovery", "recovery_time", "messaging", "<=", 30, "s", "", ""}};
  c.abort_unavailability_ms = 300'000;
  return c;
}

// A store that forwards everything to a real one; a test overrides what it breaks.
class ForwardingStore : public controller::EvidenceRecords {
 public:
  explicit ForwardingStore(controller::EvidenceRecords& real) : real_(real) {}
  Result<void> transaction(const std::function<Result<void>()>& body) override { return real_.transaction(body); }
  Result<void> append_evidence(const std::vector<controller::StoredEvent>& e) override {
    return real_.append_evidence(e);
  }
  Result<std::vector<controller::StoredEvent>> evidence_events(std::string_view r) override {
    return real_.evidence_events(r);
  }
  Result<std::optional<controller::StoredEvent>> last_evidence_event(std::string_view r) override {
    return real_.last_evidence_event(r);
  }
  Result<std::vector<std::string>> evidence_runs() override { return real_.evidence_runs(); }
  Result<void> append_finding(const controller::StoredFinding& f) override { return real_.append_finding(f); }
  Result<std::vector<controller::StoredFinding>> finding_revisions(std::string_view id) override {
    return real_.finding_revisions(id);
  }
  Result<std::vector<std::string>> findings_of_run(std::string_view r) override { return real_.findings_of_run(r); }
  Result<std::vector<std::string>> all_findings() override { return real_.all_findings(); }
  Result<void> put_public_key(std::string_view f, std::string_view pem) override { return real_.put_public_key(f, pem); }
  Result<std::optional<std::string>> public_key(std::string_view f) override { return real_.public_key(f); }
  Result<std::vector<std::pair<std::string, std::string>>> public_keys() override { return real_.public_keys(); }

 protected:
  controller::EvidenceRecords& real_;
};

// Appends a whole run to `store`, signed by `key`. Returns the log (closed).
inline Result<std::unique_ptr<EvidenceLog>> write_fixture_run(controller::EvidenceRecords& store, const SigningKey& key,
                                                              FixtureClock& clock, const RunShape& shape = {}) {
  WallTime t0 = clock.now;
  auto at = [&](std::chrono::milliseconds d) { return t0 + d; };
  clock.now = t0;
  RunCreated created = fixture_created();
  if (!shape.experiment_name.empty()) created.experiment_name = shape.experiment_name;
  if (!shape.experiment_sha256.empty()) created.experiment_sha256 = shape.experiment_sha256;
  FD_ASSIGN(log, EvidenceLog::create(store, key, shape.run_id, created, clock.fn()), "fixture");
  clock.now = at(5s);
  FD_TRY(log->append(Approval{"hyunwoo.cho", "head of SRE", "approved", "game day GD-2026-11", at(4s)}), "fixture");
  FD_TRY(log->append(Approval{"sara.kim", "risk officer", "approved", "", at(5s)}), "fixture");
  clock.now = at(10s);
  TargetsResolved t;
  t.selector = "dc=pangyo";
  t.mode = "all";
  t.fleet_size = 12;
  for (int r = 1; r <= 2; ++r) {
    for (int h = 1; h <= shape.hosts_per_rack; ++h) {
      std::string name = fmt::format("p{}-h{}", r, h);
      t.hosts.push_back(TargetHost{name, "agent-" + name, "pangyo", fmt::format("p{}", r), "0.1.0",
                                   {{"dc", "pangyo"}, {"rack", fmt::format("p{}", r)}, {"host", name}}});
    }
  }
  t.excluded = {{"p0-ctl", "protected selector role=controller"}};
  FD_TRY(log->append(t), "fixture");
  FD_TRY(log->append(GuardVerdict{"preflight", true,
                                  {{"max_domains dc <= 1", true, "touches dc=pangyo only"},
                                   {"keep_untouched dc >= 1", true, "dc=chuncheon untouched"},
                                   {"protected role=controller", true, "p0-ctl excluded"}},
                                  "3 rules hold"}),
         "fixture");
  clock.now = at(12s);
  FD_TRY(log->append(RunState{"steady_state", 0, "probes must hold for 45s"}), "fixture");
  FD_TRY(log->append(Note{"jiyoung.park", "steady state holds; starting the drill"}), "fixture");
  // Probe samples every 500 ms from +12s to +200s, in batches of 20.
  auto sample = [&](const std::string& probe, std::chrono::milliseconds off) {
    bool ok = true;
    int64_t lat = 800 + (off.count() / 500 % 7) * 90;
    if (probe == "messaging") {
      if (off >= 61s && off < 84s) ok = false;
      if (shape.fail_failover && off >= 61s && off < 180s) ok = false;
      if (off >= 180500ms && off < 182500ms) ok = false;
      if (off >= 84s && off < 100s) lat += 2500;
    } else {
      if (off >= 61s && off < 75s) ok = false;
      lat += 400;
    }
    return ProbeSample{at(off), ok, ok ? lat : 0, ok ? "" : "connection refused"};
  };
  auto inject = [&]() -> Result<void> {
    clock.now = at(59s);
    FD_TRY(log->append(GuardVerdict{"step 1", true, {{"max_domains dc <= 1", true, "1 domain"}}, "allowed"}),
           "fixture");
    FD_TRY(log->append(RunState{"inject", 1, ""}), "fixture");
    WallTime nb = at(60s);
    int n = 0;
    for (auto& h : t.hosts) {
      clock.now = at(60s) + std::chrono::microseconds(1500 + 700 * n);
      FaultApplied a{h.host, h.agent_id, 1, "f-" + h.host, "power_loss", nb, clock.now, at(180s) + 10s, true, ""};
      // Its parts as the agent reported them, and its clock.
      a.effects = {{"network cut", nb + std::chrono::microseconds(60 + 40 * n), "kernel: first dropped packet"},
                   {"freeze", nb + std::chrono::microseconds(900 + 300 * n), "agent"},
                   {"kill", clock.now, "agent"}};
      a.clock_synchronized = 1;
      a.clock_max_error_us = 1500;
      a.clock_est_error_us = 200;
      FD_TRY(log->append(a), "fixture");
      ++n;
    }
    return ok();
  };
  // The runner appends as things happen: sample batches and the reverts interleave.
  ProbeSamples messaging{"messaging", {}}, web{"web", {}};
  auto flush = [&](ProbeSamples& b) -> Result<void> {
    if (b.samples.empty()) return ok();
    clock.now = b.samples.back().at;
    FD_TRY(log->append(b), "fixture");
    b.samples.clear();
    return ok();
  };
  bool reverted = false, injected = false;
  int i = 0;
  for (auto off = 12000ms; off <= 200000ms; off += 500ms) {
    if (off > 59s && !injected) {
      FD_TRY(flush(messaging), "fixture");
      FD_TRY(flush(web), "fixture");
      FD_TRY(inject(), "fixture");
      injected = true;
    }
    if (off > 180s && !reverted) {
      FD_TRY(flush(messaging), "fixture");
      FD_TRY(flush(web), "fixture");
      clock.now = at(180s);
      FD_TRY(log->append(RunState{"revert", 1, "duration over"}), "fixture");
      i = 0;
      for (auto& h : t.hosts) {
        clock.now = at(180s) + std::chrono::microseconds(900 + 500 * i);
        FD_TRY(log->append(FaultReverted{h.host, h.agent_id, 1, "f-" + h.host, clock.now, "duration over", true, ""}),
               "fixture");
        ++i;
      }
      reverted = true;
    }
    messaging.samples.push_back(sample("messaging", off));
    web.samples.push_back(sample("web", off));
    if (messaging.samples.size() == 20) {
      FD_TRY(flush(messaging), "fixture");
      FD_TRY(flush(web), "fixture");
    }
  }
  FD_TRY(flush(messaging), "fixture");
  FD_TRY(flush(web), "fixture");
  clock.now = at(201s);
  FD_TRY(log->append(RunState{"recover", 0, "boot hooks ran on 6 hosts"}), "fixture");
  FD_TRY(log->append(DataCheck{"orders-data", 376, 376, 376, 0, 0, WallTime{}, WallTime{}}), "fixture");
  clock.now = at(205s);
  bool pass = !shape.fail_failover;
  FD_TRY(log->append(SloResult{"messaging failover", pass ? 24.0 : 0, "s", pass, pass, pass ? "" : "never failed over", ""}),
         "fixture");
  FD_TRY(log->append(SloResult{"web availability", 0.9255, "ratio", true, true, "", ""}), "fixture");
  FD_TRY(log->append(SloResult{"orders data loss", 0, "markers", true, true, "376 of 376 read back", ""}), "fixture");
  FD_TRY(log->append(SloResult{"messaging recovery", 2.5, "s", true, true, "", ""}), "fixture");
  clock.now = at(210s);
  FD_TRY(log->append(Verdict{pass ? "pass" : "fail", pass ? "all 4 SLOs met" : "messaging did not fail over"}),
         "fixture");
  return log;
}

}  // namespace firedrill::evidence::testing
