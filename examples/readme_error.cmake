# README.md's error example, two ways:
#  - included by examples/CMakeLists.txt: writes the program, the first C++
#    block of the "## Errors" section inside a main(), to
#    ${smh_readme_error_source};
#  - run by ctest (cmake -DREADME=.. -DPROGRAM=.. -P readme_error.cmake):
#    runs that program and fails unless what it prints on stderr is exactly
#    what the block's comment on `e.what()` says it prints.
function(smh_readme_error_block readme out)
  file(READ ${readme} text)
  string(FIND "${text}" "\n## Errors\n" section)
  if(section EQUAL -1)
    message(FATAL_ERROR "README.md has no \"## Errors\" section")
  endif()
  string(SUBSTRING "${text}" ${section} -1 text)
  string(FIND "${text}" "```cpp\n" start)
  math(EXPR start "${start} + 7")
  string(SUBSTRING "${text}" ${start} -1 text)
  string(FIND "${text}" "```" stop)
  string(SUBSTRING "${text}" 0 ${stop} block)
  set(${out} "${block}" PARENT_SCOPE)
endfunction()

if(CMAKE_SCRIPT_MODE_FILE)
  smh_readme_error_block(${README} block)
  if(NOT block MATCHES "e\\.what\\(\\)[^\n]*// ([^\n]*)")
    message(FATAL_ERROR "README.md's error example has no comment saying what e.what() prints")
  endif()
  set(promised "${CMAKE_MATCH_1}")
  execute_process(COMMAND ${PROGRAM} ERROR_VARIABLE printed OUTPUT_QUIET
                  ERROR_STRIP_TRAILING_WHITESPACE)
  if(NOT printed STREQUAL promised)
    message(FATAL_ERROR "README.md's error example says it prints\n  ${promised}\n"
                        "but it prints\n  ${printed}")
  endif()
  message(STATUS "prints what README.md says: ${printed}")
else()
  smh_readme_error_block(${PROJECT_SOURCE_DIR}/README.md block)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/README.md)
  file(CONFIGURE OUTPUT ${smh_readme_error_source} @ONLY CONTENT [[
// Written by examples/readme_error.cmake from README.md's "Errors" section.
#include <smh/shared_memory_handlee.hpp>

#include <iostream>

int main() {
@block@}
]])
endif()
