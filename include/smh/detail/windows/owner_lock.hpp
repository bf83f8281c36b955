// The owner's lock on Windows: there is none. Owning changes nothing in what
// an object holds: liveness is asked of the recorded process alone.
#pragma once

#include "../owner_record.hpp"
#include "segments.hpp"
#include "system.hpp"

namespace smh {
inline namespace v0 {
namespace detail::os {

// Owning changes nothing in what is held: the kernel ends every handle of a
// process that ends, so liveness needs no lock and nothing needs cleaning up
// when a process ends without destructors.
inline void lock_for_owning(segment_hold&, const segment_name&) noexcept {}
inline bool lock_held_by_others(const segment_hold&) noexcept { return false; }
inline void note_owning(segment_hold&, const segment_name&, const owner_record&,
                        segment_header*) noexcept {}
inline void keep_owner_lock(segment_hold&) noexcept {}
inline void stop_owning(segment_hold&, const segment_name&) noexcept {}
} // namespace detail::os
} // namespace v0
} // namespace smh
