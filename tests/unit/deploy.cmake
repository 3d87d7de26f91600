# deploy/: the systemd units verified offline with their exposure bounded.
add_test(NAME systemd_units_check COMMAND ${PROJECT_SOURCE_DIR}/deploy/systemd/check-units.sh ${CMAKE_BINARY_DIR})
set_tests_properties(systemd_units_check PROPERTIES LABELS unit TIMEOUT 120)
