# The controller's pure logic: selectors, target modes, the blast-radius guard, the store.
firedrill_test(targeting_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/targeting_test.cpp
               LIBS firedrill_controller_targeting LABELS unit)
firedrill_test(guard_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/guard_test.cpp
               LIBS firedrill_controller_guard LABELS unit)
firedrill_test(store_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/store_test.cpp
               LIBS firedrill_controller_store firedrill_controller_sqlite LABELS unit)
firedrill_test(fleet_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/fleet_test.cpp
               LIBS firedrill_controller_session firedrill_controller_runner LABELS unit)

# libFuzzer over the agent's command handling. The fuzzer is built with clang in its
# own build dir (scripts/fuzz.sh); this build runs it for 20 s as a test.
if(FIREDRILL_FUZZ)
  include(${CMAKE_CURRENT_LIST_DIR}/../fuzz/fuzz.cmake)
else()
  add_test(NAME command_handler_fuzz COMMAND ${PROJECT_SOURCE_DIR}/scripts/fuzz.sh 20
           WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
  set_tests_properties(command_handler_fuzz PROPERTIES LABELS fuzz TIMEOUT 1200)
endif()
firedrill_test(fleet_parts_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/fleet_parts_test.cpp
               LIBS firedrill_controller_session firedrill_controller_runner LABELS unit)
