// Windows segments, on Boost.Interprocess's windows_shared_memory
// (CreateFileMapping backed by the paging file: native named shared memory,
// no file in any directory) and MapViewOfFile: opening and mapping one,
// waiting for its creator, reading its header, what an object keeps of it.
//
// Lifetime differs from POSIX: a section has no name to unlink. The kernel
// destroys its name when the last handle to it is closed (and its memory
// once the last view is unmapped too), so every SharedMemoryHandlee keeps
// its handle open while it lives, and nothing can outlive the processes that
// use it (there are no orphans to collect).
#pragma once

#include <boost/interprocess/exceptions.hpp>            // interprocess_exception
#include <boost/interprocess/windows_shared_memory.hpp> // CreateFileMapping owner

#include <atomic>   // the header's state
#include <chrono>   // waiting for a creator
#include <cstdint>  // fixed-width values
#include <cstring>  // std::memcpy of the header
#include <limits>   // the largest mappable size
#include <memory>   // std::unique_ptr of a section
#include <optional> // header snapshots
#include <string>   // messages
#include <thread>   // waiting for a section's creator
#include <utility>  // std::move

#include "../layout.hpp"
#include "../owner_record.hpp"
#include "processes.hpp"
#include "system.hpp"

namespace smh {
inline namespace v0 {
namespace detail::os {

namespace bip = boost::interprocess;

// Sections live on the heap, so that handing one over moves a pointer: Boost's
// own move of windows_shared_memory copies an uninitialised member (g++ 12
// reports it under -Werror=maybe-uninitialized).
using section_ptr = std::unique_ptr<bip::windows_shared_memory>;

// A section handle from CreateFileMapping itself, closed on destruction: a
// growable segment's creator makes its section so (SEC_RESERVE, creating.hpp),
// which Boost's windows_shared_memory cannot ask for, and an anonymous
// segment's holders keep theirs so (anonymous.hpp): the handle they hand on.
struct close_handle {
    void operator()(HANDLE handle) const noexcept { ::CloseHandle(handle); }
};
using native_section = std::unique_ptr<void, close_handle>;

// Sections have no file identity; the handle each object keeps (segment_hold)
// is what ties it to its segment. One of `file` and `reserved` holds it.
struct opened_segment {
    section_ptr file;
    native_section reserved;
    mapping region;
    std::uint64_t size = 0;
    file_identity identity;
};

// Maps the first `size` bytes of the open section.
inline mapping map_view(const segment_operation& what, HANDLE section, bool writable,
                        std::size_t size) {
    void* address = ::MapViewOfFile(section, writable ? FILE_MAP_WRITE : FILE_MAP_READ, 0, 0, size);
    if (address == nullptr) throw_native(what, last_native_error(), "MapViewOfFile");
    return {address, size};
}
inline mapping map_view(const segment_operation& what, const bip::windows_shared_memory& section,
                        bool writable, std::size_t size) {
    return map_view(what, section.get_mapping_handle().handle, writable, size);
}

// How many of the `size` bytes from `base` are committed, counted up to the
// first page that is not: a growable segment's section is only reserved
// past what its creator and growers committed (SEC_RESERVE), and touching a
// reserved page is an access violation. Any other section is committed whole.
inline std::uint64_t committed_bytes(const void* base, std::size_t size) noexcept {
    const auto* first = static_cast<const std::byte*>(base);
    const auto* at = first;
    MEMORY_BASIC_INFORMATION region;
    while (at < first + size && ::VirtualQuery(at, &region, sizeof region) == sizeof region &&
           region.State == MEM_COMMIT)
        at = static_cast<const std::byte*>(region.BaseAddress) + region.RegionSize;
    return at < first + size ? static_cast<std::uint64_t>(at - first) : size;
}

// Commits `bytes` from `first` (whole pages; pages already committed stay
// as they are). Through one view this commits the section's pages, so every
// view in every process has them. The commit limit is errc::no_space.
inline void commit(const segment_operation& what, std::byte* first, std::uint64_t bytes) {
    if (::VirtualAlloc(first, static_cast<SIZE_T>(bytes), MEM_COMMIT, PAGE_READWRITE) == nullptr)
        throw_native(what, last_native_error(), "committing " + std::to_string(bytes) + " bytes");
}

// CreateFileMapping and OpenFileMapping fail with ERROR_INVALID_HANDLE when
// the name belongs to another kind of kernel object (a mutex, an event...).
inline bool names_another_kind_of_object(const bip::interprocess_exception& e) noexcept {
    return e.get_native_error() == ERROR_INVALID_HANDLE;
}

// The size the kernel gives a section: what was asked, rounded up to whole
// pages. The header, not this, says how many elements there are.
inline std::uint64_t section_size(const bip::windows_shared_memory& section) noexcept {
    return static_cast<std::uint64_t>(section.get_size());
}

// Opens `name` read-write, or read-only, and maps it whole.
inline opened_segment open_section(const segment_operation& what, bool writable) {
    opened_segment segment;
    try {
        segment.file = std::make_unique<bip::windows_shared_memory>(
            bip::open_only, what.name.str().c_str(), writable ? bip::read_write : bip::read_only);
    } catch (const bip::interprocess_exception& e) {
        if (names_another_kind_of_object(e))
            what.fail(errc::os_error,
                      "the name belongs to another kind of object than shared memory",
                      std::error_code(e.get_native_error(), native_category()));
        rethrow_boost(what, e, "OpenFileMapping");
    }
    segment.size = section_size(*segment.file);
    if (segment.size == 0) return segment;
    if (segment.size > (std::numeric_limits<std::size_t>::max)())
        what.fail(errc::corrupt_segment,
                  "it has " + std::to_string(segment.size) + " bytes, more than can be mapped");
    segment.region =
        map_view(what, *segment.file, writable, static_cast<std::size_t>(segment.size));
    return segment;
}

// How long a section may show no header at all (state 0) and still be taken
// for one whose creator is between CreateFileMapping and writing the header:
// microseconds, unless the creator is descheduled.
inline constexpr std::chrono::milliseconds unwritten_grace{1000};

// Opens and maps `name`, waiting up to `creation_timeout` while its creator
// (alive) is still preparing it; the caller checks what it gets. Throws
// not_found when the wait ends, corrupt_segment when the creator died.
inline opened_segment open_segment(const segment_operation& what, bool writable,
                                   std::chrono::milliseconds creation_timeout) {
    using clock = std::chrono::steady_clock;
    const auto start = clock::now();
    const auto deadline = saturating_deadline(start, creation_timeout);
    for (;; std::this_thread::sleep_for(std::chrono::milliseconds(1))) {
        auto segment = open_section(what, writable);
        if (segment.size < header_size) return segment;
        // A growable segment's header page is reserved, not readable, until
        // its creator commits it: unwritten, as state 0 is.
        const bool header_committed =
            committed_bytes(segment.region.get_address(), header_size) == header_size;
        const auto& header = *static_cast<const segment_header*>(segment.region.get_address());
        const auto state = header_committed
                               ? std::atomic_ref(const_cast<std::uint32_t&>(header.state))
                                     .load(std::memory_order_acquire)
                               : std::uint32_t{0};
        const auto now = clock::now();
        if (state == 0 && now - start < unwritten_grace && now < deadline) continue;
        if (!header_committed)
            what.fail(errc::corrupt_segment,
                      "its header was never committed: its creator stopped before writing it");
        if (state != state_creating) return segment;
        const auto creator = read_owner(header).value_or(owner_record{});
        if (std::memcmp(header.magic, segment_magic, sizeof header.magic) != 0 ||
            !process_alive(creator.pid, creator.start_time))
            what.fail(errc::corrupt_segment, "its creator (process " + std::to_string(creator.pid) +
                                                 ") stopped before finishing it");
        if (now < deadline) continue;
        what.fail(errc::not_found, "process " + std::to_string(creator.pid) +
                                       " is still creating it after " +
                                       std::to_string(creation_timeout.count()) + " ms");
    }
}

// What a SharedMemoryHandlee keeps of its segment besides the mapping: its
// handle, since the section (and its name) lives only while a handle does
// (`reserved` for a growable segment's creator and for every holder of an
// anonymous segment, `section` otherwise), and
// where its view is, for grow() to commit pages through.
struct segment_hold {
    section_ptr section;
    native_section reserved;
    std::byte* view = nullptr;
};

inline segment_hold hold(opened_segment& segment, mapping& region) noexcept {
    return {std::move(segment.file), std::move(segment.reserved),
            static_cast<std::byte*>(region.get_address())};
}
inline segment_hold hold_created(opened_segment& segment, mapping& region) noexcept {
    return hold(segment, region);
}

// Windows cannot remove a name others hold: this closes our handle, so the
// name goes as soon as no other process holds the segment. The mapping stays
// valid. `removed` when this call gave up a handle, `gone` if none was left.
inline unlink_result unlink(const segment_name& /*name*/, segment_hold& hold) noexcept {
    if (!hold.section && !hold.reserved) return unlink_result::gone;
    hold.section.reset();
    hold.reserved.reset();
    return unlink_result::removed;
}

// A section has no directory to list, and no name outlives its processes, so
// smh::list(), smh::remove() and smh::remove_orphans() do not exist here: see
// segment_directory in linux/segments.hpp.
struct segment_directory {
    static constexpr bool available = false;
};

// The first 256 bytes of segment `name`, through a read-only view (a section
// cannot shrink, so the view cannot fault); nullopt for a section shorter
// than a header. A header not committed yet reads as zeros, as a section's
// does before its creator writes it. Throws what opening it throws
// (not_found, permission_denied...).
inline std::optional<header_snapshot> read_header(const segment_operation& what) {
    auto segment = open_section(what, false);
    if (segment.size < header_size) return std::nullopt;
    header_snapshot snapshot{};
    if (committed_bytes(segment.region.get_address(), header_size) == header_size)
        std::memcpy(&snapshot.header, segment.region.get_address(), header_size);
    snapshot.size = segment.size;
    return snapshot;
}
} // namespace detail::os
} // namespace v0
} // namespace smh
