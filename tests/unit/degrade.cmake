# Degradation faults (issue 18): the value checks that controller and agent share.
firedrill_test(degrade_values_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/degrade_values_test.cpp
               LIBS firedrill_controller_experiment firedrill_common_proto LABELS unit)
# Connection faults without a kernel: rules for the hooks, the proxy's shape, refusals.
firedrill_test(sockfault_unit_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/sockfault_unit_test.cpp
               LIBS firedrill_agent_sockfault LABELS unit)
# DNS faults without a kernel: rules, answers (ldns), value checks, refusal, the proxy's DNS side.
firedrill_test(dns_unit_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/dns_unit_test.cpp
               LIBS firedrill_agent_sockfault PkgConfig::LDNS LABELS unit)
