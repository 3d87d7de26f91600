#include "controller/session/admission.h"

#include <nlohmann/json.hpp>

#include "common/log.h"

namespace firedrill::controller {
namespace {

auto log() {
  static auto l = logger("controller.fleet");
  return l;
}

}  // namespace

Admission::Admission(GuardPolicy policy, const Inventory& inventory, Store* store)
    : policy_(std::move(policy)), inventory_(inventory), store_(store) {
  if (!store_) return;
  auto saved = store_->setting("halt");
  if (!saved) {
    log()->error("reading the halt state: {}", saved.error().describe());
    return;
  }
  if (!saved->has_value()) return;
  auto j = nlohmann::json::parse(**saved, nullptr, false);
  if (j.is_object() && j.value("halted", false)) {
    halt_.halted = true;
    halt_.reason = j.value("reason", "");
    halt_.by = j.value("by", "");
    halt_.at = WallTime(std::chrono::duration_cast<WallClock::duration>(
        std::chrono::microseconds(j.value("at_us", int64_t{0}))));
    log()->warn("the fleet is HALTED since {} ({}, by {}): runs are refused until `firedrill release`",
                format_utc(halt_.at), halt_.reason, halt_.by);
  }
}

GuardInput Admission::guard_input(const std::string& run_id, const std::vector<std::string>& hosts,
                                  const v1::BlastRadius& radius) const {
  GuardInput in;
  in.fleet = inventory_.live_hosts();
  in.targets = hosts;
  in.radius = radius;
  for (auto& [id, busy] : runs_) {
    if (id != run_id) in.busy.insert(busy.begin(), busy.end());
  }
  in.halted = halt_.halted;
  in.halted_reason = halt_.reason;
  return in;
}

v1::GuardVerdict Admission::check(const std::string& run_id, const std::vector<std::string>& hosts,
                                  const v1::BlastRadius& radius) const {
  std::lock_guard lock(mu_);
  return check_guard(policy_, guard_input(run_id, hosts, radius));
}

v1::GuardVerdict Admission::admit(const std::string& run_id, const std::vector<std::string>& hosts,
                                  const v1::BlastRadius& radius) {
  std::lock_guard lock(mu_);
  auto verdict = check_guard(policy_, guard_input(run_id, hosts, radius));
  if (verdict.allowed()) runs_[run_id] = std::set<std::string>(hosts.begin(), hosts.end());
  return verdict;
}

void Admission::set_run_hosts(const std::string& run_id, const std::vector<std::string>& hosts) {
  std::lock_guard lock(mu_);
  runs_[run_id] = std::set<std::string>(hosts.begin(), hosts.end());
}

void Admission::end_run(const std::string& run_id) {
  std::lock_guard lock(mu_);
  runs_.erase(run_id);
}

std::vector<std::string> Admission::active_runs() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (auto& [id, h] : runs_) out.push_back(id);
  return out;
}

bool Admission::in_flight(const std::string& run_id) const {
  std::lock_guard lock(mu_);
  return runs_.count(run_id) > 0;
}

std::shared_lock<std::shared_mutex> Admission::open_for(const std::string& run_id, std::string* refusal) {
  std::shared_lock gate(gate_);
  std::lock_guard lock(mu_);
  if (halt_.halted) {
    *refusal = fmt::format("the fleet is halted ({})", halt_.reason);
  } else if (!runs_.count(run_id)) {
    *refusal = fmt::format("run {} is not admitted (admit() it first; a halt aborts every run)", run_id);
  }
  return gate;
}

HaltState Admission::halt(const std::string& reason, const std::string& by, std::vector<std::string>* aborted) {
  std::unique_lock gate(gate_);
  std::lock_guard lock(mu_);
  halt_ = {true, reason, by, WallClock::now()};
  for (auto& [id, h] : runs_) aborted->push_back(id);
  runs_.clear();
  return halt_;
}

bool Admission::release() {
  std::lock_guard lock(mu_);
  bool was = halt_.halted;
  halt_ = {};
  return was;
}

HaltState Admission::halt_state() const {
  std::lock_guard lock(mu_);
  return halt_;
}

bool Admission::halted() const {
  std::lock_guard lock(mu_);
  return halt_.halted;
}

Result<void> Admission::persist_halt(bool durable) const {
  if (!store_) return ok();
  HaltState h = halt_state();
  nlohmann::json j = {{"halted", h.halted}, {"reason", h.reason}, {"by", h.by},
                      {"at_us", std::chrono::duration_cast<std::chrono::microseconds>(h.at.time_since_epoch()).count()}};
  auto r = store_->set_setting("halt", j.dump(), durable);
  if (!r) {
    log()->error("saving the halt state: {}", r.error().describe());
    return r.error().context("saving the halt state");
  }
  return ok();
}

}  // namespace firedrill::controller
