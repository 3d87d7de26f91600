firedrill_test(common_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/common_test.cpp LIBS firedrill_common firedrill_common_cli LABELS unit)
firedrill_test(agent_core_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/agent_core_test.cpp
               LIBS firedrill_agent_core firedrill_agent_local LABELS unit)
firedrill_test(agent_options_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/agent_options_test.cpp
               LIBS firedrill_agent_app LABELS unit)
firedrill_test(spawn_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/spawn_test.cpp LIBS firedrill_common LABELS unit)
