// What the dashboard's pages are told as it happens (Server-Sent Events, web_server.h):
// a numbered feed of small events that every open page reads from its own position.
//   run      a run changed (phase, step, targets, faults, approval, abort, verdict);
//            data: {"id": RUN}. The page reads the run again (without its samples).
//   samples  new probe samples of a run; data: {"id": RUN, "samples": [...]}, each
//            {"probe", "t" (ms since the epoch), "ms" (duration), "ok"}: the chart
//            grows by them without reading the run again.
//   fleet    the fleet changed (agents came or went, faults in effect, a halt);
//            data: {"live", "faults", "halted"}.
// Publishers never wait on readers: the feed keeps the newest kKeep events, and a page
// that fell further behind is told to reload ("reset").
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "controller/runner/run.h"
#include "controller/session/fleet.h"

namespace firedrill::controller::web {

struct FeedEvent {
  int64_t seq = 0;
  std::string type;  // "run", "samples", "fleet", "reset"
  std::string data;  // JSON
};

class Feed {
 public:
  static constexpr size_t kKeep = 4096;

  Feed() = default;
  ~Feed() { stop(); }
  Feed(const Feed&) = delete;
  Feed& operator=(const Feed&) = delete;

  void publish(std::string type, std::string data);
  int64_t last_seq() const;
  // The events after `after`, waiting up to `wait` for the first; empty when none came
  // (or the feed stopped). One "reset" when `after` fell out of the kept window.
  std::vector<FeedEvent> after(int64_t after, std::chrono::milliseconds wait);
  bool stopped() const;

  // An observer for one run (the run manager's observer factory): its changes become
  // "run" and "samples" events.
  std::unique_ptr<runner::RunObserver> for_run();
  // Watches `fleet` for "fleet" events: at once on a halt or release, and within
  // `period` of any other change of the live count or the faults in effect.
  void watch(Fleet& fleet, std::chrono::milliseconds period = std::chrono::milliseconds(250));
  // Wakes every reader (they return empty) and ends the watcher.
  void stop();

 private:
  std::string fleet_digest(const Fleet& fleet) const;

  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::deque<FeedEvent> events_;
  int64_t seq_ = 0;
  bool stopped_ = false;
  std::thread watcher_;
};

}  // namespace firedrill::controller::web
