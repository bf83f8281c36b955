// The Windows part of waiting (wait.hpp), which the platform contract declares. WaitOnAddress wakes
// only threads of the same process, so waiters sleep on named events instead, one per value of the
// header's wait_sequence (a generation): "Local\smh-wait-<checksum>-<n>", manual-reset, created by
// the first waiter of generation n and destroyed with the last handle to it. A notify ends the
// generation: it increments the sequence, then opens that generation's event, if anyone made it,
// and sets it. A waiter creates (or opens) the event of the generation it read, then reads the
// sequence again and sleeps only if it is unchanged: a notify that ended the generation before the
// event existed found no event, but then the waiter sees the new sequence. Every waiter of the
// segment wakes and looks at its own element (so notify_one wakes them all); a semaphore's count
// could be taken by a waiter on another element, which would sleep again with it and lose the
// wake-up. Costs: a wait creates and closes an event; a notify with waiters opens, sets and closes
// one.
#pragma once

#include <atomic>   // the sequence
#include <chrono>   // timeouts
#include <cstddef>  // std::size_t
#include <cstdint>  // the 4-byte words
#include <optional> // no timeout

#include "../layout.hpp"
#include "system.hpp"

namespace smh {
inline namespace v0 {
namespace detail::os {

// Every element sleeps on the header's sequence.
inline const std::uint32_t& wait_word_for(const segment_header& header, const void*,
                                          std::size_t) noexcept {
    return header.wait_sequence;
}

// "Local\smh-wait-<checksum>-<generation>", in `out`. The checksum covers
// the creation time, the creator's pid and the type, so it tells this
// segment from an earlier one of the same name. No allocation: waits and
// notifies do not throw.
struct event_name {
    char text[48];
    event_name(const segment_header& header, std::uint32_t generation) noexcept {
        static constexpr char digits[] = "0123456789abcdef";
        constexpr char prefix[] = "Local\\smh-wait-";
        char* out = text;
        for (const char* p = prefix; *p; ++p) *out++ = *p;
        for (int shift = 60; shift >= 0; shift -= 4)
            *out++ = digits[(header.checksum >> shift) & 0xf];
        *out++ = '-';
        for (int shift = 28; shift >= 0; shift -= 4) *out++ = digits[(generation >> shift) & 0xf];
        *out = '\0';
    }
};

inline std::uint32_t load_sequence(const std::uint32_t& word) noexcept {
    return std::atomic_ref<std::uint32_t>(const_cast<std::uint32_t&>(word))
        .load(std::memory_order_seq_cst);
}

// Sleeps while the sequence `word` is `expected`, for at most `timeout`.
// Where no event can be made (no handles left), sleeps 1 ms: the caller
// looks again either way.
inline void sleep_on_word(const segment_header& header, const std::uint32_t& word,
                          std::uint32_t expected,
                          std::optional<std::chrono::nanoseconds> timeout) noexcept {
    DWORD milliseconds = INFINITE;
    if (timeout) {
        const auto ceiled = std::chrono::ceil<std::chrono::milliseconds>(*timeout).count();
        milliseconds =
            ceiled >= static_cast<long long>(INFINITE) ? INFINITE - 1 : static_cast<DWORD>(ceiled);
    }
    const HANDLE event = ::CreateEventA(nullptr, TRUE, FALSE, event_name(header, expected).text);
    if (event == nullptr) {
        ::Sleep(milliseconds < 1 ? milliseconds : 1);
        return;
    }
    if (load_sequence(word) == expected) ::WaitForSingleObject(event, milliseconds);
    ::CloseHandle(event);
}

// Ends the current generation and wakes everyone sleeping in it.
inline void wake_word(segment_header& header, std::uint32_t& word, bool /*all*/) noexcept {
    const std::uint32_t ended =
        std::atomic_ref<std::uint32_t>(word).fetch_add(1, std::memory_order_seq_cst);
    const HANDLE event = ::OpenEventA(EVENT_MODIFY_STATE, FALSE, event_name(header, ended).text);
    if (event == nullptr) return; // no one made it: no one sleeps in that generation
    ::SetEvent(event);
    ::CloseHandle(event);
}

} // namespace detail::os
} // namespace v0
} // namespace smh
