// What a follower knows of who leads, for what it tells agents and operators: the
// lease as last read from the database (refreshed by the daemon's follower loop, so
// that a refused agent stream costs no query). A follower refuses agent streams and
// every call that changes state, naming the leader and the address agents reach it on.
#pragma once

#include <mutex>
#include <string>

#include "controller/store/leader_lease.h"

namespace firedrill::controller::leader {

class LeaderView {
 public:
  void seen(const LeaseHolder& held) {
    std::lock_guard lock(mu_);
    held_ = held;
  }
  // The live leader's agent address; "" when no controller leads now.
  std::string address() const {
    std::lock_guard lock(mu_);
    return held_.live ? held_.address : std::string();
  }
  // "X at ADDR"; "" when no controller leads now.
  std::string leader() const {
    std::lock_guard lock(mu_);
    return held_.live ? held_.holder + " at " + held_.address : std::string();
  }
  // "not the leader; the leader is X at ADDR" (or "...; no controller leads now").
  std::string refusal() const {
    std::lock_guard lock(mu_);
    if (!held_.live) return "not the leader; no controller leads now (the lease is free)";
    return "not the leader; the leader is " + held_.holder + " at " + held_.address;
  }

 private:
  mutable std::mutex mu_;
  LeaseHolder held_;
};

}  // namespace firedrill::controller::leader
