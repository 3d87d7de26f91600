// Store appends per second, side by side in one run: the SQLite store (WAL,
// synchronous=NORMAL: its default) against the PostgreSQL store as the leader (the
// lease taken, so every write passes the epoch fence), on a private server with fsync
// on, once with synchronous_commit on (each commit flushed: PostgreSQL's default) and
// once off (the last commits may be lost at a crash, never corrupted: SQLite NORMAL's
// promise). Loopback TCP to the server; each store call is one transaction.
// Then, with real controllers and simulated agents (fleet_bench.h): the takeover from
// the leader's SIGKILL to an apply acked on every agent by the new leader (1,000
// agents), and the fan-out's apply and halt on SQLite against PostgreSQL (10,000).
//   ha_bench [--json FILE] [--seconds S] [--only appends|takeover|fanout]
//            [--takeover-agents N] [--takeover-repeats N] [--fanout-agents N] [--fanout-repeats N]
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>

#include <nlohmann/json.hpp>

#include "controller/store/postgres_store.h"
#include "bench/ha/fleet_bench.h"
#include "controller/store/store.h"
#include "tests/support/postgres.h"

using namespace firedrill;
using namespace firedrill::controller;
using Clock = std::chrono::steady_clock;

namespace {

template <typename T>
T must(Result<T> r, const std::string& what) {
  if (!r) {
    std::cerr << what << ": " << r.error().describe() << "\n";
    std::exit(1);
  }
  return std::move(r).value();
}

void must(Result<void> r, const std::string& what) {
  if (!r) {
    std::cerr << what << ": " << r.error().describe() << "\n";
    std::exit(1);
  }
}

struct Workload {
  const char* name;
  const char* unit;  // what one op appends
  int per_op;        // rows per call
  std::function<Result<void>(Store&, int64_t i)> op;
};

v1::ProbeSample sample(int64_t i) {
  v1::ProbeSample p;
  p.set_probe("web");
  p.set_ok(true);
  p.set_marker(static_cast<uint64_t>(i));
  *p.mutable_start() = to_proto(WallClock::now());
  *p.mutable_duration() = to_proto_duration(std::chrono::microseconds(1200));
  return p;
}

// Ops per second of `w` on `s` for `seconds` (after a short warm-up).
double rate(Store& s, const Workload& w, double seconds) {
  for (int64_t i = 0; i < 20; ++i) must(w.op(s, -1 - i), w.name);
  int64_t n = 0;
  auto t0 = Clock::now();
  auto end = t0 + std::chrono::duration<double>(seconds);
  while (Clock::now() < end) must(w.op(s, n++), w.name);
  return n * w.per_op / std::chrono::duration<double>(Clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  std::string json_path, only;
  double seconds = 3;
  bench::TakeoverOptions takeover;
  bench::FanoutOptions fanout;
  auto usage = [] {
    std::cerr << "usage: ha_bench [--json FILE] [--seconds S] [--only appends|takeover|fanout] [--takeover-agents N] "
                 "[--takeover-repeats N] [--fanout-agents N] [--fanout-repeats N]\n";
    return 2;
  };
  try {
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      bool more = i + 1 < argc;
      if (a == "--json" && more) json_path = argv[++i];
      else if (a == "--seconds" && more) seconds = std::stod(argv[++i]);
      else if (a == "--only" && more) only = argv[++i];
      else if (a == "--takeover-agents" && more) takeover.agents = std::stoi(argv[++i]);
      else if (a == "--takeover-repeats" && more) takeover.repeats = std::stoi(argv[++i]);
      else if (a == "--fanout-agents" && more) fanout.agents = std::stoi(argv[++i]);
      else if (a == "--fanout-repeats" && more) fanout.repeats = std::stoi(argv[++i]);
      else return usage();
    }
  } catch (const std::exception&) {
    return usage();
  }
  if (seconds <= 0 || seconds > 600) {
    std::cerr << "ha_bench: --seconds must be within (0, 600]\n";
    return 2;
  }
  if (!only.empty() && only != "appends" && only != "takeover" && only != "fanout") {
    std::cerr << "ha_bench: --only '" << only << "': expected appends, takeover or fanout\n";
    return 2;
  }
  for (int n : {takeover.agents, takeover.repeats, fanout.agents, fanout.repeats}) {
    if (n < 1 || n > 50000) {
      std::cerr << "ha_bench: agent counts and repeats must be within [1, 50000]\n";
      return 2;
    }
  }
  auto wanted = [&](const char* part) { return only.empty() || only == part; };
  std::signal(SIGPIPE, SIG_IGN);  // a controller killed under the simulated agents' writes

  char tmpl[] = "/tmp/fdh-bench-XXXXXX";
  std::string dir = ::mkdtemp(tmpl);
  struct Cleanup {
    std::string d;
    ~Cleanup() { std::filesystem::remove_all(d); }
  } cleanup{dir};
  support::Postgres server(support::Postgres::Options{.fsync = true, .synchronous_commit = true});
  nlohmann::json out = {{"suite", "ha"}};
  if (wanted("fanout")) {
    fanout.postgres_url = server.url(server.fresh_database("bench_fanout"));
    out["fanout"] = bench::measure_fanout_stores(fanout);
  }
  if (wanted("takeover")) {
    takeover.store_url = server.url(server.fresh_database("bench_takeover"));
    out["takeover"] = bench::measure_takeover(takeover);
  }
  if (!wanted("appends")) {
    if (!json_path.empty()) std::ofstream(json_path) << out.dump(2) << "\n";
    return 0;
  }
  auto sync_db = server.fresh_database("bench_sync");
  auto async_db = server.fresh_database("bench_async");
  server.sql("ALTER DATABASE " + async_db + " SET synchronous_commit = off");

  struct Subject {
    std::string name;
    std::unique_ptr<Store> store;
  };
  std::vector<Subject> subjects;
  subjects.push_back({"sqlite", must(open_sqlite_store(dir + "/controller.db"), "open sqlite")});
  for (auto [name, db] : {std::pair{"postgres", sync_db}, std::pair{"postgres_async_commit", async_db}}) {
    PostgresOptions o;
    o.url = server.url(db);
    o.fleet = "bench";
    auto pg = must(open_postgres_store(o), "open postgres");
    auto epoch = must(pg->lease().acquire("bench", "127.0.0.1:7443", std::chrono::minutes(10)), "lease");
    if (!epoch) {
      std::cerr << "ha_bench: the lease was not free\n";
      return 1;
    }
    subjects.push_back({name, std::move(pg)});
  }

  v1::RunRecord run;
  run.set_id("r-bench");
  run.set_kind("experiment");
  *run.mutable_created_at() = to_proto(WallClock::now());
  for (int i = 0; i < 20; ++i) {
    auto* e = run.add_events();
    e->set_kind("phase");
    e->set_message(std::string(80, 'x'));
  }
  std::vector<Workload> workloads = {
      {"event (1 per transaction)", "events", 1,
       [](Store& s, int64_t i) {
         return s.append_events({{0, "r-bench", WallClock::now(), "h1", "fault.applied", std::to_string(i)}});
       }},
      {"probe samples (100 per transaction)", "samples", 100,
       [](Store& s, int64_t i) {
         std::vector<v1::ProbeSample> batch;
         for (int k = 0; k < 100; ++k) batch.push_back(sample(i * 100 + k));
         return s.append_samples("r-bench", batch);
       }},
      {"evidence event (1 per transaction)", "events", 1,
       [](Store& s, int64_t) -> Result<void> {
         // Numbered on from the run's last, as the evidence log does it.
         return s.transaction([&]() -> Result<void> {
           FD_ASSIGN(last, s.last_evidence_event("r-bench"), "last");
           int64_t seq = last ? last->seq + 1 : 1;
           return s.append_evidence({StoredEvent{"r-bench", seq, "fault_applied", "t", seq, std::string(300, 'b'),
                                                 "p", "h", "sig", "key"}});
         });
       }},
      {"run record replaced (~2 KiB)", "records", 1, [&run](Store& s, int64_t) { return s.put_run(run); }},
  };

  nlohmann::json& appends = out["appends"] = {{"seconds_per_case", seconds}, {"cases", nlohmann::json::array()}};
  fmt::print("store appends per second ({} s per case; PostgreSQL 15 on loopback, fsync on, as the leader)\n\n",
             seconds);
  fmt::print("  {:<38} {:>12} {:>12} {:>12} {:>10} {:>10}\n", "case", "sqlite", "postgres", "pg async", "pg/sqlite",
             "async/sqlite");
  for (const auto& w : workloads) {
    std::vector<double> rates;
    for (auto& s : subjects) rates.push_back(rate(*s.store, w, seconds));
    fmt::print("  {:<38} {:>12.0f} {:>12.0f} {:>12.0f} {:>10.3f} {:>10.3f}   {}/s\n", w.name, rates[0], rates[1],
               rates[2], rates[1] / rates[0], rates[2] / rates[0], w.unit);
    appends["cases"].push_back({{"case", w.name},
                            {"unit", std::string(w.unit) + "/s"},
                            {"sqlite", rates[0]},
                            {"postgres", rates[1]},
                            {"postgres_async_commit", rates[2]},
                            {"postgres_over_sqlite", rates[1] / rates[0]},
                            {"postgres_async_over_sqlite", rates[2] / rates[0]}});
  }
  if (!json_path.empty()) std::ofstream(json_path) << out.dump(2) << "\n";
  return 0;
}
