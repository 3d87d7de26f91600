# The network engine's pure logic (no kernel): CIDRs, rule compiler, prefix index.
firedrill_test(net_rules_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/net_rules_test.cpp
               LIBS firedrill_agent_net LABELS unit)
