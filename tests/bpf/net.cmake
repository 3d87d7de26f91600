# The network classifier under BPF_PROG_TEST_RUN, and NetFaultEngine on veths in
# namespaces the test creates (root with CAP_BPF).
firedrill_test(net_classifier_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/net_classifier_test.cpp
               LIBS firedrill_agent_net LABELS bpf)
firedrill_test(net_engine_test
               SOURCES ${CMAKE_CURRENT_LIST_DIR}/net_engine_test.cpp ${PROJECT_SOURCE_DIR}/tests/integration/net_lab.cpp
               LIBS firedrill_agent_net firedrill_test_support LABELS bpf)
target_compile_definitions(net_engine_test PRIVATE FD_AGENT_BIN="$<TARGET_FILE:firedrill-agent>")
# Corruption, delay and duplicate marks (issue 18) under BPF_PROG_TEST_RUN.
firedrill_test(net_alter_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/net_alter_test.cpp
               LIBS firedrill_agent_net LABELS bpf)
