// The name of a fault's kind as agents and the controller both say it, in logs and
// in an agent's Hello ("network.blackhole", "process.kill", "power_loss"): one place,
// so that the two ends never disagree about what a kind is called.
#pragma once

#include <string>

#include "firedrill/v1/fault.pb.h"

namespace firedrill {

std::string fault_kind(const v1::FaultSpec& spec);

}  // namespace firedrill
