// The agent's local control socket: a Unix stream socket (root only, mode 0600) that
// takes the same ControllerMessage as the controller's stream, framed as a 4-byte
// big-endian length and the serialized message, and answers with one AgentMessage.
// It lets tests, the demo and an operator on the host drive the real engines without
// a controller (`firedrill-agent ctl ...`).
#pragma once

#include <atomic>
#include <string>
#include <thread>

#include "agent/core/command_handler.h"
#include "common/result.h"

namespace firedrill::agent {

inline constexpr uint32_t kMaxLocalMessage = 4u << 20;

class LocalControlServer {
 public:
  explicit LocalControlServer(CommandHandler& handler) : handler_(handler) {}
  ~LocalControlServer() { stop(); }
  LocalControlServer(const LocalControlServer&) = delete;
  LocalControlServer& operator=(const LocalControlServer&) = delete;

  Result<void> start(const std::string& path);
  void stop();

 private:
  void serve();
  void serve_one(int fd);

  CommandHandler& handler_;
  std::string path_;
  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};
  std::thread thread_;
};

// One request, one answer.
Result<v1::AgentMessage> local_call(const std::string& path, const v1::ControllerMessage& message,
                                    std::chrono::milliseconds timeout = std::chrono::seconds(30));

// Framing helpers, shared with the tests.
Result<void> write_frame(int fd, const std::string& bytes);
Result<std::string> read_frame(int fd, uint32_t max_bytes);

}  // namespace firedrill::agent
