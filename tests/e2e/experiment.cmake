# Experiments end to end (issue 5): `firedrill run` against a controller and agents in
# namespaces this test creates (fde-*), a real HTTP service and a real HAProxy.
firedrill_test(experiment_e2e_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/experiment_e2e_test.cpp LABELS e2e)
target_compile_definitions(experiment_e2e_test PRIVATE FDE_BUILD_DIR="${CMAKE_BINARY_DIR}")
add_dependencies(experiment_e2e_test firedrill firedrill-agent)
