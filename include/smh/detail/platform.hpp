// The library's only platform switch: each platform file defines the same
// functions in smh::detail::os, so nothing above this line needs an #if.
#pragma once

#if defined(_WIN32)
#include "platform_windows.hpp"
#else
#include "platform_posix.hpp"
#endif
