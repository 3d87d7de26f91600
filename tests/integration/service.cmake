# The daemons under a service manager: sd_notify READY/WATCHDOG, journal and JSON logs.
firedrill_test(service_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/service_test.cpp
               LIBS fdc_ctl_lab nlohmann_json::nlohmann_json LABELS integration)
