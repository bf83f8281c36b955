// The watcher on Windows: none is needed (see termination.hpp).
#pragma once

#include "system.hpp"

namespace smh {
inline namespace v0 {
namespace detail::os {

// The kernel destroys a section with its last handle, which a process's end
// closes, however it ends: there is nothing to watch for.
inline bool watch_owned_segments() noexcept { return true; }
} // namespace detail::os
} // namespace v0
} // namespace smh
