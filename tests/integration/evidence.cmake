# The report page rendered by headless chromium (a real process; needs no root).
firedrill_test(evidence_html_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/evidence_html_test.cpp
               LIBS firedrill_controller_evidence LABELS integration)
