# A section's example of README.md, built from the README itself and run, two
# ways:
#  - included by examples/CMakeLists.txt: smh_readme_section_program(SECTION
#    SOURCE) writes the program, the first C++ block of the "## SECTION"
#    section inside a main(), to SOURCE;
#  - run by ctest (cmake -DREADME=.. -DSECTION=.. -DCALL=.. -DSTREAM=stdout|stderr
#    -DPROGRAM=.. -P readme_section.cmake): runs that program and fails unless
#    what it prints on STREAM is exactly what the block's comment on the line
#    that contains CALL (a regular expression) says it prints.
function(smh_readme_section_block readme section out)
  file(READ ${readme} text)
  string(FIND "${text}" "\n## ${section}\n" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "README.md has no \"## ${section}\" section")
  endif()
  string(SUBSTRING "${text}" ${at} -1 text)
  string(FIND "${text}" "```cpp\n" start)
  math(EXPR start "${start} + 7")
  string(SUBSTRING "${text}" ${start} -1 text)
  string(FIND "${text}" "```" stop)
  string(SUBSTRING "${text}" 0 ${stop} block)
  set(${out} "${block}" PARENT_SCOPE)
endfunction()

if(CMAKE_SCRIPT_MODE_FILE)
  smh_readme_section_block(${README} "${SECTION}" block)
  if(NOT block MATCHES "${CALL}[^\n]*// ([^\n]*)")
    message(FATAL_ERROR "README.md's \"${SECTION}\" example has no comment saying what it prints")
  endif()
  set(promised "${CMAKE_MATCH_1}")
  if(STREAM STREQUAL "stderr")
    execute_process(COMMAND ${PROGRAM} ERROR_VARIABLE printed OUTPUT_QUIET
                    ERROR_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE result)
  else()
    execute_process(COMMAND ${PROGRAM} OUTPUT_VARIABLE printed
                    OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE result)
  endif()
  if(NOT printed STREQUAL promised)
    message(FATAL_ERROR "README.md's \"${SECTION}\" example says it prints\n  ${promised}\n"
                        "but it prints\n  ${printed}\n(exit: ${result})")
  endif()
  message(STATUS "prints what README.md says: ${printed}")
else()
  function(smh_readme_section_program section source)
    smh_readme_section_block(${PROJECT_SOURCE_DIR}/README.md "${section}" block)
    set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/README.md)
    file(CONFIGURE OUTPUT ${source} @ONLY CONTENT [[
// Written by examples/readme_section.cmake from README.md's "@section@" section.
#include <smh/shared_memory_handlee.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <thread>

int main() {
@block@}
]])
  endfunction()
endif()
