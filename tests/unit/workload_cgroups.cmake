# ProcessSelector.workload_cgroups (pure logic).
firedrill_test(workload_cgroups_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/workload_cgroups_test.cpp
               LIBS firedrill_agent_proc LABELS unit)
