# The network classifier under BPF_PROG_TEST_RUN (root with CAP_BPF).
firedrill_test(net_classifier_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/net_classifier_test.cpp
               LIBS firedrill_agent_net LABELS bpf)
