// Evidence: canonical form, keys, the append-only store, the log's chain and seal,
// findings, the report built from a complete synthetic run, and the tamper table.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <cstring>
#include <random>
#include <thread>

#include <fmt/ranges.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include "common/spawn.h"
#include "controller/evidence/chain.h"
#include "controller/evidence/document.h"
#include "controller/evidence/verify_cli.h"
#include "controller/evidence/html_report.h"
#include "controller/evidence/verify.h"
#include "tests/unit/evidence_fixture.h"

namespace firedrill::evidence {
namespace {

using testing::FixtureClock;
using testing::RunShape;
using testing::write_fixture_run;
using ::testing::HasSubstr;

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/fdv-evidence-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

// ------------------------------------------------------------------ canonical form

TEST(EvidenceCanonical, SortedKeysNoWhitespaceMinimalEscapes) {
  Json j = {{"b", 1}, {"a", {{"z", "x\"y\\\n\x01/é"}, {"c", {1, 2.5, 60.0, -3}}}}, {"_", true}};
  auto c = canonical(j);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(*c, "{\"_\":true,\"a\":{\"c\":[1,2.5,60.0,-3],\"z\":\"x\\\"y\\\\\\n\\u0001/é\"},\"b\":1}");
  // Reading the canonical bytes back and writing them again gives the same bytes.
  auto again = canonical(Json::parse(*c));
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, *c);
}

TEST(EvidenceCanonical, NumbersAsPythonWritesThem) {
  std::vector<std::pair<double, std::string>> cases = {
      {0.9255, "0.9255"}, {60.0, "60.0"}, {-0.5, "-0.5"}, {0.1 + 0.2, "0.30000000000000004"},
      {1e16, "1e+16"},    {1e15, "1000000000000000.0"}, {0.0001, "0.0001"}, {0.00001, "1e-05"},
      {1.5e-7, "1.5e-07"}, {123.456, "123.456"}, {5e-324, "5e-324"}, {1.7976931348623157e308, "1.7976931348623157e+308"},
      {0.0, "0.0"}, {2.5e20, "2.5e+20"}};
  for (auto& [v, want] : cases) {
    auto c = canonical(Json(v));
    ASSERT_TRUE(c);
    EXPECT_EQ(*c, want) << v;
  }
}

// Python is the independent reference for the canonical bytes: thousands of random
// doubles and awkward strings must come out byte for byte as json.dumps writes them.
TEST(EvidenceCanonical, SameBytesAsPythonJsonDumps) {
  TempDir dir;
  std::mt19937_64 rng(20261121);
  Json values = Json::array();
  for (int i = 0; i < 3000; ++i) {
    uint64_t bits = rng();
    double d;
    std::memcpy(&d, &bits, sizeof d);
    if (!std::isfinite(d)) continue;
    values.push_back(d);
    values.push_back(static_cast<double>(rng() % 100000) / 1000.0);
  }
  values.push_back(std::string("quote \" back \\ nl \n tab \t bell \x07 del \x7f slash / é 한국 \xf0\x9f\x94\xa5"));
  values.push_back(Json{{"z", 1}, {"a", Json::array({true, nullptr, -7})}, {"é", "x"}, {"B", 1.0}});
  std::vector<std::string> mine;
  for (auto& v : values) {
    auto c = canonical(v);
    ASSERT_TRUE(c) << c.error().message;
    mine.push_back(*c);
  }
  // The values travel to Python as canonical JSON lines: they read back exactly.
  std::string in = dir.path + "/in.jsonl", out = dir.path + "/out.jsonl";
  {
    std::ofstream f(in);
    for (auto& line : mine) f << line << "\n";
  }
  SpawnOptions py;
  py.argv = {"python3", "-c",
             "import json,sys\n"
             "for line in open(sys.argv[1], encoding=\"utf-8\"):\n"
             "    print(json.dumps(json.loads(line), sort_keys=True, separators=(\",\",\":\"), ensure_ascii=False))",
             in};
  py.max_output = 64 << 20;
  auto canon = spawn(py);
  ASSERT_EQ(canon.status(), 0) << canon.describe();
  std::ofstream(out) << canon.out;
  std::ifstream f(out);
  std::string line;
  size_t i = 0, differ = 0;
  while (std::getline(f, line)) {
    ASSERT_LT(i, mine.size());
    if (line != mine[i] && differ++ < 5) ADD_FAILURE() << "python: " << line << "\nfiredrill: " << mine[i];
    ++i;
  }
  EXPECT_EQ(i, mine.size());
  EXPECT_EQ(differ, 0u);
}

TEST(EvidenceCanonical, RefusesNonFiniteNumbersAndBadUtf8) {
  auto nan = canonical(Json{{"x", {{"y", std::nan("")}}}});
  ASSERT_FALSE(nan);
  EXPECT_THAT(nan.error().message, HasSubstr("/x/y"));
  auto bad = canonical(Json{{"s", std::string("\xff\xfe")}});
  ASSERT_FALSE(bad);
}

TEST(EvidenceCanonical, TimesRoundTripWithMicroseconds) {
  WallTime t = testing::fixture_t0() + std::chrono::microseconds(123456);
  EXPECT_EQ(format_time(t), "2026-11-21T09:00:00.123456Z");
  auto back = parse_time("2026-11-21T09:00:00.123456Z");
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, t);
  EXPECT_EQ(format_time(WallTime{}), "");
  auto bad = parse_time("2026-11-21 09:00:00Z");
  ASSERT_FALSE(bad);
  EXPECT_THAT(bad.error().message, HasSubstr("2026-11-21 09:00:00Z"));
}

TEST(EvidenceCanonical, Base64AndHash) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  for (const std::string& s : std::vector<std::string>{"", "f", "fo", "foo", "foob", std::string("\0\xff\x10", 3)}) {
    auto d = base64_decode(base64_encode(s));
    ASSERT_TRUE(d);
    EXPECT_EQ(*d, s);
  }
  EXPECT_FALSE(base64_decode("abc"));
}

// ------------------------------------------------------------------ keys

