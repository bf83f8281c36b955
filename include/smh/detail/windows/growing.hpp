// Growing a Windows segment. Its section is created at the capacity with
// SEC_RESERVE (creating.hpp): every view covers the capacity, so addresses
// never change, but only the committed pages take memory. A grower commits
// the new pages (VirtualAlloc through its view) before it publishes the
// length; committing through one view commits the section's pages, so every
// other view, in any process, can touch them without a call of its own
// (readers learn of growth from a load). The commit limit is errc::no_space
// at grow. Growers take turns under named mutexes, which Windows hands on
// (WAIT_ABANDONED) when their holder dies.
#pragma once

#include <chrono>   // the growers' deadline
#include <cstdint>  // fixed-width values
#include <optional> // a named segment's mutex
#include <string>   // the mutexes' names

#include "../layout.hpp"

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

// Milliseconds from now to `deadline` for WaitForSingleObject: INFINITE
// for time_point::max(), else rounded up and kept below INFINITE.
inline DWORD milliseconds_until(std::chrono::steady_clock::time_point deadline) noexcept {
    using clock = std::chrono::steady_clock;
    if (deadline == clock::time_point::max()) return INFINITE;
    const auto now = clock::now();
    if (deadline <= now) return 0;
    const auto ceiled = std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count();
    return ceiled >= static_cast<long long>(INFINITE) ? INFINITE - 1 : static_cast<DWORD>(ceiled);
}

// The named mutex `name`, created or opened, and held (if it could be had
// before `deadline`: held()) until the end of the object's life.
class growth_mutex {
public:
    growth_mutex(const std::string& name, const segment_operation& what,
                 std::chrono::steady_clock::time_point deadline)
        : mutex_(::CreateMutexA(nullptr, FALSE, name.c_str())) {
        if (mutex_ == nullptr) throw_native(what, last_native_error(), "CreateMutex");
        const DWORD waited = ::WaitForSingleObject(mutex_, milliseconds_until(deadline));
        if (waited == WAIT_TIMEOUT) return;
        if (waited != WAIT_OBJECT_0 && waited != WAIT_ABANDONED) {
            const int error = last_native_error();
            ::CloseHandle(mutex_);
            throw_native(what, error, "WaitForSingleObject");
        }
        held_ = true;
    }
    growth_mutex(const growth_mutex&) = delete;
    growth_mutex& operator=(const growth_mutex&) = delete;
    ~growth_mutex() {
        if (held_) ::ReleaseMutex(mutex_);
        ::CloseHandle(mutex_);
    }
    bool held() const noexcept { return held_; }

private:
    HANDLE mutex_;
    bool held_ = false;
};

// Growers take turns under "Local\smh-grow:<checksum>", the checksum of the
// segment's header in 16 hex digits (as waiting.hpp names its events): it
// covers the creation time, the creator's pid and the type, so it tells one
// segment from another, and every holder reads the same one, however it
// reached the segment. An anonymous segment has nothing else to go by: no
// name, and a holder given a handle cannot hand a mutex of its own to the
// others (one more handle to pass would change what attach_descriptor
// takes). Two segments whose checksums collide only take turns growing, a
// cost and never a fault; ':' is in no segment name, so no named segment's
// mutex below has this name.
// A named segment's growers take "Local\smh-grow-<name>" first, as they
// always have (the name is unique while the section lives), so that they
// still take turns with a process built before this second mutex existed;
// then the checksum's, so that they take turns with a holder that reached
// the same section through a handle (attach_descriptor of a duplicate of
// its handle, which knows no name). Always in that order: no deadlock.
inline bool while_growth_locked(segment_hold& held, const segment_operation& what, growth_work work,
                                std::chrono::steady_clock::time_point deadline) {
    std::optional<growth_mutex> by_name;
    if (!what.name.str().empty()) {
        by_name.emplace("Local\\smh-grow-" + what.name.str(), what, deadline);
        if (!by_name->held()) return false;
    }
    static constexpr char digits[] = "0123456789abcdef";
    const auto checksum = reinterpret_cast<const segment_header*>(held.view)->checksum;
    std::string name = "Local\\smh-grow:";
    for (int shift = 60; shift >= 0; shift -= 4) name += digits[(checksum >> shift) & 0xf];
    const growth_mutex by_checksum(name, what, deadline);
    if (!by_checksum.held()) return false;
    work();
    return true;
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
