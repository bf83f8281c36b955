// POSIX implementation of the functions detail/platform.hpp promises, on
// Boost.Interprocess's shared_memory_object (shm_open) and mapped_region (mmap).
// Where Boost stops (file identity, space reservation, process liveness) the
// native descriptor is used directly.
#pragma once

#include <boost/interprocess/exceptions.hpp>           // interprocess_exception
#include <boost/interprocess/mapped_region.hpp>        // mmap/munmap owner
#include <boost/interprocess/permissions.hpp>          // creation mode bits
#include <boost/interprocess/shared_memory_object.hpp> // shm_open/shm_unlink

#include <dirent.h>   // listing /dev/shm
#include <fcntl.h>    // posix_fallocate, open
#include <signal.h>   // kill(pid, 0)
#include <sys/mman.h> // madvise
#include <sys/stat.h> // fstat, lstat
#include <unistd.h>   // getpid, getentropy, ftruncate, pread

#include <atomic>       // the cached start time
#include <cerrno>       // errno values
#include <chrono>       // creation time
#include <cstdint>      // fixed-width values
#include <fstream>      // /proc/<pid>/stat
#include <iterator>     // istreambuf_iterator
#include <limits>       // the largest mappable size
#include <optional>     // process status
#include <string>       // names
#include <system_error> // native codes
#include <vector>       // listings

#include "../error.hpp"
#include "layout.hpp"

namespace smh::detail::os {

namespace bip = boost::interprocess;

// NAME_MAX: the name becomes a file in /dev/shm on Linux.
inline constexpr std::size_t max_name_length = 255;

struct file_identity {
    std::uint64_t device = 0;
    std::uint64_t inode = 0;
    bool operator==(const file_identity&) const = default;
};

// A mapping of a segment, unmapped on destruction.
using mapping = bip::mapped_region;

// A segment opened by name and mapped whole. `file` is closed once the caller
// no longer needs the descriptor; the mapping stays valid without it.
struct opened_segment {
    bip::shared_memory_object file;
    mapping region;
    std::uint64_t size = 0;
    file_identity identity;
    std::chrono::milliseconds unchanged_for{}; // since the last size or content change
};

// errno values, as std::system_category() holds them on POSIX.
inline const std::error_category& native_category() noexcept { return std::system_category(); }

inline errc errc_from_native(int value) noexcept {
    switch (value) {
    case ENOENT: return errc::not_found;
    case EEXIST: return errc::already_exists;
    case EACCES:
    case EPERM: return errc::permission_denied;
    case ENOSPC:
    case EDQUOT:
    case EFBIG: return errc::no_space;
    case ENAMETOOLONG: return errc::invalid_name;
    default: return errc::os_error;
    }
}

inline int last_native_error() noexcept { return errno; }

[[noreturn]] inline void throw_native(int value, std::string_view operation, std::string_view name,
                                      std::string_view what_failed) {
    throw_error(errc_from_native(value), operation, name, what_failed,
                std::error_code(value, native_category()));
}

// Boost reports the errno it saw; without one, it is a Boost-level failure.
[[noreturn]] inline void rethrow_boost(const bip::interprocess_exception& e,
                                       std::string_view operation, std::string_view name,
                                       std::string_view what_failed) {
    const int native = e.get_native_error();
    if (native != 0) throw_native(native, operation, name, what_failed);
    throw_error(errc::os_error, operation, name, std::string(what_failed) + ": " + e.what());
}

inline file_identity identity_of(const struct stat& info) noexcept {
    return {static_cast<std::uint64_t>(info.st_dev), static_cast<std::uint64_t>(info.st_ino)};
}

// Fills size, identity and the time since the file's size or contents last
// changed (st_ctim: shm_open, ftruncate and posix_fallocate set it).
inline void stat_segment(int fd, opened_segment& segment, std::string_view operation,
                         std::string_view name) {
    struct stat info {};
    if (::fstat(fd, &info) != 0) throw_native(errno, operation, name, "fstat");
    segment.size = static_cast<std::uint64_t>(info.st_size);
    segment.identity = identity_of(info);
    const auto changed = std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(
            std::chrono::seconds(info.st_ctim.tv_sec) +
            std::chrono::nanoseconds(info.st_ctim.tv_nsec)));
    segment.unchanged_for = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::system_clock::now() - changed);
}

