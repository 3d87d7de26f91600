#include "controller/runner/run_ids.h"

#include <atomic>
#include <ctime>
#include <random>

#include <fmt/format.h>

#include "common/time.h"

namespace firedrill::runner {

std::string make_run_id() {
  static std::atomic<uint32_t> counter{0};
  std::random_device rd;
  auto now = WallClock::now();
  auto t = WallClock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%S", &tm);
  uint32_t salt = (rd() ^ (counter.fetch_add(1) * 0x9e3779b9u)) & 0xffffffu;
  return fmt::format("r-{}-{:06x}", stamp, salt);
}

std::string make_fault_id(const std::string& run_id, int step) { return fmt::format("{}.{}", run_id, step); }

std::string run_of_fault(const std::string& fault_id) {
  if (!fault_id.starts_with("r-")) return "";
  auto dot = fault_id.rfind('.');
  if (dot == std::string::npos) return "";
  return fault_id.substr(0, dot);
}

}  // namespace firedrill::runner
