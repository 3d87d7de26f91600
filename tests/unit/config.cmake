# Configuration files of both daemons (--config, --print-config).
firedrill_test(config_file_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/config_file_test.cpp
               LIBS firedrill_agent_app firedrill_test_support LABELS unit)
target_compile_definitions(config_file_test PRIVATE FD_FIREDRILL_BIN="$<TARGET_FILE:firedrill>")
add_dependencies(config_file_test firedrill)