inline int descriptor(const bip::shared_memory_object& file) noexcept {
    return file.get_mapping_handle().handle;
}

// Creates `name` exclusively (O_CREAT|O_EXCL: an existing segment is never
// opened, truncated or adopted), sizes it to `bytes` of zeros with mode
// `permissions` exactly (Boost fchmods, so the umask cannot widen or narrow
// it), and maps it read-write. On failure nothing is left behind.
inline opened_segment create_segment(const std::string& name, std::uint64_t bytes,
                                     unsigned permissions) {
    constexpr std::string_view op = "create";
    opened_segment segment;
    try {
        segment.file = bip::shared_memory_object(bip::create_only, name.c_str(), bip::read_write,
                                                 bip::permissions(permissions));
    } catch (const bip::interprocess_exception& e) { rethrow_boost(e, op, name, "shm_open"); }
    try {
        const int fd = descriptor(segment.file);
        while (::ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
            if (errno != EINTR) throw_native(errno, op, name, "ftruncate");
        }
        stat_segment(fd, segment, op, name);
        try {
            segment.region = bip::mapped_region(segment.file, bip::read_write, 0,
                                                static_cast<std::size_t>(bytes));
        } catch (const bip::interprocess_exception& e) { rethrow_boost(e, op, name, "mmap"); }
    } catch (...) {
        bip::shared_memory_object::remove(name.c_str());
        throw;
    }
    return segment;
}

// Allocates the pages of the segment's first `bytes` now. tmpfs happily maps a
// sparse file and SIGBUSes on first touch when it is full; posix_fallocate(3)
// makes that an ENOSPC here instead. Filesystems that cannot preallocate
// (EOPNOTSUPP, EINVAL) keep the lazily allocated file.
inline void reserve_space(const opened_segment& segment, std::string_view name,
                          std::uint64_t bytes) {
    int result;
    do {
        result = ::posix_fallocate(descriptor(segment.file), 0, static_cast<off_t>(bytes));
    } while (result == EINTR);
    // ENOMEM: a memory cgroup's limit, which is where tmpfs pages are charged.
    if (result == ENOMEM) result = ENOSPC;
    if (result != 0 && result != EOPNOTSUPP && result != EINVAL)
        throw_native(result, "create", name, "reserving " + std::to_string(bytes) + " bytes");
}

enum class populate { none, read, write };

// Performance hints for a fresh mapping; a kernel that does not know one
// (EINVAL) is not an error: the mapping works, only without the hint.
inline void advise(mapping& region, bool huge_pages, populate mode) noexcept {
    void* base = region.get_address();
    const std::size_t size = region.get_size();
    if (base == nullptr || size == 0) return;
    if (huge_pages) ::madvise(base, size, MADV_HUGEPAGE);
#if defined(MADV_POPULATE_READ) && defined(MADV_POPULATE_WRITE)
    if (mode != populate::none)
        ::madvise(base, size, mode == populate::read ? MADV_POPULATE_READ : MADV_POPULATE_WRITE);
#else
    (void)mode;
#endif
}

// Opens `name` read-write, or read-only (which needs only read permission).
inline opened_segment open_segment(const std::string& name, std::string_view operation,
                                   bool writable) {
    opened_segment segment;
    try {
        segment.file = bip::shared_memory_object(bip::open_only, name.c_str(),
                                                 writable ? bip::read_write : bip::read_only);
    } catch (const bip::interprocess_exception& e) {
        rethrow_boost(e, operation, name, "shm_open");
    }
    stat_segment(descriptor(segment.file), segment, operation, name);
    return segment;
}