TEST(EvidenceKeys, MadeOnFirstStartPrivateAndStable) {
  TempDir dir;
  auto state = std::filesystem::path(dir.path) / "state";
  auto k1 = SigningKey::load_or_create(state);
  ASSERT_TRUE(k1) << k1.error().message;
  struct stat st {};
  ASSERT_EQ(::stat((state / kKeyFileName).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat(state.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  auto k2 = SigningKey::load_or_create(state);
  ASSERT_TRUE(k2);
  EXPECT_EQ(k1->fingerprint(), k2->fingerprint());
  EXPECT_EQ(k1->fingerprint().rfind("sha256:", 0), 0u);

  auto sig = k1->sign("head");
  ASSERT_TRUE(sig);
  EXPECT_EQ(sig->size(), 64u);
  auto pub = PublicKey::from_pem(k1->public_key().pem());
  ASSERT_TRUE(pub);
  EXPECT_TRUE(pub->verify("head", *sig));
  EXPECT_FALSE(pub->verify("heaD", *sig));
  auto other = SigningKey::generate();
  ASSERT_TRUE(other);
  EXPECT_FALSE(other->public_key().verify("head", *sig));

  // A private key that others can read is refused, by name.
  ::chmod((state / kKeyFileName).c_str(), 0644);
  auto loose = SigningKey::load(state);
  ASSERT_FALSE(loose);
  EXPECT_THAT(loose.error().message, HasSubstr("0600"));
  EXPECT_THAT(loose.error().message, HasSubstr(kKeyFileName));
}

TEST(EvidenceKeys, BadPemIsNamed) {
  auto k = PublicKey::from_pem("-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n", "auditor.pem");
  ASSERT_FALSE(k);
  EXPECT_THAT(k.error().message, HasSubstr("auditor.pem"));
}

// ------------------------------------------------------------------ verbs and their files

struct Verb {
  int status;
  std::string out;
  std::string err;
};

Verb run_verb(int (*main_fn)(int, char**), std::vector<std::string> args) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  std::stringstream out, err;
  auto* old_out = std::cout.rdbuf(out.rdbuf());
  auto* old_err = std::cerr.rdbuf(err.rdbuf());
  int rc = main_fn(static_cast<int>(argv.size()), argv.data());
  std::cout.rdbuf(old_out);
  std::cerr.rdbuf(old_err);
  return {rc, out.str(), err.str()};
}

// The verbs that reach the controller (report RUN, report list, keys, finding) are
// tested against a served controller: tests/integration/ctl/cli_api_test.cpp.

// ------------------------------------------------------------------ store and log

struct Env {
  TempDir dir;
  std::unique_ptr<controller::Store> store;
  SigningKey key = SigningKey::generate().value();
  FixtureClock clock;
  Env() {
    auto s = controller::open_sqlite_store(dir.path + "/state.db");
    EXPECT_TRUE(s) << s.error().message;
    store = std::move(*s);
  }
};

TEST(EvidenceRecords, AppendOnlyEvenThroughSql) {
  Env env;
  auto log = EvidenceLog::create(*env.store, env.key, "r1", testing::fixture_created(), env.clock.fn());
  ASSERT_TRUE(log) << log.error().message;
  // Another connection to the store's file, as an editor with sqlite3 would have.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((env.dir.path + "/state.db").c_str(), &db), SQLITE_OK);
  char* msg = nullptr;
  EXPECT_NE(sqlite3_exec(db, "UPDATE evidence_events SET body='x'", nullptr, nullptr, &msg), SQLITE_OK);
  EXPECT_THAT(std::string(msg ? msg : ""), HasSubstr("append-only"));
  sqlite3_free(msg);
  EXPECT_NE(sqlite3_exec(db, "DELETE FROM evidence_events", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  // A seq that does not follow is refused.
  controller::StoredEvent gap{"r1", 5, "note", "", 0, "{}", kZeroHash, kZeroHash, "", ""};
  auto r = env.store->append_evidence({gap});
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message, HasSubstr("seq 5"));
}

TEST(EvidenceLogTest, ChainsSignsEveryHeadAndClosesAtVerdict) {
  Env env;
  auto log = EvidenceLog::create(*env.store, env.key, "r1", testing::fixture_created(), env.clock.fn());
  ASSERT_TRUE(log);
  auto a = (*log)->append(Note{"me", "hello"});
  ASSERT_TRUE(a);
  EXPECT_EQ(a->seq, 2);
  auto events = env.store->evidence_events("r1");
  ASSERT_TRUE(events);
  ASSERT_EQ(events->size(), 2u);
  EXPECT_EQ((*events)[0].prev_hash, kZeroHash);
  EXPECT_EQ((*events)[1].prev_hash, (*events)[0].hash);
  EXPECT_EQ((*events)[1].hash, sha256_hex((*events)[1].body));
  for (auto& e : *events) {
    auto seal = canonical(make_seal("r1", e.seq, e.hash, env.key.fingerprint()));
    auto sig = base64_decode(e.head_signature);
    ASSERT_TRUE(seal && sig);
    EXPECT_TRUE(env.key.public_key().verify(*seal, *sig)) << "event " << e.seq;
  }

  auto again = (*log)->append(testing::fixture_created());
  ASSERT_FALSE(again);
  EXPECT_THAT(again.error().message, HasSubstr("first event"));
  ASSERT_TRUE((*log)->append(Verdict{"pass", ""}));
  auto late = (*log)->append(Note{"me", "too late"});
  ASSERT_FALSE(late);
  EXPECT_THAT(late.error().message, HasSubstr("after the verdict"));

  auto dup = EvidenceLog::create(*env.store, env.key, "r1", testing::fixture_created(), env.clock.fn());
  ASSERT_FALSE(dup);
  EXPECT_THAT(dup.error().message, HasSubstr("already has 3 events"));
  auto bad_id = EvidenceLog::create(*env.store, env.key, "r 1/x", testing::fixture_created(), env.clock.fn());
  ASSERT_FALSE(bad_id);
  EXPECT_THAT(bad_id.error().message, HasSubstr("character 2"));
}

TEST(EvidenceLogTest, ABatchIsChainedAndSignedOnceAtItsEnd) {
  Env env;
  auto log = EvidenceLog::create(*env.store, env.key, "fanout", testing::fixture_created(), env.clock.fn());
  ASSERT_TRUE(log);
  std::vector<PendingEvent> batch;
  for (int i = 0; i < 100; ++i) {
    batch.push_back(PendingEvent::of(FaultApplied{fmt::format("h{}", i), "", 1, "f", "power_loss", {}, {}, {}, true, ""}));
  }
  auto last = (*log)->append_all(batch);
  ASSERT_TRUE(last) << last.error().message;
  EXPECT_EQ(last->seq, 101);
  auto events = env.store->evidence_events("fanout");
  ASSERT_TRUE(events);
  ASSERT_EQ(events->size(), 101u);
  for (size_t i = 1; i < events->size(); ++i) {
    EXPECT_EQ((*events)[i].prev_hash, (*events)[i - 1].hash);
    EXPECT_EQ((*events)[i].head_signature.empty(), i != 100) << i;
  }
  auto doc = build_document(*env.store, "fanout", env.key, env.clock.now, "t");
  ASSERT_TRUE(doc) << doc.error().message;
  EXPECT_TRUE(verify_document(*doc, &env.key.public_key()).ok());
  // A batch that breaks a rule is refused whole.
  auto bad = (*log)->append_all({PendingEvent::of(Note{"a", "b"}), PendingEvent::of(testing::fixture_created())});
  ASSERT_FALSE(bad);
  EXPECT_EQ((*log)->count(), 101);
  auto after = env.store->evidence_events("fanout");
  ASSERT_TRUE(after);
  EXPECT_EQ(after->size(), 101u);
}

TEST(EvidenceLogTest, ResumesAfterARestart) {
  Env env;
  {
    auto log = EvidenceLog::create(*env.store, env.key, "r2", testing::fixture_created(), env.clock.fn());
    ASSERT_TRUE(log);
    ASSERT_TRUE((*log)->append(Note{"a", "b"}));
  }
  auto log = EvidenceLog::resume(*env.store, env.key, "r2", env.clock.fn());
  ASSERT_TRUE(log) << log.error().message;
  EXPECT_EQ((*log)->count(), 2);
  auto n = (*log)->append(Note{"c", "d"});
  ASSERT_TRUE(n);
  EXPECT_EQ(n->seq, 3);
  auto missing = EvidenceLog::resume(*env.store, env.key, "nope", env.clock.fn());
  ASSERT_FALSE(missing);
  EXPECT_THAT(missing.error().message, HasSubstr("nope"));
}

TEST(EvidenceLogTest, ConcurrentAppendsKeepOneChain) {
  Env env;
  auto log = EvidenceLog::create(*env.store, env.key, "r3", testing::fixture_created());
  ASSERT_TRUE(log);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) EXPECT_TRUE((*log)->append(Note{fmt::format("t{}", t), std::to_string(i)}));
    });
  }
  for (auto& th : threads) th.join();
  auto events = env.store->evidence_events("r3");
  ASSERT_TRUE(events);
  ASSERT_EQ(events->size(), 101u);
  for (size_t i = 1; i < events->size(); ++i) EXPECT_EQ((*events)[i].prev_hash, (*events)[i - 1].hash);
}

