// What every Store (controller/store/store.h) does, whatever holds it: typed tests over
// a backend that opens the same database again and again. store_test.cpp runs them on
// SQLite, tests/integration/store_postgres_test.cpp on a private PostgreSQL, so that
// both stores are held to exactly the same behaviour. A backend has:
//   Result<std::unique_ptr<Store>> open();       the same database every time
//   void set_schema_version(int v);               as a newer firedrill would leave it
//   std::string where() const;                    how errors name the database
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "controller/store/store.h"

namespace firedrill::controller::contract {

inline v1::RunRecord record(const std::string& id, const std::string& kind, WallTime created, v1::RunPhase phase) {
  v1::RunRecord r;
  r.set_id(id);
  r.set_kind(kind);
  r.set_phase(phase);
  *r.mutable_created_at() = to_proto(created);
  r.mutable_experiment()->set_name(kind);
  auto* e = r.add_events();
  e->set_kind("phase");
  e->set_message(id);
  return r;
}

inline v1::ProbeSample sample(const std::string& probe, uint64_t marker) {
  v1::ProbeSample p;
  p.set_probe(probe);
  p.set_ok(marker % 2 == 0);
  p.set_marker(marker);
  return p;
}

template <typename Backend>
class StoreContract : public ::testing::Test {
 protected:
  std::unique_ptr<Store> open() {
    auto s = backend.open();
    EXPECT_TRUE(s) << s.error().describe();
    return s ? std::move(*s) : nullptr;
  }
  Backend backend;
};

TYPED_TEST_SUITE_P(StoreContract);

TYPED_TEST_P(StoreContract, AgentsUpsertKeepsFirstSeen) {
  auto store = this->open();
  ASSERT_TRUE(store);
  auto t0 = WallClock::now();
  AgentRow a{"h1", {{"dc", "pangyo"}, {"rack", "p\"1"}}, "0.1.0", std::string("\0caps", 5), "ipv4:10.0.0.1:5", t0, t0};
  ASSERT_TRUE(store->upsert_agents({a}));
  a.last_seen = t0 + std::chrono::seconds(5);
  a.first_seen = t0 + std::chrono::seconds(5);
  a.tags["rack"] = "p2";
  ASSERT_TRUE(store->upsert_agents({a}));
  auto rows = store->agents();
  ASSERT_TRUE(rows);
  ASSERT_EQ(rows->size(), 1u);
  auto& r = rows->front();
  EXPECT_EQ(r.tags.at("rack"), "p2");
  EXPECT_EQ(r.tags.at("dc"), "pangyo");
  EXPECT_EQ(r.capabilities, std::string("\0caps", 5));
  // The store keeps microseconds (truncated): first_seen is t0 to the microsecond.
  using std::chrono::microseconds;
  EXPECT_EQ(std::chrono::duration_cast<microseconds>(r.first_seen.time_since_epoch()),
            std::chrono::duration_cast<microseconds>(t0.time_since_epoch()));
  EXPECT_EQ(std::chrono::round<std::chrono::milliseconds>(r.last_seen - t0).count(), 5000);
}

TYPED_TEST_P(StoreContract, RunsAndTheirSamplesSurviveReopen) {
  auto now = WallClock::now();
  {
    auto store = this->open();
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->put_run(record("r-1", "inject", now, v1::RUN_PHASE_OBSERVE)));
    auto r2 = record("r-2", "experiment", now + std::chrono::seconds(1), v1::RUN_PHASE_OBSERVE);
    *r2.add_samples() = sample("web", 99);  // a record's own samples are not stored
    ASSERT_TRUE(store->put_run(r2));
    ASSERT_TRUE(store->append_samples("r-2", {sample("web", 1), sample("db", 2)}));
    ASSERT_TRUE(store->append_samples("r-2", {sample("web", 3)}));
    r2.set_phase(v1::RUN_PHASE_DONE);
    r2.set_outcome(v1::RUN_OUTCOME_PASSED);
    ASSERT_TRUE(store->put_run(r2));  // replaced, samples kept
  }
  auto store = this->open();
  ASSERT_TRUE(store);
  auto flight = store->runs_in_flight();
  ASSERT_TRUE(flight);
  ASSERT_EQ(flight->size(), 1u);
  EXPECT_EQ(flight->front().id(), "r-1");
  EXPECT_EQ(flight->front().kind(), "inject");
  auto r2 = store->run("r-2", true);
  ASSERT_TRUE(r2 && r2->has_value());
  EXPECT_EQ((*r2)->outcome(), v1::RUN_OUTCOME_PASSED);
  ASSERT_EQ((*r2)->samples_size(), 3);  // in the order they came
  EXPECT_EQ((*r2)->samples(0).marker(), 1u);
  EXPECT_EQ((*r2)->samples(1).probe(), "db");
  EXPECT_EQ((*r2)->samples(2).marker(), 3u);
  EXPECT_EQ((*r2)->events_size(), 1);
  auto bare = store->run("r-2", false);
  ASSERT_TRUE(bare && bare->has_value());
  EXPECT_EQ((*bare)->samples_size(), 0);
  auto recent = store->runs(10);
  ASSERT_TRUE(recent);
  ASSERT_EQ(recent->size(), 2u);
  EXPECT_EQ(recent->front().id(), "r-2");
  EXPECT_EQ(recent->front().events_size(), 0);  // lists are summaries
  auto one = store->runs(1);
  ASSERT_TRUE(one);
  EXPECT_EQ(one->size(), 1u);
  auto none = store->run("r-9", false);
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->has_value());
}

