#include "controller/probes/probe_set.h"

#include "common/log.h"

namespace firedrill::probes {

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
  for (auto& r : runners_) r->thread = std::thread([this, p = r.get()] { loop(p); });
}

void ProbeSet::loop(Runner* r) {
  using Clock = std::chrono::steady_clock;
  const auto interval = std::chrono::duration_cast<Clock::duration>(probe_interval(r->probe));
  const auto origin = Clock::now();
  uint64_t seq = 0;
  int64_t slot = 0;
  while (!r->stop.load()) {
    slo::Sample s = r->prober->sample(++seq);
    {
      std::lock_guard lock(mu_);
      fresh_.emplace_back(r->probe.name(), std::move(s));
    }
    auto now = Clock::now();
    ++slot;
    auto next = origin + interval * slot;
    if (next < now) {
      // Overran: start the next sample at the next slot boundary from now.
      slot = (now - origin) / interval + 1;
      next = origin + interval * slot;
    }
    std::unique_lock lock(mu_);
    cv_.wait_until(lock, next, [&] { return r->stop.load(); });
  }
}

void ProbeSet::stop() {
  for (auto& r : runners_) r->stop = true;
  cv_.notify_all();
  for (auto& r : runners_) {
    if (r->thread.joinable()) r->thread.join();
  }
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
    r->stop = true;
    cv_.notify_all();
    if (r->thread.joinable()) r->thread.join();
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
