// The dashboard's data, as JSON for its script (assets.h): what the pages show, read
// from the same fleet, run manager and store as the operators' API.
#pragma once

#include <string>

#include "common/result.h"
#include "controller/api/services.h"

namespace firedrill::controller::web {

// Filters of the Fleet page: a selector, and one rack ("dc/rack") to list host by host.
// Without a rack the answer is per data centre and rack only (counts), so a fleet of
// ten thousand hosts is a page of racks.
struct FleetQuery {
  std::string selector;
  std::string dc, rack;  // both set: that rack's hosts
};
Result<std::string> fleet_json(const ApiContext& ctx, const FleetQuery& q);

// Filters of the Runs page; empty: any.
struct RunsQuery {
  std::string phase;    // "done", "active", "waiting" (approval)
  std::string outcome;  // "passed", "failed", "aborted", ...: a RunOutcome's name, lower case, without prefix
  std::string text;     // a part of the id, the experiment's name or who started it
  size_t limit = 200;
};
Result<std::string> runs_json(ApiContext& ctx, const RunsQuery& q);
// One run (the proto's JSON, field names as in run.proto), with or without samples.
Result<std::string> run_json(ApiContext& ctx, const std::string& id, bool with_samples);
// The run's signed report checked against the controller's own evidence key (pinned).
Result<std::string> report_check_json(const ApiContext& ctx, const std::string& id);
Result<std::string> report_html(const ApiContext& ctx, const std::string& id);
Result<std::string> schedules_json(ApiContext& ctx);

// Findings (controller/evidence/findings.h), the latest revision of each: open, overdue
// (open past its due date, UTC) or closed; `state` empty: all. Worst severity first,
// then the soonest due.
struct FindingsQuery {
  std::string state;  // "", "open" (overdue ones too), "overdue", "closed"
};
Result<std::string> findings_json(const ApiContext& ctx, const FindingsQuery& q, WallTime now);

}  // namespace firedrill::controller::web
