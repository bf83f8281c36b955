# Fails when the first C++ block of README.md differs from examples/readme.cpp
# (minus that file's first, comment line), so the README's example is always
# the one that is built and run.
file(READ ${README} readme)
string(FIND "${readme}" "```cpp\n" start)
math(EXPR start "${start} + 7")
string(SUBSTRING "${readme}" ${start} -1 rest)
string(FIND "${rest}" "```" stop)
string(SUBSTRING "${rest}" 0 ${stop} block)
file(READ ${EXAMPLE} example)
string(FIND "${example}" "\n" first_newline)
math(EXPR first_newline "${first_newline} + 1")
string(SUBSTRING "${example}" ${first_newline} -1 example)
if(NOT block STREQUAL example)
  message(FATAL_ERROR "README.md's example differs from examples/readme.cpp")
endif()
