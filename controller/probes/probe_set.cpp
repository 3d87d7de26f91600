#include "controller/probes/probe_set.h"

#include <algorithm>
#include <cmath>

#include "common/log.h"

namespace firedrill::probes {

namespace {

constexpr size_t kMaxWorkers = 8;

size_t workers_for(const v1::Probe& p) {
  double ratio = std::chrono::duration<double>(probe_timeout(p)).count() /
                 std::chrono::duration<double>(probe_interval(p)).count();
  return std::clamp<size_t>(static_cast<size_t>(std::ceil(ratio)) + 1, 1, kMaxWorkers);
}

}  // namespace

ProbeSet::ProbeSet(const v1::Experiment& e) {
  for (const auto& p : e.probes()) {
    auto r = std::make_unique<Runner>();
    r->probe = p;
    r->prober = make_prober(p);
    if (r->prober) runners_.push_back(std::move(r));
  }
}

ProbeSet::~ProbeSet() { stop(); }

void ProbeSet::start() {
  std::lock_guard lock(mu_);
  if (started_) return;
  started_ = true;
  for (auto& r : runners_) {
    size_t n = workers_for(r->probe);
    r->idle = n;
    for (size_t i = 0; i < n; ++i) r->workers.emplace_back([this, p = r.get()] { worker_loop(p); });
    r->timer = std::thread([this, p = r.get()] { timer_loop(p); });
  }
}

void ProbeSet::timer_loop(Runner* r) {
  using Clock = std::chrono::steady_clock;
  const auto interval = std::chrono::duration_cast<Clock::duration>(probe_interval(r->probe));
  const auto origin = Clock::now();
  uint64_t seq = 0;
  std::unique_lock lock(mu_);
  for (int64_t slot = 0; !r->stop.load(); ++slot) {
    cv_.wait_until(lock, origin + interval * slot, [&] { return r->stop.load(); });
    if (r->stop.load()) break;
    // Sample numbers count slots taken, so a data probe's markers stay 1, 2, 3, ...
    if (r->idle > r->due.size()) {
      r->due.push_back(++seq);
      cv_.notify_all();
    } else {
      ++r->skipped;
    }
  }
}

void ProbeSet::worker_loop(Runner* r) {
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait(lock, [&] { return r->stop.load() || !r->due.empty(); });
    if (r->due.empty()) return;  // stopping, nothing left to take
    uint64_t seq = r->due.front();
    r->due.erase(r->due.begin());
    --r->idle;
    lock.unlock();
    slo::Sample s = r->prober->sample(seq);
    lock.lock();
    fresh_.emplace_back(r->probe.name(), std::move(s));
    ++r->idle;
  }
}

void ProbeSet::stop_runner(Runner* r) {
  {
    std::lock_guard lock(mu_);
    r->stop = true;
    r->due.clear();  // slots not started yet are not taken
  }
  cv_.notify_all();
  if (r->timer.joinable()) r->timer.join();
  for (auto& w : r->workers) {
    if (w.joinable()) w.join();
  }
}

void ProbeSet::stop() {
  for (auto& r : runners_) {
    std::lock_guard lock(mu_);
    r->stop = true;
    r->due.clear();
  }
  cv_.notify_all();
  for (auto& r : runners_) stop_runner(r.get());
}

uint64_t ProbeSet::skipped(const std::string& probe) {
  std::lock_guard lock(mu_);
  for (auto& r : runners_) {
    if (r->probe.name() == probe) return r->skipped;
  }
  return 0;
}

std::vector<std::pair<std::string, slo::Sample>> ProbeSet::take_new() {
  std::lock_guard lock(mu_);
  std::vector<std::pair<std::string, slo::Sample>> out;
  out.swap(fresh_);
  return out;
}

std::map<std::string, slo::DataCheck> ProbeSet::read_back() {
  std::map<std::string, slo::DataCheck> out;
  for (auto& r : runners_) {
    if (!r->probe.has_data()) continue;
    // Writes in flight finish (and are recorded) before the read.
    stop_runner(r.get());
    // The read gets a generous timeout: it returns every marker of the run.
    auto timeout = std::max(probe_timeout(r->probe) * 10, std::chrono::nanoseconds(std::chrono::seconds(10)));
    out[r->probe.name()] = read_markers(r->probe.data(), timeout);
    if (!out[r->probe.name()].read_ok) {
      logger("controller.probes")->warn("probe {}: read-back failed: {}", r->probe.name(), out[r->probe.name()].error);
    }
  }
  return out;
}

}  // namespace firedrill::probes
