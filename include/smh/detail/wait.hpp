// Waiting until another process changes an element: SharedMemoryHandlee's
// wait, wait_for, notify_one and notify_all, for std::atomic<U> elements of
// 4 or 8 bytes. std::atomic::wait cannot do it: libstdc++ sleeps on a
// private futex (keyed by this process's address space) or on a table in
// this process's memory, so a notify from another process never reaches it.
//
// Where processes sleep (docs/layout.md, "Waiting"):
// - Linux, 4-byte elements: futex(2) on the element itself, shared (no
//   FUTEX_PRIVATE_FLAG), so the kernel keys it by the page of the file and
//   every process that maps it meets there, at whatever address.
// - Linux, 8-byte elements: a futex compares 4 bytes, and the value may change
//   only in the half it does not compare between our load and the sleep (a
//   lost wake-up). They sleep on the header's wait_sequence instead, which
//   every notify that wakes anyone increments first.
// - Windows has no cross-process address wait: every element sleeps on the
//   header's wait_sequence, through one named event per value of it
//   (windows/waiting.hpp).
// The OS's part (which word, sleep, wake) is in the platform files.
// The header's waiters word counts the writable handles waiting now, so a
// notify with nobody registered makes no system call.
//
// Why no wake-up is lost. A waiter increments `waiters` (seq_cst), then
// loads the element (seq_cst). A notifier has stored the new value, then
// issues a seq_cst fence, then loads `waiters`. If that load sees no waiter,
// it read a value older than the increment, so the fence precedes the
// increment in the single total order S ([atomics.order]), and so precedes
// the waiter's element load; a seq_cst load that follows in S a fence after
// which a store was sequenced sees that store or a later one. So the waiter
// sees the new value and does not sleep. If the notifier sees a waiter, it
// wakes, and the OS compares the word under its own lock before it puts a
// waiter to sleep (futex(2): FUTEX_WAIT fails with EAGAIN unless
// *uaddr == val), so a wake cannot fall between a waiter's check and its
// sleep. On the sequence word, the waiter loads the sequence before the
// element and the notifier increments it after its fence: a waiter that read
// the old sequence finds it changed as it goes to sleep; one that read the
// new sequence sees the new element. libc++ once lost wake-ups on its proxy
// words by counting waiters without such an order (llvm/llvm-project#77659).
#pragma once

#include <algorithm>   // std::min of slices
#include <atomic>      // atomic_ref on the header's wait words, the fence
#include <bit>         // std::bit_cast: values are compared as bytes, as std::atomic does
#include <chrono>      // deadlines
#include <cstddef>     // std::size_t
#include <cstdint>     // the 4-byte words the OS sleeps on
#include <optional>    // "no timeout"
#include <thread>      // yielding before sleeping
#include <type_traits> // what an element holds

#include "layout.hpp"
#include "platform.hpp"

