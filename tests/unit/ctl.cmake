# The controller's pure logic: selectors, target modes, the blast-radius guard, the store.
firedrill_test(targeting_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/targeting_test.cpp
               LIBS firedrill_controller_targeting LABELS unit)
firedrill_test(guard_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/guard_test.cpp
               LIBS firedrill_controller_guard LABELS unit)
firedrill_test(store_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/store_test.cpp
               LIBS firedrill_controller_store LABELS unit)
firedrill_test(fleet_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/fleet_test.cpp
               LIBS firedrill_controller_session LABELS unit)
