# Connection faults end to end: the agent's hooks and proxy against redis-server, an
# HTTP server and iperf3 in a namespace of the test; curl, redis-cli, iperf3 and a tiny
# Python client inside and outside the selected cgroup (root).
firedrill_test(conn_fault_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/conn_fault_test.cpp
               LIBS fdp_proc_lab nlohmann_json::nlohmann_json LABELS integration)
target_compile_definitions(conn_fault_test PRIVATE FD_CONN_CLIENT="${CMAKE_CURRENT_LIST_DIR}/conn_client.py")