// ------------------------------------------------------------------ findings

TEST(EvidenceFindings, SignedRecordsThatLeaveTheRunUnchanged) {
  Env env;
  ASSERT_TRUE(write_fixture_run(*env.store, env.key, env.clock));
  auto before = env.store->evidence_events("run-pangyo-0001");
  ASSERT_TRUE(before);
  FindingBook book(*env.store, &env.key, env.clock.fn());

  auto bad = book.add({"run-pangyo-0001", "urgent", "minho.lee", "2026-12-31", "t", "", "me"});
  ASSERT_FALSE(bad);
  EXPECT_THAT(bad.error().message, HasSubstr("severity 'urgent'"));
  bad = book.add({"run-pangyo-0001", "high", "minho.lee", "2026-02-30", "t", "", "me"});
  ASSERT_FALSE(bad);
  EXPECT_THAT(bad.error().message, HasSubstr("2026-02-30"));
  bad = book.add({"no-such-run", "high", "minho.lee", "2026-12-31", "t", "", "me"});
  ASSERT_FALSE(bad);
  EXPECT_THAT(bad.error().message, HasSubstr("no-such-run"));

  auto f = book.add({"run-pangyo-0001", "medium", "minho.lee", "2026-12-31",
                     "Sentinel took 24 s to fail over", "down-after-milliseconds is 20000", "jiyoung.park"});
  ASSERT_TRUE(f) << f.error().message;
  EXPECT_EQ(f->id, "F-0001");
  EXPECT_EQ(f->run_head, before->back().hash);

  // Closing needs a later run that passed.
  auto failed_retest = [&] {
    FixtureClock c2;
    c2.now += std::chrono::hours(24);
    RunShape shape;
    shape.run_id = "run-pangyo-0002";
    shape.fail_failover = true;
    return write_fixture_run(*env.store, env.key, c2, shape);
  }();
  ASSERT_TRUE(failed_retest);
  auto no = book.close("F-0001", "run-pangyo-0002", "", "me");
  ASSERT_FALSE(no);
  EXPECT_THAT(no.error().message, HasSubstr("did not pass"));
  no = book.close("F-0001", "run-pangyo-0001", "", "me");
  ASSERT_FALSE(no);
  EXPECT_THAT(no.error().message, HasSubstr("later run"));

  FixtureClock c3;
  c3.now += std::chrono::hours(48);
  RunShape shape3;
  shape3.run_id = "run-pangyo-0003";
  ASSERT_TRUE(write_fixture_run(*env.store, env.key, c3, shape3));
  auto closed = book.close("F-0001", "run-pangyo-0003", "lowered to 5000 ms", "minho.lee");
  ASSERT_TRUE(closed) << closed.error().message;
  EXPECT_EQ(closed->rev, 2);
  EXPECT_EQ(closed->status, "closed");
  auto twice = book.close("F-0001", "run-pangyo-0003", "", "me");
  ASSERT_FALSE(twice);
  EXPECT_THAT(twice.error().message, HasSubstr("already closed"));

  // The run's own signed log is untouched by its findings.
  auto after = env.store->evidence_events("run-pangyo-0001");
  ASSERT_TRUE(after);
  ASSERT_EQ(after->size(), before->size());
  EXPECT_EQ(after->back().hash, before->back().hash);
  EXPECT_EQ(after->back().head_signature, before->back().head_signature);

  // Both the run and the retest show the finding in later renders.
  for (const char* run : {"run-pangyo-0001", "run-pangyo-0003"}) {
    auto doc = build_document(*env.store, run, env.key, env.clock.now, "firedrill test");
    ASSERT_TRUE(doc) << doc.error().message;
    auto& rows = (*doc)["report"]["findings"];
    ASSERT_EQ(rows.size(), 1u) << run;
    EXPECT_EQ(rows[0]["status"], "closed");
    EXPECT_EQ(rows[0]["retest_run"], "run-pangyo-0003");
    EXPECT_TRUE(verify_document(*doc, &env.key.public_key()).ok()) << run;
  }
}

void replace_once(std::string& s, const std::string& from, const std::string& to) {
  auto pos = s.find(from);
  ASSERT_NE(pos, std::string::npos) << from;
  s.replace(pos, from.size(), to);
}

// A store that hands out one run's events with one body changed, as an edited
// database would (the real one refuses updates by trigger).
class EditedStore : public testing::ForwardingStore {
 public:
  EditedStore(controller::EvidenceRecords& real, std::string run) : ForwardingStore(real), run_(std::move(run)) {}
  Result<std::vector<controller::StoredEvent>> evidence_events(std::string_view run_id) override {
    FD_ASSIGN(out, real_.evidence_events(run_id), "edited");
    if (run_id == run_ && out.size() > 3) replace_once(out[2].body, "\"approved\"", "\"rejected\"");
    return out;
  }

