# Resource pressure through the real agent binary, on cgroups and a tmpfs the test makes (root).
firedrill_test(resource_pressure_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/resource_pressure_test.cpp
               LIBS fdp_proc_lab firedrill_agent_resource LABELS integration)
