// Termination on Windows: nothing to do. The kernel ends every handle of a
// process that ends, however it ends, and a section goes with its last
// handle: nothing outlives its processes, so no cleanup runs at termination
// and no change of ownership needs bracketing for one.
#pragma once

#include "system.hpp"

namespace smh {
inline namespace v0 {
namespace detail::os {

inline void begin_owner_change() noexcept {}
inline void end_owner_change() noexcept {}
inline void install_termination_cleanup() noexcept {}
inline void remove_owned_segments_now() noexcept {}
} // namespace detail::os
} // namespace v0
} // namespace smh
