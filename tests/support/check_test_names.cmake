# cmake -DTESTS=<smh_tests> -P check_test_names.cmake
# Fails if a test name holds ';', which splits it in two for ctest (a CMake
# list separator): each half then matches no test and "passes" without running.
# Catch2 exits with the number of tests, so the output is what is checked.
execute_process(COMMAND ${TESTS} --list-test-names-only OUTPUT_VARIABLE names)
if(names STREQUAL "")
  message(FATAL_ERROR "${TESTS} listed no test: it did not run")
endif()
string(FIND "${names}" ";" at)
if(NOT at EQUAL -1)
  message(FATAL_ERROR "a test name holds ';':\n${names}")
endif()
message(STATUS "no test name holds ';'")
