// Huge pages for segments on Linux: whether the shared-memory filesystem hands
// them out, what a segment needs to get them, and how much of a mapping did.
//
// A file in a tmpfs gets 2 MiB pages only where the mount allows it: the
// mount option huge=always|within_size|advise (tmpfs(5)), or the system-wide
// override /sys/kernel/mm/transparent_hugepage/shmem_enabled = force (deny
// forbids them everywhere). On such a mount the kernel itself places every
// mapping of the file at a 2 MiB-aligned address (shmem_get_unmapped_area),
// so a process maps the huge pages whole. What is left to the creator:
//  - size: huge=within_size gives a 2 MiB page only where the file covers it
//    whole, so the file is rounded up to a multiple of 2 MiB;
//  - advice: huge=advise gives them only to pages first touched through a
//    mapping that asked (MADV_HUGEPAGE), never to pages posix_fallocate
//    allocates, so the pages are reserved by touching them through the
//    advised mapping (MADV_POPULATE_WRITE) instead.
// Nothing can be done on a mount without huge=: the default /dev/shm.
#pragma once

#include <sys/mman.h> // madvise

#include <cerrno>      // errno
#include <cstdint>     // byte counts
#include <cstdlib>     // strtoull
#include <fstream>     // /proc/self/smaps, /proc/self/mounts
#include <string>      // lines
#include <string_view> // mount options

#include "../../options.hpp"

namespace smh {
inline namespace v0 {
namespace detail::os {

// The size of a PMD-mapped transparent huge page with 4 KiB base pages
// (x86-64, arm64): /sys/kernel/mm/transparent_hugepage/hpage_pmd_size.
inline constexpr std::uint64_t huge_page_size = std::uint64_t{2} << 20;

// The word in brackets in a sysfs choice list: "always [never] deny" gives "never".
inline std::string selected_choice(const std::string& choices) {
    const auto open = choices.find('['), close = choices.find(']');
    if (open == std::string::npos || close == std::string::npos || close < open) return {};
    return choices.substr(open + 1, close - open - 1);
}

inline huge_page_policy huge_page_policy_named(std::string_view word) noexcept {
    if (word == "always") return huge_page_policy::always;
    if (word == "within_size") return huge_page_policy::within_size;
    if (word == "advise") return huge_page_policy::advise;
    return huge_page_policy::never;
}

// Reads the policy of the mount `directory` is on (the last mount of that
// path in /proc/self/mounts, which is the one on top). Unknown: never.
inline huge_page_policy huge_page_policy_of(std::string_view directory) noexcept {
    try {
        std::string override_choice;
        {
            std::ifstream shmem("/sys/kernel/mm/transparent_hugepage/shmem_enabled");
            std::string line;
            if (std::getline(shmem, line)) override_choice = selected_choice(line);
        }
        if (override_choice == "deny") return huge_page_policy::never;
        if (override_choice == "force") return huge_page_policy::always;
        std::ifstream mounts("/proc/self/mounts");
        huge_page_policy policy = huge_page_policy::never;
        for (std::string line; std::getline(mounts, line);) {
            // "device mount-point type options dump pass": fields 2 and 4.
            std::string_view fields[4];
            std::string_view rest = line;
            for (auto& field : fields) {
                const auto space = rest.find(' ');
                field = rest.substr(0, space);
                rest = space == rest.npos ? std::string_view() : rest.substr(space + 1);
            }
            if (fields[1] != directory) continue;
            policy = huge_page_policy::never; // a later mount of the path covers earlier ones
            for (std::string_view options = fields[3]; !options.empty();) {
                const auto comma = options.find(',');
                const auto option = options.substr(0, comma);
                if (option.starts_with("huge=")) policy = huge_page_policy_named(option.substr(5));
                options = comma == options.npos ? std::string_view() : options.substr(comma + 1);
            }
        }
        return policy;
    } catch (...) { return huge_page_policy::never; }
}

// The policy for segments: the mount on /dev/shm (shm_overview(7)).
inline huge_page_policy segment_huge_page_policy() noexcept {
    return huge_page_policy_of("/dev/shm");
}

// The file size that gives every page of a `bytes` segment a huge page.
inline constexpr std::uint64_t rounded_to_huge_pages(std::uint64_t bytes) noexcept {
    return (bytes + huge_page_size - 1) / huge_page_size * huge_page_size;
}

// Bytes of [base, base + size) that this process maps with huge pages now
// (/proc/self/smaps: ShmemPmdMapped, FilePmdMapped, over every mapping that
// overlaps the range). Pages not yet touched by this process count as none.
inline std::uint64_t mapped_huge_bytes(const void* base, std::size_t size) noexcept {
    if (base == nullptr || size == 0) return 0;
    try {
        const auto begin = reinterpret_cast<std::uintptr_t>(base);
        const auto end = begin + size;
        std::ifstream smaps("/proc/self/smaps");
        bool inside = false;
        std::uint64_t kib = 0;
        for (std::string line; std::getline(smaps, line);) {
            const auto colon = line.find(':'), space = line.find(' ');
            if (space == std::string::npos) continue;
            if (colon == std::string::npos || colon > space) {
                // A mapping's first line: "start-end perms offset dev inode path".
                char* after = nullptr;
                const auto start = std::strtoull(line.c_str(), &after, 16);
                const auto stop = std::strtoull(after + 1, nullptr, 16);
                inside = start < end && stop > begin;
                continue;
            }
            if (inside &&
                (line.starts_with("ShmemPmdMapped:") || line.starts_with("FilePmdMapped:")))
                kib += std::strtoull(line.c_str() + colon + 1, nullptr, 10);
        }
        return kib * 1024;
    } catch (...) { return 0; }
}

// Reserves every page of a fresh writable mapping by touching it
// (MADV_POPULATE_WRITE), for huge=advise: the advice applies to the pages
// faulted in through this mapping. 0, or the errno; a tmpfs that is full
// makes the fault a SIGBUS, which the call reports as EFAULT (madvise(2)).
inline int reserve_by_touching(void* base, std::size_t size) noexcept {
#ifdef MADV_POPULATE_WRITE
    if (::madvise(base, size, MADV_HUGEPAGE) != 0 && errno != EINVAL) return errno;
    if (::madvise(base, size, MADV_POPULATE_WRITE) == 0) return 0;
    return errno == EFAULT ? ENOSPC : errno;
#else
    (void)base;
    (void)size;
    return EINVAL;
#endif
}

} // namespace detail::os
} // namespace v0
} // namespace smh
