// libFuzzer over the agent's command handling: any bytes the controller's stream (or
// the local socket) could deliver are parsed as a ControllerMessage and handled by the
// real CommandHandler and FaultManager, over an engine that accepts every kind without
// touching the kernel. Whatever arrives, the answer is an Ack or a Heartbeat, never a
// crash, a hang or a fault that outlives its lease. Built with clang by
// scripts/fuzz.sh (the main build is g++).
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <set>

#include "agent/core/command_handler.h"
#include "agent/core/fault_manager.h"
#include "common/log.h"

namespace {

using namespace firedrill;
using namespace firedrill::agent;

// Accepts what a real engine might (and refuses some, as a real one would), keeping
// nothing but a set of ids.
class NullEngine : public FaultEngine {
 public:
  std::string_view name() const override { return "null"; }
  bool handles(const v1::FaultSpec& spec) const override { return spec.kind_case() != v1::FaultSpec::KIND_NOT_SET; }
  Result<void> check(const v1::FaultSpec& spec) const override {
    if (spec.has_network() && spec.network().interfaces_size() > 8) return make_error("too many interfaces");
    return ok();
  }
  Result<void> apply(const std::string& id, const v1::FaultSpec&) override {
    std::lock_guard l(mu_);
    live_.insert(id);
    return ok();
  }
  Result<void> revert(const std::string& id) override {
    std::lock_guard l(mu_);
    live_.erase(id);
    return ok();
  }
  v1::FaultCounters counters(const std::string&) const override { return {}; }
  size_t live() const {
    std::lock_guard l(mu_);
    return live_.size();
  }

 private:
  mutable std::mutex mu_;
  std::set<std::string> live_;
};

struct Harness {
  Harness() {
    init_logging({LogFormat::kText, spdlog::level::off});
    auto e = std::make_unique<NullEngine>();
    engine = e.get();
    std::vector<std::unique_ptr<FaultEngine>> engines;
    engines.push_back(std::move(e));
    faults = std::make_unique<FaultManager>(std::move(engines), nullptr);
    handler = std::make_unique<CommandHandler>(*faults);
  }
  NullEngine* engine;
  std::unique_ptr<FaultManager> faults;
  std::unique_ptr<CommandHandler> handler;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Harness h;
  v1::ControllerMessage msg;
  if (!msg.ParseFromArray(data, static_cast<int>(size))) return 0;
  auto reply = h.handler->handle(msg, v1::REVERT_REQUESTED);
  if (!reply.has_ack() && !reply.has_heartbeat()) __builtin_trap();
  if (reply.has_ack() && reply.ack().command_id() != msg.command_id()) __builtin_trap();
  // Every input starts from a clean agent: what one input applied cannot leak into the
  // next, and revert_all must leave nothing behind.
  h.faults->revert_all(v1::REVERT_AGENT_SHUTDOWN);
  if (!h.faults->empty() || h.engine->live() != 0) __builtin_trap();
  return 0;
}
