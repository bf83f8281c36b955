// Creating a Windows segment: a section created exclusively, committed in
// full, and filled while attachers wait on its header's state; and the
// random bits of a fresh name.
#pragma once

#include <boost/interprocess/permissions.hpp>           // security attributes
#include <boost/interprocess/windows_shared_memory.hpp> // CreateFileMapping owner

#include <cstdint> // fixed-width values
#include <limits>  // the largest section
#include <memory>  // std::make_unique
#include <random>  // std::random_device: RtlGenRandom on Windows
#include <string>  // messages

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

// Creates `name` exclusively (CreateFileMapping returns an existing section
// with ERROR_ALREADY_EXISTS, which Boost turns into a failure without
// touching it), zeroed and committed in full (no later first touch can fail;
// the commit limit is errc::no_space here), maps it read-write and lets
// `write` fill it. The name exists from the start: attach waits while the
// header's state says "being created". On failure the handle closes, which
// destroys the new section: nothing is left behind.
// A growable segment's section is created, and committed, at its capacity
// (growing.hpp), so growing it needs no memory it does not have already.
inline opened_segment create_segment(const segment_operation& what, std::uint64_t bytes,
                                     const create_request& request, segment_writer write) {
    if (request.capacity_bytes > bytes) bytes = request.capacity_bytes;
    if (bytes > (std::numeric_limits<std::size_t>::max)())
        throw_native(what, ERROR_NOT_ENOUGH_MEMORY, "CreateFileMapping");
    opened_segment segment;
    try {
        segment.file = std::make_unique<bip::windows_shared_memory>(
            bip::create_only, what.name.str().c_str(), bip::read_write,
            static_cast<std::size_t>(bytes), permissions_for(request.permissions));
    } catch (const bip::interprocess_exception& e) {
        const std::error_code code(e.get_native_error(), native_category());
        if (names_another_kind_of_object(e))
            what.fail(errc::already_exists,
                      "the name belongs to another kind of object (a mutex, an event...)", code);
        // Our names never reach a namespace that needs a privilege to create
        // in (no '\\'), so a denial means the section exists and is another
        // user's: EEXIST on POSIX, whatever the existing file's mode.
        if (e.get_native_error() == ERROR_ACCESS_DENIED)
            what.fail(errc::already_exists, "the name exists and this user may not open it", code);
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
