// The controller's /metrics: the fleet, the runs in flight and the halt, read from the
// fleet and the store when a scrape comes.
#pragma once

#include "common/metrics/registry.h"
#include "controller/session/fleet.h"
#include "controller/store/store.h"

namespace firedrill::controller {

void register_controller_metrics(metrics::Registry& registry, const Fleet& fleet, Store& store);

}  // namespace firedrill::controller