TYPED_TEST_P(StoreContract, EventsKeepOrderAndSettingsReplace) {
  auto store = this->open();
  ASSERT_TRUE(store);
  auto now = WallClock::now();
  ASSERT_TRUE(store->append_events({{0, "r-1", now, "", "run.created", "a"}, {0, "r-1", now, "h1", "fault.applied", "b"},
                                    {0, "", now, "h2", "agent.lost", "c"}}));
  auto ev = store->events("r-1");
  ASSERT_TRUE(ev);
  ASSERT_EQ(ev->size(), 2u);
  EXPECT_LT((*ev)[0].seq, (*ev)[1].seq);
  EXPECT_EQ((*ev)[1].kind, "fault.applied");
  auto after = store->events("r-1", (*ev)[0].seq);
  ASSERT_TRUE(after);
  EXPECT_EQ(after->size(), 1u);

  EXPECT_FALSE(store->setting("halted")->has_value());
  ASSERT_TRUE(store->set_setting("halted", "1"));
  ASSERT_TRUE(store->set_setting("halted", "0", true));
  EXPECT_EQ(store->setting("halted")->value(), "0");
}

// Halts asked at any controller: kept in order across a reopen until cleared, and
// cleared only up to the seq given.
TYPED_TEST_P(StoreContract, HaltRequestsKeepOrderUntilCleared) {
  auto now = WallClock::now();
  int64_t first = 0, second = 0;
  {
    auto store = this->open();
    ASSERT_TRUE(store);
    EXPECT_TRUE(store->halt_requests()->empty());
    auto a = store->request_halt({0, now, "alice", "drill over", "c1"});
    ASSERT_TRUE(a) << a.error().describe();
    auto b = store->request_halt({0, now + std::chrono::seconds(1), "cn:bob", "smoke", "c2"});
    ASSERT_TRUE(b) << b.error().describe();
    first = *a;
    second = *b;
    EXPECT_LT(first, second);
  }
  auto store = this->open();
  ASSERT_TRUE(store);
  auto pending = store->halt_requests();
  ASSERT_TRUE(pending) << pending.error().describe();
  ASSERT_EQ(pending->size(), 2u);
  EXPECT_EQ((*pending)[0].seq, first);
  EXPECT_EQ((*pending)[0].by, "alice");
  EXPECT_EQ((*pending)[0].reason, "drill over");
  EXPECT_EQ((*pending)[0].controller, "c1");
  EXPECT_EQ(to_unix_micros((*pending)[0].at), to_unix_micros(now));
  EXPECT_EQ((*pending)[1].by, "cn:bob");
  ASSERT_TRUE(store->clear_halt_requests(first));
  pending = store->halt_requests();
  ASSERT_EQ(pending->size(), 1u);
  EXPECT_EQ((*pending)[0].seq, second);
  ASSERT_TRUE(store->clear_halt_requests(second));
  EXPECT_TRUE(store->halt_requests()->empty());
  // Numbers only grow: a request after a clear is not given a cleared one's seq.
  auto c = store->request_halt({0, now, "alice", "again", "c1"});
  ASSERT_TRUE(c);
  EXPECT_GT(*c, second);
}