 private:
  std::string run_;
};

// Issue 13: `finding close --retest` accepted any passing run, even an unrelated,
// earlier one. The retest must be a passing run of the same experiment (name and
// file hash), started after the finding was opened, whose chain verifies.
TEST(EvidenceFindings, RetestMustBeALaterPassingRunOfTheSameExperiment) {
  Env env;
  env.clock.now += std::chrono::hours(1);
  ASSERT_TRUE(write_fixture_run(*env.store, env.key, env.clock));
  FindingBook book(*env.store, &env.key, env.clock.fn());
  auto f = book.add({"run-pangyo-0001", "high", "minho.lee", "2026-12-31", "slow failover", "", "me"});
  ASSERT_TRUE(f) << f.error().message;
  auto run = [&](std::string id, std::chrono::hours at, std::string name = "", std::string sha = "") {
    FixtureClock c;
    c.now += at;
    RunShape shape;
    shape.run_id = std::move(id);
    shape.experiment_name = std::move(name);
    shape.experiment_sha256 = std::move(sha);
    ASSERT_TRUE(write_fixture_run(*env.store, env.key, c, shape));
  };
  run("earlier-pass", std::chrono::hours(0));
  run("other-experiment", std::chrono::hours(24), "rack-power-loss");
  run("other-file", std::chrono::hours(24), "", std::string(64, 'e'));
  run("edited-log", std::chrono::hours(24));
  run("good-retest", std::chrono::hours(48));
  struct Refusal {
    const char* run;
    const char* says;
  };
  for (auto [retest, says] : {Refusal{"earlier-pass", "before the finding was opened"},
                              Refusal{"other-experiment", "ran experiment 'rack-power-loss'"},
                              Refusal{"other-file", "ran another file of experiment 'pangyo-datacenter-fire'"},
                              Refusal{"no-such-run", "has no evidence"}}) {
    auto no = book.close("F-0001", retest, "", "me");
    ASSERT_FALSE(no) << retest << " was accepted as the retest";
    EXPECT_THAT(no.error().message, HasSubstr(says)) << retest;
  }
  EditedStore edited(*env.store, "edited-log");
  FindingBook edited_book(edited, &env.key, env.clock.fn());
  auto broken = edited_book.close("F-0001", "edited-log", "", "me");
  ASSERT_FALSE(broken) << "a retest whose log does not verify was accepted";
  EXPECT_THAT(broken.error().message, HasSubstr("stored event 3 does not chain"));
  auto closed = book.close("F-0001", "good-retest", "fixed", "me");
  ASSERT_TRUE(closed) << closed.error().message;
  EXPECT_EQ(closed->retest_run, "good-retest");
}

// ------------------------------------------------------------------ the report

struct Rendered {
  Env env;
  Json doc;
  std::string json;
  std::string html;
};

std::unique_ptr<Rendered> render_fixture_ptr() {
  auto p = std::make_unique<Rendered>();
  Rendered& r = *p;
  auto log = write_fixture_run(*r.env.store, r.env.key, r.env.clock);
  EXPECT_TRUE(log) << log.error().message;
  FindingBook book(*r.env.store, &r.env.key, r.env.clock.fn());
  EXPECT_TRUE(book.add({"run-pangyo-0001", "medium", "minho.lee", "2026-12-31", "Sentinel took 24 s to fail over",
                        "", "jiyoung.park"}));
  auto doc = build_document(*r.env.store, "run-pangyo-0001", r.env.key, testing::fixture_t0() + std::chrono::minutes(10),
                            "firedrill test");
  EXPECT_TRUE(doc) << doc.error().message;
  r.doc = *doc;
  r.json = render_json(r.doc);
  auto html = render_html(r.doc);
  EXPECT_TRUE(html) << html.error().message;
  r.html = *html;
  return p;
}

TEST(EvidenceReport, CompleteRunFillsEverySection) {
  auto rp = render_fixture_ptr();
  auto& r = *rp;
  auto model = build_model(r.doc["evidence"]);
  ASSERT_TRUE(model) << model.error().message;
  auto missing = missing_sections(*model);
  EXPECT_TRUE(missing.empty()) << fmt::format("missing: {}", fmt::join(missing, ", "));

  const auto& m = *model;
  EXPECT_EQ(m.summary.verdict, "pass");
  EXPECT_EQ(m.identity.test_type, "game_day");
  EXPECT_EQ(m.identity.started_at, "2026-11-21T09:00:00.000000Z");
  EXPECT_EQ(m.identity.ended_at, "2026-11-21T09:03:30.000000Z");
  ASSERT_EQ(m.scope.hosts.size(), 6u);
  EXPECT_EQ(m.scope.domains, std::vector<std::string>{"dc=pangyo: rack p1 (3 hosts), rack p2 (3 hosts)"});
  ASSERT_EQ(m.scope.excluded.size(), 1u);
  EXPECT_EQ(m.people.approvals.size(), 2u);
  // The coordinated start: six hosts applied 1.5 ms to 5 ms after not_before.
  ASSERT_EQ(m.timeline.steps.size(), 1u);
  EXPECT_EQ(m.timeline.steps[0].start_spread_us, 3500);
  EXPECT_EQ(m.timeline.hosts[0].start_offset_us, 1500);
  // Milestones derived from samples: first failure at +61s, failover at +84s (3 good
  // samples in a row on every probe), lifted at +180s, recovery at +182.5s: each when
  // the success was observed (its sample's completion), with its start beside it.
  const auto& ms = m.timeline.milestones;
  EXPECT_EQ(ms.fault_applied, "2026-11-21T09:01:00.001500Z");
  EXPECT_EQ(ms.first_failed_probe, "2026-11-21T09:01:01.000000Z");
  EXPECT_EQ(ms.failover, "2026-11-21T09:01:24.003300Z");
  EXPECT_EQ(ms.failover_started, "2026-11-21T09:01:24.000000Z");
  EXPECT_EQ(ms.source_failover, "derived");
  EXPECT_EQ(ms.failover_ms, 24001);
  EXPECT_EQ(ms.failover_started_ms, 23998);
  EXPECT_EQ(ms.fault_lifted, "2026-11-21T09:03:00.003400Z");
  EXPECT_EQ(ms.recovery, "2026-11-21T09:03:02.500890Z");
  EXPECT_EQ(ms.recovery_started, "2026-11-21T09:03:02.500000Z");
  EXPECT_EQ(ms.recovery_ms, 2497);
  EXPECT_EQ(ms.recovery_started_ms, 2496);
  // Results.
  ASSERT_EQ(m.results.slos.size(), 4u);
  EXPECT_EQ(m.results.slos[0].objective, "RTO");
  EXPECT_EQ(m.results.slos[0].target, "<= 1m");
  EXPECT_EQ(m.results.slos[0].measured, "24s");
  EXPECT_EQ(m.results.slos[2].objective, "RPO");
  EXPECT_EQ(m.results.slos[2].measured, "0 markers");
  for (auto& s : m.results.slos) EXPECT_EQ(s.result, "pass") << s.name;
  EXPECT_EQ(m.results.longest_outage_ms, 23000);  // messaging: +61s to +84s
  EXPECT_EQ(m.results.longest_outage_probe, "messaging");
  EXPECT_FALSE(m.results.user_notice_required);
  EXPECT_EQ(m.results.user_notice_threshold_ms, 7'200'000);
  ASSERT_EQ(m.findings.size(), 1u);
  EXPECT_EQ(m.findings[0].relation, "found in this run");
  ASSERT_EQ(m.compliance.size(), 9u);
  for (auto& c : m.compliance) EXPECT_EQ(c.status, "evidenced") << c.framework << " " << c.clause;
  EXPECT_EQ(m.integrity.head, r.doc["evidence"]["events"].back()["hash"]);
}

