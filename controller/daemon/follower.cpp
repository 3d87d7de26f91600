#include "controller/daemon/follower.h"

#include <unistd.h>

#include "common/log.h"
#include "controller/leader/leader_view.h"
#include "controller/runner/clock.h"
#include "controller/runner/fleet_adapter.h"
#include "controller/runner/run_ids.h"
#include "controller/runner/run_manager.h"
#include "controller/runner/run_recorder.h"

namespace firedrill::controller {
namespace {

auto log() {
  static auto l = logger("controller");
  return l;
}

}  // namespace

std::string advertised_address(const std::string& listen, int port, const std::string& given) {
  if (!given.empty()) return given;
  auto colon = listen.rfind(':');
  std::string host = colon == std::string::npos ? listen : listen.substr(0, colon);
  if (host.empty() || host == "0.0.0.0" || host == "[::]" || host == "::") {
    char name[256] = {};
    ::gethostname(name, sizeof name - 1);
    host = name;
  }
  return fmt::format("{}:{}", host, port);
}

std::string with_port(const std::string& listen, int port) {
  auto colon = listen.rfind(':');
  return fmt::format("{}:{}", colon == std::string::npos ? listen : listen.substr(0, colon), port);
}

Result<std::unique_ptr<leader::Elector>> follow_until_leading(const FollowerConfig& config, Store& store,
                                                              LeaderLease& lease, AgentServerConfig& agents,
                                                              const auth::Access& access, sigset_t sigs,
                                                              LeaseHolder* previous) {
  leader::LeaderView view;
  std::unique_ptr<leader::Elector> elector;
  auto refresh = [&] {
    auto held = lease.current();
    if (held) view.seen(*held);
    bool ours = elector && elector->wait_leading(std::chrono::milliseconds(0));
    if (held && previous && !held->holder.empty() && !ours) *previous = *held;
    return held;
  };
  FollowerAgentServer agent_server([&view] { return AgentRefusal{view.refusal(), view.address()}; });
  FD_TRY(agent_server.start(agents), "follower");
  // The leader's listener binds the port the follower had (a listen port 0 is chosen once).
  agents.listen = with_port(agents.listen, agent_server.port());
  std::string address = advertised_address(agents.listen, agent_server.port(), config.advertise);
  elector = std::make_unique<leader::Elector>(lease, leader::ElectorConfig{config.controller_id, address,
                                                                                config.lease_ttl});
  refresh();
  elector->start();

  // Reads through the same services as the leader's, over a fleet with no agent and a
  // run manager that is never started (no recovery, no scheduler, nothing written).
  Fleet fleet(config.fleet, &store, runner::run_of_fault);
  runner::SystemClock clock;
  runner::FleetAdapter fleet_driver(fleet);
  runner::RunManagerConfig run_config;
  run_config.store = &store;
  runner::RunManager runs(run_config, &clock, &fleet_driver);
  // Reports, findings and keys are read with this controller's own evidence key (its
  // file in the state directory; nothing is written to the store until it leads).
  auto evidence = evidence::ControllerEvidence::open(config.state_dir, store);
  if (!evidence) log()->error("evidence unavailable: {}", evidence.error().describe());
  ApiServer api_server;
  FD_TRY(api_server.bind(config.api), "follower");
  ApiContext context{.fleet = fleet,
                     .store = store,
                     .runs = runs,
                     .state_dir = config.state_dir,
                     .access = access,
                     .unix_peers = api_server.peers(),
                     .evidence = evidence ? evidence->get() : nullptr,
                     .follower = &view,
                     .controller_id = config.controller_id};
  // The dashboard names the leader; a halt from it is recorded for the leader.
  web::Feed feed;
  web::WebServer web_server(context, feed);
  if (!config.web.listen.empty()) FD_TRY(web_server.start(config.web), "follower");
  // Login links (`firedrill web login`) are made here as at the leader: the store keeps
  // them for every controller.
  api_server.add_service(web::make_web_service(context, config.web.listen.empty() ? nullptr : &web_server));
  FD_TRY(api_server.start(context), "follower");
  log()->info("controller {} (agents reach it at {}): a follower until it holds the leader lease; agents on {} "
              "are refused with the leader's address, the API on {} answers reads",
              config.controller_id, address, agents.listen, config.api.socket);

  // Waits on the elector, so that the leader's fleet is built the moment the lease is
  // ours (agents are retrying meanwhile; a poll every 200 ms added up to 200 ms to the
  // takeover), and looks for a signal between waits.
  timespec no_wait{0, 0};
  std::string leader_seen;
  for (int i = 0; !elector->wait_leading(std::chrono::milliseconds(50)); ++i) {
    if (int s = sigtimedwait(&sigs, nullptr, &no_wait); s > 0) {
      log()->info("signal {} while a follower: stopping", strsignal(s));
      elector->stop(true);
      return std::unique_ptr<leader::Elector>();
    }
    // Who leads, every second: what refused agents and callers are told.
    if (i % 20 != 0) continue;
    auto held = refresh();
    std::string now = !held ? held.error().describe()
                      : held->live ? fmt::format("the leader is {} at {} (epoch {})", held->holder, held->address,
                                                 held->epoch)
                                   : std::string("the lease is free");
    if (now != leader_seen) log()->info("follower: {}", now);
    leader_seen = now;
  }
  web_server.stop();
  api_server.stop();
  agent_server.stop();
  return elector;
}

}  // namespace firedrill::controller
