# The experiment files of experiments/, run by the controller of this build in the lab.
firedrill_test(lab_experiments_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/lab_experiments_test.cpp
               LIBS firedrill_e2e_lab_drill LABELS e2e)
add_dependencies(lab_experiments_test firedrill-agent firedrill)
