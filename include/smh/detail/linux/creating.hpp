// Creating a Linux segment: built complete as a file without a name
// (O_TMPFILE), or under a building name where it cannot be, then linked to
// its name, which fails if the name exists; and the random bits of a fresh
// name.
#pragma once

#include <fcntl.h>        // open, O_TMPFILE, linkat, posix_fallocate
#include <sys/resource.h> // RLIMIT_FSIZE
#include <sys/stat.h>     // fstat, fchmod
#include <unistd.h>       // getentropy, ftruncate, pwrite, link, unlink

#include <atomic>  // a kernel that refused to link by descriptor
#include <cerrno>  // errno values
#include <cstdint> // fixed-width values
#include <string>  // paths, messages
#include <utility> // std::exchange

#include "../layout.hpp"
#include "huge_pages.hpp"
#include "owner_lock.hpp"
#include "processes.hpp"
#include "segments.hpp"
#include "system.hpp"
#include "termination.hpp"

namespace smh {
inline namespace v0 {
namespace detail::os {

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

// posix_fallocate(3)'s verdict on reserving `bytes` of the file from `from`:
// 0, EOPNOTSUPP or EINVAL where the filesystem cannot preallocate (not an
// error: the file stays lazily allocated), or the errno to report; ENOMEM is
// a memory cgroup's limit, where tmpfs pages are charged, so ENOSPC.
inline int reserve_range(int fd, std::uint64_t from, std::uint64_t bytes) noexcept {
    const auto result = retry_on_eintr([&] {
        errno = ::posix_fallocate(fd, static_cast<off_t>(from),
                                  static_cast<off_t>(bytes)); // returns the error
        return errno == 0 ? 0 : -1;
    });
    if (result == 0) return 0;
    return errno == ENOMEM ? ENOSPC : errno;
}
inline int reserve_file(int fd, std::uint64_t bytes) noexcept {
    return reserve_range(fd, 0, bytes);
}

// Gives the new file `bytes` of zeros, of which it allocates the first
// `reserved` now (posix_fallocate). tmpfs maps a sparse file happily and
// SIGBUSes on first touch when it is full; posix_fallocate makes that
// ENOSPC here. It also sizes the file, so where it reserves the whole file
// no ftruncate is needed. Filesystems that cannot preallocate keep the
// lazily allocated file.
inline void size_new_file(int fd, const segment_operation& what, std::uint64_t bytes,
                          std::uint64_t reserved) {
    const int result = reserved != 0 ? reserve_file(fd, reserved) : EINVAL;
    if (result != 0 && result != EOPNOTSUPP && result != EINVAL)
        throw_native(what, result, "reserving " + std::to_string(reserved) + " bytes");
    if (result == 0 && reserved == bytes) return;
    if (retry_on_eintr([&] { return ::ftruncate(fd, static_cast<off_t>(bytes)); }) != 0)
        throw_native(what, errno, "ftruncate");
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

// The header, written into the new file with pwrite(2), without touching a
// mapping. ENOMEM is a memory cgroup's limit, where tmpfs pages are charged.
inline void write_header(int fd, const segment_operation& what, segment_writer write) {
    alignas(segment_header) std::byte header[header_size] = {};
    write(header);
    const auto written = retry_on_eintr([&] { return ::pwrite(fd, header, sizeof header, 0); });
    if (written != static_cast<ssize_t>(sizeof header))
        throw_native(what,
                     written >= 0      ? EIO
                     : errno == ENOMEM ? ENOSPC
                                       : errno,
                     "writing the header");
}

// Sizes the file that is not yet named, maps it and fills it (`write`).
// The creator owns what it creates: the owner's lock is taken, and the
// segment registered for termination cleanup, before it gets its name.
// Where the elements are zero bytes (a new file's: request.header_only),
// the header alone is written, with pwrite: writing it through the mapping
// cost a page fault that map_by_name's mapping in place then threw away,
// and without `reserve` pwrite allocates the header's page itself (ENOSPC
// on a full /dev/shm). Elements with a constructor, and huge pages, are
// written through the mapping.
inline opened_segment build_segment(unique_fd fd, const segment_operation& what,
                                    std::uint64_t bytes, const create_request& request,
                                    segment_writer write) {
    const auto huge = request.huge_pages ? segment_huge_page_policy() : huge_page_policy::never;
    if (huge != huge_page_policy::never) {
        bytes = rounded_to_huge_pages(bytes); // within_size: only whole huge pages get one
        check_file_size_limit(what, bytes);
    }
    const bool header_by_pwrite = request.header_only && huge == huge_page_policy::never;
    // Every page with `reserve`, else at least the header's, which `write`
    // writes through the mapping. On huge=advise nothing is reserved here:
    // see reserve_advised_huge_pages.
    size_new_file(fd.get(), what, bytes,
                  huge == huge_page_policy::advise ? 0
                  : request.reserve                ? bytes
                  : header_by_pwrite               ? 0
                                                   : request.must_have);
    struct stat info {};
    if (::fstat(fd.get(), &info) != 0) throw_native(what, errno, "fstat");
    give_exact_mode(fd.get(), what, info, request.permissions);
    if (header_by_pwrite) write_header(fd.get(), what, write);
    opened_segment segment;
    segment.size = bytes;
    segment.identity = identity_of(info);
    // A growable segment's mapping covers its capacity from the start: the
    // file ends before, which is harmless while nothing touches those pages.
    segment.region = map_whole(
        fd.get(), what, request.capacity_bytes > bytes ? request.capacity_bytes : bytes, true);
    auto* base = static_cast<std::byte*>(segment.region.get_address());
    if (huge == huge_page_policy::advise)
        reserve_advised_huge_pages(fd.get(), base, what, bytes, request);
    advise(segment.region, request.huge_pages, populate::none);
    if (!header_by_pwrite) write(base);
    segment.locked = take_owner_lock(fd.get());
    segment.file = std::move(fd);
    return segment;
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

// A description of its own for a growable segment's creator to grow it
// through: opening the file by path (through /proc/self/fd for one without a
// name) makes a new open file description, which never holds the owner's
// lock, so keeping it does not keep that lock after release().
inline unique_fd open_for_growth(const std::string& path, const segment_operation& what) {
    unique_fd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
    if (!fd) throw_native(what, errno, "opening the new segment again to grow it");
    return fd;
}

// The fallback where an unnamed file cannot be given a name (no O_TMPFILE, or
// no /proc to link it through): build under a building name, locked at once
// (which tells remove_orphans() a live process builds it), then link(2) it to
// its name, which fails if the name exists, and drop the building name.
inline opened_segment create_under_building_name(const segment_operation& what, std::uint64_t bytes,
                                                 const create_request& request,
                                                 segment_writer write) {
    const std::string building =
        path_of(std::string(building_name_prefix) + hex_64(random_64(what.operation)));
    unique_fd fd(
        ::open(building.c_str(), O_CREAT | O_EXCL | O_RDWR | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd) throw_native(what, errno, "creating a temporary file in /dev/shm");
    struct remove_building_name {
        const std::string& path;
        ~remove_building_name() { ::unlink(path.c_str()); }
    } cleanup{building};
    (void)take_owner_lock(fd.get());
    auto segment = build_segment(std::move(fd), what, bytes, request, write);
    if (request.capacity_bytes != 0) segment.own_file = open_for_growth(building, what);
    int error = 0;
    name_owned_segment(segment, what, request, [&] {
        if (::link(building.c_str(), path_of(what.name).c_str()) != 0) error = errno;
    });
    if (error != 0) {
        forget_owned(std::exchange(segment.entry, nullptr));
        throw_native(what, error, "link");
    }
    finish_created(segment, what, request);
    return segment;
}

// Gives the unnamed file `fd` the name `path`; EEXIST if the name exists.
// By descriptor (linkat AT_EMPTY_PATH), which Linux allows since 6.10 for a
// file opened with the caller's own credentials (before, only with
// CAP_DAC_READ_SEARCH: ENOENT), else through /proc/self/fd/N, whose path
// walk through procfs cost ~3 us of a ~38 us 4 KiB create (bench/steps.cpp).
// A kernel that refused once is not asked again. 0 or the errno.
inline int link_unnamed(int fd, const std::string& path) {
    static std::atomic<bool> refused_by_descriptor{false};
    if (!refused_by_descriptor.load(std::memory_order_relaxed)) {
        if (::linkat(fd, "", AT_FDCWD, path.c_str(), AT_EMPTY_PATH) == 0) return 0;
        if (errno != ENOENT) return errno;
        refused_by_descriptor.store(true, std::memory_order_relaxed);
    }
    const std::string by_descriptor = "/proc/self/fd/" + std::to_string(fd);
    if (::linkat(AT_FDCWD, by_descriptor.c_str(), AT_FDCWD, path.c_str(), AT_SYMLINK_FOLLOW) == 0)
        return 0;
    return errno;
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
    if (!proc_mounted()) return create_under_building_name(what, bytes, request, write);
    const std::string directory(segment_directory_path);
    // No other process can open the file before it has a name, so its mode
    // is set (and made exact, whatever the umask) before that.
    unique_fd fd(::open(directory.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC,
                        static_cast<::mode_t>(request.permissions & 0777)));
    if (!fd) {
        // Kernels or filesystems without O_TMPFILE.
        if (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)
            return create_under_building_name(what, bytes, request, write);
        throw_native(what, errno, "creating a file in /dev/shm");
    }
    auto segment = build_segment(std::move(fd), what, bytes, request, write);
    if (request.capacity_bytes != 0)
        segment.own_file =
            open_for_growth("/proc/self/fd/" + std::to_string(segment.file.get()), what);
    int error = 0;
    name_owned_segment(segment, what, request,
                       [&] { error = link_unnamed(segment.file.get(), path_of(what.name)); });
    if (error != 0) {
        forget_owned(std::exchange(segment.entry, nullptr));
        throw_native(what, error, "linkat");
    }
    finish_created(segment, what, request);
    return segment;
}
} // namespace detail::os
} // namespace v0
} // namespace smh
