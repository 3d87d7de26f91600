// What evidence costs, side by side in one run:
//   1. one event appended: its parts (canonical JSON + SHA-256, Ed25519 signature, a
//      bare SQLite insert) against the whole append (all three in one transaction);
//   2. a one-hour game day on a whole site (hosts x probes at 500 ms) recorded, then
//      rendered to JSON and HTML and verified;
//   3. storing one probe sample at the start and at the end of a one-hour run with
//      three probes at 100 ms (108,000 samples), as the runner does it (appended to the
//      store as they arrive; the record without samples written every 2 s), against
//      0.1.0's way (the whole record, samples included, rewritten and fsynced every
//      2 s), as end/start ratios.
//   evidence_bench [--json FILE] [--hosts N] [--minutes M] [--only samples]
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <sqlite3.h>

#include "controller/evidence/chain.h"
#include "controller/evidence/document.h"
#include "controller/evidence/evidence_log.h"
#include "controller/evidence/html_report.h"
#include "controller/evidence/verify.h"
#include "controller/experiment/proto_file.h"
#include "controller/store/store.h"

using namespace firedrill;
using namespace firedrill::evidence;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

double us_since(Clock::time_point t0, int n = 1) {
  return std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / n;
}

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/fdv-bench-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

template <typename T>
T must(Result<T> r, const char* what) {
  if (!r) {
    std::cerr << what << ": " << r.error().message << "\n";
    std::exit(1);
  }
  return std::move(r).value();
}

void must(Result<void> r, const char* what) {
  if (!r) {
    std::cerr << what << ": " << r.error().message << "\n";
    std::exit(1);
  }
}

// Section 3. Per-sample cost (us) at the start and at the end of a run of `ticks`
// ticks of 100 ms, three probes (a sample each per tick).
struct SampleCost {
  double append_start_us = 0, append_end_us = 0;    // the store: append + record every 2 s
  double rewrite_start_us = 0, rewrite_end_us = 0;  // 0.1.0: whole record every 2 s
  size_t samples = 0;
  size_t end_record_bytes = 0;
};

v1::ProbeSample probe_sample(int tick, int probe) {
  v1::ProbeSample p;
  p.set_probe(probe == 0 ? "web" : probe == 1 ? "db" : "markers");
  *p.mutable_start() = to_proto(WallTime(std::chrono::milliseconds(1'796'000'000'000LL + tick * 100LL)));
  *p.mutable_duration() = to_proto_duration(std::chrono::microseconds(850 + tick % 300));
  p.set_ok(tick % 50 != 0);
  p.set_detail(p.ok() ? "200 OK" : "connect: connection refused");
  if (probe == 2) p.set_marker(static_cast<uint64_t>(tick));
  return p;
}