TEST(EvidenceReport, UserNoticeThresholdIsCrossedByALongOutage) {
  Env env;
  RunCreated c = testing::fixture_created();
  c.user_notice_threshold_ms = 10'000;  // 10 s: the 23 s messaging outage crosses it
  auto log = EvidenceLog::create(*env.store, env.key, "short-notice", c, env.clock.fn());
  ASSERT_TRUE(log);
  ProbeSamples s{"messaging", {}};
  for (int i = 0; i < 40; ++i) {
    s.samples.push_back(ProbeSample{testing::fixture_t0() + std::chrono::seconds(i), i < 5 || i > 28, 1000, ""});
  }
  ASSERT_TRUE((*log)->append(s));
  auto doc = build_document(*env.store, "short-notice", env.key, env.clock.now, "t");
  ASSERT_TRUE(doc);
  EXPECT_EQ((*doc)["report"]["results"]["longest_outage_ms"], 24000);
  EXPECT_EQ((*doc)["report"]["results"]["user_notice_required"], true);
  EXPECT_EQ((*doc)["report"]["results"]["verdict"], "incomplete");
}

TEST(EvidenceReport, HtmlIsSelfContainedAndDeterministic) {
  auto rp = render_fixture_ptr();
  auto& r = *rp;
  EXPECT_EQ(r.html.find("<script src"), std::string::npos);
  EXPECT_EQ(r.html.find("http://fonts"), std::string::npos);
  EXPECT_EQ(r.html.find("@import"), std::string::npos);
  EXPECT_EQ(r.html.find("<link"), std::string::npos);
  EXPECT_EQ(r.html.find("<img"), std::string::npos);
  EXPECT_NE(r.html.find("@media print"), std::string::npos);
  EXPECT_NE(r.html.find("id=\"timeline-svg\""), std::string::npos);
  EXPECT_NE(r.html.find("id=\"probe-messaging\""), std::string::npos);
  EXPECT_NE(r.html.find("id=\"probe-web\""), std::string::npos);
  EXPECT_NE(r.html.find("class=\"fault-window\""), std::string::npos);
  EXPECT_NE(r.html.find(r.doc["report"]["integrity"]["key_fingerprint"].get<std::string>()), std::string::npos);
  // The only <script> is the JSON data block, which holds no '<'.
  auto embedded = extract_embedded_json(r.html);
  ASSERT_TRUE(embedded);
  EXPECT_EQ(embedded->find('<'), std::string::npos);
  EXPECT_EQ(Json::parse(*embedded), r.doc);
  auto again = render_html(r.doc);
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, r.html);
}

// ------------------------------------------------------------------ tamper table

std::string redump(const Json& doc) { return render_json(doc); }

struct TamperCase {
  const char* name;
  std::function<std::string(const Rendered&)> tamper;
  Problem expect;
  std::string says;  // a phrase the message must contain
  bool pinned = true;
  size_t max_issues = 2;  // named precisely: no cascade of follow-on complaints
};

