# Every fenced code block of a markdown file (README.md, python/README.md) is
# checked, by its language:
#   cpp     compiled, with warnings as errors: a whole program (one with
#           `int main(`) as it is; any other block is a fragment, put in a
#           function body after its own #include lines and prelude.hpp (which
#           declares the few names fragments use without declaring them);
#   python  run, in a fresh virtual environment made by the file's Python
#           install block (below), and must exit 0 leaving no segment;
#   sh      run only if it is the file's Python install block (it contains
#           `venv/bin/pip install`): as written, in a scratch directory that
#           holds a copy of python/; the other sh blocks (apt, mount, builds
#           of this tree, cross builds) cannot run inside the suite;
#           The pkg-config line of README.md is run by tests/package;
#   console, cmake, bat, text: not run (the tool's session is its tests' job;
#           the CMake lines are tests/package's consumers);
#   anything else, or a fence without a language: the check fails, so a new
#           kind of block is never silently left out.
# A new block is picked up when the markdown changes (the build re-runs CMake).
# README.md's first example and its error example are also run, by
# examples/ (readme_matches.cmake), and its "Errors" and "Growing" examples
# are run to check what they print (readme_section.cmake).
#
# Three ways in:
#  - include()d by tests/markdown/CMakeLists.txt: smh_markdown_blocks() and
#    smh_markdown_write_cpp() write each cpp block to its own source file;
#  - cmake -DMODE=check -DMARKDOWN=<file> -DEXPECTED_CPP=<n> -P markdown_blocks.cmake:
#    fails on a block of an unknown kind, or if the file has a number of cpp
#    blocks other than the build compiled; lists what checks each block;
#  - cmake -DMODE=python -DMARKDOWN=<file> -DSOURCE=<repo> -DWORK=<dir> -P ...:
#    runs the Python install block, then every python block.

if(CMAKE_SCRIPT_MODE_FILE)
  cmake_minimum_required(VERSION 3.21)
endif()

set(smh_markdown_listed_languages sh console cmake bat text)

# Sets in the caller <out>_count and, for each block i from 0, <out>_<i>_lang,
# <out>_<i>_line (the line of its opening fence) and <out>_<i>_text. Fences
# start at column 0; the text between them is kept byte for byte.
function(smh_markdown_blocks file out)
  file(READ "${file}" text)
  # Lines become list elements: encode what a CMake list would eat first.
  string(REPLACE "\\" "@smh_bs@" text "${text}")
  string(REPLACE ";" "@smh_sc@" text "${text}")
  string(REPLACE "[" "@smh_lb@" text "${text}")
  string(REPLACE "]" "@smh_rb@" text "${text}")
  string(REPLACE "\n" ";" lines "${text}")
  set(count 0)
  set(number 0)
  set(inside FALSE)
  foreach(line IN LISTS lines)
    math(EXPR number "${number} + 1")
    if(NOT inside)
      if(line MATCHES "^```(.*)$")
        set(inside TRUE)
        string(STRIP "${CMAKE_MATCH_1}" lang)
        set(start ${number})
        set(body "")
      endif()
    elseif(line STREQUAL "```")
      string(REPLACE "@smh_rb@" "]" body "${body}")
      string(REPLACE "@smh_lb@" "[" body "${body}")
      string(REPLACE "@smh_sc@" ";" body "${body}")
      string(REPLACE "@smh_bs@" "\\" body "${body}")
      set(${out}_${count}_lang "${lang}" PARENT_SCOPE)
      set(${out}_${count}_line ${start} PARENT_SCOPE)
      set(${out}_${count}_text "${body}" PARENT_SCOPE)
      math(EXPR count "${count} + 1")
      set(inside FALSE)
    else()
      string(APPEND body "${line}\n")
    endif()
  endforeach()
  if(inside)
    message(FATAL_ERROR "${file}:${start}: a code block that never ends")
  endif()
  set(${out}_count ${count} PARENT_SCOPE)
endfunction()

