# Identities, roles and approval policy (controller/auth).
firedrill_test(auth_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/auth_test.cpp
               LIBS firedrill_controller_auth firedrill_controller_session LABELS unit)
