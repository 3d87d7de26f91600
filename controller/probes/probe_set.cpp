#include "controller/probes/probe_set.h"

#include <algorithm>
#include <cmath>

#include "common/log.h"
#include "controller/experiment/limits.h"

namespace firedrill::probes {

namespace {

size_t samples_in_flight(const v1::Probe& p) {
  double ratio = std::chrono::duration<double>(probe_timeout(p)).count() /
                 std::chrono::duration<double>(probe_interval(p)).count();
  return std::clamp<size_t>(static_cast<size_t>(std::ceil(ratio)) + 1, 1, experiment::kMaxSamplesInFlight);
}

}  // namespace

ProbeSet::ProbeSet(const v1::Experiment& e) {
  for (const auto& p : e.probes()) {
    auto r = std::make_unique<Runner>();
    r->probe = p;
    r->prober = make_prober(p);
    r->interval = std::max(probe_interval(p), std::chrono::nanoseconds(std::chrono::milliseconds(1)));
    r->cap = samples_in_flight(p);
    if (r->prober) runners_.push_back(std::move(r));
  }
}

ProbeSet::~ProbeSet() { stop(); }

void ProbeSet::start() {
  std::lock_guard lock(mu_);
  if (started_) return;
  started_ = true;
  size_t want = 0;
  for (auto& r : runners_) want += r->cap;
  size_t n = std::min(want, kMaxPoolThreads);
  for (size_t i = 0; i < n; ++i) pool_.emplace_back([this] { worker_loop(); });
  if (!runners_.empty()) scheduler_ = std::thread([this] { scheduler_loop(); });
}

size_t ProbeSet::threads() const {
  std::lock_guard lock(mu_);
  return pool_.size() + (scheduler_.joinable() ? 1 : 0);
}

void ProbeSet::scheduler_loop() {
  using Clock = std::chrono::steady_clock;
  const auto origin = Clock::now();
  auto due_at = [&](const Runner& r) {
    return origin + std::chrono::duration_cast<Clock::duration>(r.interval * r.next_slot);
  };
  std::unique_lock lock(mu_);
  while (!stopping_) {
    Runner* next = nullptr;
    for (auto& r : runners_) {
      if (!r->stopped && (!next || due_at(*r) < due_at(*next))) next = r.get();
    }
    if (!next) {
      cv_.wait(lock, [&] { return stopping_; });
      break;
    }
    auto when = due_at(*next);
    if (cv_.wait_until(lock, when, [&] { return stopping_ || next->stopped; })) continue;
    ++next->next_slot;
    if (next->in_flight < next->cap) {
      ++next->in_flight;
      queue_.push_back(Job{next, when});
      cv_.notify_all();
    } else {
      ++next->skipped;
    }
  }
}

void ProbeSet::worker_loop() {
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, nothing left to take
    Job job = queue_.front();
    queue_.pop_front();
    // A slot that waited for a worker until its probe's next slot came is skipped:
    // a sample starts at most one interval late (the sample records when it started).
    if (std::chrono::steady_clock::now() - job.due > job.runner->interval) {
      ++job.runner->skipped;
      --job.runner->in_flight;
      drained_.notify_all();
      continue;
    }
    uint64_t seq = ++job.runner->seq;
    lock.unlock();
    slo::Sample s = job.runner->prober->sample(seq);
    lock.lock();
    fresh_.emplace_back(job.runner->probe.name(), std::move(s));
    --job.runner->in_flight;
    drained_.notify_all();
  }
}

void ProbeSet::stop_runner(Runner* r, std::unique_lock<std::mutex>& lock) {
  r->stopped = true;
  // Slots queued but not started yet are not taken.
  for (auto it = queue_.begin(); it != queue_.end();) {
    if (it->runner == r) {
      --r->in_flight;
      it = queue_.erase(it);
    } else {
      ++it;
    }
  }
  cv_.notify_all();
  drained_.wait(lock, [&] { return r->in_flight == 0; });
}

void ProbeSet::stop() {
  {
    std::unique_lock lock(mu_);
    for (auto& r : runners_) r->stopped = true;
    for (auto& r : runners_) stop_runner(r.get(), lock);
    stopping_ = true;
  }
  cv_.notify_all();
  if (scheduler_.joinable()) scheduler_.join();
  for (auto& w : pool_) {
    if (w.joinable()) w.join();
  }
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
    {
      std::unique_lock lock(mu_);
      stop_runner(r.get(), lock);
    }
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
