// What the watcher's child (watcher.hpp) does with what it inherited, before
// it watches: raw system calls only, on its own stack, and every function
// here of hidden visibility, so that no call goes through the procedure
// linkage table (resolved in the child, it would run the dynamic linker on
// memory the child has unmapped). It drops what it has no use for of the
// parent's memory (the top of watcher.hpp says what stays), and closes every
// descriptor but the one it watches with.
#pragma once

#include <fcntl.h>        // openat flags
#include <sys/resource.h> // RLIMIT_NOFILE, for the descriptor fallback
#include <sys/syscall.h>  // SYS_* numbers
#include <unistd.h>       // syscall

#include <cstddef>     // std::size_t
#include <cstdint>     // std::uintptr_t
#include <type_traits> // system call arguments

namespace smh {
inline namespace v0 {
namespace detail::os {

namespace watcher {

// The part of a module's static storage (.bss) the child keeps.
inline constexpr std::uintptr_t bss_kept = std::uintptr_t{1} << 20;
// Kept on each side of the thread pointer and of errno: the thread's TLS block.
inline constexpr std::uintptr_t kept_around = std::uintptr_t{64} << 10;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool sanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) ||                         \
    __has_feature(memory_sanitizer) || __has_feature(hwaddress_sanitizer)
inline constexpr bool sanitized = true;
#else
inline constexpr bool sanitized = false;
#endif
#else
inline constexpr bool sanitized = false;
#endif

// An argument of syscall(2), which reads each as a long: an int passed as
// is through "..." would leave a register's upper half undefined.
template <class T>
[[gnu::visibility("hidden")]] inline long as_argument(T value) noexcept {
    if constexpr (std::is_pointer_v<T>)
        return reinterpret_cast<long>(value);
    else if constexpr (std::is_null_pointer_v<T>)
        return 0;
    else
        return static_cast<long>(value);
}

// A raw system call; -1 and errno on failure.
template <class... Args>
[[gnu::visibility("hidden")]] inline long sys(long number, Args... args) noexcept {
    return ::syscall(number, as_argument(args)...);
}

// An address range [low, high) the child keeps.
struct range {
    std::uintptr_t low = 0;
    std::uintptr_t high = 0;
};

// The whole pages (of `page` bytes) from `below` bytes under `at` to
// `above` over it: what munmap leaves whole when it stops at either end.
[[gnu::visibility("hidden")]] inline range
around(const void* at, std::uintptr_t below, std::uintptr_t above, std::uintptr_t page) noexcept {
    const auto p = reinterpret_cast<std::uintptr_t>(at);
    const auto low = p > below ? (p - below) & ~(page - 1) : 0;
    return {low, (p + above + page - 1) & ~(page - 1)};
}

// What the child keeps of the memory it inherited. In private memory,
// generous ranges (around its thread pointer: the thread's TLS block, whose
// extent is not known). In shared memory, only the pages the child itself
// touches, where a program gave the thread a stack in shared memory: any
// more of a segment would keep the segment, and its owner's lock, alive.
struct kept_ranges {
    const range* in_private;
    int private_count;
    const range* in_shared;
    int shared_count;
};

// Unmaps [low, high) but the kept ranges; true if it unmapped anything.
[[gnu::visibility("hidden")]] inline bool unmap_except(std::uintptr_t low, std::uintptr_t high,
                                                       const range* kept, int count) noexcept {
    bool unmapped = false;
    while (low < high) {
        // The first kept range that overlaps what is left, if any.
        std::uintptr_t cut = high, resume = high;
        for (int i = 0; i < count; ++i)
            if (kept[i].low < high && kept[i].high > low && kept[i].low < cut) {
                cut = kept[i].low > low ? kept[i].low : low;
                resume = kept[i].high;
            }
        if (cut > low && sys(SYS_munmap, low, cut - low) == 0) unmapped = true;
        low = resume > cut ? resume : high;
    }
    return unmapped;
}

[[gnu::visibility("hidden")]] inline std::uintptr_t parse_hex(const char*& at,
                                                              const char* end) noexcept {
    std::uintptr_t value = 0;
    for (; at < end; ++at) {
        const char c = *at;
        const int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (digit < 0) break;
        value = value * 16 + static_cast<std::uintptr_t>(digit);
    }
    return value;
}

[[gnu::visibility("hidden")]] inline bool starts_with(const char* at, const char* end,
                                                      const char* prefix) noexcept {
    for (; *prefix; ++prefix, ++at)
        if (at >= end || *at != *prefix) return false;
    return true;
}

// One line of /proc/self/maps (proc(5)): "low-high perms offset dev inode
// path". Unmaps it, but the kept ranges, if the child has no use for it.
// `after_file` is where the previous private file mapping ended: anonymous
// memory right there is that file's static storage (.bss).
[[gnu::visibility("hidden")]] inline bool drop_mapping(const char* at, const char* end,
                                                       const kept_ranges& kept,
                                                       std::uintptr_t& after_file) noexcept {
    const auto low = parse_hex(at, end);
    if (at >= end || *at != '-') return false;
    const auto high = parse_hex(++at, end);
    if (end - at < 5) return false;
    const bool shared = at[4] == 's';
    int field = 0; // skip perms, offset, dev; then read the inode
    while (at < end && field < 4)
        if (*at++ == ' ') {
            ++field;
            while (at < end && *at == ' ') ++at;
        }
    std::uintptr_t inode = 0;
    for (; at < end && *at >= '0' && *at <= '9'; ++at) inode = inode * 10 + (*at - '0');
    while (at < end && *at == ' ') ++at;
    const bool file = inode != 0;
    const bool segment = starts_with(at, end, "/dev/shm/");
    const bool named_anonymous = at < end && *at == '[';
    const bool bss = !file && !named_anonymous && low == after_file;
    after_file = file && !shared ? high : 0;
    if (shared || segment) return unmap_except(low, high, kept.in_shared, kept.shared_count);
    const range* const ranges = kept.in_private;
    const int count = kept.private_count;
    if (file || sanitized) return false; // sanitizers keep their shadow memory there
    // A module's static storage: its first MiB, which holds what the C
    // library and the dynamic linker keep there; a program's large static
    // arrays beyond it are dropped, so the watcher does not pin them.
    if (bss) return high - low > bss_kept && unmap_except(low + bss_kept, high, ranges, count);
    if (named_anonymous && !starts_with(at, end, "[heap]") && !starts_with(at, end, "[stack") &&
        !starts_with(at, end, "[anon"))
        return false; // [vdso], [vvar], [vsyscall]: the kernel's
    return unmap_except(low, high, ranges, count);
}

// Unmaps what the child inherited and has no use for (see the top of this
// file). /proc/self/maps is read again until a pass unmaps nothing, since a
// kernel may resume a read by position among mappings that have changed.
[[gnu::visibility("hidden")]] inline void drop_inherited_memory(const kept_ranges& kept) noexcept {
    for (int pass = 0; pass < 8; ++pass) {
        const long fd = sys(SYS_openat, AT_FDCWD, "/proc/self/maps", O_RDONLY | O_CLOEXEC);
        if (fd < 0) return;
        bool unmapped = false;
        std::uintptr_t after_file = 0;
        char buffer[16384]; // longer than any line: a path is at most 4096 bytes
        std::size_t held = 0;
        for (;;) {
            const long got = sys(SYS_read, fd, buffer + held, sizeof buffer - held);
            if (got <= 0) break;
            held += static_cast<std::size_t>(got);
            std::size_t line = 0;
            for (std::size_t i = 0; i < held; ++i)
                if (buffer[i] == '\n') {
                    unmapped |= drop_mapping(buffer + line, buffer + i, kept, after_file);
                    line = i + 1;
                }
            if (line == 0 && held == sizeof buffer) line = held; // cannot happen: skip it
            for (std::size_t i = line; i < held; ++i) buffer[i - line] = buffer[i];
            held -= line;
        }
        sys(SYS_close, fd);
        if (!unmapped) return;
    }
}

// Closes every descriptor but `kept` (-1: none).
[[gnu::visibility("hidden")]] inline void close_descriptors_but(long kept) noexcept {
#ifdef SYS_close_range
    const bool closed = kept < 0 ? sys(SYS_close_range, 0U, ~0U, 0U) == 0
                                 : (kept == 0 || sys(SYS_close_range, 0U, kept - 1, 0U) == 0) &&
                                       sys(SYS_close_range, kept + 1, ~0U, 0U) == 0;
    if (closed) return;
#endif
    struct rlimit limit {};
    long last = 65536;
    if (sys(SYS_prlimit64, 0, RLIMIT_NOFILE, nullptr, &limit) == 0 &&
        limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < (1U << 20))
        last = static_cast<long>(limit.rlim_cur);
    for (long fd = 0; fd < last; ++fd)
        if (fd != kept) sys(SYS_close, fd);
}

} // namespace watcher
} // namespace detail::os
} // namespace v0
} // namespace smh