TYPED_TEST_P(StoreContract, SchedulesPutReplaceAndRemove) {
  auto store = this->open();
  ASSERT_TRUE(store);
  v1::ScheduleRecord a, b;
  a.set_id("s-b");
  b.set_id("s-a");
  ASSERT_TRUE(store->put_schedule(a));
  ASSERT_TRUE(store->put_schedule(b));
  ASSERT_TRUE(store->put_schedule(a));
  auto all = store->schedules();
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ(all->front().id(), "s-a");
  ASSERT_TRUE(store->remove_schedule("s-a"));
  EXPECT_EQ(store->schedules()->size(), 1u);
  EXPECT_FALSE(store->put_schedule(v1::ScheduleRecord()));
}

TYPED_TEST_P(StoreContract, ANewerSchemaIsRefusedSayingWhatToDo) {
  { ASSERT_TRUE(this->open()); }
  this->backend.set_schema_version(kSchemaVersion + 1);
  auto store = this->backend.open();
  ASSERT_FALSE(store);
  const auto& m = store.error().describe();
  EXPECT_NE(m.find(this->backend.where()), std::string::npos) << m;
  EXPECT_NE(m.find(fmt::format("schema is version {}, written by a newer firedrill", kSchemaVersion + 1)), std::string::npos)
      << m;
  EXPECT_NE(m.find("Run the newer firedrill"), std::string::npos) << m;
}

// Evidence rows are append-only and number on without gaps; keys are kept once.
TYPED_TEST_P(StoreContract, EvidenceAppendsInOrderOnly) {
  auto store = this->open();
  ASSERT_TRUE(store);
  auto& s = *store;
  auto event = [](const std::string& run, int64_t seq, int64_t at) {
    return StoredEvent{run, seq, "k", "t", at, "{}", "p", "h" + std::to_string(seq), seq == 2 ? "sig" : "", "key"};
  };
  ASSERT_TRUE(s.append_evidence({event("r-2", 1, 20), event("r-2", 2, 21)}));
  ASSERT_TRUE(s.append_evidence({event("r-1", 1, 10)}));
  auto gap = s.append_evidence({event("r-2", 4, 30)});
  ASSERT_FALSE(gap);
  EXPECT_NE(gap.error().message.find("seq 4 does not follow the last stored seq 2"), std::string::npos)
      << gap.error().message;
  auto mixed = s.append_evidence({event("r-1", 2, 11), event("r-2", 3, 31)});
  ASSERT_FALSE(mixed);
  EXPECT_EQ(s.evidence_events("r-1")->size(), 1u) << "a refused batch left part of itself";
  auto events = s.evidence_events("r-2");
  ASSERT_TRUE(events);
  ASSERT_EQ(events->size(), 2u);
  EXPECT_EQ((*events)[1].head_signature, "sig");
  EXPECT_EQ((*events)[1].recorded_us, 21);
  EXPECT_EQ((*s.last_evidence_event("r-2"))->seq, 2);
  EXPECT_FALSE(s.last_evidence_event("r-9")->has_value());
  EXPECT_EQ(*s.evidence_runs(), (std::vector<std::string>{"r-1", "r-2"}));
  ASSERT_TRUE(s.put_public_key("sha256:aa", "PEM1"));
  ASSERT_TRUE(s.put_public_key("sha256:aa", "PEM2"));  // kept once: the first stays
  EXPECT_EQ(s.public_key("sha256:aa")->value(), "PEM1");
  EXPECT_FALSE(s.public_key("sha256:bb")->has_value());
  ASSERT_TRUE(s.append_finding(StoredFinding{"F-0001", 1, "r-1", "", "{}", "h", "sig", "k"}));
  ASSERT_TRUE(s.append_finding(StoredFinding{"F-0001", 2, "r-1", "r-2", "{}", "h", "sig", "k"}));
  EXPECT_EQ(s.finding_revisions("F-0001")->size(), 2u);
  EXPECT_EQ(*s.findings_of_run("r-2"), std::vector<std::string>{"F-0001"});
}

