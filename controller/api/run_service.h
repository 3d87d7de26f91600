// RunService (run.proto) on the daemon's API socket: experiment runs and schedules,
// over the daemon's Fleet and Store. Registered in services.cpp.
#pragma once

#include <memory>

#include <grpcpp/grpcpp.h>

#include "controller/api/services.h"
#include "controller/runner/run.h"
#include "controller/store/store.h"

namespace firedrill::runner {

std::unique_ptr<grpc::Service> make_run_service(controller::ApiContext& context);

// Mirrors experiment runs into the controller's store (runs table and per-target
// rows), so `firedrill runs` lists them with the ad hoc ones and a restarted
// controller finds them in flight. A run enters the table when it leaves
// pending_approval: a run waiting for approval survives a restart.
class StoreMirror : public RunObserver {
 public:
  explicit StoreMirror(controller::Store& store) : store_(store) {}
  void on_phase(const v1::RunRecord& run, const std::string& detail) override;
  void on_fault(const v1::RunRecord& run, const v1::FaultRecord& fault, bool reverted) override;
  void on_verdict(const v1::RunRecord& run) override;

 private:
  void ensure(const v1::RunRecord& run);
  controller::Store& store_;
  bool created_ = false;
};

}  // namespace firedrill::runner
