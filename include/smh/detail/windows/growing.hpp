// Growing a Windows segment. For now its section is created at the
// capacity, committed in full (creating.hpp): every view covers the capacity,
// so addresses never change and growing only publishes a new length; the
// commit limit is errc::no_space at create instead of at grow. Growers take
// turns under a named mutex, which Windows hands on (WAIT_ABANDONED) when its
// holder dies.
#pragma once

#include <cstdint> // fixed-width values
#include <string>  // the mutex's name

#include "segments.hpp"
#include "system.hpp"

namespace smh {
inline namespace v0 {
namespace detail::os {

// The section already has the capacity: its views are mapped whole.
inline std::uint64_t map_capacity(opened_segment& segment, const segment_operation& what,
                                  bool writable, std::uint64_t capacity_bytes) {
    if (segment.size < capacity_bytes)
        what.fail(errc::corrupt_segment, "its section has " + std::to_string(segment.size) +
                                             " bytes, fewer than its capacity needs");
    (void)writable;
    return segment.size;
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

// Committed at create: nothing to add.
inline void extend_segment(segment_hold&, const segment_operation&, std::uint64_t, std::uint64_t) {}

} // namespace detail::os
} // namespace v0
} // namespace smh