// Runs and evidence in one transaction: all of it or none, and a nested one that
// fails undoes only itself.
TYPED_TEST_P(StoreContract, TransactionsCoverRunsAndEvidenceTogether) {
  auto store = this->open();
  ASSERT_TRUE(store);
  auto& s = *store;
  auto now = WallClock::now();
  auto event = [&](const std::string& run) {
    return StoredEvent{run, 1, "run_created", "t", to_unix_micros(now), "{}", "p", "h", "sig", "k"};
  };
  auto failed = s.transaction([&]() -> Result<void> {
    FD_TRY(s.put_run(record("r-a", "inject", now, v1::RUN_PHASE_PREFLIGHT)), "put");
    FD_TRY(s.append_evidence({event("r-a")}), "evidence");
    return make_error("the signature failed");
  });
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().message, "the signature failed");
  EXPECT_FALSE(s.run("r-a", false)->has_value()) << "the run of a rolled back transaction is there";
  EXPECT_TRUE(s.evidence_events("r-a")->empty()) << "the evidence of a rolled back transaction is there";

  auto nested = s.transaction([&]() -> Result<void> {
    FD_TRY(s.put_run(record("r-b", "inject", now, v1::RUN_PHASE_PREFLIGHT)), "put");
    auto inner = s.transaction([&]() -> Result<void> {
      FD_TRY(s.append_evidence({event("r-b")}), "evidence");
      return make_error("inner");
    });
    EXPECT_FALSE(inner);
    // A refused append inside the transaction undoes itself only.
    EXPECT_FALSE(s.append_evidence({StoredEvent{"r-b", 5, "k", "t", 0, "{}", "p", "h", "", "k"}}));
    return s.append_finding(StoredFinding{"F-0001", 1, "r-b", "", "{}", "h", "sig", "k"});
  });
  ASSERT_TRUE(nested) << nested.error().describe();
  EXPECT_TRUE(s.run("r-b", false)->has_value());
  EXPECT_TRUE(s.evidence_events("r-b")->empty()) << "the failed inner transaction's evidence is there";
  EXPECT_EQ(s.all_findings()->size(), 1u);
  // A finding revision that does not follow is refused, inside or outside one.
  auto gap = s.append_finding(StoredFinding{"F-0001", 3, "r-b", "", "{}", "h", "sig", "k"});
  ASSERT_FALSE(gap);
  EXPECT_NE(gap.error().message.find("revision 3 does not follow the last stored revision 1"), std::string::npos)
      << gap.error().message;
}

