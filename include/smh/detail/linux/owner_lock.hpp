// The owner's lock (Linux): whose mapping holds it, how an object takes it
// and gives it up without keeping a descriptor, and whether another object
// holds it; with segment_hold, what an object keeps of its segment for that.
#pragma once

#include <fcntl.h>    // open, OFD locks
#include <sys/mman.h> // mmap in place
#include <sys/stat.h> // fstat

#include <cstdint> // fixed-width values
#include <string>  // paths
#include <utility> // std::exchange, std::swap

#include "../owner_record.hpp"
#include "processes.hpp"
#include "system.hpp"
#include "termination.hpp"

namespace smh {
inline namespace v0 {
namespace detail::os {

// ---------------------------------------------------------------------------
// The owner's lock. While an object owns a segment it holds a read lock on the
// segment file's first byte: an open-file-description lock (fcntl(2),
// F_OFD_SETLK), which belongs to the open file description and goes when the
// description does, however the process ended. Whether a lock is held answers
// "does the owner live?" in every pid namespace, where a pid means nothing.
// Read locks, so an adopter can take its own before the old owner has let go
// of its.
//
// The owner keeps no descriptor for it: its mapping is made through the
// locked description, and a mapping keeps its description open (mmap(2): "closing
// the file descriptor does not unmap the region"), so the lock lives exactly
// as long as the owner's mapping. To give the lock up and keep the mapping,
// the object maps the same file again, in place, through a description
// without the lock (map_in_place). So a process may own as many segments as
// it may map, whatever RLIMIT_NOFILE says.

// A lock of `type` on the file's byte `at`: the owner's on byte 0, the
// growers' on byte 1 (growing.hpp).
inline struct flock one_byte(short type, off_t at) noexcept {
    struct flock range {};
    range.l_type = type;
    range.l_whence = SEEK_SET;
    range.l_start = at;
    range.l_len = 1;
    return range;
}
inline struct flock first_byte(short type) noexcept { return one_byte(type, 0); }

inline bool take_owner_lock(int fd) noexcept {
    auto range = first_byte(F_RDLCK);
    return ::fcntl(fd, F_OFD_SETLK, &range) == 0;
}

// Whether an open file description other than `fd`'s holds the owner's lock.
inline bool owner_lock_held_elsewhere(int fd) noexcept {
    auto range = first_byte(F_WRLCK); // conflicts with any lock others hold
    return ::fcntl(fd, F_OFD_GETLK, &range) == 0 && range.l_type != F_UNLCK;
}

// Maps `fd`'s file over the whole of `region` (writable: only owners, and
// so only writable handles, map in place), at the same address: the
// pages are the same, so the data and every pointer into it stay, and
// faults in other threads meanwhile wait for the new mapping (mmap holds the
// address space's lock). The new mapping gets the advice the old one had.
// false if it could not.
inline bool map_in_place(mapping& region, int fd) noexcept {
    void* const base = region.get_address();
    if (::mmap(base, region.get_size(), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) !=
        base)
        return false;
    advise(region, region.huge_pages, region.populated);
    return true;
}

// Opens the segment by name, if the name still is `identity`'s file.
inline unique_fd reopen(const std::string& path, const file_identity& identity,
                        bool writable) noexcept {
    unique_fd fd(
        ::open(path.c_str(), (writable ? O_RDWR : O_RDONLY) | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    struct stat info {};
    if (!fd || ::fstat(fd.get(), &info) != 0 || !(identity_of(info) == identity)) return {};
    return fd;
}

// What a SharedMemoryHandlee keeps of its segment besides the mapping: the
// file's identity, so that it removes the name only while that still names
// its file; where the mapping is, to map it again in place (the owner's
// lock goes with the mapping's description); and while it owns the segment,
// its entry in the table termination cleanup reads. No descriptor, except
// for the moments an object is becoming the owner, and a writable handle of
// a growable segment's own description (growing.hpp), which never takes the
// owner's lock.
struct segment_hold {
    file_identity identity;
    mapping* region = nullptr;  // the object's mapping, in its segment_state
    bool locked = false;        // the mapping's description holds the owner's lock
    std::int64_t locker = 0;    // the process that took it (a forked child shares it)
    unique_fd lock_being_taken; // from lock_for_owning to keep_owner_lock or stop_owning
    owned_entry* entry = nullptr;
    unique_fd own_file; // growable and writable, or anonymous: this handle's own description

    segment_hold() noexcept = default;
    segment_hold(const file_identity& id, mapping& mapped, bool is_locked) noexcept
        : identity(id),
          region(&mapped),
          locked(is_locked),
          locker(is_locked ? current_pid() : 0) {}
    segment_hold(segment_hold&& other) noexcept
        : identity(other.identity),
          region(std::exchange(other.region, nullptr)),
          locked(std::exchange(other.locked, false)),
          locker(other.locker),
          lock_being_taken(std::move(other.lock_being_taken)),
          entry(std::exchange(other.entry, nullptr)),
          own_file(std::move(other.own_file)) {}
    segment_hold& operator=(segment_hold&& other) noexcept {
        segment_hold(std::move(other)).swap(*this);
        return *this;
    }
    ~segment_hold() { forget_owned(entry); }
    void swap(segment_hold& other) noexcept {
        std::swap(identity, other.identity);
        std::swap(region, other.region);
        std::swap(locked, other.locked);
        std::swap(locker, other.locker);
        lock_being_taken.swap(other.lock_being_taken);
        std::swap(entry, other.entry);
        own_file.swap(other.own_file);
    }
};

// Takes the owner's lock for an object about to own its segment: opens the
// file by name (read-write, as the mapping it will replace) if it still is
// ours, and locks it; keep_owner_lock then maps through it. Without it (the name
// is gone, no descriptor left) liveness falls back to pid and start time.
inline void lock_for_owning(segment_hold& held, const segment_name& name) noexcept {
    held.lock_being_taken = unique_fd();
    // The mapping holds a lock of this object's already; a forked child's
    // is its parent's, which the parent may drop: the child takes its own.
    if (held.locked && held.locker == current_pid()) return;
    auto fd = reopen(path_of(name), held.identity, true);
    if (fd && take_owner_lock(fd.get())) held.lock_being_taken = std::move(fd);
}

// Whether another object, in this process or another, holds the owner's
// lock: known only while this one is taking a lock of its own.
inline bool lock_held_by_others(const segment_hold& held) noexcept {
    return held.lock_being_taken && owner_lock_held_elsewhere(held.lock_being_taken.get());
}

// Records that this object owns the segment as `owner`, or is about to
// claim it: termination cleanup removes the name if the process ends while
// the segment says so, or while this process has claimed the record.
inline void note_owning(segment_hold& held, const segment_name& name, const owner_record& owner,
                        segment_header* header) noexcept {
    forget_owned(std::exchange(held.entry, nullptr));
    held.entry =
        remember_owned(path_of(name), held.identity.device, held.identity.inode, owner, header);
}

// The object owns the segment now: its mapping holds the lock it took.
inline void keep_owner_lock(segment_hold& held) noexcept {
    if (held.lock_being_taken && held.region &&
        map_in_place(*held.region, held.lock_being_taken.get())) {
        held.locked = true;
        held.locker = current_pid();
    }
    held.lock_being_taken = unique_fd();
}

// This object no longer owns the segment: drops the entry, and the lock, by
// mapping the file again through a description without it. If the name no
// longer leads to the file (or no descriptor is left), the lock stays with
// the mapping until it goes.
inline void stop_owning(segment_hold& held, const segment_name& name) noexcept {
    forget_owned(std::exchange(held.entry, nullptr));
    held.lock_being_taken = unique_fd();
    if (!held.locked || !held.region) return;
    const auto fd = reopen(path_of(name), held.identity, true);
    if (fd && map_in_place(*held.region, fd.get())) held.locked = false;
}
} // namespace detail::os
} // namespace v0
} // namespace smh
