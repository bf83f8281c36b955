// The bytes at the start of every smh segment, and the checks an attach runs
// on them. docs/layout.md describes the same layout for other languages; keep
// the two in step.
#pragma once

#include <cstddef>     // offsetof, std::size_t
#include <cstdint>     // fixed-width fields
#include <cstring>     // std::memcpy, std::memcmp
#include <limits>      // overflow checks
#include <optional>    // check_header's verdict
#include <string>      // messages
#include <string_view> // type names

#include "../error.hpp"
#include "type_name.hpp"

namespace smh {
inline namespace v0 {
namespace detail {

inline constexpr char segment_magic[8] = {'S', 'M', 'H', 'S', 'E', 'G', '\0', '\x01'};
// Version 1: a segment of fixed length. Version 2: a growable one, whose
// live length is the `length` word (version 1's last 8 reserved bytes) and
// whose `element_count` is its capacity. A fixed-length segment is always
// written as version 1, byte for byte as before growable segments existed;
// a reader built before version 2 rejects a growable segment by its version
// ("layout version 2, this library reads version 1"), so it never reads
// elements past what was there when it attached.
inline constexpr std::uint16_t layout_version = 1;
inline constexpr std::uint16_t growable_layout_version = 2;
inline constexpr std::uint32_t endian_marker = 0x01020304;
// `state` moves from 0 (bytes not written yet) to creating (header written,
// elements being prepared) to ready (published with a release store). On
// POSIX a segment gets its name only once ready; Windows sections are named
// from the start. Values that are not small integers, so random bytes rarely
// look like a state.
inline constexpr std::uint32_t state_creating = 0x43524541; // "AERC" in memory
inline constexpr std::uint32_t state_ready = 0x59444552;    // "REDY" in memory
inline constexpr std::size_t cache_line = 64;
inline constexpr std::size_t max_element_align = 4096; // mappings are page-aligned

struct segment_header {
    char magic[8];
    std::uint16_t layout_version;
    std::uint16_t header_size;
    std::uint32_t state;
    std::uint32_t endian_marker;
    std::uint32_t flags; // none defined in layout 1; readers ignore them
    std::uint64_t data_offset;
    std::uint64_t element_size;
    std::uint64_t element_align;
    std::uint64_t element_count;
    std::uint64_t type_hash;     // FNV-1a 64 of the full type name
    std::uint64_t created_at_ns; // Unix time
    std::uint64_t checksum;      // FNV-1a 64 of the header with mutable fields zeroed
    std::int64_t creator_pid;
    std::int64_t owner_pid;         // mutable
    std::uint64_t owner_start_time; // mutable; OS-specific clock, 0 = unknown
    std::uint64_t owner_token;      // mutable; tells owning objects of one process apart
    std::uint32_t wait_sequence;    // mutable; wait.hpp: bumped by notifies that need it
    std::uint32_t waiters;          // mutable; wait.hpp: writable handles waiting now
    // Version 2: the live length (mutable; atomic; only grows, never past
    // element_count). Version 1: reserved, zero, and in the checksum.
    std::uint64_t length;
    char type_name[128]; // NUL-terminated, cut to 127 bytes
};

inline constexpr std::size_t header_size = 256;
static_assert(sizeof(segment_header) == header_size);
static_assert(offsetof(segment_header, state) == 12);
static_assert(offsetof(segment_header, data_offset) == 24);
static_assert(offsetof(segment_header, element_count) == 48);
static_assert(offsetof(segment_header, checksum) == 72);
static_assert(offsetof(segment_header, owner_start_time) == 96);
static_assert(offsetof(segment_header, owner_token) == 104);
static_assert(offsetof(segment_header, wait_sequence) == 112);
static_assert(offsetof(segment_header, waiters) == 116);
static_assert(offsetof(segment_header, length) == 120);
static_assert(offsetof(segment_header, type_name) == 128);

// fnv1a_64 of `bytes`, the same value, in fewer steps where 8 bytes in a row
// are zero: a zero byte leaves the hash as it is before multiplying it by
// the prime, so 8 of them multiply it by the prime's 8th power at once.
// Each step waits for the one before (a multiply), so a header, mostly
// zeros (the type name's padding, the zeroed mutable fields), is hashed in
// less than half the time (97 ns against 217 here), at every attach and
// create.
inline std::uint64_t fnv1a_64_skipping_zero_words(const unsigned char* bytes,
                                                  std::size_t count) noexcept {
    constexpr std::uint64_t prime = 0x100000001b3ULL;
    constexpr std::uint64_t prime_to_the_8th =
        prime * prime * prime * prime * prime * prime * prime * prime;
    std::uint64_t hash = 0xcbf29ce484222325ULL;
    std::size_t i = 0;
    for (; i + 8 <= count; i += 8) {
        std::uint64_t word = 0;
        std::memcpy(&word, bytes + i, sizeof word);
        if (word == 0) {
            hash *= prime_to_the_8th;
            continue;
        }
        for (std::size_t j = i; j < i + 8; ++j) hash = (hash ^ bytes[j]) * prime;
    }
    for (; i < count; ++i) hash = (hash ^ bytes[i]) * prime;
    return hash;
}

// Covers every field that never changes after creation, so a header that was
// overwritten or only half copied is caught even when its magic is right.
inline std::uint64_t header_checksum(const segment_header& header) noexcept {
    segment_header immutable = header;
    immutable.state = 0;
    immutable.checksum = 0;
    immutable.owner_pid = 0;
    immutable.owner_start_time = 0;
    immutable.owner_token = 0;
    immutable.wait_sequence = 0;
    immutable.waiters = 0;
    if (header.layout_version == growable_layout_version) immutable.length = 0;
    return fnv1a_64_skipping_zero_words(reinterpret_cast<const unsigned char*>(&immutable),
                                        sizeof immutable);
}

// Offset of the first element: past the header, aligned for the element and
// to a cache line so the first element never shares a line with the header.
constexpr std::uint64_t data_offset_for(std::size_t element_align) noexcept {
    const std::uint64_t align = element_align > cache_line ? element_align : cache_line;
    return (header_size + align - 1) / align * align;
}

// Total bytes for `count` elements, or nullopt when that overflows or cannot
// be mapped (a mapping is at most PTRDIFF_MAX bytes).
inline std::optional<std::uint64_t> segment_bytes_for(std::uint64_t data_offset,
                                                      std::uint64_t element_size,
                                                      std::uint64_t count) noexcept {
    constexpr std::uint64_t limit =
        static_cast<std::uint64_t>((std::numeric_limits<std::ptrdiff_t>::max)());
    if (element_size == 0 || count > (limit - data_offset) / element_size) return std::nullopt;
    return data_offset + count * element_size;
}

// What an element type looks like in a header. `name` views storage that
// outlives the identity: static storage for a C++ type (identity_of), the
// caller's for one described at run time (named).
struct element_identity {
    std::string_view name;
    std::uint64_t hash;
    std::uint64_t size;
    std::uint64_t align;

    static constexpr element_identity named(std::string_view name, std::size_t size,
                                            std::size_t align) noexcept {
        return {name, fnv1a_64(name), size, align};
    }
    template <class T>
    static element_identity of();
};

// T's identity where the compiler builds its name: a constant, no code.
template <class T>
inline constexpr element_identity
    constant_identity = element_identity::named(constant_name_of<T>.view(), sizeof(T), alignof(T));

// T's identity, built once: the type name is the same for the whole program.
template <class T>
const element_identity& identity_of() {
    if constexpr (has_constant_name<T>()) {
        return constant_identity<T>;
    } else {
        static const std::string name = element_type_name<T>::value();
        static const element_identity built = element_identity::named(name, sizeof(T), alignof(T));
        return built;
    }
}

template <class T>
element_identity element_identity::of() {
    return identity_of<T>();
}

// A header for `count` elements; with a `capacity` above it, a growable
// segment's (version 2, element_count the capacity, length `count`).
inline segment_header make_header(const element_identity& element, std::uint64_t count,
                                  std::int64_t pid, std::uint64_t start_time,
                                  std::uint64_t owner_token, std::uint64_t now_ns,
                                  std::uint64_t capacity = 0) noexcept {
    segment_header header{};
    std::memcpy(header.magic, segment_magic, sizeof header.magic);
    const bool growable = capacity > count;
    header.layout_version = growable ? growable_layout_version : layout_version;
    header.header_size = header_size;
    header.state = state_creating;
    header.endian_marker = endian_marker;
    header.data_offset = data_offset_for(element.align);
    header.element_size = element.size;
    header.element_align = element.align;
    header.element_count = growable ? capacity : count;
    header.length = growable ? count : 0;
    header.type_hash = element.hash;
    header.created_at_ns = now_ns;
    header.creator_pid = pid;
    header.owner_pid = pid;
    header.owner_start_time = start_time;
    header.owner_token = owner_token;
    const std::size_t kept = element.name.size() < sizeof header.type_name
                                 ? element.name.size()
                                 : sizeof header.type_name - 1;
    std::memcpy(header.type_name, element.name.data(), kept);
    header.checksum = header_checksum(header);
    return header;
}

inline bool is_growable(const segment_header& header) noexcept {
    return header.layout_version == growable_layout_version;
}

// The number of elements a copy of a header records: a growable segment's
// length as it was copied, else its fixed element_count.
inline std::uint64_t header_length(const segment_header& header) noexcept {
    return is_growable(header) ? header.length : header.element_count;
}

// The type name stored in `header`, viewed in place (valid while `header` is).
inline std::string_view stored_type_name(const segment_header& header) noexcept {
    const char* end =
        static_cast<const char*>(std::memchr(header.type_name, '\0', sizeof header.type_name));
    return {header.type_name,
            end ? static_cast<std::size_t>(end - header.type_name) : sizeof header.type_name};
}

struct header_problem {
    errc code;
    std::string why;
};

// What makes a header not an intact smh header, found without allocating,
// so that a process that may not allocate (the watcher, a signal handler)
// checks exactly what an attach checks. Says nothing yet about the elements
// or the segment's size.
enum class header_flaw { none, magic, byte_order, version, size, checksum };

inline header_flaw find_header_flaw(const segment_header& header) noexcept {
    if (std::memcmp(header.magic, segment_magic, sizeof header.magic) != 0)
        return header_flaw::magic;
    if (header.endian_marker != endian_marker) return header_flaw::byte_order;
    if (header.layout_version != layout_version && header.layout_version != growable_layout_version)
        return header_flaw::version;
    if (header.header_size != header_size) return header_flaw::size;
    if (header.checksum != header_checksum(header)) return header_flaw::checksum;
    return header_flaw::none;
}

// Whether `header` is an intact smh header (find_header_flaw), and if not, why.
inline std::optional<header_problem> check_header_integrity(const segment_header& header) {
    auto corrupt = [](std::string why) {
        return header_problem{errc::corrupt_segment, std::move(why)};
    };
    switch (find_header_flaw(header)) {
    case header_flaw::none: return std::nullopt;
    case header_flaw::magic: return corrupt("not an smh segment: wrong magic bytes");
    case header_flaw::byte_order: return corrupt("written with another byte order");
    case header_flaw::version:
        return corrupt("layout version " + std::to_string(header.layout_version) +
                       ", this library reads versions " + std::to_string(layout_version) + " and " +
                       std::to_string(growable_layout_version));
    case header_flaw::size:
        return corrupt("header size " + std::to_string(header.header_size) + ", expected " +
                       std::to_string(header_size));
    case header_flaw::checksum: return corrupt("header checksum does not match its contents");
    }
    return corrupt("unknown header flaw");
}

// Checks a private copy of a ready header against the segment's real size and
// the element type the caller expects. Reads nothing beyond `header`, so a
// hostile writer cannot change what was checked.
inline std::optional<header_problem> check_header(const segment_header& header,
                                                  std::uint64_t segment_size,
                                                  const element_identity& expected) {
    auto corrupt = [](std::string why) {
        return header_problem{errc::corrupt_segment, std::move(why)};
    };
    if (auto problem = check_header_integrity(header)) return problem;
    if (!std::memchr(header.type_name, '\0', sizeof header.type_name))
        return corrupt("type name is not terminated");
    const std::string_view stored_name = stored_type_name(header);
    // A name equal to the expected one needs no rehash: its hash is known.
    const bool hash_known = stored_name == expected.name && header.type_hash == expected.hash;
    if (!hash_known && stored_name.size() < sizeof header.type_name - 1 &&
        header.type_hash != fnv1a_64(stored_name))
        return corrupt("type hash does not match the type name");
    const std::uint64_t align = header.element_align;
    if (header.element_size == 0 || align == 0 || (align & (align - 1)) != 0 ||
        align > max_element_align || header.element_size % align != 0)
        return corrupt("element size " + std::to_string(header.element_size) + " and alignment " +
                       std::to_string(align) + " are impossible");
    if (header.data_offset != data_offset_for(static_cast<std::size_t>(align)))
        return corrupt("elements start at offset " + std::to_string(header.data_offset) +
                       ", expected " + std::to_string(data_offset_for(align)));
    if (header.element_count == 0) return corrupt("it holds zero elements");
    const std::uint64_t length = header_length(header);
    if (is_growable(header)) {
        if (length == 0 || length > header.element_count)
            return corrupt("its length " + std::to_string(length) + " is not within its capacity " +
                           std::to_string(header.element_count));
        if (!segment_bytes_for(header.data_offset, header.element_size, header.element_count))
            return corrupt("its capacity of " + std::to_string(header.element_count) +
                           " elements cannot be mapped");
    }
    const auto needed = segment_bytes_for(header.data_offset, header.element_size, length);
    if (!needed || *needed > segment_size)
        return corrupt("header claims " + std::to_string(length) + " elements of " +
                       std::to_string(header.element_size) + " bytes but the segment has " +
                       std::to_string(segment_size) + " bytes");

    if (header.type_hash != expected.hash || header.element_size != expected.size ||
        align != expected.align)
        return header_problem{errc::type_mismatch,
                              "segment holds " + std::string(stored_name) + " (" +
                                  std::to_string(header.element_size) + " bytes, align " +
                                  std::to_string(align) + "), attached as " +
                                  std::string(expected.name) + " (" +
                                  std::to_string(expected.size) + " bytes, align " +
                                  std::to_string(expected.align) + ")"};
    return std::nullopt;
}

} // namespace detail
} // namespace v0
} // namespace smh
