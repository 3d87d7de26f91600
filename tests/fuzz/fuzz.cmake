# Included from tests/unit/ctl.cmake when FIREDRILL_FUZZ is on (a clang build dir made
# by scripts/fuzz.sh).
add_executable(command_handler_fuzz ${CMAKE_CURRENT_LIST_DIR}/command_handler_fuzz.cpp)
target_link_libraries(command_handler_fuzz PRIVATE firedrill_agent_core)
target_include_directories(command_handler_fuzz PRIVATE ${PROJECT_SOURCE_DIR})
target_compile_options(command_handler_fuzz PRIVATE -fsanitize=fuzzer,address,undefined)
target_link_options(command_handler_fuzz PRIVATE -fsanitize=fuzzer,address,undefined)
