// Segments without a name (Windows): an unnamed section of the paging file
// (CreateFileMapping with a null name), handed on by its handle: inherited by
// a child process (a handle made inheritable, CreateProcess with
// bInheritHandles) or duplicated into another process (DuplicateHandle). No
// name exists to open it by, so only a process given its handle reaches it,
// and the kernel destroys it with its last handle and view: nothing is left
// to collect. There is no Unix-domain socket to send a handle over
// (SCM_RIGHTS): smh::send and smh::receive are Linux's (`over_sockets`).
//
// The "descriptor" is the handle's value as an int: a kernel handle has 32
// significant bits even in a 64-bit process, so that another process (32- or
// 64-bit) can be told it as a number. Microsoft documents HandleToLong and
// LongToHandle for exactly this ("Interprocess Communication Between 32-bit
// and 64-bit Applications"), and they are what converts here.
#pragma once

#include <cstdint>  // fixed-width values
#include <cstring>  // std::memcpy of the header
#include <limits>   // the largest section
#include <optional> // a header that is not there
#include <string>   // messages

#include "creating.hpp"
#include "segments.hpp"
#include "system.hpp"

namespace smh {
inline namespace v0 {
namespace detail::os {

struct anonymous_segments {
    static constexpr bool available = true;
    // Handles travel by inheritance or DuplicateHandle, never over a socket.
    static constexpr bool over_sockets = false;

    // Builds the segment in a new unnamed section: committed in full, or, for
    // a growable one, reserved at its capacity with its length committed
    // (SEC_RESERVE, as a named growable section). Its handle is not
    // inheritable (as a memfd is close-on-exec). No owner, no name, and
    // `request.permissions` changes nothing: nobody can open an unnamed
    // section, only be given a handle to it.
    static opened_segment create(const segment_operation& what, std::uint64_t bytes,
                                 const create_request& request, segment_writer write) {
        if (request.capacity_bytes > bytes)
            return create_growable_segment(what, bytes, request, write);
        if (bytes > (std::numeric_limits<std::size_t>::max)())
            throw_native(what, ERROR_NOT_ENOUGH_MEMORY, "CreateFileMapping");
        opened_segment segment;
        segment.reserved.reset(::CreateFileMappingW(INVALID_HANDLE_VALUE, nullptr, PAGE_READWRITE,
                                                    static_cast<DWORD>(bytes >> 32),
                                                    static_cast<DWORD>(bytes), nullptr));
        if (!segment.reserved) throw_native(what, last_native_error(), "CreateFileMapping");
        segment.size = bytes;
        segment.region =
            map_view(what, segment.reserved.get(), true, static_cast<std::size_t>(bytes));
        advise(segment.region, request.huge_pages,
               request.populate ? populate::write : populate::none);
        write(static_cast<std::byte*>(segment.region.get_address()));
        return segment;
    }

    // Opens handle `descriptor` as a segment: a duplicate of the handle of
    // the handle's own (with the same access: a read-only handle stays
    // read-only), whose section is mapped whole. The caller's handle stays
    // the caller's. A handle of anything but a section is corrupt_segment;
    // the header is checked by the caller, then the commitment (check_seals).
    static opened_segment open(int descriptor, const segment_operation& what, bool writable) {
        const std::string which = "handle " + std::to_string(descriptor);
        opened_segment segment;
        segment.reserved.reset(duplicate(descriptor, what, which));
        segment.region = map_whole(segment.reserved.get(), what, which, writable);
        segment.size = segment.region.get_size();
        if (segment.size >= header_size &&
            committed_bytes(segment.region.get_address(), header_size) != header_size)
            what.fail(errc::corrupt_segment,
                      which + " is not an smh segment: its header's page is not committed");
        return segment;
    }

    // Seals do not exist here, and nothing needs them: a section's size is
    // fixed when it is created, and no process can shrink it (there is no
    // ftruncate of a section), so no view can lose its pages. What a section
    // can lack is commitment: a SEC_RESERVE section that its creator never
    // committed faults where it is touched. A growable segment's commitment
    // is checked against its length (map_capacity); a fixed one's must be
    // whole.
    static void check_seals(const opened_segment& segment, const segment_operation& what,
                            bool growable) {
        if (growable) return;
        const auto size = segment.region.get_size();
        if (committed_bytes(segment.region.get_address(), size) != size)
            what.fail(errc::corrupt_segment,
                      "its section is not committed in full: touching it would fault");
    }

    // The first 256 bytes of the section behind handle `descriptor`, through
    // a read-only view of the caller's own handle (none is kept); nullopt
    // for a section shorter than a header. A header not committed reads as
    // zeros, which no header's checks pass.
    static std::optional<header_snapshot> read_header(int descriptor,
                                                      const segment_operation& what) {
        const std::string which = "handle " + std::to_string(descriptor);
        const HANDLE section = handle_of(descriptor, what, which);
        const mapping view = map_whole(section, what, which, false);
        if (view.get_size() < header_size) return std::nullopt;
        header_snapshot snapshot{};
        if (committed_bytes(view.get_address(), header_size) == header_size)
            std::memcpy(&snapshot.header, view.get_address(), header_size);
        snapshot.size = view.get_size();
        return snapshot;
    }

    // The handle a handle of an anonymous segment keeps, as an int
    // (HandleToLong: a handle's 32 significant bits, sign-extended back by
    // LongToHandle).
    static int descriptor_of(const segment_hold& held) noexcept {
        return static_cast<int>(::HandleToLong(held.reserved.get()));
    }

private:
    // Handle `descriptor`, or corrupt_segment for a value no object's handle
    // has: 0 is none, and negative values are pseudo-handles (-1 is this
    // process, -2 this thread), never a section's.
    static HANDLE handle_of(int descriptor, const segment_operation& what,
                            const std::string& which) {
        if (descriptor <= 0)
            what.fail(errc::corrupt_segment, which + " is not a handle of a section");
        return ::LongToHandle(descriptor);
    }

    // A duplicate of handle `descriptor`, with the same access, not
    // inheritable.
    static HANDLE duplicate(int descriptor, const segment_operation& what,
                            const std::string& which) {
        const HANDLE process = ::GetCurrentProcess();
        HANDLE own = nullptr;
        if (!::DuplicateHandle(process, handle_of(descriptor, what, which), process, &own, 0, FALSE,
                               DUPLICATE_SAME_ACCESS)) {
            const int error = last_native_error();
            if (error == ERROR_INVALID_HANDLE)
                what.fail(errc::corrupt_segment, which + " is not open",
                          std::error_code(error, native_category()));
            throw_native(what, error, "DuplicateHandle");
        }
        return own;
    }

    // A view of all of `section` (a view of size 0 covers the section), read-
    // write or read-only, with the section's size. A handle of another kind
    // of object is corrupt_segment; one without the access asked for,
    // permission_denied.
    static mapping map_whole(HANDLE section, const segment_operation& what,
                             const std::string& which, bool writable) {
        void* address =
            ::MapViewOfFile(section, writable ? FILE_MAP_WRITE : FILE_MAP_READ, 0, 0, 0);
        if (address == nullptr) {
            const int error = last_native_error();
            const std::error_code code(error, native_category());
            // A handle of an event, a file, a process...: the object's type
            // is not a section's.
            if (error == ERROR_INVALID_HANDLE)
                what.fail(errc::corrupt_segment, which + " is not a handle of a section", code);
            if (error == ERROR_ACCESS_DENIED)
                what.fail(errc::permission_denied,
                          which + (writable ? " may not map the section for writing; attach it "
                                              "as const T"
                                            : " may not map the section for reading"),
                          code);
            throw_native(what, error, "MapViewOfFile");
        }
        return {address, view_size(address)};
    }

    // The bytes of the view at `base`: a view is one allocation, whose every
    // region (committed, or only reserved in a SEC_RESERVE section) has it
    // as its AllocationBase.
    static std::size_t view_size(void* base) noexcept {
        const auto* first = static_cast<const std::byte*>(base);
        const auto* at = first;
        MEMORY_BASIC_INFORMATION region;
        while (::VirtualQuery(at, &region, sizeof region) == sizeof region &&
               region.AllocationBase == base && region.State != MEM_FREE)
            at = static_cast<const std::byte*>(region.BaseAddress) + region.RegionSize;
        return static_cast<std::size_t>(at - first);
    }
};

} // namespace detail::os
} // namespace v0
} // namespace smh