SampleCost sample_cost(const std::string& dir, int ticks) {
  constexpr int kProbes = 3, kTicksPerPersist = 20, kWindow = 400;  // 2 s; 40 s measured at each end
  SampleCost out;
  auto store = must(controller::open_sqlite_store(dir + "/controller.db"), "store");
  v1::RunRecord record;
  record.set_id("r-bench");
  record.set_kind("experiment");
  record.set_phase(v1::RUN_PHASE_OBSERVE);
  record.mutable_experiment()->set_name("bench");
  for (int i = 0; i < 40; ++i) {
    auto* e = record.add_events();
    e->set_kind("phase");
    e->set_message("a timeline entry of about this length");
  }
  must(store->put_run(record), "put run");
  // The runner: each tick's samples appended; every 2 s the record without samples.
  auto tick_append = [&](int t) {
    std::vector<v1::ProbeSample> batch;
    for (int p = 0; p < kProbes; ++p) batch.push_back(probe_sample(t, p));
    must(store->append_samples("r-bench", batch), "append");
    if (t % kTicksPerPersist == 0) must(store->put_run(record), "put run");
  };
  auto window = [&](int from) {
    auto t0 = Clock::now();
    for (int t = from; t < from + kWindow; ++t) tick_append(t);
    return us_since(t0, kWindow * kProbes);
  };
  out.append_start_us = window(0);
  for (int t = kWindow; t < ticks - kWindow; ++t) tick_append(t);
  out.append_end_us = window(ticks - kWindow);
  out.samples = static_cast<size_t>(ticks) * kProbes;

  // 0.1.0: the record with every sample so far, written (temp file, fsync, rename)
  // every 2 s; the cost per sample is that write over the 2 s of samples.
  auto rewrite = [&](int samples_so_far) {
    v1::RunRecord full = record;
    for (int i = 0; i < samples_so_far; ++i) *full.add_samples() = probe_sample(i / kProbes, i % kProbes);
    constexpr int kWrites = 5;
    auto t0 = Clock::now();
    for (int i = 0; i < kWrites; ++i) must(experiment::write_proto_file(dir + "/r-bench.run", full), "write");
    out.end_record_bytes = full.ByteSizeLong();
    return us_since(t0, kWrites * kTicksPerPersist * kProbes);
  };
  out.rewrite_start_us = rewrite(kWindow * kProbes);
  out.rewrite_end_us = rewrite(ticks * kProbes);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::string json_path, only;
  int hosts = 200, minutes = 60;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--json" && i + 1 < argc) json_path = argv[++i];
    else if (a == "--only" && i + 1 < argc) only = argv[++i];
    else if (a == "--hosts" && i + 1 < argc) hosts = std::atoi(argv[++i]);
    else if (a == "--minutes" && i + 1 < argc) minutes = std::atoi(argv[++i]);
    else {
      std::cerr << "usage: evidence_bench [--json FILE] [--hosts N] [--minutes M] [--only samples]\n";
      return 2;
    }
  }
  TempDir dir;
  // A one-hour run of 100 ms ticks (--minutes scales it).
  SampleCost sc = sample_cost(dir.path, minutes * 600);
  auto print_samples = [&] {
    fmt::print("run store: one probe sample stored, {}-minute run, 3 probes at 100 ms ({} samples)\n", minutes,
               sc.samples);
    fmt::print("  {:<46} {:>10} {:>10} {:>10}\n", "", "start us", "end us", "end/start");
    fmt::print("  {:<46} {:>10.1f} {:>10.1f} {:>10.2f}\n", "appended to the store (+ record every 2 s)",
               sc.append_start_us, sc.append_end_us, sc.append_end_us / sc.append_start_us);
    fmt::print("  {:<46} {:>10.1f} {:>10.1f} {:>10.2f}\n", "0.1.0: whole record rewritten every 2 s",
               sc.rewrite_start_us, sc.rewrite_end_us, sc.rewrite_end_us / sc.rewrite_start_us);
    fmt::print("  (0.1.0's record at the end: {:.1f} MiB, written and fsynced every 2 s; target end/start <= 1.2)\n",
               sc.end_record_bytes / 1048576.0);
  };
  Json samples_json = {{"minutes", minutes},
                       {"samples", sc.samples},
                       {"append_us", {{"start", sc.append_start_us}, {"end", sc.append_end_us},
                                      {"end_over_start", sc.append_end_us / sc.append_start_us}}},
                       {"rewrite_0_1_0_us", {{"start", sc.rewrite_start_us}, {"end", sc.rewrite_end_us},
                                             {"end_over_start", sc.rewrite_end_us / sc.rewrite_start_us},
                                             {"end_record_bytes", sc.end_record_bytes}}}};
  if (only == "samples") {
    print_samples();
    if (!json_path.empty()) std::ofstream(json_path) << Json{{"run_samples", samples_json}}.dump(2) << "\n";
    return 0;
  }
  auto key = must(SigningKey::generate(), "key");
  Json note = Json(Note{"bench", "a short operator note of about this length"});

  // ------------------------------------------------------------ 1. one event
  const int n = 2000;
  auto t0 = Clock::now();
  std::string prev = kZeroHash;
  for (int i = 0; i < n; ++i) {
    auto body = must(canonical(make_envelope("r", i + 1, "note", "2026-11-21T09:00:00.000000Z", note, prev)), "canon");
    prev = sha256_hex(body);
  }
  double hash_us = us_since(t0, n);
  t0 = Clock::now();
  for (int i = 0; i < n; ++i) must(key.sign(prev), "sign");
  double sign_us = us_since(t0, n);
  sqlite3* db = nullptr;
  sqlite3_open((dir.path + "/bare.db").c_str(), &db);
  sqlite3_exec(db, "PRAGMA journal_mode=WAL; CREATE TABLE t(run TEXT, seq INTEGER, body TEXT, PRIMARY KEY(run, seq))",
               nullptr, nullptr, nullptr);
  std::string body = must(canonical(make_envelope("r", 1, "note", "2026-11-21T09:00:00.000000Z", note, prev)), "c");
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "INSERT INTO t VALUES('r', ?, ?)", -1, &st, nullptr);
  t0 = Clock::now();
  for (int i = 0; i < n; ++i) {
    sqlite3_bind_int(st, 1, i);
    sqlite3_bind_text(st, 2, body.data(), static_cast<int>(body.size()), SQLITE_STATIC);
    sqlite3_step(st);
    sqlite3_reset(st);
  }
  double sqlite_us = us_since(t0, n);
  sqlite3_finalize(st);
  sqlite3_close(db);
  auto store = must(controller::open_sqlite_store(dir.path + "/state.db"), "store");
  auto log = must(EvidenceLog::create(*store, key, "bench-notes", RunCreated{}), "log");
  t0 = Clock::now();
  for (int i = 0; i < n; ++i) must(log->append(Note{"bench", "a short operator note of about this length"}), "append");
  double append_us = us_since(t0, n);

  // A fan-out: every host's fault_applied, one append each against one batch.
  auto one = must(EvidenceLog::create(*store, key, "bench-fanout-1", RunCreated{}), "fanout");
  t0 = Clock::now();
  for (int h = 0; h < hosts; ++h) {
    must(one->append(FaultApplied{fmt::format("h{}", h), "", 1, "f", "power_loss", {}, {}, {}, true, ""}), "fanout");
  }
  double fanout_single_ms = us_since(t0) / 1000;

  // ------------------------------------------------------------ 2. a game day
  WallTime start = WallTime(std::chrono::seconds(1'795'251'600));
  WallTime now = start;
  auto run = must(EvidenceLog::create(*store, key, "bench-gameday", RunCreated{}, [&] { return now; }), "run");
  t0 = Clock::now();
  TargetsResolved tr;
  for (int h = 0; h < hosts; ++h) {
    std::string name = fmt::format("p{}-h{}", h / 40, h % 40);
    tr.hosts.push_back(TargetHost{name, "agent-" + name, "pangyo", fmt::format("p{}", h / 40), "0.1.0", {}});
  }
  must(run->append(tr), "targets");
  WallTime fault_at = start + 5min, lift_at = start + std::chrono::minutes(minutes) - 5min;
  int events = 2;
  const char* probe_names[] = {"messaging", "web", "orders"};
  std::vector<ProbeSamples> batches(3);
  for (int p = 0; p < 3; ++p) batches[p].probe = probe_names[p];
  bool applied = false, reverted = false;
  double fanout_batch_ms = 0;
  int64_t samples = 0;
  for (WallTime t = start; t < start + std::chrono::minutes(minutes); t += 500ms) {
    now = t;
    // Every host's apply (and revert) as one signed batch, as RunRecorder writes them.
    if (!applied && t >= fault_at) {
      std::vector<PendingEvent> batch;
      for (auto& h : tr.hosts) {
        batch.push_back(PendingEvent::of(FaultApplied{h.host, h.agent_id, 1, "f-" + h.host, "power_loss", fault_at, t,
                                                      lift_at + 30s, true, ""}));
      }
      auto f0 = Clock::now();
      must(run->append_all(batch), "apply");
      fanout_batch_ms = us_since(f0) / 1000;
      events += static_cast<int>(batch.size());
      applied = true;
    }
    if (!reverted && t >= lift_at) {
      std::vector<PendingEvent> batch;
      for (auto& h : tr.hosts) {
        batch.push_back(PendingEvent::of(FaultReverted{h.host, h.agent_id, 1, "f-" + h.host, t, "duration over", true, ""}));
      }
      must(run->append_all(batch), "revert");
      events += static_cast<int>(batch.size());
      reverted = true;
    }
    for (int p = 0; p < 3; ++p) {
      bool ok = !(t >= fault_at && t < fault_at + std::chrono::seconds(10 + 5 * p));
      batches[p].samples.push_back(ProbeSample{t, ok, ok ? 900 + (samples % 17) * 40 : 0, ok ? "" : "refused"});
      ++samples;
      if (batches[p].samples.size() == 50) {
        must(run->append(batches[p]), "samples");
        batches[p].samples.clear();
        ++events;
      }
    }
  }
  must(run->append(Verdict{"pass", "bench"}), "verdict");
  ++events;
  double record_ms = us_since(t0) / 1000;

  t0 = Clock::now();
  auto doc = must(build_document(*store, "bench-gameday", key, start, "firedrill bench"), "document");
  std::string json = render_json(doc);
  double json_ms = us_since(t0) / 1000;
  t0 = Clock::now();
  std::string html = must(render_html(doc), "html");
  double html_ms = us_since(t0) / 1000;
  t0 = Clock::now();
  auto vj = verify_report_text(json, &key.public_key());
  double verify_json_ms = us_since(t0) / 1000;
  t0 = Clock::now();
  auto vh = verify_report_text(html, &key.public_key());
  double verify_html_ms = us_since(t0) / 1000;
  if (!vj.ok() || !vh.ok()) {
    std::cerr << "the benchmark's own report did not verify\n";
    return 1;
  }

  fmt::print("evidence: one event appended (mean of {})\n", n);
  fmt::print("  {:<46} {:>10.1f} us\n", "canonical JSON + SHA-256 of the envelope", hash_us);
  fmt::print("  {:<46} {:>10.1f} us\n", "Ed25519 signature of the head", sign_us);
  fmt::print("  {:<46} {:>10.1f} us\n", "bare SQLite insert (WAL, synchronous=FULL)", sqlite_us);
  fmt::print("  {:<46} {:>10.1f} us   ({:.0f} events/s)\n", "EvidenceLog::append (all, one transaction)", append_us,
             1e6 / append_us);
  fmt::print("\nevidence: a fault applied on {} hosts\n", hosts);
  fmt::print("  {:<46} {:>10.1f} ms\n", "one append (and signature) per host", fanout_single_ms);
  fmt::print("  {:<46} {:>10.1f} ms\n", "one batch, one signature (RunRecorder)", fanout_batch_ms);
  fmt::print("\nevidence: a {}-minute game day, {} hosts, 3 probes at 500 ms ({} samples, {} events)\n", minutes,
             hosts, samples, events);
  fmt::print("  {:<46} {:>10.1f} ms\n", "record every event (signed at each append)", record_ms);
  fmt::print("  {:<46} {:>10.1f} ms   {:>8.1f} KiB\n", "report JSON: build + render", json_ms, json.size() / 1024.0);
  fmt::print("  {:<46} {:>10.1f} ms   {:>8.1f} KiB\n", "report HTML: render", html_ms, html.size() / 1024.0);
  fmt::print("  {:<46} {:>10.1f} ms\n", "verify JSON (chain, seal, re-derive)", verify_json_ms);
  fmt::print("  {:<46} {:>10.1f} ms\n", "verify HTML (the above + re-render)", verify_html_ms);
  fmt::print("\n");
  print_samples();
  if (!json_path.empty()) {
    std::ofstream(json_path) << Json{{"append_us", {{"canonical_sha256", hash_us}, {"ed25519_sign", sign_us},
                                                    {"sqlite_insert", sqlite_us}, {"evidence_log_append", append_us}}},
                                     {"fanout_ms", {{"hosts", hosts}, {"one_by_one", fanout_single_ms},
                                                    {"one_batch", fanout_batch_ms}}},
                                     {"gameday", {{"minutes", minutes}, {"hosts", hosts}, {"samples", samples},
                                                  {"events", events}, {"record_ms", record_ms}, {"json_ms", json_ms},
                                                  {"json_bytes", json.size()}, {"html_ms", html_ms},
                                                  {"html_bytes", html.size()}, {"verify_json_ms", verify_json_ms},
                                                  {"verify_html_ms", verify_html_ms}}},
                                     {"run_samples", samples_json}}
                                   .dump(2)
                              << "\n";
  }
  return 0;
}
