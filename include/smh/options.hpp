// smh/options.hpp: the values smh's functions take and give besides the
// segment itself: what create and attach may be asked, and what list(),
// list_directory() and inspect() report. Included by <smh/shared_memory_handlee.hpp>.
#pragma once

#include <chrono>  // timeouts, creation times
#include <cstddef> // std::size_t
#include <cstdint> // process ids
#include <string>  // names
#include <vector>  // listings

namespace smh {
inline namespace v0 {

// Options for create. Default: the segment is readable and writable by its
// creator's user only.
struct create_options {
    // Permission bits of the new segment, as for chmod(2), applied exactly
    // (the umask does not change them). 0600 unless you widen it on purpose.
    unsigned permissions = 0600;
    // Allocate every page now, so a full shared-memory filesystem is
    // errc::no_space here rather than a SIGBUS at first touch. Costs time
    // proportional to the size (the OS zeroes the pages); false leaves the
    // segment sparse and allocated page by page as it is first written.
    bool reserve = true;
    // Also map every page into this process now (MADV_POPULATE_WRITE), so
    // first writes take no page faults.
    bool populate = false;
    // Ask for 2 MiB pages. Linux gives them only where the shared-memory
    // filesystem allows (segment_huge_page_policy()); there the file is
    // rounded up to whole huge pages and, on huge=advise, reserved through an
    // advised mapping. Elsewhere (the default /dev/shm, Windows) it changes
    // nothing: huge_page_bytes() tells what a mapping got.
    bool huge_pages = false;
    // The most elements the segment may ever hold; grow() lengthens it up
    // to this while other processes use it. 0 (the default) or the length:
    // a fixed segment, which cannot grow and costs nothing more. Every
    // mapping of a growable segment reserves address space for the whole
    // capacity, so no element ever moves; memory is taken as it grows.
    std::size_t capacity = 0;
};

// Options for attach.
struct attach_options {
    // Windows only: how long attach waits for a segment whose creator is still
    // preparing it (a section has its name from the start) before it gives up
    // with errc::not_found; milliseconds::max() waits as long as it takes. On
    // POSIX a name appears only for a finished segment, so attach never waits.
    std::chrono::milliseconds creation_timeout{5000};
    // Map every page into this process now, in one call (MADV_POPULATE_READ),
    // instead of one page fault per 4 KiB page at first access.
    bool populate = false;
    // Advise huge pages for this mapping (MADV_HUGEPAGE). Where the creator
    // got them, the kernel maps them whole without it; see huge_page_bytes().
    bool huge_pages = false;
};

// Whether the shared-memory filesystem gives segments huge pages: on Linux,
// /dev/shm's tmpfs mount option huge= (never, the default; advise;
// within_size; always), unless /sys/kernel/mm/transparent_hugepage/
// shmem_enabled says deny (never) or force (always). Always never on Windows.
enum class huge_page_policy { never, advise, within_size, always };

// One smh segment, as smh::list() and smh::inspect() report it.
struct segment_info {
    std::string name;      // what attach() takes
    std::string type_name; // the element type's portable name (docs/layout.md)
    std::size_t element_size = 0;
    std::size_t element_align = 0;
    std::size_t element_count = 0; // the length: a growable segment's as it was read
    std::size_t capacity = 0;      // the most it may grow to; element_count if it cannot
    std::size_t data_offset = 0;   // where element 0 starts
    std::size_t bytes = 0;         // the whole segment, header included
    std::int64_t creator_pid = 0;
    std::int64_t owner_pid = 0;         // 0: no owner (released); < 0: being changed
    std::uint64_t owner_start_time = 0; // with owner_pid, identifies the owner process
    std::uint64_t claimant = 0; // owner_pid < 0: the process changing the record (-owner_pid)
    bool owner_alive = false;   // the owner still runs: holds its lock, or its pid and start time
    bool orphaned = false;      // its owner no longer runs: remove_orphans() removes it (a claim a
                                // live process seems to hold is not judged here: that takes a wait)
    bool ready = false;         // header finished (always, on POSIX, once a segment has its name)
    std::chrono::system_clock::time_point created;
    // The segment's file (POSIX; 0 on Windows): the user it belongs to, its
    // permission bits (as chmod(2) takes them), and which file it is (device
    // and inode, as /proc/PID/maps names the files processes map).
    unsigned uid = 0;
    unsigned mode = 0;
    std::uint64_t device = 0;
    std::uint64_t inode = 0;
};

// Why list_directory() left a file of the shared-memory directory out.
enum class skip_reason {
    not_smh,    // not an smh segment: another program's file, or a segment still being built
    unreadable, // this user may not read it (another user's), so whether it is one is unknown
    changing,   // its owner record changed each time it was read (an owner change under way)
};

// A file in the shared-memory directory that is not in list()'s result.
struct skipped_file {
    std::string name;
    skip_reason reason;
    std::uint64_t bytes = 0; // its size, as lstat(2) gives it (0 if that fails)
};

// The whole shared-memory directory, as smh::list_directory() reports it: the
// segments list() returns, and every other file there, with why it is left out.
struct directory_listing {
    std::vector<segment_info> segments; // sorted by name
    std::vector<skipped_file> skipped;  // sorted by name
};

} // namespace v0
} // namespace smh
