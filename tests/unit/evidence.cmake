firedrill_test(evidence_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/evidence_test.cpp
               LIBS firedrill_controller_evidence LABELS unit)
# The synthetic run as a tool: scripts/report-screenshot.sh uses it when given no report.
add_executable(evidence_sample ${CMAKE_CURRENT_LIST_DIR}/evidence_sample.cpp)
target_link_libraries(evidence_sample PRIVATE firedrill_controller_evidence)
target_include_directories(evidence_sample PRIVATE ${PROJECT_SOURCE_DIR})
# The runner's state machine writing evidence through RunRecorder.
firedrill_test(evidence_runner_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/evidence_runner_test.cpp
               LIBS firedrill_controller_runner LABELS unit)
firedrill_test(report_slo_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/report_slo_test.cpp
               LIBS firedrill_controller_evidence LABELS unit)
# The report's fidelity section says only what the agents reported.
firedrill_test(report_fidelity_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/report_fidelity_test.cpp
               LIBS firedrill_controller_evidence LABELS unit)
