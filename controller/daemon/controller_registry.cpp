#include "controller/daemon/controller_registry.h"

#include "common/log.h"

namespace firedrill::controller {

ControllerRegistry::ControllerRegistry(Store& store, ControllerRow self, std::chrono::milliseconds live_within,
                                       std::chrono::milliseconds every)
    : store_(store), live_within_(live_within), every_(every), self_(std::move(self)) {}

ControllerRegistry::~ControllerRegistry() { stop(); }

void ControllerRegistry::set_address(const std::string& address) {
  std::lock_guard lock(mu_);
  self_.address = address;
}

std::vector<std::map<std::string, std::string>> ControllerRegistry::live_peers() const {
  std::lock_guard lock(mu_);
  return peers_;
}

Result<void> ControllerRegistry::beat() {
  ControllerRow row;
  {
    std::lock_guard lock(mu_);
    self_.last_seen = WallClock::now();
    row = self_;
  }
  FD_TRY(store_.put_controller(row), "controllers registry");
  FD_ASSIGN(all, store_.controllers(), "controllers registry");
  std::vector<std::map<std::string, std::string>> live;
  for (const auto& c : all) {
    if (c.id == row.id) continue;
    if (row.last_seen - c.last_seen > std::chrono::duration_cast<WallClock::duration>(live_within_)) continue;
    live.push_back(c.domain);
  }
  std::lock_guard lock(mu_);
  peers_ = std::move(live);
  return ok();
}

Result<void> ControllerRegistry::start() {
  FD_TRY(beat(), "controller {}", self_.id);
  thread_ = std::thread([this] { loop(); });
  return ok();
}

void ControllerRegistry::loop() {
  std::unique_lock lock(mu_);
  std::string last_error;
  while (!cv_.wait_for(lock, every_, [&] { return stopping_; })) {
    lock.unlock();
    auto r = beat();
    // Said once per change: a database away for a while is logged by the store too.
    std::string error = r ? "" : r.error().describe();
    if (error != last_error && !error.empty()) logger("controller")->warn("{}", error);
    last_error = error;
    lock.lock();
  }
}

void ControllerRegistry::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace firedrill::controller
