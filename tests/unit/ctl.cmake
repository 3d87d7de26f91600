# The controller's pure logic: selectors, target modes, the blast-radius guard, the store.
firedrill_test(targeting_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/targeting_test.cpp
               LIBS firedrill_controller_targeting LABELS unit)
firedrill_test(guard_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/guard_test.cpp
               LIBS firedrill_controller_guard LABELS unit)
firedrill_test(store_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/store_test.cpp
               LIBS firedrill_controller_store firedrill_controller_sqlite LABELS unit)
firedrill_test(fleet_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/fleet_test.cpp
               LIBS firedrill_controller_session firedrill_controller_runner LABELS unit)

# The libFuzzer targets (tests/fuzz) live in a clang build dir of their own, made and
# run by scripts/fuzz.sh (CI runs it after scripts/test.sh): not in this build's ctest.
if(FIREDRILL_FUZZ)
  include(${CMAKE_CURRENT_LIST_DIR}/../fuzz/fuzz.cmake)
endif()
firedrill_test(fleet_parts_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/fleet_parts_test.cpp
               LIBS firedrill_controller_session firedrill_controller_runner LABELS unit)
