// A network fault in text format, compiled to the classifier's rules as the agent
// compiles it; a bad text or a refused fault fails the calling test.
#pragma once

#include <string>

#include <gtest/gtest.h>
#include <google/protobuf/text_format.h>

#include "agent/net/dataplane.h"

namespace firedrill::agent::net {

inline CompiledFault compile(const std::string& text) {
  v1::NetworkFault f;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &f)) << text;
  auto c = compile_network_fault(f);
  EXPECT_TRUE(c) << text << ": " << c.error().describe();
  return c ? *c : CompiledFault{};
}

}  // namespace firedrill::agent::net
