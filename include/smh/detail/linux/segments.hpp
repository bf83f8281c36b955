// Linux segments: opening and mapping one whole, reading its header without
// mapping it, what an object keeps of it, taking its name away, and the
// directory of segments (list, remove, orphans).
#pragma once

#include <dirent.h>   // listing /dev/shm
#include <fcntl.h>    // open, AT_FDCWD
#include <sys/stat.h> // fstat, lstat
#include <unistd.h>   // pread, unlink

#include <chrono>   // the age of a half-built segment
#include <cstdint>  // fixed-width values
#include <limits>   // the largest mappable size
#include <memory>   // the open directory
#include <optional> // a header that is not there
#include <string>   // names
#include <utility>  // std::exchange
#include <vector>   // listings

#include "../layout.hpp"
#include "owner_lock.hpp"
#include "system.hpp"
#include "termination.hpp"

namespace smh {
inline namespace v0 {
namespace detail::os {

// A segment opened and mapped whole. No descriptor outlives create or
// attach: the mapping keeps the open file description, and with it the
// owner's lock, alive.
struct opened_segment {
    unique_fd file;
    mapping region;
    std::uint64_t size = 0;
    file_identity identity;
    bool locked = false; // the mapping's open file description holds the owner's lock
    // create: registered for termination cleanup. Forgotten here, before the
    // mapping it points into goes, unless an object took it (hold_created).
    owned_entry* entry = nullptr;
    unique_fd own_file; // growable and writable (growing.hpp), or anonymous (anonymous.hpp)

    opened_segment() noexcept = default;
    opened_segment(opened_segment&& other) noexcept
        : file(std::move(other.file)),
          region(std::move(other.region)),
          size(other.size),
          identity(other.identity),
          locked(other.locked),
          entry(std::exchange(other.entry, nullptr)),
          own_file(std::move(other.own_file)) {}
    opened_segment& operator=(opened_segment&&) = delete;
    ~opened_segment() { forget_owned(entry); }
};

// Maps the whole file, read-write or read-only.
inline mapping map_whole(int fd, const segment_operation& what, std::uint64_t bytes,
                         bool writable) {
    try {
        return mapping(mappable_descriptor{fd}, writable ? bip::read_write : bip::read_only, 0,
                       static_cast<std::size_t>(bytes));
    } catch (const bip::interprocess_exception& e) { rethrow_boost(what, e, "mmap"); }
}

// ---------------------------------------------------------------------------
// Open.

// Opens the file `name` in /dev/shm without ever blocking: O_NONBLOCK, so a
// FIFO planted under the name cannot block open(2) and a lease makes it fail
// with EWOULDBLOCK instead of waiting out the lease-break time; O_NOFOLLOW, so
// a symbolic link is refused. Anything but a regular file is not a segment.
inline unique_fd open_file(const segment_operation& what, bool writable, struct stat& info) {
    const int flags = (writable ? O_RDWR : O_RDONLY) | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC;
    unique_fd fd(::open(path_of(what.name).c_str(), flags));
    if (!fd) {
        const int error = errno;
        const std::error_code native(error, native_category());
        if (error == ELOOP)
            what.fail(errc::corrupt_segment, "a symbolic link, not a segment", native);
        if (error == EISDIR || error == ENXIO)
            what.fail(errc::corrupt_segment, "not a segment: a directory or a special file",
                      native);
        if (error == EWOULDBLOCK)
            what.fail(errc::permission_denied, "another process holds a lease on it", native);
        throw_native(what, error, "open");
    }
    if (::fstat(fd.get(), &info) != 0) throw_native(what, errno, "fstat");
    if (!S_ISREG(info.st_mode))
        what.fail(errc::corrupt_segment, S_ISFIFO(info.st_mode)
                                             ? "not a segment: a FIFO"
                                             : "not a segment: not a regular file");
    return fd;
}

// Opens the segment read-write, or read-only (which needs only read
// permission), and maps it whole; a zero-length file is not mapped. A name
// appears only for a finished segment, so there is no creator to wait for.
inline opened_segment open_segment(const segment_operation& what, bool writable,
                                   std::chrono::milliseconds /*creation_timeout*/) {
    struct stat info {};
    opened_segment segment;
    segment.file = open_file(what, writable, info);
    segment.size = static_cast<std::uint64_t>(info.st_size);
    segment.identity = identity_of(info);
    if (segment.size == 0) return segment;
    if (segment.size > std::numeric_limits<std::size_t>::max())
        what.fail(errc::corrupt_segment,
                  "it has " + std::to_string(segment.size) + " bytes, more than can be mapped");
    segment.region = map_whole(segment.file.get(), what, segment.size, writable);
    return segment;
}

// The first 256 bytes of the segment, read with pread(2), never mapped: a
// file truncated meanwhile gives a short read, not a SIGBUS. nullopt for a
// regular file shorter than a header. Throws what open_file throws (not_found,
// permission_denied, corrupt_segment for what is not a regular file, os_error
// e.g. for EMFILE): a failure to read is never "nothing there".
inline std::optional<header_snapshot> read_header(const segment_operation& what) {
    struct stat info {};
    const auto fd = open_file(what, false, info);
    header_snapshot snapshot{};
    if (static_cast<std::uint64_t>(info.st_size) < header_size) return std::nullopt;
    const auto got = ::pread(fd.get(), &snapshot.header, header_size, 0);
    if (got < 0) throw_native(what, errno, "pread");
    if (static_cast<std::size_t>(got) < header_size) return std::nullopt;
    snapshot.size = static_cast<std::uint64_t>(info.st_size);
    snapshot.identity = identity_of(info);
    snapshot.owner_lock_held = owner_lock_held_elsewhere(fd.get());
    snapshot.uid = static_cast<unsigned>(info.st_uid);
    snapshot.mode = static_cast<unsigned>(info.st_mode & 07777);
    return snapshot;
}

// What an object keeps: the mapping stays in `region`, which the object
// keeps at a fixed place (its segment_state) for as long as the hold lives.
inline segment_hold hold(opened_segment& segment, mapping& region) noexcept {
    segment_hold held(segment.identity, region, segment.locked);
    held.own_file = std::move(segment.own_file);
    return held;
}

// The creator also keeps its cleanup entry.
inline segment_hold hold_created(opened_segment& segment, mapping& region) noexcept {
    auto held = hold(segment, region);
    held.entry = std::exchange(segment.entry, nullptr);
    return held;
}

// Takes the held segment's name away, unless someone replaced it.
inline unlink_result unlink(const segment_name& name, segment_hold& held) noexcept {
    try {
        return unlink(AT_FDCWD, path_of(name).c_str(), held.identity);
    } catch (...) { return unlink_result::failed; } // no memory for the path
}

// ---------------------------------------------------------------------------
// The directory of segments.

// A builder locks its file under a building name right after creating it; one unlocked
// and older than this was left by a builder that died.
inline constexpr std::chrono::seconds building_lock_grace{2};

// Segments are files in one directory: they can be listed, and they outlive
// their processes, so orphans exist. smh::list(), smh::remove() and
// smh::remove_orphans() are written against this; windows/segments.hpp has
// no such directory.
struct segment_directory {
    static constexpr bool available = true;

    // Names of the regular files in the directory: every segment this user
    // can see, smh's or not. A directory that cannot be read is an error,
    // never an empty list.
    static std::vector<std::string> names(std::string_view operation) {
        std::vector<std::string> names;
        const std::string path(segment_directory_path);
        const std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir(path.c_str()), ::closedir);
        if (!dir) fail(operation, path, "opening the directory");
        for (;;) {
            errno = 0;
            const dirent* entry = ::readdir(dir.get());
            if (!entry) break;
            if (entry->d_type == DT_REG || entry->d_type == DT_UNKNOWN)
                names.emplace_back(entry->d_name);
        }
        if (errno != 0) fail(operation, path, "reading the directory");
        return names;
    }

    // The directory itself, not a segment, is what failed.
    [[noreturn, gnu::cold]] static void fail(std::string_view operation, const std::string& path,
                                             std::string_view what_failed) {
        const int error = errno;
        throw_error(errc_from_native(error), operation, path, what_failed,
                    std::error_code(error, native_category()));
    }

    // The size of the file `name` (lstat(2): a symbolic link's own), 0 if it
    // cannot be looked at: for files that are not listed as segments.
    static std::uint64_t size_of(const std::string& name) noexcept {
        try {
            struct stat info {};
            if (::lstat(path_of(name).c_str(), &info) != 0) return 0;
            return static_cast<std::uint64_t>(info.st_size);
        } catch (...) { return 0; } // no memory for the path
    }

    // Takes `name` away while it names the file `identity`.
    static unlink_result unlink(const segment_name& name, const file_identity& identity) noexcept {
        try {
            return os::unlink(AT_FDCWD, path_of(name).c_str(), identity);
        } catch (...) { return unlink_result::failed; } // no memory for the path
    }

    // Whether `name` is a building name whose builder died: not
    // locked, and older than a builder needs to lock it.
    static bool is_abandoned_build(const std::string& name) noexcept {
        // Exactly the prefix and 16 lowercase hex digits, as create makes them.
        if (name.size() != building_name_prefix.size() + 16 ||
            name.rfind(building_name_prefix, 0) != 0 ||
            name.find_first_not_of("0123456789abcdef", building_name_prefix.size()) !=
                std::string::npos)
            return false;
        unique_fd fd(::open(path_of(name).c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
        struct stat info {};
        if (!fd || ::fstat(fd.get(), &info) != 0 || !S_ISREG(info.st_mode)) return false;
        const auto changed = std::chrono::system_clock::time_point(
            std::chrono::duration_cast<std::chrono::system_clock::duration>(
                std::chrono::seconds(info.st_ctim.tv_sec) +
                std::chrono::nanoseconds(info.st_ctim.tv_nsec)));
        return std::chrono::system_clock::now() - changed > building_lock_grace &&
               !owner_lock_held_elsewhere(fd.get());
    }

    static bool remove_abandoned_build(const std::string& name) noexcept {
        return is_abandoned_build(name) && ::unlink(path_of(name).c_str()) == 0;
    }
};
} // namespace detail::os
} // namespace v0
} // namespace smh
