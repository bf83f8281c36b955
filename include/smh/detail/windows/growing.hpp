// Growing a Windows segment. Its section is created at the capacity with
// SEC_RESERVE (creating.hpp): every view covers the capacity, so addresses
// never change, but only the committed pages take memory. A grower commits
// the new pages (VirtualAlloc through its view) before it publishes the
// length; committing through one view commits the section's pages, so every
// other view, in any process, can touch them without a call of its own
// (readers learn of growth from a load). The commit limit is errc::no_space
// at grow. Growers take turns under a named mutex, which Windows hands on
// (WAIT_ABANDONED) when its holder dies.
#pragma once

#include <cstdint> // fixed-width values
#include <string>  // the mutex's name

#include "segments.hpp"
#include "system.hpp"

namespace smh {
inline namespace v0 {
namespace detail::os {

// The section already has the capacity, and the view covers it: what is
// committed of it from the start is the segment's size now, at least what
// any length published before needs.
inline std::uint64_t map_capacity(opened_segment& segment, const segment_operation& what,
                                  bool writable, std::uint64_t capacity_bytes) {
    if (segment.size < capacity_bytes)
        what.fail(errc::corrupt_segment, "its section has " + std::to_string(segment.size) +
                                             " bytes, fewer than its capacity needs");
    (void)writable;
    return committed_bytes(segment.region.get_address(), segment.region.get_size());
}

// "Local\smh-grow-<name>": the segment's name is unique while the section
// lives, and so is this mutex's while a grower holds it.
inline void while_growth_locked(segment_hold&, const segment_operation& what, growth_work work) {
    const std::string name = "Local\\smh-grow-" + what.name.str();
    const HANDLE mutex = ::CreateMutexA(nullptr, FALSE, name.c_str());
    if (mutex == nullptr) throw_native(what, last_native_error(), "CreateMutex");
    struct release_mutex {
        HANDLE mutex;
        bool held = false;
        ~release_mutex() {
            if (held) ::ReleaseMutex(mutex);
            ::CloseHandle(mutex);
        }
    } release{mutex};
    const DWORD waited = ::WaitForSingleObject(mutex, INFINITE);
    if (waited != WAIT_OBJECT_0 && waited != WAIT_ABANDONED)
        throw_native(what, last_native_error(), "WaitForSingleObject");
    release.held = true;
    work();
}

// Commits bytes [from, to) of the section through this handle's view; a
// failed commit changes nothing.
inline void extend_segment(segment_hold& held, const segment_operation& what, std::uint64_t from,
                           std::uint64_t to) {
    commit(what, held.view + from, to - from);
}

} // namespace detail::os
} // namespace v0
} // namespace smh
