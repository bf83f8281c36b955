// POSIX implementation of the functions platform_contract.hpp declares. Segments
// are files in /dev/shm (what shm_open(3) uses on Linux), mapped with
// Boost.Interprocess's mapped_region and removed with its shm_unlink. Where
// Boost stops, the native calls are used directly: building a segment before
// it has a name (O_TMPFILE, linkat), opening without blocking (O_NONBLOCK),
// file identity, space reservation, the owner's lock and process liveness.
#pragma once

#include <boost/interprocess/exceptions.hpp>           // interprocess_exception
#include <boost/interprocess/mapped_region.hpp>        // mmap/munmap owner
#include <boost/interprocess/shared_memory_object.hpp> // shm_unlink

#include <dirent.h>       // listing /dev/shm
#include <fcntl.h>        // open, O_TMPFILE, linkat, posix_fallocate, OFD locks
#include <signal.h>       // kill(pid, 0)
#include <sys/mman.h>     // madvise
#include <sys/resource.h> // RLIMIT_FSIZE
#include <sys/stat.h>     // fstat, lstat, fchmod
#include <unistd.h>       // getpid, getentropy, ftruncate, pread, unlink

#include <atomic>       // the cached start time
#include <cerrno>       // errno values
#include <chrono>       // the age of a half-built segment
#include <cstdint>      // fixed-width values
#include <fstream>      // /proc/<pid>/stat
#include <iterator>     // istreambuf_iterator
#include <limits>       // the largest mappable size
#include <memory>       // the open directory
#include <optional>     // process status
#include <string>       // names
#include <system_error> // native codes
#include <utility>      // std::exchange
#include <vector>       // listings

#include "../error.hpp"
#include "huge_pages.hpp"
#include "layout.hpp"
#include "ownership.hpp"
#include "platform_contract.hpp"
#include "segment_name.hpp"
#include "termination_posix.hpp"
#include "wait_linux.hpp"
#include "watcher_linux.hpp"

namespace smh::detail::os {

namespace bip = boost::interprocess;

// Whether /proc is there for this process (below, with what else it says).
inline bool proc_mounted() noexcept;

// Linux keeps POSIX shared-memory objects as files in /dev/shm (shm_overview(7)).
inline constexpr std::string_view segment_directory_path = "/dev/shm";

inline std::string path_of(std::string_view name) {
    return std::string(segment_directory_path).append("/").append(name);
}
inline std::string path_of(const segment_name& name) { return path_of(name.str()); }

// A file descriptor that closes itself.
class unique_fd {
public:
    unique_fd() noexcept = default;
    explicit unique_fd(int fd) noexcept
        : fd_(fd) {}
    unique_fd(unique_fd&& other) noexcept
        : fd_(std::exchange(other.fd_, -1)) {}
    unique_fd& operator=(unique_fd&& other) noexcept {
        unique_fd(std::move(other)).swap(*this);
        return *this;
    }
    ~unique_fd() {
        if (fd_ >= 0) ::close(fd_);
    }
    void swap(unique_fd& other) noexcept { std::swap(fd_, other.fd_); }
    int get() const noexcept { return fd_; }
    explicit operator bool() const noexcept { return fd_ >= 0; }

private:
    int fd_ = -1;
};

// A mapping of a segment, unmapped on destruction. It remembers the advice
// it was given (advise), which map_in_place gives the new mapping again: a
// mapping made in place starts without MADV_HUGEPAGE and without pages.
class mapping : public bip::mapped_region {
public:
    using bip::mapped_region::mapped_region;
    bool huge_pages = false;
    populate populated = populate::none;
};

// What bip::mapped_region maps: a plain descriptor (a shared_memory_object
// would have to open the segment by name, which O_TMPFILE files do not have).
struct mappable_descriptor {
    int fd;
    bip::mapping_handle_t get_mapping_handle() const noexcept {
        bip::mapping_handle_t handle;
        handle.handle = fd;
        handle.is_xsi = false;
        return handle;
    }
};

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

