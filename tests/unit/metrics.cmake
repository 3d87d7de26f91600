# The Prometheus text format of common/metrics, and its HTTP server over loopback.
firedrill_test(metrics_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/metrics_test.cpp
               LIBS firedrill_common_metrics LABELS unit)
