#include "controller/leader/elector.h"

#include <random>

#include "common/log.h"

namespace firedrill::controller::leader {
namespace {

auto log() {
  static auto l = logger("controller.leader");
  return l;
}

}  // namespace

Elector::Elector(LeaderLease& lease, ElectorConfig config, LeadershipChange on_change)
    : lease_(lease), config_(std::move(config)), on_change_(std::move(on_change)) {
  if (config_.renew_every.count() <= 0) config_.renew_every = config_.ttl / 3;
}

Elector::~Elector() { stop(true); }

void Elector::start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { loop(); });
}

void Elector::stop(bool release) {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  int64_t held = 0;
  {
    std::lock_guard lock(mu_);
    held = epoch_;
    epoch_ = 0;
  }
  if (held == 0) return;
  if (release) {
    lease_.step_down(held);
    if (auto r = lease_.release(config_.id, held); !r) {
      log()->warn("leader lease: release of epoch {}: {}", held, r.error().describe());
    }
  }
  if (on_change_) on_change_(false, held, release ? "stopped; the lease released" : "stopped");
}

bool Elector::leading() const {
  std::lock_guard lock(mu_);
  return epoch_ != 0 && SteadyClock::now() < valid_until_;
}

int64_t Elector::epoch() const {
  std::lock_guard lock(mu_);
  return epoch_ != 0 && SteadyClock::now() < valid_until_ ? epoch_ : 0;
}

bool Elector::wait_leading(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return stopping_ || (epoch_ != 0 && SteadyClock::now() < valid_until_); });
  return epoch_ != 0 && SteadyClock::now() < valid_until_;
}

std::chrono::milliseconds Elector::jittered(std::chrono::milliseconds d) {
  // +-20%, so that followers do not all try at the same instant.
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::uniform_int_distribution<int64_t> spread(d.count() * 8 / 10, d.count() * 12 / 10);
  return std::chrono::milliseconds(spread(rng));
}

void Elector::lose(const std::string& why) {
  int64_t held;
  {
    std::lock_guard lock(mu_);
    held = epoch_;
    epoch_ = 0;
  }
  if (held != 0) lease_.step_down(held);
  log()->error("leader lease: no longer leading (epoch {}): {}", held, why);
  if (on_change_) on_change_(false, held, why);
}

void Elector::loop() {
  std::string last_error;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      if (stopping_) return;
    }
    auto sent = SteadyClock::now();
    int64_t held = 0;
    SteadyClock::time_point until;
    {
      std::lock_guard lock(mu_);
      held = epoch_;
      until = valid_until_;
    }
    auto wait = config_.renew_every;
    if (held == 0) {
      auto r = lease_.acquire(config_.id, config_.address, config_.ttl);
      if (r && *r) {
        {
          std::lock_guard lock(mu_);
          epoch_ = **r;
          valid_until_ = sent + config_.ttl;
        }
        cv_.notify_all();
        last_error.clear();
        log()->info("leader lease: leading as {} with epoch {}", config_.id, **r);
        if (on_change_) on_change_(true, **r, "the lease was free");
      } else if (!r && r.error().describe() != last_error) {
        last_error = r.error().describe();
        log()->warn("{}", last_error);
      }
      wait = jittered(wait);
    } else {
      auto r = lease_.renew(config_.id, held, config_.ttl);
      if (r && *r) {
        std::lock_guard lock(mu_);
        valid_until_ = sent + config_.ttl;
      } else if (r) {
        lose("the lease expired or was taken by another controller");
      } else if (SteadyClock::now() >= until) {
        lose("cannot renew the lease: " + r.error().describe());
      } else {
        // Try again soon: the lease is still ours for a while.
        wait = std::max(std::chrono::milliseconds(20), config_.renew_every / 4);
      }
    }
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, wait, [&] { return stopping_; });
  }
}

}  // namespace firedrill::controller::leader
