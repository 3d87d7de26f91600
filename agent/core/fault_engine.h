// The one face of every fault engine (network, process, power loss). The agent's
// session, its journal and the tests all talk to engines through this, and nothing else.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/time.h"
#include "firedrill/v1/agent.pb.h"
#include "firedrill/v1/fault.pb.h"

namespace firedrill::agent {

class FaultEngine {
 public:
  virtual ~FaultEngine() = default;

  // "network", "process", "power_loss": used in logs and capability lists.
  virtual std::string_view name() const = 0;

  // Whether this engine is the one for the spec's kind.
  virtual bool handles(const v1::FaultSpec& spec) const = 0;

  // Refuses, changing nothing, what the spec asks that this host cannot do (a missing
  // kernel feature, named) or must not touch (outside the agent's selection, itself).
  virtual Result<void> check(const v1::FaultSpec& spec) const = 0;

  // Puts the fault in effect. Idempotent: an id already in effect with the same spec
  // succeeds and changes nothing; with another spec it is refused. On failure whatever
  // was done is undone.
  virtual Result<void> apply(const std::string& fault_id, const v1::FaultSpec& spec) = 0;

  // Lifts the fault. Idempotent: an id that is not in effect succeeds.
  virtual Result<void> revert(const std::string& fault_id) = 0;

  // What the fault did so far (packets dropped, processes killed).
  virtual v1::FaultCounters counters(const std::string& fault_id) const = 0;

  // Sets up ahead what apply will need (programs loaded and attached with nothing
  // selected, cgroups resolved), so that apply, at the instant, only flips switches.
  // Idempotent. Apply of the id uses what was prepared; revert drops it, also when the
  // fault was never applied. The default has nothing to set up.
  virtual Result<void> prepare(const std::string& fault_id, const v1::FaultSpec& spec) {
    (void)fault_id;
    (void)spec;
    return ok();
  }

  // How long before not_before the fault manager calls prepare, on a thread of its own,
  // for an engine whose preparation is slow and costs next to nothing while it waits
  // (a program loaded and attached selecting nothing): staging (apply_at) then finds it
  // done. Zero: prepare is left to apply_at. Staging and revert do not wait for that
  // prepare: apply_at may run while it does, and a fault reverted before it was applied
  // is reverted in its engine, which must drop what was prepared, also when the
  // preparation ends after the revert.
  virtual std::chrono::milliseconds prepare_ahead() const { return std::chrono::milliseconds(0); }

  // Staging: an engine that can set a fault up ahead and have it start at an instant
  // (by the kernel's clock, or an absolute timer) says how long ahead it wants it; the
  // fault manager then calls apply_at that long before not_before, and the fault takes
  // effect at `start`, not at a user-space wake-up. The default applies at once.
  virtual std::chrono::milliseconds stage_ahead() const { return std::chrono::milliseconds(0); }
  virtual Result<void> apply_at(const std::string& fault_id, const v1::FaultSpec& spec, WallTime start) {
    (void)start;
    return apply(fault_id, spec);
  }
  // When each part of the fault took effect, as this host saw it (empty: not known).
  virtual std::vector<v1::FaultEffect> effects(const std::string& fault_id) const {
    (void)fault_id;
    return {};
  }
};

// Whether two specs ask for the same fault (byte for byte, as the wire carries them).
inline bool same_spec(const v1::FaultSpec& a, const v1::FaultSpec& b) {
  return a.SerializeAsString() == b.SerializeAsString();
}

// apply()'s idempotence, one rule for every engine: none when `in_effect` is null (the
// fault is new: go on and apply it); ok() when the same spec is in effect; refused,
// naming the engine and the id, when another is.
inline std::optional<Result<void>> already_in_effect(std::string_view engine, const std::string& fault_id,
                                                     const v1::FaultSpec* in_effect, const v1::FaultSpec& asked) {
  if (!in_effect) return std::nullopt;
  if (same_spec(*in_effect, asked)) return ok();
  return Result<void>(make_error("{} fault {} is already in effect with a different spec", engine, fault_id));
}

}  // namespace firedrill::agent
