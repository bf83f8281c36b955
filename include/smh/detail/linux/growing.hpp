// Growing a Linux segment: its mapping covers the capacity from the start
// (mmap(2) maps a file past its end; only touching those pages would
// SIGBUS), growers take turns under an open-file-description lock on the
// file's second byte, and the file is extended with posix_fallocate before a
// new length is published, so every page below the length exists.
#pragma once

#include <fcntl.h>    // fcntl, F_OFD_SETLK, posix_fallocate
#include <sys/stat.h> // fstat

#include <algorithm> // std::min
#include <cerrno>    // errno values
#include <chrono>    // the growers' deadline
#include <cstdint>   // fixed-width values
#include <string>    // messages
#include <thread>    // pauses between tries for the growers' lock

#include "creating.hpp"
#include "owner_lock.hpp"
#include "segments.hpp"
#include "system.hpp"

namespace smh {
inline namespace v0 {
namespace detail::os {

// Maps the whole capacity again, through the descriptor attach opened; a
// writable handle keeps that descriptor (its own description, which never
// takes the owner's lock: lock_for_owning opens another) to grow through.
inline std::uint64_t map_capacity(opened_segment& segment, const segment_operation& what,
                                  bool writable, std::uint64_t capacity_bytes) {
    if (capacity_bytes > std::numeric_limits<std::size_t>::max())
        what.fail(errc::corrupt_segment, "its capacity of " + std::to_string(capacity_bytes) +
                                             " bytes is more than can be mapped");
    // An anonymous segment's descriptor is already the handle's own.
    const int fd = segment.file ? segment.file.get() : segment.own_file.get();
    segment.region = map_whole(fd, what, capacity_bytes, writable);
    struct stat info {};
    if (::fstat(fd, &info) != 0) throw_native(what, errno, "fstat");
    if (writable && segment.file) segment.own_file = std::move(segment.file);
    return static_cast<std::uint64_t>(info.st_size);
}

// The growers' lock: a write lock on the file's second byte (the owner's
// lock is a read lock on the first). An open-file-description lock, so the
// kernel drops it when a grower dies, and handles in one process, each with
// its own description, exclude each other too (fcntl(2), "Open file
// description locks").
inline struct flock second_byte(short type) noexcept { return one_byte(type, 1); }

// Takes the growers' lock on `fd`, trying again while another description
// holds it, until `deadline`. Polled, not F_OFD_SETLKW: a blocking lock
// cannot be given a deadline, and a polling caller (Python's grow, in
// slices) gets control back to see Ctrl-C. A turn is missed by at most the
// pause, which grows from 50 us to 5 ms: growth is rare, and takes as long
// as backing its bytes takes.
inline bool lock_for_growth(int fd, const segment_operation& what,
                            std::chrono::steady_clock::time_point deadline) {
    using clock = std::chrono::steady_clock;
    auto pause = std::chrono::microseconds(50);
    for (;;) {
        auto lock = second_byte(F_WRLCK);
        if (::fcntl(fd, F_OFD_SETLK, &lock) == 0) return true;
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EACCES) throw_native(what, errno, "locking it for growth");
        const auto now = clock::now();
        if (now >= deadline) return false;
        std::this_thread::sleep_for(std::min<clock::duration>(pause, deadline - now));
        pause = std::min(pause * 2, std::chrono::microseconds(5000));
    }
}

inline bool while_growth_locked(segment_hold& held, const segment_operation& what, growth_work work,
                                std::chrono::steady_clock::time_point deadline) {
    if (!held.own_file)
        what.fail(errc::os_error, "this handle keeps no descriptor to grow it through");
    // OFD locks never conflict within one open file description, which a
    // forked child, or two threads on one handle, share: each grow() locks
    // through a description of its own. Where /proc is missing (or the
    // file's mode does not let this user reopen it), the handle's own.
    const std::string again = "/proc/self/fd/" + std::to_string(held.own_file.get());
    unique_fd fresh(::open(again.c_str(), O_RDWR | O_CLOEXEC));
    const int fd = fresh ? fresh.get() : held.own_file.get();
    if (!lock_for_growth(fd, what, deadline)) return false;
    struct unlock_growth {
        int fd;
        ~unlock_growth() {
            auto unlock = second_byte(F_UNLCK);
            ::fcntl(fd, F_OFD_SETLK, &unlock);
        }
    } unlock{fd};
    work();
    return true;
}

// posix_fallocate(3) allocates the range and sets the size to at least its
// end, or fails leaving both as they were (tmpfs undoes a partial
// allocation); it never shrinks the file. Where the filesystem has no
// fallocate (ramfs), glibc writes into each new block instead, which backs
// it just as well. Growth that cannot be backed fails: a length published
// over pages that are not there would SIGBUS its readers.
inline void extend_segment(segment_hold& held, const segment_operation& what, std::uint64_t from,
                           std::uint64_t to) {
    check_file_size_limit(what, to);
    if (const int result = reserve_range(held.own_file.get(), from, to - from); result != 0)
        throw_native(what, result, "reserving " + std::to_string(to - from) + " more bytes");
}

} // namespace detail::os
} // namespace v0
} // namespace smh
