#include "common/fault_kind.h"

namespace firedrill {

std::string fault_kind(const v1::FaultSpec& spec) {
  switch (spec.kind_case()) {
    case v1::FaultSpec::kNetwork:
      switch (spec.network().kind_case()) {
        case v1::NetworkFault::kDrop: return "network.drop";
        case v1::NetworkFault::kBlackhole: return "network.blackhole";
        case v1::NetworkFault::kPartition: return "network.partition";
        case v1::NetworkFault::kCorrupt: return "network.corrupt";
        case v1::NetworkFault::kDuplicate: return "network.duplicate";
        case v1::NetworkFault::kDelay: return "network.delay";
        default: return "network.unknown";
      }
    case v1::FaultSpec::kProcess:
      switch (spec.process().kind_case()) {
        case v1::ProcessFault::kKill: return "process.kill";
        case v1::ProcessFault::kKeepDown: return "process.keep_down";
        case v1::ProcessFault::kFreeze: return "process.freeze";
        default: return "process.unknown";
      }
    case v1::FaultSpec::kPowerLoss: return "power_loss";
    case v1::FaultSpec::kResource:
      switch (spec.resource().kind_case()) {
        case v1::ResourcePressure::kCpu: return "resource.cpu";
        case v1::ResourcePressure::kMemory: return "resource.memory";
        case v1::ResourcePressure::kDiskFill: return "resource.disk_fill";
        case v1::ResourcePressure::kIo: return "resource.io";
        default: return "resource.unknown";
      }
    case v1::FaultSpec::kConnection: return "connection";
    case v1::FaultSpec::kDns: return "dns";
    default: return "unknown";
  }
}

}  // namespace firedrill