// Join tokens are kept by their hash; each use is taken atomically, never past the
// allowed count or the expiry; they and revocations survive a reopen.
TYPED_TEST_P(StoreContract, JoinTokensAreUsedUpAndExpire) {
  auto now = WallClock::now();
  std::string twice(64, 'a'), expired(64, 'b'), other = "abcdef12" + std::string(56, 'c');
  {
    auto store = this->open();
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->put_join_token({twice, {{"dc", "pangyo"}}, 2, 0, now, now + std::chrono::hours(1), "root"}));
    ASSERT_TRUE(store->put_join_token({expired, {}, 5, 0, now - std::chrono::hours(2), now - std::chrono::hours(1), "root"}));
    ASSERT_TRUE(store->put_join_token({other, {}, 1, 0, now, now + std::chrono::hours(1), "cn:ops"}));
    EXPECT_FALSE(store->put_join_token({twice, {}, 1, 0, now, now, "x"})) << "a second token of the same hash";
  }
  auto store = this->open();
  ASSERT_TRUE(store);
  auto t = store->join_token(twice);
  ASSERT_TRUE(t && t->has_value());
  EXPECT_EQ((*t)->tags.at("dc"), "pangyo");
  EXPECT_EQ((*t)->uses_allowed, 2u);
  EXPECT_EQ((*t)->created_by, "root");
  EXPECT_EQ(std::chrono::round<std::chrono::seconds>((*t)->expires_at - now).count(), 3600);
  EXPECT_TRUE(*store->use_join_token(twice, now));
  EXPECT_TRUE(*store->use_join_token(twice, now));
  EXPECT_FALSE(*store->use_join_token(twice, now)) << "a third use of a token of two";
  EXPECT_EQ((*store->join_token(twice))->uses, 2u);
  EXPECT_FALSE(*store->use_join_token(expired, now)) << "an expired token was used";
  EXPECT_EQ((*store->join_token(expired))->uses, 0u);
  EXPECT_FALSE(*store->use_join_token(std::string(64, 'f'), now));
  EXPECT_FALSE(store->join_token(std::string(64, 'f'))->has_value());
  EXPECT_EQ(store->join_tokens()->size(), 3u);
  EXPECT_FALSE(store->remove_join_tokens("abc")) << "an id shorter than 8 hex digits";
  EXPECT_EQ(*store->remove_join_tokens("abcdef12"), 1u);
  EXPECT_EQ(*store->remove_join_tokens("abcdef12"), 0u);
  EXPECT_FALSE(store->join_token(other)->has_value());
  EXPECT_FALSE(*store->use_join_token(other, now)) << "a removed token was used";
}

TYPED_TEST_P(StoreContract, AgentRevocationsStayAndKeepTheFirst) {
  auto now = WallClock::now();
  {
    auto store = this->open();
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->revoke_agent({"p1-h2", now, "root", "decommissioned"}));
    ASSERT_TRUE(store->revoke_agent({"p1-h1", now, "cn:ops", "key leaked"}));
    ASSERT_TRUE(store->revoke_agent({"p1-h1", now + std::chrono::hours(1), "bob", "again"}));
  }
  auto store = this->open();
  ASSERT_TRUE(store);
  auto all = store->agent_revocations();
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].agent_id, "p1-h1");
  EXPECT_EQ((*all)[0].revoked_by, "cn:ops");
  EXPECT_EQ((*all)[0].reason, "key leaked");
  EXPECT_EQ((*all)[1].agent_id, "p1-h2");
}

// An agent's enrollment (its token's tags) stays across a reopen; a later enrollment
// of the same id replaces it.
TYPED_TEST_P(StoreContract, AgentEnrollmentsStayAndTheLastReplaces) {
  auto now = WallClock::now();
  {
    auto store = this->open();
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->put_agent_enrollment({"p1-h2", {}, "0123456789ab", now}));
    ASSERT_TRUE(store->put_agent_enrollment({"p1-h1", {{"dc", "pangyo"}, {"rack", "p1"}}, "aaaaaaaaaaaa", now}));
    ASSERT_TRUE(store->put_agent_enrollment(
        {"p1-h1", {{"dc", "pangyo"}, {"rack", "p2"}}, "bbbbbbbbbbbb", now + std::chrono::hours(1)}));
  }
  auto store = this->open();
  ASSERT_TRUE(store);
  auto all = store->agent_enrollments();
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].agent_id, "p1-h1");
  EXPECT_EQ((*all)[0].tags, (std::map<std::string, std::string>{{"dc", "pangyo"}, {"rack", "p2"}}));
  EXPECT_EQ((*all)[0].token_id, "bbbbbbbbbbbb");
  EXPECT_EQ(std::chrono::round<std::chrono::seconds>((*all)[0].enrolled_at - now).count(), 3600);
  EXPECT_EQ((*all)[1].agent_id, "p1-h2");
  EXPECT_TRUE((*all)[1].tags.empty());
}

