# The agent's stream to the controller against an in-process controller on loopback.
firedrill_test(agent_lease_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/agent_lease_test.cpp
               LIBS firedrill_agent_session LABELS unit)
