#include "controller/runner/target_command.h"

#include <chrono>
#include <sstream>

#include <fmt/format.h>

#include "controller/experiment/limits.h"
#include "controller/probes/probe.h"
#include "controller/targeting/selector.h"

namespace firedrill::runner {

namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    auto a = line.find_first_not_of(" \t\r");
    if (a == std::string::npos) continue;
    auto b = line.find_last_not_of(" \t\r");
    out.push_back(line.substr(a, b - a + 1));
  }
  return out;
}

// At most 200 characters of what it printed, for an error message.
std::string excerpt(const std::string& text) {
  std::string s = text.size() > 200 ? text.substr(0, 200) + "..." : text;
  for (auto& c : s) {
    if (c == '\n') c = ' ';
    else if (static_cast<unsigned char>(c) < 0x20) c = '?';
  }
  return s;
}

// What its output chooses, or why it chooses nothing.
Result<v1::Targets> choose(const v1::Targets& declared, const std::string& out, FleetDriver& fleet) {
  auto lines = lines_of(out);
  if (lines.empty()) return make_error("it printed nothing (expected host ids, one a line, or one selector)");
  v1::Targets hosts = declared;
  hosts.clear_from_command();
  hosts.clear_from_command_timeout();
  hosts.clear_selector();
  for (const auto& l : lines) hosts.add_hosts(l);
  // Whether they are hosts is asked without the mode: count(5) of 3 ids is the
  // mode's error, found when preflight resolves them.
  v1::Targets every = hosts;
  every.clear_mode();
  auto as_hosts = fleet.resolve(every);
  if (as_hosts) return hosts;
  if (lines.size() > 1) {
    return make_error("its {} lines are not host ids of live agents ({}): \"{}\"", lines.size(),
                      as_hosts.error().message, excerpt(out));
  }
  auto sel = controller::Selector::parse(lines[0]);
  if (!sel) {
    return make_error("its output is neither a live agent's id ({}) nor a selector ({}): \"{}\"",
                      as_hosts.error().message, sel.error().message, excerpt(out));
  }
  v1::Targets by_selector = declared;
  by_selector.clear_from_command();
  by_selector.clear_from_command_timeout();
  by_selector.clear_hosts();
  by_selector.set_selector(lines[0]);
  return by_selector;
}

}  // namespace

std::string targets_words(const v1::Targets& t) {
  if (!t.from_command().empty()) return "from_command " + t.from_command();
  if (t.hosts_size() > 0) return fmt::format("hosts {}", fmt::join(t.hosts(), ","));
  return "selector " + t.selector();
}

Result<v1::Targets> targets_from_command(const v1::Targets& declared, const std::string& field, FleetDriver& fleet,
                                         WallTime now, v1::TargetCommandRecord* record) {
  record->set_field(field);
  record->set_command(declared.from_command());
  *record->mutable_started_at() = to_proto(now);
  auto timeout = declared.has_from_command_timeout() ? from_proto(declared.from_command_timeout())
                                                     : std::chrono::nanoseconds(experiment::kDefaultTargetCommandTimeout);
  auto t0 = std::chrono::steady_clock::now();
  auto r = probes::run_command({"/bin/sh", "-c", declared.from_command()}, {}, timeout, experiment::kMaxTargetCommandOutput);
  *record->mutable_took() = to_proto_duration(std::chrono::steady_clock::now() - t0);
  record->set_status(r.timed_out ? fmt::format("timed out after {}", format_duration(timeout)) : r.describe());
  record->set_out(r.out);
  record->set_err(r.err);
  auto fail = [&](const std::string& why) -> Result<v1::Targets> {
    record->set_error(why);
    return make_error("{}.from_command \"{}\": {}", field, declared.from_command(), why);
  };
  if (r.status() != 0) return fail(fmt::format("the command did not succeed: {}", record->status()));
  if (r.truncated) return fail(fmt::format("it printed more than {} bytes", experiment::kMaxTargetCommandOutput));
  auto chosen = choose(declared, r.out, fleet);
  if (!chosen) return fail(chosen.error().message);
  for (const auto& h : chosen->hosts()) record->add_hosts(h);
  record->set_selector(chosen->selector());
  return chosen;
}

}  // namespace firedrill::runner
