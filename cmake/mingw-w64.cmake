# Toolchain: build for Windows on Debian with MinGW-w64
# (g++-mingw-w64-x86-64-posix) and run what was built with Wine (wine64):
#
#   cmake -S . -B build-windows -DCMAKE_TOOLCHAIN_FILE=cmake/mingw-w64.cmake
#   cmake --build build-windows && ctest --test-dir build-windows
#
# ctest and Catch2's test discovery start every program through Wine, with a
# Wine prefix inside the build directory (created on first use, ~10 s).
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)
set(CMAKE_C_COMPILER x86_64-w64-mingw32-gcc-posix)
set(CMAKE_CXX_COMPILER x86_64-w64-mingw32-g++-posix)
set(CMAKE_RC_COMPILER x86_64-w64-mingw32-windres)
set(CMAKE_FIND_ROOT_PATH /usr/x86_64-w64-mingw32)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
# Static runtime: the programs then need no MinGW DLLs on Wine's path.
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static")

find_program(SMH_WINE NAMES wine wine64 REQUIRED)
# mscoree/mshtml off: a new prefix would otherwise offer to install Mono and Gecko.
set(CMAKE_CROSSCOMPILING_EMULATOR
    env WINEPREFIX=${CMAKE_BINARY_DIR}/wine-prefix WINEDEBUG=-all
        WINEDLLOVERRIDES=mscoree,mshtml= ${SMH_WINE})

# Boost and Catch2 are header-only, so the host's copies serve, seen through a
# directory that holds only them: all of the host's /usr/include would shadow
# MinGW's own C library headers.
set(SMH_HOST_HEADERS ${CMAKE_BINARY_DIR}/host-headers)
foreach(library boost catch2)
  if(EXISTS /usr/include/${library} AND NOT EXISTS ${SMH_HOST_HEADERS}/${library})
    file(MAKE_DIRECTORY ${SMH_HOST_HEADERS})
    file(CREATE_LINK /usr/include/${library} ${SMH_HOST_HEADERS}/${library} SYMBOLIC)
  endif()
endforeach()
set(Boost_INCLUDE_DIR ${SMH_HOST_HEADERS} CACHE PATH "Boost headers (the host's)")
set(Boost_NO_BOOST_CMAKE ON CACHE BOOL "")
set(SMH_CATCH2_HEADERS ${SMH_HOST_HEADERS} CACHE PATH "Catch2 headers (the host's)")
find_path(SMH_CATCH2_CMAKE_DIR Catch.cmake PATHS /usr/lib/cmake/Catch2 /usr/share/cmake/Catch2
          NO_CMAKE_FIND_ROOT_PATH NO_DEFAULT_PATH REQUIRED)
