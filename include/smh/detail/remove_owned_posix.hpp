// The owner's end of a segment done for it, where its destructor cannot run:
// by the termination cleanup (a signal handler in the owner's own process)
// and by the watcher (a process of its own, once the owner has died). One
// function for both, so the protocol is written once. Async-signal-safe:
// lock-free atomics and system calls, nothing allocated.
#pragma once

#include <fcntl.h>    // AT_SYMLINK_NOFOLLOW
#include <sys/stat.h> // fstatat
#include <unistd.h>   // unlinkat

#include <atomic>  // the record's fields
#include <cstdint> // fixed-width values

#include "layout.hpp"
#include "owner_record.hpp"

namespace smh::detail::os {

// Removes `path` (absolute, or relative to the directory `dir`) only while it
// names the file (device, inode): a name removed and created again names
// another segment, which is left alone. fstatat needs no permission on the
// file itself.
inline bool unlink_if_same_file(int dir, const char* path, std::uint64_t device,
                                std::uint64_t inode) noexcept {
    struct stat info {};
    return ::fstatat(dir, path, &info, AT_SYMLINK_NOFOLLOW) == 0 &&
           static_cast<std::uint64_t>(info.st_dev) == device &&
           static_cast<std::uint64_t>(info.st_ino) == inode && ::unlinkat(dir, path, 0) == 0;
}

// Removes the name of a segment whose owner record is `expected`, as its
// owner's destructor would: claims the record for `claimant` (so a process
// taking ownership at the same moment either wins and keeps the name, or
// finds it gone), removes the name if it still names the same file, and
// clears the record; where the name stays, puts the record back. False when
// the record is not `expected` (ownership moved on, or is moving). A caller
// that holds the claim already (`claimed`) goes straight to the name.
inline bool remove_owned_name(segment_header& header, const owner_record& expected,
                              std::int64_t claimant, int dir, const char* path,
                              std::uint64_t device, std::uint64_t inode,
                              bool claimed = false) noexcept {
    if (!claimed && !try_claim_owner(header, expected, claimant)) return false;
    if (unlink_if_same_file(dir, path, device, inode)) {
        publish_owner(header, owner_record{});
        return true;
    }
    owner_pid_field(header).store(expected.pid, std::memory_order_release);
    return false;
}

} // namespace smh::detail::os
