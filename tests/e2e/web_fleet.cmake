# Two web hosts behind HAProxy with a real controller and agents: the fleet of the
# experiment and evidence e2e suites (web_fleet.h).
add_library(firedrill_e2e_web_fleet STATIC ${CMAKE_CURRENT_LIST_DIR}/web_fleet.cpp)
target_include_directories(firedrill_e2e_web_fleet PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(firedrill_e2e_web_fleet PUBLIC firedrill_e2e_lab_harness GTest::gtest)