TEST(EvidenceVerify, TamperTable) {
  auto rp = render_fixture_ptr();
  auto& r = *rp;
  auto other = SigningKey::generate();
  ASSERT_TRUE(other);
  // Event 20 is a probe batch in the fixture; find the first fault_applied and the verdict.
  auto& events = r.doc["evidence"]["events"];
  size_t applied = 0;
  for (size_t i = 0; i < events.size(); ++i) {
    if (events[i]["kind"] == "fault_applied") {
      applied = i;
      break;
    }
  }
  ASSERT_GT(applied, 3u);

  std::vector<TamperCase> cases = {
      {"changed byte in an event",
       [&](const Rendered& x) {
         // One byte of the file: the first fault_applied's fault id f-p1-h1 -> f-p1-h7
         // (the evidence member comes first in the file, so this is inside an event).
         std::string s = x.json;
         size_t at = s.find("\"fault_id\": \"f-p1-h1\"");
         EXPECT_NE(at, std::string::npos);
         s[at + std::string("\"fault_id\": \"f-p1-h").size()] = '7';
         return s;
       },
       Problem::kChangedEvent, "was changed: its content does not match its hash"},
      {"removed event",
       [&](const Rendered& x) {
         Json d = x.doc;
         d["evidence"]["events"].erase(d["evidence"]["events"].begin() + static_cast<long>(applied));
         return redump(d);
       },
       Problem::kRemovedEvent, fmt::format("event {} was removed", applied + 1)},
      {"two swapped events",
       [&](const Rendered& x) {
         Json d = x.doc;
         std::swap(d["evidence"]["events"][applied], d["evidence"]["events"][applied + 1]);
         return redump(d);
       },
       Problem::kReorderedEvents, fmt::format("events {} and {} are swapped", applied + 1, applied + 2)},
      {"changed verdict",
       [&](const Rendered& x) {
         Json d = x.doc;
         d["report"]["summary"]["verdict"] = "fail";
         d["report"]["results"]["verdict"] = "fail";
         return redump(d);
       },
       Problem::kVerdictChanged, "verdict changed: the report says 'fail' but the signed log says 'pass'"},
      {"changed verdict event",
       [&](const Rendered& x) {
         Json d = x.doc;
         d["evidence"]["events"].back()["data"]["outcome"] = "fail";
         return redump(d);
       },
       Problem::kChangedEvent, "(the verdict was changed)"},
      {"re-signed with another key",
       [&](const Rendered& x) {
         Json d = x.doc;
         auto& seal = d["evidence"]["seal"];
         seal["statement"]["key"] = other->fingerprint();
         seal["signature"] = base64_encode(*other->sign(*canonical(seal["statement"])));
         seal["public_key"] = other->public_key().pem();
         return redump(d);
       },
       Problem::kWrongKey, "signed by another key"},
      {"truncated file",
       [&](const Rendered& x) { return x.json.substr(0, x.json.size() * 2 / 3); }, Problem::kTruncated,
       "truncated file"},
      {"last events cut from the log",
       [&](const Rendered& x) {
         Json d = x.doc;
         d["evidence"]["events"].erase(d["evidence"]["events"].end() - 2, d["evidence"]["events"].end());
         return redump(d);
       },
       Problem::kTruncated, "the last 2 were removed"},
      {"events changed and the chain rebuilt",
       [&](const Rendered& x) {
         Json d = x.doc;
         auto& ev = d["evidence"]["events"];
         ev[applied]["data"]["host"] = "p9-h9";
         std::string prev = ev[applied - 1]["hash"];
         for (size_t i = applied; i < ev.size(); ++i) {
           ev[i]["prev"] = prev;
           ev[i]["hash"] = *envelope_hash(ev[i]);
           prev = ev[i]["hash"];
         }
         return redump(d);
       },
       Problem::kHeadMismatch, "is not the signed head"},
      {"changed event with its hash recomputed",
       [&](const Rendered& x) {
         Json d = x.doc;
         auto& ev = d["evidence"]["events"];
         ev[applied]["data"]["applied_at"] = "2026-11-21T09:01:00.000000Z";
         ev[applied]["hash"] = *envelope_hash(ev[applied]);
         return redump(d);
       },
       Problem::kBrokenLink, fmt::format("event {} was changed and re-hashed", applied + 1)},
      {"changed SLO measurement in the report",
       [&](const Rendered& x) {
         Json d = x.doc;
         d["report"]["results"]["slos"][0]["measured"] = "12s";
         return redump(d);
       },
       Problem::kReportChanged, "/results/slos/0/measured"},
      {"changed finding",
       [&](const Rendered& x) {
         Json d = x.doc;
         d["evidence"]["findings"][0]["record"]["due"] = "2027-06-30";
         return redump(d);
       },
       Problem::kFindingChanged, "finding F-0001 rev 1 was changed"},
      {"edited page",
       [&](const Rendered& x) {
         std::string s = x.html;
         replace_once(s, ">PASS</div>", ">FAIL</div>");
         return s;
       },
       Problem::kPageChanged, "the page was edited"},
      {"truncated page",
       [&](const Rendered& x) { return x.html.substr(0, x.html.size() / 2); }, Problem::kTruncated, "truncated"},
      {"page cut inside its evidence",
       [&](const Rendered& x) { return x.html.substr(0, x.html.size() - 200); }, Problem::kTruncated,
       "truncated file"},
  };

  const PublicKey& pub = r.env.key.public_key();
  {
    auto v = verify_report_text(r.json, &pub);
    EXPECT_TRUE(v.ok()) << (v.issues.empty() ? "" : v.issues[0].message);
    auto page = verify_report_text(r.html, &pub);
    EXPECT_TRUE(page.ok()) << (page.issues.empty() ? "" : page.issues[0].message);
  }
  for (auto& c : cases) {
    std::string text = c.tamper(r);
    auto v = verify_report_text(text, c.pinned ? &pub : nullptr, "tampered");
    EXPECT_FALSE(v.ok()) << c.name << ": not caught";
    EXPECT_TRUE(v.has(c.expect)) << c.name << ": expected " << to_string(c.expect) << ", got "
                                 << (v.issues.empty() ? "nothing" : std::string(to_string(v.issues[0].problem)) + ": " +
                                                                        v.issues[0].message);
    bool named = false;
    for (auto& i : v.issues) named |= i.message.find(c.says) != std::string::npos;
    std::string all;
    for (auto& i : v.issues) all += "\n  [" + std::string(to_string(i.problem)) + "] " + i.message;
    EXPECT_TRUE(named) << c.name << ": no message says \"" << c.says << "\"; got:" << all;
    EXPECT_LE(v.issues.size(), c.max_issues) << c.name << ": too many complaints:" << all;
  }
}

// scripts/verify-evidence.py checks a report with nothing but Python and openssl: it
// accepts the untouched report and names a changed event.
TEST(EvidenceVerify, IndependentPythonVerifierAgrees) {
  auto rp = render_fixture_ptr();
  auto& r = *rp;
  std::string base = r.env.dir.path;
  std::ofstream(base + "/report.json") << r.json;
  std::ofstream(base + "/report.html") << r.html;
  std::ofstream(base + "/pub.pem") << r.env.key.public_key().pem();
  std::string changed = r.json;
  replace_once(changed, "\"fault_id\": \"f-p1-h1\"", "\"fault_id\": \"f-p1-h7\"");
  std::ofstream(base + "/changed.json") << changed;
  auto other = SigningKey::generate();
  std::ofstream(base + "/other.pem") << other->public_key().pem();
  auto verify = [&](std::vector<std::string> args) {
    SpawnOptions o;
    o.argv = {"scripts/verify-evidence.py"};
    o.argv.insert(o.argv.end(), args.begin(), args.end());
    o.merge_stderr = true;
    auto r = spawn(o);
    return std::make_pair(r.status(), r.out + (r.started ? "" : r.describe()));
  };
  auto run = [&](const std::string& file, const std::string& key) {
    return verify({base + "/" + file, "--keys", base + "/" + key});
  };
  auto [ok_rc, ok_out] = run("report.json", "pub.pem");
  EXPECT_EQ(ok_rc, 0) << ok_out;
  EXPECT_THAT(ok_out, HasSubstr("VERIFIED"));
  auto [page_rc, page_out] = run("report.html", "pub.pem");
  EXPECT_EQ(page_rc, 0) << page_out;
  auto [bad_rc, bad_out] = run("changed.json", "pub.pem");
  EXPECT_EQ(bad_rc, 1) << bad_out;
  EXPECT_THAT(bad_out, HasSubstr("(fault_applied) was changed"));
  auto [key_rc, key_out] = run("report.json", "other.pem");
  EXPECT_EQ(key_rc, 1) << key_out;
  EXPECT_THAT(key_out, HasSubstr("signed by another key"));
  // The same rules as `firedrill report verify`: nothing pinned is exit 3, and the
  // report seal names a removed finding.
  std::ofstream(base + "/ring.pem") << other->public_key().pem() << r.env.key.public_key().pem();
  auto [ring_rc, ring_out] = run("report.json", "ring.pem");
  EXPECT_EQ(ring_rc, 0) << ring_out;
  Json cut = r.doc;
  cut["evidence"]["findings"] = Json::array();
  cut["report"] = to_json(*build_model(cut["evidence"]));
  std::ofstream(base + "/cut.json") << render_json(cut);
  auto [cut_rc, cut_out] = run("cut.json", "pub.pem");
  EXPECT_EQ(cut_rc, 1) << cut_out;
  EXPECT_THAT(cut_out, HasSubstr("finding F-0001 was removed from the report"));
  auto [unpinned_rc, unpinned_out] = verify({base + "/report.json"});
  EXPECT_EQ(unpinned_rc, 3) << unpinned_out;
}

