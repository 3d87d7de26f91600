# Experiments (issue 5): probes against real local servers and commands (loopback
# ports 17500-17599).
firedrill_test(probes_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/probes_test.cpp
               LIBS firedrill_controller_probes firedrill_controller_experiment LABELS integration)
