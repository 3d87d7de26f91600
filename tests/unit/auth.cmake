# Identities, roles and approval policy (controller/auth).
firedrill_test(auth_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/auth_test.cpp
               LIBS firedrill_controller_auth firedrill_controller_session LABELS unit)
# TLS material written by `firedrill certs`: never through a link (controller/session).
firedrill_test(certs_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/certs_test.cpp
               LIBS firedrill_controller_session LABELS unit)
# Join tokens, certificates signed for a request, and the agent's checks of them.
firedrill_test(enroll_unit_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/enroll_unit_test.cpp
               LIBS firedrill_controller_session firedrill_agent_enroll firedrill_common_tls LABELS unit)
