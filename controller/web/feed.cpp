#include "controller/web/feed.h"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace firedrill::controller::web {
namespace {

using Json = nlohmann::json;

int64_t millis(WallTime t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

class FeedObserver final : public runner::RunObserver {
 public:
  explicit FeedObserver(Feed& feed) : feed_(feed) {}
  void on_created(const v1::RunRecord& run) override { changed(run); }
  void on_approval(const v1::RunRecord& run, const v1::Approval&, bool) override { changed(run); }
  void on_phase(const v1::RunRecord& run, const std::string&) override { changed(run); }
  void on_targets(const v1::RunRecord& run, int, const std::vector<controller::Host>&) override { changed(run); }
  void on_fault(const v1::RunRecord& run, const v1::FaultRecord&, bool) override { changed(run); }
  void on_data_check(const v1::RunRecord& run, const v1::DataReadBack&) override { changed(run); }
  void on_milestone(const v1::RunRecord& run, const std::string&, WallTime, const std::string&) override { changed(run); }
  void on_abort(const v1::RunRecord& run, const std::string&, const std::string&) override { changed(run); }
  void on_verdict(const v1::RunRecord& run) override { changed(run); }
  void on_samples(const v1::RunRecord& run, const std::string& probe, const std::vector<slo::Sample>& samples) override {
    Json list = Json::array();
    for (auto& s : samples) {
      list.push_back({{"probe", probe},
                      {"t", millis(s.start)},
                      {"ms", std::chrono::duration<double, std::milli>(s.duration).count()},
                      {"ok", s.ok}});
    }
    feed_.publish("samples", Json{{"id", run.id()}, {"samples", std::move(list)}}.dump());
  }

 private:
  void changed(const v1::RunRecord& run) { feed_.publish("run", Json{{"id", run.id()}}.dump()); }
  Feed& feed_;
};

}  // namespace

void Feed::publish(std::string type, std::string data) {
  {
    std::lock_guard lock(mu_);
    events_.push_back(FeedEvent{++seq_, std::move(type), std::move(data)});
    if (events_.size() > kKeep) events_.pop_front();
  }
  changed_.notify_all();
}

int64_t Feed::last_seq() const {
  std::lock_guard lock(mu_);
  return seq_;
}

bool Feed::stopped() const {
  std::lock_guard lock(mu_);
  return stopped_;
}

std::vector<FeedEvent> Feed::after(int64_t after, std::chrono::milliseconds wait) {
  std::unique_lock lock(mu_);
  changed_.wait_for(lock, wait, [&] { return stopped_ || seq_ > after; });
  std::vector<FeedEvent> out;
  if (stopped_ || seq_ <= after) return out;
  if (events_.empty() || events_.front().seq > after + 1) {
    out.push_back(FeedEvent{seq_, "reset", "{}"});
    return out;
  }
  for (auto it = events_.rbegin(); it != events_.rend() && it->seq > after; ++it) out.push_back(*it);
  std::reverse(out.begin(), out.end());
  return out;
}

std::unique_ptr<runner::RunObserver> Feed::for_run() { return std::make_unique<FeedObserver>(*this); }

std::string Feed::fleet_digest(const Fleet& fleet) const {
  size_t live = 0, faults = 0;
  for (auto& a : fleet.agents(false)) {
    live += a.live ? 1 : 0;
    faults += a.active_faults.size();
  }
  return Json{{"live", live}, {"faults", faults}, {"halted", fleet.halted()}}.dump();
}

void Feed::watch(Fleet& fleet, std::chrono::milliseconds period) {
  fleet.on_halt([this, &fleet](const HaltState&) { publish("fleet", fleet_digest(fleet)); });
  watcher_ = std::thread([this, &fleet, period] {
    std::string last;
    std::unique_lock lock(mu_);
    while (!stopped_) {
      lock.unlock();
      auto now = fleet_digest(fleet);
      if (now != last) publish("fleet", now);
      last = std::move(now);
      lock.lock();
      changed_.wait_for(lock, period, [&] { return stopped_; });
    }
  });
}

void Feed::stop() {
  {
    std::lock_guard lock(mu_);
    stopped_ = true;
  }
  changed_.notify_all();
  if (watcher_.joinable()) watcher_.join();
}

}  // namespace firedrill::controller::web