# Writes the cpp blocks of `file` as block_<k>.cpp under `dir` (k from 1, in
# order), each only if its text changed; sets <out_programs> to the whole
# programs and <out_fragments> to the wrapped fragments.
function(smh_markdown_write_cpp file dir out_programs out_fragments)
  smh_markdown_blocks("${file}" block)
  set(programs "")
  set(fragments "")
  set(k 0)
  if(block_count EQUAL 0)
    set(block_count 1)
    set(block_0_lang "")
  endif()
  math(EXPR last "${block_count} - 1")
  foreach(i RANGE 0 ${last})
    if(NOT block_${i}_lang STREQUAL "cpp")
      continue()
    endif()
    math(EXPR k "${k} + 1")
    set(source "${dir}/block_${k}.cpp")
    set(text "${block_${i}_text}")
    math(EXPR first "${block_${i}_line} + 1")
    if(text MATCHES "int main\\(")
      set(content "#line ${first} \"${file}\"\n${text}")
      list(APPEND programs "${source}")
    else()
      # #include lines go to the top; the rest is a function's body.
      set(includes "")
      set(body "")
      string(REGEX MATCHALL "(^|\n)#include[^\n]*" found "${text}")
      foreach(include IN LISTS found)
        string(STRIP "${include}" include)
        string(APPEND includes "${include}\n")
      endforeach()
      string(REGEX REPLACE "(^|\n)#include[^\n]*" "\\1" body "${text}")
      set(content "// ${file}, the C++ block at line ${block_${i}_line}: a fragment, compiled
// inside a function (tests/markdown/markdown_blocks.cmake).
${includes}#include \"prelude.hpp\"

[[maybe_unused]] static void markdown_fragment() {
#line ${first} \"${file}\"
${body}}
")
      list(APPEND fragments "${source}")
    endif()
    file(CONFIGURE OUTPUT "${source}" CONTENT "${content}")
  endforeach()
  # What a removed block left.
  file(GLOB written "${dir}/block_*.cpp")
  list(REMOVE_ITEM written ${programs} ${fragments})
  if(written)
    file(REMOVE ${written})
  endif()
  set(${out_programs} "${programs}" PARENT_SCOPE)
  set(${out_fragments} "${fragments}" PARENT_SCOPE)
endfunction()

function(smh_markdown_check file expected_cpp)
  smh_markdown_blocks("${file}" block)
  set(cpp 0)
  set(unknown "")
  if(block_count GREATER 0)
    math(EXPR last "${block_count} - 1")
    foreach(i RANGE 0 ${last})
      set(lang "${block_${i}_lang}")
      set(where "${file}:${block_${i}_line}")
      if(lang STREQUAL "cpp")
        math(EXPR cpp "${cpp} + 1")
        message(STATUS "${where}: cpp, compiled (markdown_cpp target)")
      elseif(lang STREQUAL "python")
        message(STATUS "${where}: python, run (markdown.*.python test)")
      elseif(lang STREQUAL "sh" AND block_${i}_text MATCHES "pkg-config --cflags --libs smh")
        message(STATUS "${where}: sh, the pkg-config line, run as written (package.pkg-config)")
      elseif(lang STREQUAL "sh" AND block_${i}_text MATCHES "venv/bin/pip install")
        message(STATUS "${where}: sh, the Python install, run as written (markdown.*.python test)")
      elseif(lang IN_LIST smh_markdown_listed_languages OR lang STREQUAL "sh")
        message(STATUS "${where}: ${lang}, not run")
      else()
        list(APPEND unknown "${where}: a block of kind \"${lang}\"")
      endif()
    endforeach()
  endif()
  if(unknown)
    list(JOIN unknown "\n  " unknown)
    message(FATAL_ERROR "blocks nothing checks (label them cpp or python to have them checked, "
      "or sh, console, cmake, bat or text; see tests/markdown/markdown_blocks.cmake):\n  ${unknown}")
  endif()
  if(NOT cpp EQUAL expected_cpp)
    message(FATAL_ERROR "${file} has ${cpp} cpp blocks but the build compiled ${expected_cpp}: "
      "build again (CMake re-runs when the markdown changes)")
  endif()
endfunction()

function(smh_markdown_run_python file source work)
  smh_markdown_blocks("${file}" block)
  set(install "")
  set(scripts "")
  if(block_count GREATER 0)
    math(EXPR last "${block_count} - 1")
    foreach(i RANGE 0 ${last})
      if(block_${i}_lang STREQUAL "sh" AND block_${i}_text MATCHES "venv/bin/pip install")
        set(install "${block_${i}_text}")
      elseif(block_${i}_lang STREQUAL "python")
        list(APPEND scripts ${i})
      endif()
    endforeach()
  endif()
  if(NOT scripts)
    message(STATUS "${file} has no python block")
    return()
  endif()
  if(NOT install)
    message(FATAL_ERROR "${file} has python blocks but no sh block that installs the package "
      "(with venv/bin/pip install) for them to run with")
  endif()
  file(REMOVE_RECURSE "${work}")
  file(MAKE_DIRECTORY "${work}")
  # A copy of the package where the block expects it, with the headers its
  # extension is compiled from next to it, so pip's build leaves the
  # checkout clean.
  file(COPY "${source}/python/pyproject.toml" "${source}/python/README.md"
       "${source}/python/setup.py" DESTINATION "${work}/python")
  file(COPY "${source}/python/smh" "${source}/python/src" DESTINATION "${work}/python"
       PATTERN __pycache__ EXCLUDE)
  file(COPY "${source}/include" DESTINATION "${work}")
  # The interpreter the block names (Debian's, /usr/bin/python3) may be
  # missing where the suite runs without scripts/install-deps.
  if(install MATCHES "^(/[^ \n]*python3)")
    set(interpreter "${CMAKE_MATCH_1}")
    if(NOT EXISTS "${interpreter}")
      message(STATUS "skipped: ${interpreter}, which the install block runs, is not installed")
      return()
    endif()
  endif()
  message(STATUS "the install block, as written:\n${install}")
  execute_process(COMMAND sh -e -c "${install}" WORKING_DIRECTORY "${work}"
                  RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "${file}: the Python install block failed (${result}):\n${out}")
  endif()
  foreach(i IN LISTS scripts)
    set(script "${work}/block_at_line_${block_${i}_line}.py")
    file(WRITE "${script}" "${block_${i}_text}")
    execute_process(COMMAND ${CMAKE_COMMAND} -E env PYTHONPATH= PYTHONDONTWRITEBYTECODE=1
                      "${work}/venv/bin/python" "${script}"
                    WORKING_DIRECTORY "${work}" RESULT_VARIABLE result
                    OUTPUT_VARIABLE out ERROR_VARIABLE out TIMEOUT 60)
    if(NOT result EQUAL 0)
      message(FATAL_ERROR "${file}:${block_${i}_line}: the python block failed (${result}):\n${out}")
    endif()
    message(STATUS "${file}:${block_${i}_line}: ran; it printed:\n${out}")
  endforeach()
  file(REMOVE_RECURSE "${work}")
endfunction()

if(CMAKE_SCRIPT_MODE_FILE STREQUAL CMAKE_CURRENT_LIST_FILE)
  if(MODE STREQUAL "check")
    smh_markdown_check("${MARKDOWN}" "${EXPECTED_CPP}")
  elseif(MODE STREQUAL "python")
    smh_markdown_run_python("${MARKDOWN}" "${SOURCE}" "${WORK}")
  else()
    message(FATAL_ERROR "MODE must be check or python")
  endif()
endif()