namespace smh {
inline namespace v0 {
namespace detail {

template <class T>
struct wait_traits {
    using value_type = T; // only so that the declarations exist; calls do not compile
    static constexpr bool atomic = false;
};
template <class U>
struct wait_traits<std::atomic<U>> {
    using value_type = U;
    static constexpr bool atomic = true;
};

// The U of a std::atomic<U> element (of const std::atomic<U> too).
template <class T>
using wait_value_t = typename wait_traits<std::remove_const_t<T>>::value_type;

template <class T>
constexpr bool check_waitable() {
    using element = std::remove_const_t<T>;
    static_assert(wait_traits<element>::atomic,
                  "smh::SharedMemoryHandlee<T>::wait/notify: T must be std::atomic<U> (or const "
                  "std::atomic<U>): a plain element that one process changes while another "
                  "reads it is a data race");
    if constexpr (wait_traits<element>::atomic) {
        constexpr std::size_t size = sizeof(wait_value_t<element>);
        static_assert(size == 4 || size == 8,
                      "smh::SharedMemoryHandlee<std::atomic<U>>::wait/notify: U must have 4 or 8 "
                      "bytes; the OS sleeps on 4-byte words (futex) and 8-byte elements sleep on "
                      "a word in the segment header, which leaves other sizes with neither");
        static_assert(sizeof(element) == size, "a lock-free std::atomic<U> holds just a U");
        return size == 4 || size == 8;
    }
    return false;
}

template <class U>
using wait_bits_t = std::conditional_t<sizeof(U) == 4, std::uint32_t, std::uint64_t>;

inline std::atomic_ref<std::uint32_t> wait_field(const std::uint32_t& field) noexcept {
    // Loads only, on read-only mappings; stores only through writable ones.
    return std::atomic_ref<std::uint32_t>(const_cast<std::uint32_t&>(field));
}

// Holds a writable handle's place in the segment's waiter count.
class waiter_registration {
public:
    waiter_registration(const segment_header& header, bool registered) noexcept
        : waiters_(registered ? &header.waiters : nullptr) {
        if (waiters_) wait_field(*waiters_).fetch_add(1, std::memory_order_seq_cst);
    }
    waiter_registration(const waiter_registration&) = delete;
    waiter_registration& operator=(const waiter_registration&) = delete;
    ~waiter_registration() {
        if (waiters_) wait_field(*waiters_).fetch_sub(1, std::memory_order_release);
    }

private:
    const std::uint32_t* waiters_;
};

// A read-only handle cannot count itself among the waiters, so a notify may
// skip the system call while it sleeps: it looks again after each slice,
// the first short, then doubling up to this.
inline constexpr std::chrono::microseconds unregistered_first_slice{100};
inline constexpr std::chrono::milliseconds unregistered_longest_slice{10};

// A change that comes within a few microseconds costs neither side a system
// call: the waiter looks again this many times, then yields this many times,
// before it registers and sleeps (as std::atomic::wait does within a process).
inline constexpr int looks_before_sleeping = 100;
inline constexpr int yields_before_sleeping = 8;

// Whether `changed` turns true while spinning briefly.
template <class Changed>
bool changes_soon(Changed& changed) {
    for (int look = 0; look < looks_before_sleeping + yields_before_sleeping; ++look) {
        if (look >= looks_before_sleeping) std::this_thread::yield();
        if (changed()) return true;
    }
    return false;
}

// Blocks until `changed()` (a seq_cst load of what it watches) is true, or
// `deadline` (time_point::max(): no limit), sleeping on `word`: the header's
// sequence, or the watched value itself while it holds `old_word`. Returns
// whether it saw the change. Signals and spurious wake-ups only make it look
// again.
template <class Changed>
bool wait_until_changed(const segment_header& header, const std::uint32_t& word,
                        std::uint32_t old_word, Changed changed, bool registered,
                        std::chrono::steady_clock::time_point deadline) noexcept {
    using clock = std::chrono::steady_clock;
    if (changed() || changes_soon(changed)) return true;
    const bool on_sequence = &word == &header.wait_sequence;
    const waiter_registration registration(header, registered);
    std::chrono::nanoseconds slice = unregistered_first_slice;
    for (;;) {
        // The sequence before the element (see the top of this file).
        const std::uint32_t expected =
            on_sequence ? wait_field(word).load(std::memory_order_seq_cst) : old_word;
        if (changed()) return true;
        std::optional<std::chrono::nanoseconds> timeout;
        if (deadline != clock::time_point::max()) {
            const auto now = clock::now();
            if (now >= deadline) return false;
            timeout = deadline - now;
        }
        if (!registered) {
            if (!timeout || *timeout > slice) timeout = slice;
            slice = std::min<std::chrono::nanoseconds>(2 * slice, unregistered_longest_slice);
        }
        os::sleep_on_word(header, word, expected, timeout);
    }
}

// Blocks while `element` holds `old` (compared as bytes), until `deadline`.
template <class U>
bool wait_until(const segment_header& header, const std::atomic<U>& element, U old, bool registered,
                std::chrono::steady_clock::time_point deadline) noexcept {
    const auto old_bits = std::bit_cast<wait_bits_t<U>>(old);
    auto changed = [&] {
        return std::bit_cast<wait_bits_t<U>>(element.load(std::memory_order_seq_cst)) != old_bits;
    };
    return wait_until_changed(header, os::wait_word_for(header, &element, sizeof(U)),
                              static_cast<std::uint32_t>(old_bits), changed, registered, deadline);
}

// A growable segment's length, which only grows: a waiter for a size
// sleeps on the header's sequence (the length has 8 bytes, as an 8-byte
// element's waiters do) until the length is at least `at_least`; grow
// increments the sequence after it stores the length (notify_growth).
inline bool wait_for_length(const segment_header& header, std::uint64_t at_least, bool registered,
                            std::chrono::steady_clock::time_point deadline) noexcept {
    auto reached = [&] {
        return std::atomic_ref<std::uint64_t>(const_cast<std::uint64_t&>(header.length))
                   .load(std::memory_order_seq_cst) >= at_least;
    };
    return wait_until_changed(header, os::wait_word_for(header, &header.length, 8), 0, reached,
                              registered, deadline);
}

// Wakes whoever waits for a size, once a grower stored the new length; no
// system call while no writable handle waits on the segment.
inline void notify_growth(segment_header& header) noexcept {
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (wait_field(header.waiters).load(std::memory_order_relaxed) == 0) return;
    auto& word = const_cast<std::uint32_t&>(os::wait_word_for(header, &header.length, 8));
    os::wake_word(header, word, true);
}

// A deadline `timeout` from now, saturated rather than overflowing; any
// duration type, floating ones included.
template <class Rep, class Period>
std::chrono::steady_clock::time_point
wait_deadline(std::chrono::duration<Rep, Period> timeout) noexcept {
    using clock = std::chrono::steady_clock;
    const auto now = clock::now();
    if (timeout <= timeout.zero()) return now;
    const std::chrono::duration<double> room = clock::time_point::max() - now;
    if (std::chrono::duration<double>(timeout) >= room) return clock::time_point::max();
    return now + std::chrono::ceil<clock::duration>(timeout);
}

// SharedMemoryHandlee::wait: `header` of the segment, `element` the checked one.
template <class T>
void wait(const segment_header* header, const T& element, wait_value_t<T> old,
          bool registered) noexcept {
    if constexpr (check_waitable<T>())
        (void)wait_until(*header, element, old, registered,
                         std::chrono::steady_clock::time_point::max());
}

template <class T, class Rep, class Period>
bool wait_for(const segment_header* header, const T& element, wait_value_t<T> old, bool registered,
              std::chrono::duration<Rep, Period> timeout) noexcept {
    if constexpr (check_waitable<T>())
        return wait_until(*header, element, old, registered, wait_deadline(timeout));
    return false;
}

// SharedMemoryHandlee::notify_one (`all` false) and notify_all. Makes no
// system call while no writable handle waits on this segment.
template <class T>
void notify(segment_header* header, T& element, bool all) noexcept {
    static_assert(!std::is_const_v<T>,
                  "smh::SharedMemoryHandlee<const std::atomic<U>>::notify_one/notify_all: a "
                  "read-only handle cannot notify; attach writable to change and notify");
    if constexpr (check_waitable<T>()) {
        std::atomic_thread_fence(std::memory_order_seq_cst);
        if (wait_field(header->waiters).load(std::memory_order_relaxed) == 0) return;
        auto& word = const_cast<std::uint32_t&>(
            os::wait_word_for(*header, &element, sizeof(wait_value_t<T>)));
        os::wake_word(*header, word, all);
    }
}

} // namespace detail
} // namespace v0
} // namespace smh
