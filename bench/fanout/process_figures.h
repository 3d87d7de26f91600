// What the fleet benchmarks (bench/fanout, bench/wire) read of their processes and
// report of their repeats: /proc figures and percentiles.
#pragma once

#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace firedrill::bench {

// Milliseconds over repeats: nearest-rank percentiles.
struct Stats {
  std::vector<double> ms;
  void add(double v) { ms.push_back(v); }
  double pct(double p) const {
    if (ms.empty()) return NAN;
    auto v = ms;
    std::sort(v.begin(), v.end());
    size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
    return v[std::clamp<size_t>(rank, 1, v.size()) - 1];
  }
  double max() const { return ms.empty() ? NAN : *std::max_element(ms.begin(), ms.end()); }
  nlohmann::json json() const { return {{"p50_ms", pct(50)}, {"p99_ms", pct(99)}, {"max_ms", max()}, {"samples", ms}}; }
};

// A field of /proc/PID/status in KiB (VmRSS, VmHWM); -1 when absent.
inline long status_kib(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
  }
  return -1;
}

// CPU seconds (user + system) a process has used.
inline double cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto close = text.rfind(')');
  if (close == std::string::npos) return NAN;
  std::istringstream rest(text.substr(close + 2));
  std::vector<std::string> fields;
  for (std::string f; rest >> f;) fields.push_back(f);
  if (fields.size() < 13) return NAN;
  return (std::stod(fields[11]) + std::stod(fields[12])) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

}  // namespace firedrill::bench
