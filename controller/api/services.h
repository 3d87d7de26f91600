// The operators' API of `firedrill serve`: gRPC services on a Unix socket (its mode and
// group say who may connect). ControllerService (controller.proto), RunService
// (run.proto) and EvidenceService (evidence.proto) are this folder's; other areas add
// theirs in make_api_services() in services.cpp, built from the same context. Every
// handler first asks authorize() who the caller is (from the connection,
// controller/auth) and whether its roles allow the call.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/codegen/service_type.h>

#include "controller/auth/access.h"
#include "controller/enroll/enrollment.h"
#include "controller/leader/leader_view.h"
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
  const auth::Access& access;         // roles and approval policy
  const auth::PeerTable* unix_peers;  // the API socket's connections (SO_PEERCRED)
  evidence::ControllerEvidence* evidence = nullptr;  // null: the daemon could not open it
  Enrollment* enrollment = nullptr;                  // join tokens, revoked agents
  // Set on a follower (several controllers on one PostgreSQL store): who leads, as last
  // read from the database. A follower answers reads from the database, records a halt
  // there for the leader to act on (Store::request_halt), and refuses every other call
  // naming the leader ("not the leader; the leader is X at ADDR").
  const leader::LeaderView* follower = nullptr;
  std::string controller_id;  // this controller's name in the lease (a follower's halt names it)
};

// The caller of this call if its roles allow `action`; else the status to answer
// (UNAUTHENTICATED: not identified; PERMISSION_DENIED: the role it lacks;
// FAILED_PRECONDITION: a follower asked for anything but a read or a halt, naming the
// leader).
grpc::Status authorize(const ApiContext& context, const grpc::ServerContext* call, auth::Action action,
                       auth::Caller* caller = nullptr);
// The same but for the follower's refusal: for what a follower does as well as the
// leader (it writes nothing fenced: the dashboard's login links).
grpc::Status authorize_role(const ApiContext& context, const grpc::ServerContext* call, auth::Action action,
                            auth::Caller* caller = nullptr);

// Every service the API socket serves. Services own whatever threads they start and
// stop them in their destructors (called before the fleet and the store go away).
std::vector<std::unique_ptr<grpc::Service>> make_api_services(ApiContext& context);

std::unique_ptr<grpc::Service> make_controller_service(ApiContext& context);
std::unique_ptr<grpc::Service> make_run_service(ApiContext& context);
std::unique_ptr<grpc::Service> make_evidence_service(ApiContext& context);
std::unique_ptr<grpc::Service> make_enrollment_admin_service(ApiContext& context);

// The default API socket, overridden by FIREDRILL_API and --api.
std::string default_api_socket();

// This process's client certificate for a remote API (`--api https://HOST:PORT`):
// --tls-cert, --tls-key and --tls-ca, by default $FIREDRILL_API_CERT, _KEY and _CA.
// The caller is who the certificate names; nothing else the CLI sends says who it is.
struct ApiClientTls {
  std::string cert, key, ca;
};
ApiClientTls& api_client_tls();

// A channel to the daemon's API, for the CLI verbs of every area: a Unix socket's
// path, or https://HOST:PORT over mutual TLS with api_client_tls(). TLS files that
// cannot be read end the process with an error naming them (exit 2).
std::shared_ptr<grpc::Channel> api_channel(const std::string& api);

}  // namespace firedrill::controller
