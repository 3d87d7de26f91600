# The network engine end to end: firedrill-agent processes in namespaces the tests
# create, real TCP/UDP/ICMP (root).
firedrill_test(net_integration_test
               SOURCES ${CMAKE_CURRENT_LIST_DIR}/net_integration_test.cpp ${CMAKE_CURRENT_LIST_DIR}/net_lab.cpp
               LIBS firedrill_test_support PkgConfig::LIBBPF Threads::Threads LABELS integration)
target_compile_definitions(net_integration_test PRIVATE FD_AGENT_BIN="$<TARGET_FILE:firedrill-agent>")
add_dependencies(net_integration_test firedrill-agent)
# Corruption and duplication rates over 10,000 datagrams between namespaces (issue 18).
firedrill_test(net_alter_integration_test
               SOURCES ${CMAKE_CURRENT_LIST_DIR}/net_alter_integration_test.cpp ${CMAKE_CURRENT_LIST_DIR}/net_lab.cpp
               LIBS firedrill_test_support PkgConfig::LIBBPF Threads::Threads LABELS integration)
target_compile_definitions(net_alter_integration_test PRIVATE FD_AGENT_BIN="$<TARGET_FILE:firedrill-agent>")
add_dependencies(net_alter_integration_test firedrill-agent)
