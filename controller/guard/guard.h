// The blast-radius guard: the rules a run must satisfy before it starts and again
// before each step. Pure logic over the live fleet, the chosen targets, the run's
// declared blast radius and the controller's own policy, so every rule is a table test.
//
// Rules, each named in a refusal with its limit and the hosts that broke it:
//   halted             the fleet is halted; nothing runs until `firedrill release`
//   live_targets       every target is a live agent
//   max_hosts          at most N targets
//   max_percent        at most P% of the live fleet
//   max_domains        targets span at most N values of a tag key ("at most 1 dc")
//   protected          hosts a protected selector matches (the run's or the
//                      controller's) are never targeted
//   keep_untouched     at least N values of a key keep every host untouched
//   fleet_budget       hosts under fault by all concurrent runs together stay within
//                      the controller's budget (hosts and percent of the fleet)
//   controller_domain  no target shares the controller's own failure domain (a tag
//                      key=value) unless a peer controller lives in another value of it
#pragma once

#include <array>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <functional>
#include <map>

#include "common/result.h"
#include "controller/targeting/selector.h"
#include "controller/targeting/targets.h"
#include "firedrill/v1/targeting.pb.h"

namespace firedrill::controller {

// The controller's own rules, added to every run's blast radius.
struct GuardPolicy {
  std::vector<std::string> protected_selectors;
  uint32_t budget_hosts = 0;    // 0: no budget in hosts
  double budget_percent = 0;    // 0: no budget in percent of the live fleet
  // Where the controller itself lives ("dc" -> "chuncheon", "host" -> "mgmt-1").
  std::vector<std::pair<std::string, std::string>> controller_domain;
  // The failure domains of the other live controllers, as the store's controllers
  // registry says now (the daemon's ControllerRegistry; none: no peer). A live peer in
  // another value of a key lifts the controller_domain rule for that key: a fault on
  // dc=pangyo is allowed when a controller lives outside pangyo.
  std::function<std::vector<std::map<std::string, std::string>>()> live_peers;

  // Checks the selectors parse, so a bad policy fails at start, not at the first run.
  Result<void> validate() const;
};

struct GuardInput {
  std::vector<Host> fleet;           // live agents
  std::vector<std::string> targets;  // the hosts this run (step) would touch
  v1::BlastRadius radius;
  std::set<std::string> busy;        // hosts under fault by other runs right now
  bool halted = false;
  std::string halted_reason;
};

v1::GuardVerdict check_guard(const GuardPolicy& policy, const GuardInput& input);

// Every rule a verdict can name (GuardViolation.rule).
inline constexpr std::array<const char*, 9> kGuardRules{"halted",         "live_targets", "max_hosts",
                                                        "max_percent",    "max_domains",  "protected",
                                                        "keep_untouched", "fleet_budget", "controller_domain"};

// "guard refused: max_hosts (limit 3 hosts): 5 targets h1, h2, ...; ..." for logs and
// errors.
std::string describe(const v1::GuardVerdict& verdict);

}  // namespace firedrill::controller
