// The library's only platform switch: each platform file defines the same
// functions in smh::detail::os, so nothing above this line needs an #if.
#pragma once

#if defined(_WIN32)
#error "smh: the Windows implementation (platform_windows.hpp) is not written yet"
#else
#include "platform_posix.hpp"
#endif
