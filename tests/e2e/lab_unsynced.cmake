# A power loss with and without lose_unsynced against Redis's appendfsync, on the lab.
firedrill_test(lab_unsynced_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/lab_unsynced_test.cpp
               LIBS firedrill_e2e_lab_drill nlohmann_json::nlohmann_json LABELS e2e)
add_dependencies(lab_unsynced_test firedrill-agent firedrill)
