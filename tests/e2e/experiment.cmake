# Experiments end to end (issue 5): `firedrill run` against a controller and agents in
# namespaces this test creates (fde-*), a real HTTP service and a real HAProxy.
firedrill_test(experiment_e2e_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/experiment_e2e_test.cpp
               LIBS firedrill_e2e_web_fleet LABELS e2e)
add_dependencies(experiment_e2e_test firedrill firedrill-agent)
