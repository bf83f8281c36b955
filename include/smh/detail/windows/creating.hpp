// Creating a Windows segment: a section created exclusively, committed in
// full (a growable one: reserved at its capacity, its length committed), and
// filled while attachers wait on its header's state; and the random bits of
// a fresh name.
#pragma once

#include <boost/interprocess/permissions.hpp>           // security attributes
#include <boost/interprocess/windows_shared_memory.hpp> // CreateFileMapping owner

#include <cstdint> // fixed-width values
#include <limits>  // the largest section
#include <memory>  // std::make_unique
#include <random>  // std::random_device: RtlGenRandom on Windows
#include <string>  // messages, the section's wide name

#include "segments.hpp"
#include "system.hpp"

namespace smh {
inline namespace v0 {
namespace detail::os {

// A segment's unrestricted permissions: POSIX group or other bits ask for
// other users; Windows then gets a security descriptor that lets everyone in.
// Owner-only modes (the default 0600) keep the default descriptor: the
// creator, SYSTEM and administrators.
inline bip::permissions permissions_for(unsigned mode) noexcept {
    bip::permissions permissions;
    if ((mode & 077u) != 0) permissions.set_unrestricted();
    return permissions;
}

// Why CreateFileMapping could not create `what.name`: `native` from it.
[[noreturn]] inline void fail_to_create(const segment_operation& what, int native) {
    const std::error_code code(native, native_category());
    if (native == ERROR_INVALID_HANDLE)
        what.fail(errc::already_exists,
                  "the name belongs to another kind of object (a mutex, an event...)", code);
    // Our names never reach a namespace that needs a privilege to create
    // in (no '\\'), so a denial means the section exists and is another
    // user's: EEXIST on POSIX, whatever the existing file's mode.
    if (native == ERROR_ACCESS_DENIED)
        what.fail(errc::already_exists, "the name exists and this user may not open it", code);
    throw_native(what, native, "CreateFileMapping");
}

// A growable segment: its section is reserved at the capacity (SEC_RESERVE:
// address space and no memory), and only its first `bytes` are committed,
// before `write` fills them; grow() commits more (growing.hpp). Boost cannot
// pass SEC_RESERVE, so the section is made here. As create_segment below:
// exclusive, and on failure nothing is left behind. With no name
// (`what.name` empty) the section is unnamed: an anonymous segment's
// (anonymous.hpp), which only its handle reaches.
inline opened_segment create_growable_segment(const segment_operation& what, std::uint64_t bytes,
                                              const create_request& request, segment_writer write) {
    // The capacity's whole pages and one more, never committed: Wine (8.0)
    // records no commit that reaches a view's last page, so VirtualQuery, in
    // every other view, would call those pages reserved. Address space only.
    SYSTEM_INFO system;
    ::GetSystemInfo(&system);
    const std::uint64_t page = system.dwPageSize;
    if (request.capacity_bytes > (std::numeric_limits<std::size_t>::max)() - 2 * page)
        throw_native(what, ERROR_NOT_ENOUGH_MEMORY, "CreateFileMapping");
    const std::uint64_t capacity = (request.capacity_bytes + page - 1) / page * page + page;
    const std::string& name = what.name.str(); // ASCII: segment_name allows nothing else
    const std::wstring wide_name(name.begin(), name.end());
    // Boost's own cast: its permissions hold a SECURITY_ATTRIBUTES, or null.
    auto* attributes =
        static_cast<SECURITY_ATTRIBUTES*>(permissions_for(request.permissions).get_permissions());
    opened_segment segment;
    ::SetLastError(ERROR_SUCCESS);
    segment.reserved.reset(
        ::CreateFileMappingW(INVALID_HANDLE_VALUE, attributes, PAGE_READWRITE | SEC_RESERVE,
                             static_cast<DWORD>(capacity >> 32), static_cast<DWORD>(capacity),
                             wide_name.empty() ? nullptr : wide_name.c_str()));
    // An existing section comes back with ERROR_ALREADY_EXISTS: closing our
    // handle to it leaves it untouched.
    if (const int error = last_native_error(); !segment.reserved || error == ERROR_ALREADY_EXISTS)
        fail_to_create(what, segment.reserved ? ERROR_ALREADY_EXISTS : error);
    segment.size = capacity;
    segment.region =
        map_view(what, segment.reserved.get(), true, static_cast<std::size_t>(capacity));
    auto* base = static_cast<std::byte*>(segment.region.get_address());
    commit(what, base, bytes);
    // Only committed pages have anything to read in.
    if (request.populate) prefetch(base, static_cast<std::size_t>(bytes));
    write(base);
    return segment;
}

// Creates `name` exclusively (CreateFileMapping returns an existing section
// with ERROR_ALREADY_EXISTS, which Boost turns into a failure without
// touching it), zeroed and committed in full (no later first touch can fail;
// the commit limit is errc::no_space here), maps it read-write and lets
// `write` fill it. The name exists from the start: attach waits while the
// header's state says "being created". On failure the handle closes, which
// destroys the new section: nothing is left behind.
inline opened_segment create_segment(const segment_operation& what, std::uint64_t bytes,
                                     const create_request& request, segment_writer write) {
    if (request.capacity_bytes > bytes) return create_growable_segment(what, bytes, request, write);
    if (bytes > (std::numeric_limits<std::size_t>::max)())
        throw_native(what, ERROR_NOT_ENOUGH_MEMORY, "CreateFileMapping");
    opened_segment segment;
    try {
        segment.file = std::make_unique<bip::windows_shared_memory>(
            bip::create_only, what.name.str().c_str(), bip::read_write,
            static_cast<std::size_t>(bytes), permissions_for(request.permissions));
    } catch (const bip::interprocess_exception& e) {
        if (const int native = e.get_native_error(); native != 0) fail_to_create(what, native);
        rethrow_boost(what, e, "CreateFileMapping");
    }
    segment.size = section_size(*segment.file);
    segment.region = map_view(what, *segment.file, true, static_cast<std::size_t>(bytes));
    auto* base = static_cast<std::byte*>(segment.region.get_address());
    advise(segment.region, request.huge_pages, request.populate ? populate::write : populate::none);
    write(base);
    return segment;
}

// 64 bits from the OS's random source: std::random_device is RtlGenRandom
// with both MSVC's and MinGW's standard libraries, and needs no import library.
inline std::uint64_t random_64(std::string_view /*operation*/) {
    std::random_device source;
    return (static_cast<std::uint64_t>(source()) << 32) ^ source();
}
} // namespace detail::os
} // namespace v0
} // namespace smh
