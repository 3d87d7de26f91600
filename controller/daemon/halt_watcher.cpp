#include "controller/daemon/halt_watcher.h"

#include "common/log.h"

namespace firedrill::controller {
namespace {

auto log() {
  static auto l = logger("controller");
  return l;
}

}  // namespace

HaltWatcher::HaltWatcher(Store& store, Fleet& fleet, std::chrono::milliseconds every)
    : store_(store), fleet_(fleet), every_(every) {}

HaltWatcher::~HaltWatcher() { stop(); }

void HaltWatcher::start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { loop(); });
}

void HaltWatcher::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void HaltWatcher::loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    lock.unlock();
    act();
    lock.lock();
    cv_.wait_for(lock, every_, [this] { return stopping_; });
  }
}

void HaltWatcher::act() {
  auto pending = store_.halt_requests();
  if (!pending) {
    log()->warn("reading the halts asked at other controllers: {}", pending.error().describe());
    return;
  }
  if (pending->empty()) return;
  for (auto& h : *pending) {
    log()->warn("halt asked at controller {} by {} at {} ({}): halting the fleet", h.controller, h.by,
                format_utc(h.at), h.reason);
    auto r = fleet_.halt(fmt::format("{} (asked at controller {})", h.reason, h.controller), h.by);
    if (!r.persist_error.empty()) {
      // Not cleared: the next look (or the next leader) halts again and saves it.
      log()->error("the halt asked at {} is in force but could not be saved: {}", h.controller, r.persist_error);
      return;
    }
  }
  if (auto c = store_.clear_halt_requests(pending->back().seq); !c) {
    log()->warn("clearing the halts acted on: {} (they are acted on again: harmless)", c.error().describe());
  }
}

}  // namespace firedrill::controller
