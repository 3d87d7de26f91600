// A controller that shares a PostgreSQL store with others and does not lead: a
// follower. It waits for the leader lease (controller/leader/elector.h) and, while it
// waits, serves what a follower can:
//   - the agent port, refusing every stream with "not the leader; the leader is X at
//     ADDR" and the leader's address for the agent to go to (common/leader_redirect.h);
//   - the API (socket and --api-listen): reads answered from the database (runs, show,
//     agents seen, findings, schedules...), every call that changes state refused,
//     naming the leader (controller/api/services.h, ApiContext::follower), but a halt
//     (recorded for the leader) and `web login` (a link any controller honours);
//   - the dashboard (--web-listen), naming the leader.
// It writes nothing of the leader's state (only what any controller of the store
// writes: its own registration, halt requests, the dashboard's login links), commands
// nobody and runs no scheduler (the run manager it reads through is never started).
// Once it leads, it stops both and the daemon starts the
// leader's on the same agent port and API socket.
#pragma once

#include <signal.h>

#include <memory>
#include <string>

#include "common/result.h"
#include "controller/auth/access.h"
#include "controller/daemon/api_server.h"
#include "controller/leader/elector.h"
#include "controller/session/agent_service.h"
#include "controller/session/fleet_config.h"
#include "controller/store/leader_lease.h"
#include "controller/store/store.h"
#include "controller/web/web_server.h"

namespace firedrill::controller {

struct FollowerConfig {
  std::string controller_id;
  std::string advertise;       // the address agents reach --listen on; "": derived (advertised_address)
  std::chrono::milliseconds lease_ttl{5000};
  FleetConfig fleet;
  std::string state_dir;
  ApiServerConfig api;
  web::WebConfig web;          // listen "": no dashboard
};

// The agent address a controller gives out in the lease: `given` when set, else the
// host of `listen` (this host's name for a wildcard) with the port bound.
std::string advertised_address(const std::string& listen, int port, const std::string& given);

// `listen` with its port replaced by `port` ("0.0.0.0:0", 7443 -> "0.0.0.0:7443").
std::string with_port(const std::string& listen, int port);

// Follows until this controller leads (returns the elector, leading; agents.listen now
// names the port the follower bound, for the leader's listener to take over) or a stop
// signal of `sigs` arrives (returns null). `previous` is the lease as last seen held by
// another (or by an earlier life of this one): whom this one takes over from, and
// when that one last renewed.
Result<std::unique_ptr<leader::Elector>> follow_until_leading(const FollowerConfig& config, Store& store,
                                                              LeaderLease& lease, AgentServerConfig& agents,
                                                              const auth::Access& access, sigset_t sigs,
                                                              LeaseHolder* previous = nullptr);

}  // namespace firedrill::controller
