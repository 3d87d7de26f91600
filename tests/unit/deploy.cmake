# deploy/: the systemd units verified offline with their exposure bounded.
add_test(NAME systemd_units_check COMMAND ${PROJECT_SOURCE_DIR}/deploy/systemd/check-units.sh ${CMAKE_BINARY_DIR})
set_tests_properties(systemd_units_check PROPERTIES LABELS unit TIMEOUT 120)
# deploy/k8s: parsed and cross-checked offline, its config files loaded by the binaries.
add_test(NAME k8s_manifests_check COMMAND python3 ${PROJECT_SOURCE_DIR}/deploy/k8s/check-manifests.py ${CMAKE_BINARY_DIR})
set_tests_properties(k8s_manifests_check PROPERTIES LABELS unit TIMEOUT 60)
