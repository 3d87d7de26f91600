// The operators' API of `firedrill serve`: gRPC services on a Unix socket (its mode and
// group say who may connect). ControllerService (controller.proto), RunService
// (run.proto) and EvidenceService (evidence.proto) are this folder's; other areas add theirs in make_api_services() in
// services.cpp, built from the same context. Every handler first asks authorize() who
// the caller is (from the connection, controller/auth) and whether its roles allow
// the call.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/codegen/service_type.h>

#include "controller/auth/access.h"
#include "controller/runner/run_manager.h"
#include "controller/runner/run_recorder.h"
#include "controller/session/fleet.h"
#include "controller/store/store.h"

namespace firedrill::controller {

// What `firedrill serve` (controller/daemon) hands every API service. References
// outlive the services.
struct ApiContext {
  Fleet& fleet;
  Store& store;
  runner::RunManager& runs;  // every run: experiments and ad hoc injects
  std::string state_dir;     // the controller's state directory (store, keys, reports)
  evidence::ControllerEvidence* evidence;  // null: the daemon could not open it
  const auth::Access& access;              // roles and approval policy
  const auth::PeerTable* unix_peers;       // the API socket's connections (SO_PEERCRED)
};

// The caller of this call if its roles allow `action`; else the status to answer
// (UNAUTHENTICATED: not identified; PERMISSION_DENIED: the role it lacks).
grpc::Status authorize(const ApiContext& context, const grpc::ServerContext* call, auth::Action action,
                       auth::Caller* caller = nullptr);

// Every service the API socket serves. Services own whatever threads they start and
// stop them in their destructors (called before the fleet and the store go away).
std::vector<std::unique_ptr<grpc::Service>> make_api_services(ApiContext& context);

std::unique_ptr<grpc::Service> make_controller_service(ApiContext& context);
std::unique_ptr<grpc::Service> make_run_service(ApiContext& context);
std::unique_ptr<grpc::Service> make_evidence_service(ApiContext& context);

// The default API socket, overridden by FIREDRILL_API and --api.
std::string default_api_socket();

// A channel to the daemon's API socket, for the CLI verbs of every area.
std::shared_ptr<grpc::Channel> api_channel(const std::string& socket_path);

// Who runs this command ("alice (uid 0)"), for messages only: the controller takes
// the caller's identity from the connection, never from this.
std::string requested_by();

}  // namespace firedrill::controller
