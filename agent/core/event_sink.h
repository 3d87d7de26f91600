#pragma once

#include "firedrill/v1/agent.pb.h"

namespace firedrill::agent {

// Where an agent's events go: the controller session, the local socket's log, tests.
class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual void emit(const v1::Event& event) = 0;
};

}  // namespace firedrill::agent