TEST(EvidenceVerify, WithoutAPinnedKeyNothingIsVerified) {
  auto rp = render_fixture_ptr();
  auto& r = *rp;
  auto other = SigningKey::generate();
  ASSERT_TRUE(other);
  auto v = verify_report_text(r.json, &other->public_key());
  ASSERT_TRUE(v.has(Problem::kWrongKey));
  EXPECT_FALSE(v.verified());
  auto unpinned = verify_report_text(r.json, nullptr);
  EXPECT_TRUE(unpinned.ok());
  EXPECT_FALSE(unpinned.verified());
  bool says = false;
  for (auto& c : unpinned.checked) says |= c.find("not pinned") != std::string::npos;
  EXPECT_TRUE(says);
  auto pinned = verify_report_text(r.json, &r.env.key.public_key());
  EXPECT_TRUE(pinned.verified());
}

// `firedrill report verify ...` (args[0] is "verify"): offline, no controller.
Verb report_cli(std::vector<std::string> args) { return run_verb(report_verify_main, std::move(args)); }

// Issue 13: a report made from scratch with a new key and verdict PASS printed
// VERIFIED and exited 0 when no key was given. Now it is "valid but not pinned",
// exit 3; against the controller's key (or a key set holding it) it is refused.
TEST(EvidenceVerify, AForgedReportIsNeverVerifiedWithoutThePinnedKey) {
  auto rp = render_fixture_ptr();
  auto& real = *rp;
  Env forger;  // its own store and its own new key
  ASSERT_TRUE(write_fixture_run(*forger.store, forger.key, forger.clock));
  auto forged = build_document(*forger.store, "run-pangyo-0001", forger.key, forger.clock.now, "firedrill 0.1.0");
  ASSERT_TRUE(forged);
  ASSERT_EQ((*forged)["report"]["summary"]["verdict"], "pass");
  std::string base = real.env.dir.path;
  std::ofstream(base + "/forged.json") << render_json(*forged);
  std::ofstream(base + "/real.json") << real.json;
  std::ofstream(base + "/controller.pub") << real.env.key.public_key().pem();
  std::ofstream(base + "/ring.pub") << forger.key.public_key().pem() << real.env.key.public_key().pem();
  std::ofstream(base + "/forger-only.pub") << forger.key.public_key().pem();

  auto unpinned = report_cli({"verify", base + "/forged.json"});
  EXPECT_EQ(unpinned.status, 3) << unpinned.out;
  EXPECT_THAT(unpinned.out, HasSubstr("SIGNER NOT PINNED"));
  EXPECT_THAT(unpinned.out, ::testing::Not(HasSubstr("\nVERIFIED")));
  auto wrong = report_cli({"verify", base + "/forged.json", "--key", base + "/controller.pub"});
  EXPECT_EQ(wrong.status, 1) << wrong.out;
  EXPECT_THAT(wrong.out, HasSubstr("signed by another key"));
  auto genuine = report_cli({"verify", base + "/real.json", "--key", base + "/controller.pub"});
  EXPECT_EQ(genuine.status, 0) << genuine.out;
  EXPECT_THAT(genuine.out, HasSubstr("\nVERIFIED: "));
  auto ring = report_cli({"verify", base + "/real.json", "--keys", base + "/ring.pub"});
  EXPECT_EQ(ring.status, 0) << ring.out;
  auto not_in_ring = report_cli({"verify", base + "/real.json", "--keys", base + "/forger-only.pub"});
  EXPECT_EQ(not_in_ring.status, 1) << not_in_ring.out;
  auto genuine_unpinned = report_cli({"verify", base + "/real.json"});
  EXPECT_EQ(genuine_unpinned.status, 3) << genuine_unpinned.out;
  auto no_key_file = report_cli({"verify", base + "/real.json", "--keys", base + "/nope.pub"});
  EXPECT_EQ(no_key_file.status, 2) << no_key_file.out;
}

// A run continued at another controller after a takeover is signed in two parts:
// scripts/verify-evidence.py checks each part seal as `firedrill report verify --keys`
// does. Both keys pinned it verifies ("A, then B"); the last signer's key alone, or a
// part seal that signs a head not of this chain, is refused by both.
TEST(EvidenceVerify, TheIndependentVerifierChecksEveryPartSealOfATwoPartReport) {
  Env env;
  SigningKey second = SigningKey::generate().value();
  {
    auto first = EvidenceLog::create(*env.store, env.key, "r-two", testing::fixture_created(), env.clock.fn());
    ASSERT_TRUE(first) << first.error().message;
    ASSERT_TRUE((*first)->append(Note{"a", "before the takeover"}));
  }
  auto rest = EvidenceLog::resume(*env.store, second, "r-two", env.clock.fn());
  ASSERT_TRUE(rest) << rest.error().message;
  ASSERT_TRUE((*rest)->append(Note{"b", "after the takeover"}));
  auto doc = build_document(*env.store, "r-two", second, testing::fixture_t0() + std::chrono::minutes(10), "firedrill test");
  ASSERT_TRUE(doc) << doc.error().message;
  ASSERT_EQ((*doc)["evidence"]["part_seals"].size(), 1u);
  std::string base = env.dir.path;
  std::ofstream(base + "/two.json") << render_json(*doc);
  Json moved = *doc;
  moved["evidence"]["part_seals"][0]["statement"]["events"] = 1;
  moved["evidence"]["part_seals"][0]["statement"]["head"] = moved["evidence"]["events"][0]["hash"];
  std::ofstream(base + "/moved.json") << render_json(moved);
  std::ofstream(base + "/both.pem") << env.key.public_key().pem() << second.public_key().pem();
  std::ofstream(base + "/last.pem") << second.public_key().pem();
  auto python = [&](const std::string& file, const std::string& keys) {
    SpawnOptions o;
    o.argv = {"scripts/verify-evidence.py", base + "/" + file, "--keys", base + "/" + keys};
    o.merge_stderr = true;
    auto r = spawn(o);
    return std::make_pair(r.status(), r.out + (r.started ? "" : r.describe()));
  };
  auto ours = [&](const std::string& file, const std::string& keys) {
    return report_cli({"verify", base + "/" + file, "--keys", base + "/" + keys});
  };
  std::string a = env.key.fingerprint(), b = second.fingerprint();
  auto [both_rc, both_out] = python("two.json", "both.pem");
  EXPECT_EQ(both_rc, 0) << both_out;
  EXPECT_THAT(both_out, HasSubstr("signed by " + a + ", then " + b));
  EXPECT_EQ(ours("two.json", "both.pem").status, 0);
  auto [last_rc, last_out] = python("two.json", "last.pem");
  EXPECT_EQ(last_rc, 1) << last_out;
  EXPECT_THAT(last_out, HasSubstr("part seal 1 is signed by another key: " + a));
  auto last = ours("two.json", "last.pem");
  EXPECT_EQ(last.status, 1) << last.out;
  EXPECT_THAT(last.out, HasSubstr("part seal 1 is signed by another key"));
  // Its statement changed to name another head of the chain: the signature breaks.
  auto [moved_rc, moved_out] = python("moved.json", "both.pem");
  EXPECT_EQ(moved_rc, 1) << moved_out;
  EXPECT_THAT(moved_out, HasSubstr("part seal 1's signature does not verify"));
  EXPECT_EQ(ours("moved.json", "both.pem").status, 1);
}