// Maps what open_segment opened; a zero-length segment is not mapped.
inline void map_segment(opened_segment& segment, std::string_view operation, std::string_view name,
                        bool writable) {
    if (segment.size == 0) return;
    if (segment.size > std::numeric_limits<std::size_t>::max())
        throw_error(errc::corrupt_segment, operation, name,
                    "it has " + std::to_string(segment.size) + " bytes, more than can be mapped");
    try {
        segment.region =
            bip::mapped_region(segment.file, writable ? bip::read_write : bip::read_only, 0,
                               static_cast<std::size_t>(segment.size));
    } catch (const bip::interprocess_exception& e) { rethrow_boost(e, operation, name, "mmap"); }
}

// Linux keeps POSIX shared-memory objects as files in /dev/shm (shm_overview(7)).
inline constexpr std::string_view segment_directory_path = "/dev/shm";

inline bool segment_exists(const std::string& name) noexcept {
    struct stat info {};
    return ::lstat((std::string(segment_directory_path) + "/" + name).c_str(), &info) == 0;
}

struct header_snapshot {
    segment_header header;
    std::uint64_t size;
    file_identity identity;
};

// The first 256 bytes of segment `name`, read with pread(2), never mapped: a
// file truncated meanwhile gives a short read, not a SIGBUS. O_NONBLOCK, so a
// FIFO someone placed in the directory cannot block us. nullopt for anything
// that is not a readable regular file of at least a header's size.
inline std::optional<header_snapshot> read_header(const std::string& name) {
    const std::string path = std::string(segment_directory_path) + "/" + name;
    const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return std::nullopt;
    std::optional<header_snapshot> result;
    struct stat info {};
    header_snapshot snapshot{};
    if (::fstat(fd, &info) == 0 && S_ISREG(info.st_mode) &&
        static_cast<std::uint64_t>(info.st_size) >= header_size &&
        ::pread(fd, &snapshot.header, header_size, 0) == static_cast<ssize_t>(header_size)) {
        snapshot.size = static_cast<std::uint64_t>(info.st_size);
        snapshot.identity = identity_of(info);
        result = snapshot;
    }
    ::close(fd);
    return result;
}

enum class unlink_result { removed, gone, failed };

// Removes `name` only if it still names the file we created or attached: if
// someone else unlinked ours and created a new segment under the same name,
// that one is left alone (`gone`: our name no longer exists). lstat needs no
// permission on the file itself. POSIX cannot unlink by descriptor, so a
// removal and re-creation between the check and the unlink is not caught.
inline unlink_result unlink_if_same(const std::string& name,
                                    const file_identity& identity) noexcept {
    try {
        struct stat info {};
        const std::string path = std::string(segment_directory_path) + "/" + name;
        if (::lstat(path.c_str(), &info) != 0)
            return errno == ENOENT ? unlink_result::gone : unlink_result::failed;
        if (!(identity_of(info) == identity)) return unlink_result::gone;
        if (bip::shared_memory_object::remove(name.c_str())) return unlink_result::removed;
        return errno == ENOENT ? unlink_result::gone : unlink_result::failed;
    } catch (...) { return unlink_result::failed; }
}

// What a SharedMemoryHandlee keeps of its segment besides the mapping: the
// file's identity, so that it removes the name only while that still names
// its file. The descriptor itself is closed; the mapping does not need it.
struct segment_hold {
    file_identity identity;
};

inline segment_hold hold(const opened_segment& segment) noexcept { return {segment.identity}; }

// Removes the name of the held segment, unless someone replaced it.
inline unlink_result release_name(const std::string& name, const segment_hold& hold) noexcept {
    return unlink_if_same(name, hold.identity);
}

// Segments are files in one directory: they can be listed, and they outlive
// their processes, so orphans exist. smh::list(), smh::remove() and
// smh::remove_orphans() are written against this; platform_windows.hpp has
// no such directory.
struct segment_directory {
    static constexpr bool available = true;

