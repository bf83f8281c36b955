// The Linux part of waiting (wait.hpp), which the platform contract declares: futex(2), shared
// between processes. The futexes are never FUTEX_PRIVATE_FLAG: a private futex is keyed by this
// process's address space, so a wake from another process never reaches it
// (std::atomic::wait in libstdc++; m-ou-se/atomic-wait#7). A shared one on a
// MAP_SHARED file mapping is keyed by the file's page and offset, the same
// in every process at whatever address it mapped the segment.
#pragma once

#include <linux/futex.h> // FUTEX_WAIT, FUTEX_WAKE
#include <sys/syscall.h> // SYS_futex
#include <time.h>        // struct timespec
#include <unistd.h>      // syscall

#include <atomic>   // incrementing the sequence
#include <chrono>   // timeouts
#include <climits>  // INT_MAX: wake every sleeper
#include <cstddef>  // std::size_t
#include <cstdint>  // the 4-byte words
#include <optional> // no timeout

#include "../layout.hpp"

namespace smh {
inline namespace v0 {
namespace detail::os {

// The word a wait on `element` (of `size` bytes) sleeps on: a 4-byte element
// itself; an 8-byte element the header's wait_sequence (a futex compares
// only 4 bytes; see wait.hpp).
inline const std::uint32_t& wait_word_for(const segment_header& header, const void* element,
                                          std::size_t size) noexcept {
    return size == 4 ? *static_cast<const std::uint32_t*>(element) : header.wait_sequence;
}

// Sleeps while `word` holds `expected`, for at most `timeout`. Returns on a
// wake, a signal (EINTR), the timeout, or at once if the word differs
// (EAGAIN): the caller looks again in every case. FUTEX_WAIT only reads the
// word, so this works on a read-only mapping; its timeout is relative, on
// CLOCK_MONOTONIC.
inline void sleep_on_word(const segment_header&, const std::uint32_t& word, std::uint32_t expected,
                          std::optional<std::chrono::nanoseconds> timeout) noexcept {
    timespec relative{};
    if (timeout) {
        const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(*timeout);
        relative.tv_sec = static_cast<time_t>(seconds.count());
        relative.tv_nsec = static_cast<long>((*timeout - seconds).count());
    }
    ::syscall(SYS_futex, &word, FUTEX_WAIT, expected, timeout ? &relative : nullptr, nullptr, 0);
}

// Wakes sleepers on `word`: on the header's sequence, after incrementing it,
// every one (they wait on different elements, and each looks at its own);
// on an element, one or all.
inline void wake_word(segment_header& header, std::uint32_t& word, bool all) noexcept {
    int count = all ? INT_MAX : 1;
    if (&word == &header.wait_sequence) {
        std::atomic_ref<std::uint32_t>(word).fetch_add(1, std::memory_order_seq_cst);
        count = INT_MAX;
    }
    ::syscall(SYS_futex, &word, FUTEX_WAKE, count, nullptr, nullptr, 0);
}

} // namespace detail::os
} // namespace v0
} // namespace smh
