# DNS faults end to end: the agent's hooks and proxy in front of dnsmasq, a real
# resolver in a namespace of the test; getent (glibc, connected UDP) and drill (ldns)
# inside and outside the selected cgroup (root).
firedrill_test(dns_fault_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/dns_fault_test.cpp LIBS fdp_proc_lab LABELS integration)