// Issue 13: a critical finding removed from a report's JSON still verified with the
// right key: findings and the generation time were outside the seal. The report seal
// covers them; each change is named, in the JSON and in the page's embedded JSON.
TEST(EvidenceVerify, TheReportSealCoversFindingsGenerationTimeAndGenerator) {
  auto rp = render_fixture_ptr();
  auto& r = *rp;
  // A second finding, closed by a retest, so that an old revision can be shown.
  FixtureClock c2;
  c2.now += std::chrono::hours(24);
  RunShape retest;
  retest.run_id = "run-pangyo-0002";
  ASSERT_TRUE(write_fixture_run(*r.env.store, r.env.key, c2, retest));
  FindingBook book(*r.env.store, &r.env.key, r.env.clock.fn());
  auto f2 = book.add({"run-pangyo-0001", "critical", "minho.lee", "2026-12-31", "data lost", "", "me"});
  ASSERT_TRUE(f2);
  ASSERT_TRUE(book.close("F-0002", "run-pangyo-0002", "fixed", "me"));
  auto sealed = build_document(*r.env.store, "run-pangyo-0001", r.env.key, c2.now, "firedrill test");
  ASSERT_TRUE(sealed);
  ASSERT_EQ((*sealed)["evidence"]["findings"].size(), 3u);  // F-0001 rev 1, F-0002 revs 1 and 2
  // A third finding, opened after the report was rendered: a signed, valid record.
  ASSERT_TRUE(book.add({"run-pangyo-0001", "low", "minho.lee", "2026-12-31", "later", "", "me"}));
  auto later = collect_evidence(*r.env.store, "run-pangyo-0001");
  ASSERT_TRUE(later);

  // Each edit keeps every record valid and the report consistent with the evidence, as
  // a careful forger would: only the seal can tell.
  auto rederive = [](Json d) {
    auto m = build_model(d["evidence"]);
    EXPECT_TRUE(m) << m.error().message;
    d["report"] = to_json(*m);
    return d;
  };
  auto erase_if = [](Json& findings, auto pred) {
    Json kept = Json::array();
    for (auto& f : findings) {
      if (!pred(f["record"])) kept.push_back(f);
    }
    findings = kept;
  };
  struct Case {
    std::string name;
    std::function<Json(Json)> tamper;
    Problem expect;
    std::string says;
  };
  std::vector<Case> cases = {
      {"critical finding removed",
       [&](Json d) {
         erase_if(d["evidence"]["findings"], [](const Json& rec) { return rec["id"] == "F-0002"; });
         return rederive(d);
       },
       Problem::kFindingRemoved, "finding F-0002 was removed from the report"},
      {"finding added",
       [&](Json d) {
         d["evidence"]["findings"] = (*later)["findings"];
         return rederive(d);
       },
       Problem::kFindingAdded, "finding F-0003 was added to the report after it was sealed"},
      {"closed finding shown open (its last revision dropped)",
       [&](Json d) {
         erase_if(d["evidence"]["findings"], [](const Json& rec) { return rec["id"] == "F-0002" && rec["rev"] == 2; });
         return rederive(d);
       },
       Problem::kFindingChanged, "finding F-0002 differs from the one the report was sealed with"},
      {"generation time changed",
       [&](Json d) {
         d["generated_at"] = "2025-01-01T00:00:00.000000Z";
         return d;
       },
       Problem::kSealedMetadata, "generation time changed"},
      {"generator changed",
       [&](Json d) {
         d["generator"] = "firedrill 9.9.9";
         return d;
       },
       Problem::kSealedMetadata, "generator changed"},
      {"report seal removed",
       [&](Json d) {
         d.erase("seal");
         return d;
       },
       Problem::kMalformed, "has no report seal"},
  };
  const PublicKey& pub = r.env.key.public_key();
  auto untouched = verify_document(*sealed, &pub);
  ASSERT_TRUE(untouched.verified()) << (untouched.issues.empty() ? "" : untouched.issues[0].message);
  for (auto& c : cases) {
    Json d = c.tamper(*sealed);
    auto page = render_html(d);
    ASSERT_TRUE(page) << c.name;
    for (auto& [form, text] : {std::pair{"json", render_json(d)}, std::pair{"html", *page}}) {
      auto v = verify_report_text(text, &pub, "tampered");
      std::string all;
      for (auto& i : v.issues) all += "\n  [" + std::string(to_string(i.problem)) + "] " + i.message;
      EXPECT_TRUE(v.has(c.expect)) << c.name << " (" << form << "): expected " << to_string(c.expect) << "; got:" << all;
      EXPECT_THAT(all, HasSubstr(c.says)) << c.name << " (" << form << ")";
      EXPECT_LE(v.issues.size(), 2u) << c.name << " (" << form << "):" << all;
    }
  }
}

TEST(EvidenceVerify, SignatureBytesChangedIsABadSignature) {
  auto rp = render_fixture_ptr();
  auto& r = *rp;
  Json d = r.doc;
  std::string sig = d["evidence"]["seal"]["signature"];
  sig[5] = sig[5] == 'A' ? 'B' : 'A';
  d["evidence"]["seal"]["signature"] = sig;
  auto v = verify_report_text(render_json(d), &r.env.key.public_key());
  EXPECT_TRUE(v.has(Problem::kBadSignature));
}

}  // namespace
}  // namespace firedrill::evidence