    opened_segment() noexcept = default;
    opened_segment(opened_segment&& other) noexcept
        : file(std::move(other.file)),
          region(std::move(other.region)),
          size(other.size),
          identity(other.identity),
          locked(other.locked),
          entry(std::exchange(other.entry, nullptr)) {}
    opened_segment& operator=(opened_segment&&) = delete;
    ~opened_segment() { forget_owned(entry); }
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

inline std::int64_t current_pid() noexcept { return static_cast<std::int64_t>(::getpid()); }

inline file_identity identity_of(const struct stat& info) noexcept {
    return {static_cast<std::uint64_t>(info.st_dev), static_cast<std::uint64_t>(info.st_ino)};
}

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

inline struct flock first_byte(short type) noexcept {
    struct flock range {};
    range.l_type = type;
    range.l_whence = SEEK_SET;
    range.l_start = 0;
    range.l_len = 1;
    return range;
}

inline bool take_owner_lock(int fd) noexcept {
    auto range = first_byte(F_RDLCK);
    return ::fcntl(fd, F_OFD_SETLK, &range) == 0;
}

// Whether an open file description other than `fd`'s holds the owner's lock.
inline bool owner_lock_held_elsewhere(int fd) noexcept {
    auto range = first_byte(F_WRLCK); // conflicts with any lock others hold
    return ::fcntl(fd, F_OFD_GETLK, &range) == 0 && range.l_type != F_UNLCK;
}

// ---------------------------------------------------------------------------
// Create.

// A builder locks its temporary file right after creating it; one unlocked
// and older than this was left by a builder that died.
inline constexpr std::chrono::seconds building_lock_grace{2};

inline std::string hex_64(std::uint64_t bits) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string text(16, '0');
    for (std::size_t i = text.size(); i-- > 0; bits >>= 4) text[i] = digits[bits & 0xf];
    return text;
}

// 64 bits from the kernel's random source (getentropy(3)).
inline std::uint64_t random_64(std::string_view operation) {
    std::uint64_t value = 0;
    if (::getentropy(&value, sizeof value) != 0)
        throw_error(errc::os_error, operation, "", "getentropy",
                    std::error_code(errno, native_category()));
    return value;
}

