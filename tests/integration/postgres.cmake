# The PostgreSQL store and the leader lease, each test on a private PostgreSQL server
# (tests/support/postgres.h) that it starts and removes.
firedrill_test(store_postgres_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/store_postgres_test.cpp
               LIBS firedrill_controller_store firedrill_test_postgres LABELS integration)
firedrill_test(leader_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/leader_test.cpp
               LIBS firedrill_controller_leader firedrill_test_postgres LABELS integration)
target_compile_definitions(leader_test PRIVATE FD_FIREDRILL_BIN="$<TARGET_FILE:firedrill>")
add_dependencies(leader_test firedrill)
firedrill_test(serve_postgres_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/serve_postgres_test.cpp
               LIBS firedrill_test_postgres fdp_proc_lab firedrill_common_tls LABELS integration)
target_compile_definitions(serve_postgres_test PRIVATE FD_FIREDRILL_BIN="$<TARGET_FILE:firedrill>"
                           FD_EXPERIMENTS="${PROJECT_SOURCE_DIR}/experiments")
add_dependencies(serve_postgres_test firedrill)