// The controllers registry (every controller's row, a follower's too) and the keys
// that signed evidence, as `keys export --all` lists them.
TYPED_TEST_P(StoreContract, ControllersReplaceTheirRowAndKeysAreListed) {
  auto now = WallClock::now();
  {
    auto store = this->open();
    ASSERT_TRUE(store);
    EXPECT_TRUE(store->controllers()->empty());
    ASSERT_TRUE(store->put_controller({"c2", "c2.chuncheon:7443", {{"dc", "chuncheon"}}, "PEM2", now}));
    ASSERT_TRUE(store->put_controller({"c1", "c1.pangyo:7443", {{"dc", "pangyo"}}, "PEM1", now}));
    auto again = store->put_controller({"c1", "c1.pangyo:7444", {{"dc", "pangyo"}, {"rack", "m"}}, "PEM1",
                                        now + std::chrono::seconds(3)});
    ASSERT_TRUE(again) << again.error().describe();
    ASSERT_TRUE(store->put_public_key("sha256:bb", "PEMB"));
    ASSERT_TRUE(store->put_public_key("sha256:aa", "PEMA"));
  }
  auto store = this->open();
  ASSERT_TRUE(store);
  auto all = store->controllers();
  ASSERT_TRUE(all) << all.error().describe();
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].id, "c1");
  EXPECT_EQ((*all)[0].address, "c1.pangyo:7444");
  EXPECT_EQ((*all)[0].domain, (std::map<std::string, std::string>{{"dc", "pangyo"}, {"rack", "m"}}));
  EXPECT_EQ(to_unix_micros((*all)[0].last_seen), to_unix_micros(now + std::chrono::seconds(3)));
  EXPECT_EQ((*all)[1].public_key, "PEM2");
  auto keys = store->public_keys();
  ASSERT_TRUE(keys) << keys.error().describe();
  EXPECT_EQ(*keys, (std::vector<std::pair<std::string, std::string>>{{"sha256:aa", "PEMA"}, {"sha256:bb", "PEMB"}}));
}

// The dashboard's login links: kept by their hash, used once, old ones dropped.
TYPED_TEST_P(StoreContract, LoginLinksAreUsedOnce) {
  auto now = WallClock::now();
  auto store = this->open();
  ASSERT_TRUE(store);
  auto stale = store->put_login_link({std::string(64, 'a'), "cn:old", now - std::chrono::hours(72), false});
  ASSERT_TRUE(stale) << stale.error().describe();
  ASSERT_TRUE(store->put_login_link({std::string(64, 'b'), "cn:kim", now + std::chrono::minutes(10), false}));
  auto first = store->use_login_link(std::string(64, 'b'));
  ASSERT_TRUE(first) << first.error().describe();
  ASSERT_TRUE(first->has_value());
  EXPECT_EQ((*first)->identity, "cn:kim");
  EXPECT_FALSE((*first)->used);
  EXPECT_EQ(to_unix_micros((*first)->expires_at), to_unix_micros(now + std::chrono::minutes(10)));
  auto again = store->use_login_link(std::string(64, 'b'));
  ASSERT_TRUE(again && again->has_value());
  EXPECT_TRUE((*again)->used);
  auto unknown = store->use_login_link(std::string(64, 'c'));
  ASSERT_TRUE(unknown);
  EXPECT_FALSE(unknown->has_value());
  // Expired days before the newest: gone.
  auto old = store->use_login_link(std::string(64, 'a'));
  ASSERT_TRUE(old);
  EXPECT_FALSE(old->has_value());
}

REGISTER_TYPED_TEST_SUITE_P(StoreContract, AgentsUpsertKeepsFirstSeen, RunsAndTheirSamplesSurviveReopen,
                            EventsKeepOrderAndSettingsReplace, HaltRequestsKeepOrderUntilCleared,
                            SchedulesPutReplaceAndRemove,
                            ANewerSchemaIsRefusedSayingWhatToDo, EvidenceAppendsInOrderOnly,
                            TransactionsCoverRunsAndEvidenceTogether, JoinTokensAreUsedUpAndExpire,
                            AgentRevocationsStayAndKeepTheFirst, AgentEnrollmentsStayAndTheLastReplaces,
                            ControllersReplaceTheirRowAndKeysAreListed, LoginLinksAreUsedOnce);

}  // namespace firedrill::controller::contract