// Stops a create before it would pass the process's file-size limit: ftruncate
// and fallocate beyond RLIMIT_FSIZE raise SIGXFSZ, which kills by default.
inline void check_file_size_limit(const segment_operation& what, std::uint64_t bytes) {
    struct rlimit limit {};
    if (::getrlimit(RLIMIT_FSIZE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return;
    if (bytes > static_cast<std::uint64_t>(limit.rlim_cur))
        what.fail(errc::no_space,
                  "it needs " + std::to_string(bytes) +
                      " bytes, more than this process's file-size limit (RLIMIT_FSIZE, "
                      "ulimit -f) of " +
                      std::to_string(limit.rlim_cur) + " bytes",
                  std::error_code(EFBIG, native_category()));
}

// A kernel that does not know a hint (EINVAL) is not an error: the mapping
// works, only without the hint. The mapping remembers it, for map_in_place.
inline void advise(mapping& region, bool huge_pages, populate mode) noexcept {
    region.huge_pages = region.huge_pages || huge_pages;
    if (mode != populate::none) region.populated = mode;
    void* const base = region.get_address();
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

// Gives the new file `bytes` of zeros and reserves its pages. tmpfs maps a
// sparse file happily and SIGBUSes on first touch when it is full;
// posix_fallocate(3) makes that ENOSPC here: every page with `reserve`, else
// at least the header's, which create writes. It also sizes the file, so
// where it reserves the whole file no ftruncate is needed. Filesystems that
// cannot preallocate (EOPNOTSUPP, EINVAL) keep the lazily allocated file.
// On huge=advise nothing is reserved here: see reserve_advised_huge_pages.
// posix_fallocate's verdict: 0, EOPNOTSUPP or EINVAL where the filesystem
// cannot preallocate (not an error: the file stays lazily allocated), or the
// errno to report; ENOMEM is a memory cgroup's limit, where tmpfs pages are
// charged, so ENOSPC.
inline int reserve_file(int fd, std::uint64_t bytes) noexcept {
    int result;
    while ((result = ::posix_fallocate(fd, 0, static_cast<off_t>(bytes))) == EINTR) {}
    return result == ENOMEM ? ENOSPC : result;
}

inline void size_new_file(int fd, const segment_operation& what, std::uint64_t bytes,
                          const create_request& request, huge_policy huge) {
    const std::uint64_t reserved = huge == huge_policy::advise ? 0
                                   : request.reserve           ? bytes
                                                               : request.must_have;
    const int result = reserved != 0 ? reserve_file(fd, reserved) : EINVAL;
    if (result != 0 && result != EOPNOTSUPP && result != EINVAL)
        throw_native(what, result, "reserving " + std::to_string(reserved) + " bytes");
    if (result == 0 && reserved == bytes) return;
    while (::ftruncate(fd, static_cast<off_t>(bytes)) != 0)
        if (errno != EINTR) throw_native(what, errno, "ftruncate");
}

// The new file was opened with the requested mode, which the umask may have
// narrowed: fchmod only then (rarely: 0600 under a umask of 022 is 0600), so
// the mode is exact whatever the umask.
inline void give_exact_mode(int fd, const segment_operation& what, const struct stat& info,
                            unsigned permissions) {
    const auto mode = static_cast<::mode_t>(permissions & 07777);
    if ((info.st_mode & 07777) != mode && ::fchmod(fd, mode) != 0)
        throw_native(what, errno, "fchmod");
}

// Maps the whole file, read-write or read-only.
inline mapping map_whole(int fd, const segment_operation& what, std::uint64_t bytes,
                         bool writable) {
    try {
        return mapping(mappable_descriptor{fd}, writable ? bip::read_write : bip::read_only, 0,
                       static_cast<std::size_t>(bytes));
    } catch (const bip::interprocess_exception& e) { rethrow_boost(what, e, "mmap"); }
}

// huge=advise gives huge pages only to pages first touched through a mapping
// that asked for them, never to pages posix_fallocate allocates: reserve
// them by touching them through the advised mapping instead. A kernel
// without MADV_POPULATE_WRITE (before 5.14: EINVAL) reserves them as any
// create does, without huge pages (huge_page_bytes() then says so).
inline void reserve_advised_huge_pages(int fd, std::byte* base, const segment_operation& what,
                                       std::uint64_t bytes, const create_request& request) {
    const std::uint64_t touched =
        request.reserve || bytes < huge_page_size ? bytes : huge_page_size;
    int error = reserve_by_touching(base, static_cast<std::size_t>(touched));
    if (error == EINVAL) error = reserve_file(fd, touched);
    if (error != 0 && error != EOPNOTSUPP && error != EINVAL)
        throw_native(what, error, "reserving " + std::to_string(touched) + " bytes");
}

// Sizes the file that is not yet named, maps it and lets `write` fill it.
// The creator owns what it creates: the owner's lock is taken, and the
// segment registered for termination cleanup, before it gets its name.
inline opened_segment build_segment(unique_fd fd, const segment_operation& what,
                                    std::uint64_t bytes, const create_request& request,
                                    segment_writer write) {
    const auto huge = request.huge_pages ? segment_huge_policy() : huge_policy::never;
    if (huge != huge_policy::never) {
        bytes = rounded_to_huge_pages(bytes); // within_size: only whole huge pages get one
        check_file_size_limit(what, bytes);
    }
    size_new_file(fd.get(), what, bytes, request, huge);
    struct stat info {};
    if (::fstat(fd.get(), &info) != 0) throw_native(what, errno, "fstat");
    give_exact_mode(fd.get(), what, info, request.permissions);
    opened_segment segment;
    segment.size = bytes;
    segment.identity = identity_of(info);
    segment.region = map_whole(fd.get(), what, bytes, true);
    auto* base = static_cast<std::byte*>(segment.region.get_address());
    if (huge == huge_policy::advise)
        reserve_advised_huge_pages(fd.get(), base, what, bytes, request);
    advise(segment.region, request.huge_pages, populate::none);
    write(base);
    segment.locked = take_owner_lock(fd.get());
    segment.file = std::move(fd);
    return segment;
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

// Once the segment has its name: maps it again through a description opened
// by that name and locked, so that /proc/PID/maps and lsof show the owner's
// mapping as /dev/shm/NAME (the unnamed file's description shows as
// "/dev/shm/#N (deleted)", as if it leaked), and closes both descriptors.
// The new lock is taken before the old one goes with its description, so
// the segment never looks unowned. If any step fails, the build's mapping
// stays, and holds the build's lock.
inline void map_by_name(opened_segment& segment, const segment_operation& what) noexcept {
    auto named = reopen(path_of(what.name), segment.identity, true);
    if (named && (!segment.locked || take_owner_lock(named.get())) &&
        !map_in_place(segment.region, named.get()))
        (void)map_in_place(segment.region, segment.file.get()); // as it was
    segment.file = unique_fd();
}

// Registers the new segment for termination cleanup and gives it its name,
// as one change that cleanup never cuts in two.
template <class GiveName>
void name_owned_segment(opened_segment& segment, const segment_operation& what,
                        const create_request& request, GiveName give_name) {
    const owner_change change;
    if (request.owner)
        segment.entry = remember_owned(path_of(what.name), segment.identity.device,
                                       segment.identity.inode, *request.owner,
                                       static_cast<segment_header*>(segment.region.get_address()));
    give_name();
}

// After the name: the mapping the owner keeps, and the pages it asked for.
inline void finish_created(opened_segment& segment, const segment_operation& what,
                           const create_request& request) noexcept {
    map_by_name(segment, what);
    advise(segment.region, request.huge_pages, request.populate ? populate::write : populate::none);
}

// The fallback where an unnamed file cannot be given a name (no O_TMPFILE, or
// no /proc to link it through): build under a hidden name, locked at once
// (which tells remove_orphans() a live process builds it), then link(2) it to
// its name, which fails if the name exists, and drop the temporary name.
inline opened_segment create_via_temporary_name(const segment_operation& what, std::uint64_t bytes,
                                                const create_request& request,
                                                segment_writer write) {
    const std::string temporary =
        path_of(std::string(building_name_prefix) + hex_64(random_64(what.operation)));
    unique_fd fd(
        ::open(temporary.c_str(), O_CREAT | O_EXCL | O_RDWR | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd) throw_native(what, errno, "creating a temporary file in /dev/shm");
    struct remove_temporary {
        const std::string& path;
        ~remove_temporary() { ::unlink(path.c_str()); }
    } cleanup{temporary};
    (void)take_owner_lock(fd.get());
    auto segment = build_segment(std::move(fd), what, bytes, request, write);
    int error = 0;
    name_owned_segment(segment, what, request, [&] {
        if (::link(temporary.c_str(), path_of(what.name).c_str()) != 0) error = errno;
    });
    if (error != 0) {
        forget_owned(std::exchange(segment.entry, nullptr));
        throw_native(what, error, "link");
    }
    finish_created(segment, what, request);
    return segment;
}

// Builds the segment complete as a file without a name (O_TMPFILE), and only
// then gives it its name with linkat(2), which fails with EEXIST if the name
// exists. So an existing segment is never opened, truncated or adopted;
// other processes see the name only for a finished segment; and a create
// that fails, or a creator killed at any instant, leaves nothing behind.
// Without /proc (to link through) the path is chosen before building, so
// the segment is never built twice.
inline opened_segment create_segment(const segment_operation& what, std::uint64_t bytes,
                                     const create_request& request, segment_writer write) {
    check_file_size_limit(what, bytes);
    if (!proc_mounted()) return create_via_temporary_name(what, bytes, request, write);
    const std::string directory(segment_directory_path);
    // No other process can open the file before it has a name, so its mode
    // is set (and made exact, whatever the umask) before that.
    unique_fd fd(::open(directory.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC,
                        static_cast<::mode_t>(request.permissions & 0777)));
    if (!fd) {
        // Kernels or filesystems without O_TMPFILE.
        if (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)
            return create_via_temporary_name(what, bytes, request, write);
        throw_native(what, errno, "creating a file in /dev/shm");
    }
    auto segment = build_segment(std::move(fd), what, bytes, request, write);
    // Linking an unnamed file by descriptor (AT_EMPTY_PATH) needs a privilege;
    // through /proc/self/fd it does not.
    const std::string by_descriptor = "/proc/self/fd/" + std::to_string(segment.file.get());
    int error = 0;
    name_owned_segment(segment, what, request, [&] {
        if (::linkat(AT_FDCWD, by_descriptor.c_str(), AT_FDCWD, path_of(what.name).c_str(),
                     AT_SYMLINK_FOLLOW) != 0)
            error = errno;
    });
    if (error != 0) {
        forget_owned(std::exchange(segment.entry, nullptr));
        throw_native(what, error, "linkat");
    }
    finish_created(segment, what, request);
    return segment;
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
    return snapshot;
}

// ---------------------------------------------------------------------------
// Remove.

// Removes `name` only if it still names the file we created or attached: if
// someone else unlinked ours and created a new segment under the same name,
// that one is left alone (`gone`: our name no longer exists). lstat needs no
// permission on the file itself. POSIX cannot unlink by descriptor, so a
// removal and re-creation between the check and the unlink is not caught.
inline unlink_result unlink_if_same(const segment_name& name,
                                    const file_identity& identity) noexcept {
    try {
        struct stat info {};
        if (::lstat(path_of(name).c_str(), &info) != 0)
            return errno == ENOENT ? unlink_result::gone : unlink_result::failed;
        if (!(identity_of(info) == identity)) return unlink_result::gone;
        if (bip::shared_memory_object::remove(name.str().c_str())) return unlink_result::removed;
        return errno == ENOENT ? unlink_result::gone : unlink_result::failed;
    } catch (...) { return unlink_result::failed; }
}

// What a SharedMemoryHandlee keeps of its segment besides the mapping: the
// file's identity, so that it removes the name only while that still names
// its file; where the mapping is, to map it again in place (the owner's
// lock goes with the mapping's description); and while it owns the segment,
// its entry in the table termination cleanup reads. No descriptor, except
// for the moments an object is becoming the owner.
struct segment_hold {
    file_identity identity;
    mapping* region = nullptr;  // the object's mapping, in its segment_state
    bool locked = false;        // the mapping's description holds the owner's lock
    std::int64_t locker = 0;    // the process that took it (a forked child shares it)
    unique_fd lock_being_taken; // from lock_for_owning to note_owning or stop_owning
    owned_entry* entry = nullptr;

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
          entry(std::exchange(other.entry, nullptr)) {}
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
    }
};

// What an object keeps: the mapping stays in `region`, which the object
// keeps at a fixed place (its segment_state) for as long as the hold lives.
inline segment_hold hold(opened_segment& segment, mapping& region) noexcept {
    return segment_hold(segment.identity, region, segment.locked);
}

// The creator also keeps its cleanup entry.
inline segment_hold hold_created(opened_segment& segment, mapping& region) noexcept {
    auto held = hold(segment, region);
    held.entry = std::exchange(segment.entry, nullptr);
    return held;
}

// Takes the owner's lock for an object about to own its segment: opens the
// file by name (read-write, as the mapping it will replace) if it still is
// ours, and locks it; note_owning then maps through it. Without it (the name
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

// Removes the name of the held segment, unless someone replaced it.
inline unlink_result release_name(const segment_name& name, segment_hold& held) noexcept {
    return unlink_if_same(name, held.identity);
}

// ---------------------------------------------------------------------------
// The directory of segments.

// Segments are files in one directory: they can be listed, and they outlive
// their processes, so orphans exist. smh::list(), smh::remove() and
// smh::remove_orphans() are written against this; platform_windows.hpp has
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
    [[noreturn]] static void fail(std::string_view operation, const std::string& path,
                                  std::string_view what_failed) {
        const int error = errno;
        throw_error(errc_from_native(error), operation, path, what_failed,
                    std::error_code(error, native_category()));
    }

    static unlink_result remove_if_same(const segment_name& name,
                                        const file_identity& identity) noexcept {
        return unlink_if_same(name, identity);
    }

    // Whether `name` is a segment's temporary name whose builder died: not
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

// ---------------------------------------------------------------------------
// Processes.

struct process_status {
    std::int64_t pid;         // proc(5) field 1, as /proc's pid namespace numbers it
    char state;               // field 3: R, S, D, Z, X, ...
    std::uint64_t start_time; // field 22: clock ticks after boot
};

// Reads /proc/<which>/stat (`which`: a pid or "self"); nullopt when the
// process (or /proc) is not there.
inline std::optional<process_status> read_process_status(const std::string& which) noexcept {
    try {
        std::ifstream stat_file("/proc/" + which + "/stat");
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
        return process_status{std::stoll(text), state, std::stoull(text.substr(at + 1))};
    } catch (...) { return std::nullopt; }
}

inline std::optional<process_status> read_process_status(std::int64_t pid) noexcept {
    return read_process_status(std::to_string(pid));
}

// With the pid, identifies a process even after its pid is reused; 0 where
// the OS does not tell.
inline std::uint64_t process_start_time(std::int64_t pid) noexcept {
    const auto status = read_process_status(pid);
    return status ? status->start_time : 0;
}

// What /proc says of this process, read once per process (a forked child has
// a new pid, so it reads its own): its start time, from /proc/self (which is
// this process whatever pid namespace /proc belongs to), and whether /proc
// numbers processes as this process's pid namespace does. In a container that
// sees the host's /proc it does not, and /proc/<pid> is another process.
struct own_process {
    std::uint64_t start_time = 0;
    bool proc_matches_our_pids = false;
    bool proc_mounted = false; // create can link an unnamed file through /proc/self/fd
};

inline own_process own_process_info(std::int64_t pid) noexcept {
    static std::atomic<std::int64_t> cached_pid{0};
    static std::atomic<std::uint64_t> cached_start{0};
    static std::atomic<bool> cached_match{false};
    static std::atomic<bool> cached_mounted{false};
    if (cached_pid.load(std::memory_order_acquire) == pid)
        return {cached_start.load(std::memory_order_relaxed),
                cached_match.load(std::memory_order_relaxed),
                cached_mounted.load(std::memory_order_relaxed)};
    const auto status = read_process_status("self");
    const own_process info{status ? status->start_time : 0, status && status->pid == pid,
                           status.has_value()};
    cached_start.store(info.start_time, std::memory_order_relaxed);
    cached_match.store(info.proc_matches_our_pids, std::memory_order_relaxed);
    cached_mounted.store(info.proc_mounted, std::memory_order_relaxed);
    cached_pid.store(pid, std::memory_order_release);
    return info;
}

inline std::uint64_t own_start_time(std::int64_t pid) noexcept {
    return own_process_info(pid).start_time;
}

inline bool proc_mounted() noexcept { return own_process_info(current_pid()).proc_mounted; }

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
// /proc entry (hidepid), or where /proc belongs to another pid namespace,
// kill(pid, 0) decides: EPERM means it exists.
inline bool process_alive(std::int64_t pid, std::uint64_t start_time) noexcept {
    if (pid <= 0 || pid > std::int64_t{0x7fffffff}) return false;
    const auto probe = [pid] { return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM; };
    if (!own_process_info(current_pid()).proc_matches_our_pids) return probe();
    if (const auto status = read_process_status(pid)) {
        if (start_time != 0 && status->start_time != start_time) return false;
        if (status->state == 'Z' || status->state == 'X') return thread_count(pid) > 1;
        return true;
    }
    return probe();
}

} // namespace smh::detail::os
