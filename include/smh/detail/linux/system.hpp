// Linux underneath the other files of this folder: errno and what it means
// for smh, the directory segments are files in, and the small owners every
// other file uses (a descriptor; a mapping, and the hints it is given).
// Segments are files in /dev/shm (what shm_open(3) uses on Linux), mapped
// with Boost.Interprocess's mapped_region; where Boost stops, the native
// calls are used directly.
#pragma once

#include <boost/interprocess/mapped_region.hpp> // mmap/munmap owner

#include <fcntl.h>    // AT_SYMLINK_NOFOLLOW
#include <sys/mman.h> // madvise
#include <sys/stat.h> // fstatat: a file's identity
#include <unistd.h>   // close, unlinkat

#include <cerrno>       // errno values
#include <cstdint>      // fixed-width values
#include <string>       // paths
#include <string_view>  // names
#include <system_error> // native codes
#include <utility>      // std::exchange, std::swap

#include "../../error.hpp"
#include "../platform_contract.hpp"
#include "../segment_name.hpp"

namespace smh {
inline namespace v0 {
namespace detail::os {

namespace bip = boost::interprocess;

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

// Calls `call`, a system call that returns -1 and sets errno on failure,
// again for as long as a signal interrupts it (EINTR): the one place that
// retries. (The watcher's child, which may call only what was resolved
// before the clone, keeps its own loop: watcher.hpp, wait_for_end_of.)
template <class Call>
auto retry_on_eintr(Call call) noexcept(noexcept(call())) {
    for (;;) {
        const auto result = call();
        if (result != -1 || errno != EINTR) return result;
    }
}

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
    int release() noexcept { return std::exchange(fd_, -1); } // the caller closes it
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

inline file_identity identity_of(const struct stat& info) noexcept {
    return {static_cast<std::uint64_t>(info.st_dev), static_cast<std::uint64_t>(info.st_ino)};
}

// Takes the name `path` away (absolute, or relative to the directory `dir`)
// only while it names the file `identity`: a name removed and created again
// names another segment, which is left alone (`gone`). The one function that
// unlinks a segment here, for its owner, remove(), remove_orphans(), the
// termination cleanup and the watcher: async-signal-safe, and fstatat needs
// no permission on the file itself. POSIX cannot unlink by descriptor, so a
// removal and re-creation between the check and the unlink is not caught.
// The watcher's child calls it: it calls no function of ours (each would be
// one more to resolve before the clone, watcher.hpp: warm_up).
inline unlink_result unlink(int dir, const char* path, const file_identity& identity) noexcept {
    struct stat info {};
    if (::fstatat(dir, path, &info, AT_SYMLINK_NOFOLLOW) != 0)
        return errno == ENOENT ? unlink_result::gone : unlink_result::failed;
    if (static_cast<std::uint64_t>(info.st_dev) != identity.device ||
        static_cast<std::uint64_t>(info.st_ino) != identity.inode)
        return unlink_result::gone;
    if (::unlinkat(dir, path, 0) == 0) return unlink_result::removed;
    return errno == ENOENT ? unlink_result::gone : unlink_result::failed;
}

} // namespace detail::os
} // namespace v0
} // namespace smh