    // Names of the regular files in the directory: every segment this user
    // can see, smh's or not.
    static std::vector<std::string> names() {
        std::vector<std::string> names;
        DIR* dir = ::opendir(std::string(segment_directory_path).c_str());
        if (!dir) return names;
        while (const dirent* entry = ::readdir(dir)) {
            if (entry->d_type == DT_REG || entry->d_type == DT_UNKNOWN)
                names.emplace_back(entry->d_name);
        }
        ::closedir(dir);
        return names;
    }

    static unlink_result remove_if_same(const std::string& name,
                                        const file_identity& identity) noexcept {
        return unlink_if_same(name, identity);
    }
};

inline std::int64_t current_pid() noexcept { return static_cast<std::int64_t>(::getpid()); }

struct process_status {
    char state;               // proc(5) field 3: R, S, D, Z, X, ...
    std::uint64_t start_time; // proc(5) field 22: clock ticks after boot
};

// Reads /proc/<pid>/stat; nullopt when the process (or /proc) is not there.
inline std::optional<process_status> read_process_status(std::int64_t pid) noexcept {
    try {
        std::ifstream stat_file("/proc/" + std::to_string(pid) + "/stat");
        if (!stat_file) return std::nullopt;
        const std::string text((std::istreambuf_iterator<char>(stat_file)),
                               std::istreambuf_iterator<char>());
        // The command name (field 2) may hold spaces and ')': skip past the last ')'.
        std::size_t at = text.rfind(')');
        if (at == std::string::npos || at + 2 >= text.size()) return std::nullopt;
        const char state = text[at + 2];
        for (int field = 2; field < 22; ++field) {
            at = text.find(' ', at + 1);
            if (at == std::string::npos) return std::nullopt;
        }
        return process_status{state, std::stoull(text.substr(at + 1))};
    } catch (...) { return std::nullopt; }
}

// With the pid, identifies a process even after its pid is reused; 0 where
// the OS does not tell.
inline std::uint64_t process_start_time(std::int64_t pid) noexcept {
    const auto status = read_process_status(pid);
    return status ? status->start_time : 0;
}

// This process's start time, given its pid; read from /proc once per
// process (a forked child has a new pid, so it reads its own).
inline std::uint64_t own_start_time(std::int64_t pid) noexcept {
    static std::atomic<std::int64_t> cached_pid{0};
    static std::atomic<std::uint64_t> cached_start{0};
    if (cached_pid.load(std::memory_order_acquire) == pid)
        return cached_start.load(std::memory_order_relaxed);
    const auto start = process_start_time(pid);
    cached_start.store(start, std::memory_order_relaxed);
    cached_pid.store(pid, std::memory_order_release);
    return start;
}

// Threads in process `pid` (/proc/<pid>/status), 0 if unknown.
inline int thread_count(std::int64_t pid) noexcept {
    try {
        std::ifstream status("/proc/" + std::to_string(pid) + "/status");
        for (std::string line; std::getline(status, line);)
            if (line.rfind("Threads:", 0) == 0) return std::stoi(line.substr(8));
    } catch (...) {}
    return 0;
}

// Whether the process recorded as (pid, start_time) still runs; start_time 0
// checks the pid alone. A different start time means the pid was reused. A
// zombie has finished, unless it is a thread-group leader that returned from
// main with pthread_exit while its other threads run on. Without a readable
// /proc entry (hidepid), kill(pid, 0) decides: EPERM means it exists.
inline bool process_alive(std::int64_t pid, std::uint64_t start_time) noexcept {
    if (pid <= 0 || pid > std::int64_t{0x7fffffff}) return false;
    if (const auto status = read_process_status(pid)) {
        if (start_time != 0 && status->start_time != start_time) return false;
        if (status->state == 'Z' || status->state == 'X') return thread_count(pid) > 1;
        return true;
    }
    return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

// 64 bits from the kernel's random source (getentropy(3)).
inline std::uint64_t random_64() {
    std::uint64_t value = 0;
    if (::getentropy(&value, sizeof value) != 0) throw_native(errno, "create", "", "getentropy");
    return value;
}

} // namespace smh::detail::os
