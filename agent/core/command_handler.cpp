#include "agent/core/command_handler.h"

#include "common/log.h"

namespace firedrill::agent {
namespace {

auto log() {
  static auto l = logger("agent.commands");
  return l;
}

v1::AgentMessage ack(uint64_t id, v1::AckStatus status, const std::string& fault_id,
                     const std::string& error = {}) {
  v1::AgentMessage out;
  auto* a = out.mutable_ack();
  a->set_command_id(id);
  a->set_status(status);
  a->set_fault_id(fault_id);
  a->set_error(error);
  *a->mutable_at() = to_proto(WallClock::now());
  return out;
}

}  // namespace

v1::Heartbeat CommandHandler::heartbeat() const {
  v1::Heartbeat hb;
  *hb.mutable_clock() = to_proto(WallClock::now());
  for (auto& f : faults_.active()) *hb.add_active_faults() = std::move(f);
  for (auto& e : faults_.ended()) *hb.add_ended() = std::move(e);
  return hb;
}

v1::AgentMessage CommandHandler::handle(const v1::ControllerMessage& message,
                                        v1::RevertReason revert_reason) {
  const uint64_t id = message.command_id();
  switch (message.msg_case()) {
    case v1::ControllerMessage::kApply: {
      const auto& apply = message.apply();
      auto r = faults_.apply(apply);
      if (!r) {
        log()->warn("command {}: refused: {}", id, r.error().describe());
        return ack(id, v1::ACK_REFUSED, apply.fault_id(), r.error().describe());
      }
      auto out = ack(id, *r, apply.fault_id());
      for (auto& f : faults_.active()) {
        if (f.fault_id() == apply.fault_id()) *out.mutable_ack()->mutable_counters() = f.counters();
      }
      return out;
    }
    case v1::ControllerMessage::kRevert: {
      const auto& fid = message.revert().fault_id();
      auto r = faults_.revert(fid, revert_reason);
      if (!r) return ack(id, v1::ACK_FAILED, fid, r.error().describe());
      if (!r->was_in_effect) return ack(id, v1::ACK_NOT_IN_EFFECT, fid, r->note);
      return ack(id, v1::ACK_APPLIED, fid);
    }
    case v1::ControllerMessage::kRevertAll: {
      log()->warn("command {}: revert all ({})", id, message.revert_all().reason());
      faults_.revert_all(revert_reason);
      if (!faults_.empty()) {
        return ack(id, v1::ACK_FAILED, "", "some faults could not be reverted; see events");
      }
      return ack(id, v1::ACK_APPLIED, "");
    }
    case v1::ControllerMessage::kLease: {
      auto grace = from_proto(message.lease().grace());
      if (grace <= std::chrono::nanoseconds::zero() || grace > std::chrono::minutes(10)) {
        return ack(id, v1::ACK_REFUSED, "",
                   fmt::format("lease grace {} is out of range (0, 10m]", format_duration(grace)));
      }
      if (on_lease_) on_lease_(grace);
      return ack(id, v1::ACK_APPLIED, "");
    }
    case v1::ControllerMessage::kStatus: {
      v1::AgentMessage out;
      *out.mutable_heartbeat() = heartbeat();
      return out;
    }
    default:
      log()->warn("command {}: unknown message kind {}", id, static_cast<int>(message.msg_case()));
      return ack(id, v1::ACK_REFUSED, "", "unknown command (empty message or a kind this agent does not know)");
  }
}

}  // namespace firedrill::agent
