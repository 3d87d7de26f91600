# Process faults, power loss, journal: pure logic (the privileged suite is
# tests/integration/proc.cmake).
firedrill_test(proc_unit_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/proc_unit_test.cpp
               LIBS firedrill_agent_power firedrill_agent_proc firedrill_agent_journal LABELS unit)
