# The lab fleet (deploy/lab) end to end: real namespaces, agents, Redis Sentinel, HAProxy.
add_library(firedrill_e2e_lab_harness STATIC ${CMAKE_CURRENT_LIST_DIR}/lab_harness.cpp)
target_include_directories(firedrill_e2e_lab_harness PUBLIC ${PROJECT_SOURCE_DIR})
target_compile_definitions(firedrill_e2e_lab_harness PRIVATE FDL_BUILD_DIR="${CMAKE_BINARY_DIR}")
target_link_libraries(firedrill_e2e_lab_harness PUBLIC firedrill_test_support GTest::gtest)
# Experiment files run through the lab's controller and read back over the run API.
add_library(firedrill_e2e_lab_drill STATIC ${CMAKE_CURRENT_LIST_DIR}/lab_drill.cpp)
target_link_libraries(firedrill_e2e_lab_drill PUBLIC firedrill_e2e_lab_harness firedrill_proto)

firedrill_test(lab_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/lab_test.cpp
               LIBS firedrill_e2e_lab_harness LABELS e2e)
# The lab runs the agent of this build.
add_dependencies(lab_test firedrill-agent)


# Two controllers on the lab's PostgreSQL (lab.sh up --controllers 2): the takeover when
# pangyo's controller loses its power, and nothing left after down.
firedrill_test(lab_controllers_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/lab_controllers_test.cpp
               LIBS firedrill_e2e_lab_harness LABELS e2e)
add_dependencies(lab_controllers_test firedrill-agent firedrill)
