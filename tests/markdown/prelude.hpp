// Included by every C++ fragment of the markdown files (a block without
// main(), compiled inside a function by markdown_blocks.cmake): the headers
// fragments use, and the few names they use without declaring them. A new
// fragment that needs another name declares it, or it goes here.
#pragma once

#include <smh/shared_memory_handlee.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

namespace markdown_prelude {
inline std::size_t n = 1000;             // an element count
inline std::string name = "smh-example"; // a segment's name, passed to another process
} // namespace markdown_prelude
using namespace markdown_prelude;
