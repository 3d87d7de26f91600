// Writes the synthetic complete run into an evidence database, with a finding, so the
// report verbs and scripts/report-screenshot.sh have something to show:
//   evidence_sample DB STATE_DIR        (prints the run id)
#include <iostream>

#include "tests/unit/evidence_fixture.h"

int main(int argc, char** argv) {
  using namespace firedrill::evidence;
  if (argc != 3) {
    std::cerr << "usage: evidence_sample DB STATE_DIR\n";
    return 2;
  }
  auto store = firedrill::controller::open_sqlite_store(argv[1]);
  if (!store) {
    std::cerr << store.error().message << "\n";
    return 1;
  }
  auto key = SigningKey::load_or_create(argv[2]);
  if (!key) {
    std::cerr << key.error().message << "\n";
    return 1;
  }
  testing::FixtureClock clock;
  auto log = testing::write_fixture_run(**store, *key, clock);
  if (!log) {
    std::cerr << log.error().message << "\n";
    return 1;
  }
  FindingBook book(**store, &*key, clock.fn());
  auto f = book.add({"run-pangyo-0001", "medium", "minho.lee", "2026-12-31", "Sentinel took 24 s to fail over",
                     "down-after-milliseconds is 20000; lower it and retest", "jiyoung.park"});
  if (!f) {
    std::cerr << f.error().message << "\n";
    return 1;
  }
  std::cout << (*log)->run_id() << "\n";
  return 0;
}
