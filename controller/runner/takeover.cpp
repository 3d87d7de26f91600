#include "controller/runner/takeover.h"

#include <google/protobuf/util/message_differencer.h>

#include <fmt/format.h>

namespace firedrill::runner {

void Readoption::expect(const std::string& run_id, const v1::FaultRecord& fault, const v1::FaultSpec& spec) {
  std::lock_guard lock(mu_);
  expected_[{fault.fault_id(), fault.agent_id()}] = Expected{run_id, spec};
}

bool Readoption::adopt(const v1::Hello& hello, const v1::ActiveFault& fault) {
  std::lock_guard lock(mu_);
  auto it = expected_.find({fault.fault_id(), hello.agent_id()});
  if (it == expected_.end()) return false;  // not this run's fault on this host
  Expected& e = it->second;
  // Equals, not Equivalent: the kind is an empty message as often as not (blackhole,
  // power_loss), and Equivalent takes an empty message for an unset one. The agent
  // keeps the spec as it was sent (and journals it so), so the two compare equal.
  if (!google::protobuf::util::MessageDifferencer::Equals(e.spec, fault.spec())) {
    e.status = Expected::kMissing;
    e.why = "the agent holds another spec under this fault id (reverted)";
    return false;
  }
  if (e.status == Expected::kWaiting) e.status = Expected::kAdopted;
  return e.status == Expected::kAdopted;
}

void Readoption::seen(const v1::Hello& hello) {
  std::lock_guard lock(mu_);
  for (auto& [key, e] : expected_) {
    if (key.second != hello.agent_id() || e.status != Expected::kWaiting) continue;
    // Adopted faults were marked by adopt() before this; what is still waiting is gone.
    e.status = Expected::kMissing;
    e.why = "the agent no longer holds it";
    for (const auto& r : hello.reverted_while_away()) {
      if (r.fault_id() == key.first) e.why = fmt::format("the agent reverted it while away ({})", v1::RevertReason_Name(r.reason()));
    }
  }
}

Readoption::State Readoption::state(const std::string& run_id) const {
  std::lock_guard lock(mu_);
  State out;
  for (const auto& [key, e] : expected_) {
    if (e.run_id != run_id) continue;
    switch (e.status) {
      case Expected::kWaiting: out.waiting.push_back(key.first + " on " + key.second); break;
      case Expected::kAdopted: out.adopted.push_back(key.second); break;
      case Expected::kMissing: out.missing.push_back(key.first + " on " + key.second + ": " + e.why); break;
    }
  }
  return out;
}

}  // namespace firedrill::runner
