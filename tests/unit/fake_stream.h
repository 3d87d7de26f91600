// A fake agent stream for the Fleet's tests: keeps what the fleet sends, with when,
// and waits for a message of a kind.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "controller/session/agent_session.h"

namespace firedrill::controller {

using namespace std::chrono_literals;

// A stream that keeps what the fleet sends and can be told to answer.
class FakeStream : public SessionTransport {
 public:
  bool send(const v1::ControllerMessage& m) override {
    std::lock_guard l(mu);
    if (closed) return false;
    sent.push_back(m);
    sent_at.push_back(WallClock::now());
    cv.notify_all();
    return true;
  }
  void close(int code, const std::string& why) override {
    std::lock_guard l(mu);
    closed = true;
    close_code = code;
    close_why = why;
  }
  // Waits for the n-th message (0-based) of a kind.
  std::optional<v1::ControllerMessage> wait_for(v1::ControllerMessage::MsgCase kind, size_t n = 0,
                                                std::chrono::milliseconds within = 2s) {
    std::unique_lock l(mu);
    std::optional<v1::ControllerMessage> out;
    cv.wait_for(l, within, [&] {
      size_t seen = 0;
      for (auto& m : sent) {
        if (m.msg_case() == kind && seen++ == n) {
          out = m;
          return true;
        }
      }
      return false;
    });
    return out;
  }
  std::mutex mu;
  std::condition_variable cv;
  std::vector<v1::ControllerMessage> sent;
  std::vector<WallTime> sent_at;
  bool closed = false;
  int close_code = -1;
  std::string close_why;
};

}  // namespace firedrill::controller
