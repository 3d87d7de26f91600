# The daemons under a service manager: sd_notify READY/WATCHDOG, journal and JSON logs.
firedrill_test(service_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/service_test.cpp
               LIBS fdc_ctl_lab nlohmann_json::nlohmann_json LABELS integration)

# deploy/README.md followed on two fresh bookworm chroots, a controller host and an
# agent host in network namespaces of their own: the packages installed, a token made,
# the agent enrolled and live on the controller, both purged (minutes; downloads from
# the Debian mirror apt uses here).
add_test(NAME debian_packages_install
         COMMAND ${PROJECT_SOURCE_DIR}/deploy/debian/test-install.sh ${CMAKE_BINARY_DIR})
set_tests_properties(debian_packages_install PROPERTIES LABELS integration TIMEOUT 900 RUN_SERIAL TRUE)
