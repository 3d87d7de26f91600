# Evidence from a real run (issue 7): a controller and agents in namespaces this test
# creates (fdv-*, 10.207.0.0/24), `firedrill run`, then the report verified and complete.
firedrill_test(evidence_e2e_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/evidence_e2e_test.cpp
               LIBS firedrill_controller_evidence firedrill_e2e_web_fleet LABELS e2e)
add_dependencies(evidence_e2e_test firedrill firedrill-agent)
