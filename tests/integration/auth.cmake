# Identities and roles on the API socket (issue 13): the real daemon and CLI, run as
# other uids (root).
firedrill_test(api_access_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/api_access_test.cpp
               LIBS firedrill_test_support firedrill_common LABELS integration)
target_compile_definitions(api_access_test PRIVATE FDC_FIREDRILL_BIN="$<TARGET_FILE:firedrill>")
add_dependencies(api_access_test firedrill)

# Remote callers over mutual TLS (`serve --api-listen`): client certificates to roles.
firedrill_test(api_tls_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/api_tls_test.cpp
               LIBS firedrill_test_support firedrill_common firedrill_proto LABELS integration)
target_compile_definitions(api_tls_test PRIVATE FDC_FIREDRILL_BIN="$<TARGET_FILE:firedrill>")
add_dependencies(api_tls_test firedrill)
