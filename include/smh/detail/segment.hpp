// What one SharedMemoryHandlee holds, whatever its element type, and the
// create and attach protocols, compiled once for every element type: the
// class template contributes only its type's identity and, for elements that
// need it, a constructor.
#pragma once

#include <atomic>      // std::atomic_ref on the header's state
#include <chrono>      // creation times
#include <cstddef>     // std::byte, std::size_t
#include <cstdint>     // fixed-width fields
#include <cstring>     // std::memcpy of the header
#include <limits>      // a size that checks nothing
#include <memory>      // the state behind a handle
#include <stdexcept>   // std::out_of_range
#include <string>      // messages, generated names
#include <string_view> // operation names
#include <utility>     // std::exchange, std::swap

#include "../error.hpp"
#include "../options.hpp"
#include "layout.hpp"
#include "ownership.hpp"
#include "platform.hpp"
#include "segment_name.hpp"
#include "wait.hpp"

namespace smh {
inline namespace v0 {
namespace detail {

// What an element type contributes to create.
struct element_shape {
    const element_identity& identity; // name, hash, size, alignment
    // Constructs `count` elements at `first`; nullptr where zero bytes are
    // already a valid value (arithmetic types, atomics, their aggregates).
    void (*construct)(void* first, std::size_t count) = nullptr;
};

// Everything one SharedMemoryHandlee holds about its segment.
struct segment_state {
    os::mapping region;
    os::segment_hold hold;
    ownership owner;
};

// at()'s failure: a call that does not return, so that at() stays small.
#if defined(__GNUC__) // g++, clang++: error paths are cold (MSVC knows no such attribute)
[[gnu::cold]]
#endif
[[noreturn]] inline void
throw_index_error(std::size_t index, std::size_t size, const std::string& name) {
    throw std::out_of_range("smh: index " + std::to_string(index) + " is out of range for \"" +
                            name + "\", which has " + std::to_string(size) + " elements");
}

// What every SharedMemoryHandlee<T> is, whatever T: where the elements are,
// inline so that element access is a raw pointer's, and the rest of the
// segment's state behind one pointer, so that moving, swapping and ending
// a handle is the same few instructions for every element type.
class segment_handle {
public:
    segment_handle() noexcept = default;
    // `count` elements from `first`, in `state`'s mapping; for a growable
    // segment, `count` is its capacity and `length` its live length word.
    segment_handle(std::unique_ptr<segment_state> state, std::byte* first, std::size_t count,
                   std::uint64_t* length = nullptr) noexcept
        : view_{first, count, length},
          state_(std::move(state)) {}
    segment_handle(segment_handle&& other) noexcept
        : view_(std::exchange(other.view_, {})),
          state_(std::move(other.state_)) {}
    segment_handle& operator=(segment_handle&& other) noexcept {
        segment_handle(std::move(other)).swap(*this); // ours ends with the temporary
        return *this;
    }
    ~segment_handle() {
        if (state_) end_ownership(state_->owner, state_->hold);
    }
    void swap(segment_handle& other) noexcept {
        std::swap(view_, other.view_);
        state_.swap(other.state_);
    }

    const std::string& name() const noexcept {
        static const std::string none;
        return state_ ? state_->owner.name.str() : none;
    }
    bool is_owner() const noexcept { return state_ && detail::is_owner(state_->owner); }
    // An anonymous segment has no name, so no owner: nothing to remove, and
    // nothing outlives its last holder.
    bool anonymous() const noexcept { return state_ && state_->owner.name.str().empty(); }
    bool release() noexcept {
        return state_ && !anonymous() && release_ownership(state_->owner, state_->hold);
    }
    bool adopt() noexcept {
        return state_ && !anonymous() &&
               acquire_ownership(state_->owner, state_->hold, false) == acquired::owner;
    }
    void take_ownership() {
        if (anonymous())
            throw_error(errc::invalid_name, "take_ownership", "",
                        "an anonymous segment has no name, so no owner: the kernel frees it "
                        "with its last descriptor and mapping");
        if (state_ &&
            acquire_ownership(state_->owner, state_->hold, true) == acquired::record_keeps_changing)
            segment_operation{"take_ownership", state_->owner.name}.fail(
                errc::corrupt_segment, "its owner record keeps changing");
    }
    bool unlink() noexcept {
        return state_ && !anonymous() && detail::unlink(state_->owner, state_->hold);
    }
    // Where the elements are, and how many (nullptr and 0 for an empty handle).
    // A fixed segment's count is a member, as a raw pointer and size would
    // be; only a growable one's loads the live length from its header, with
    // acquire ordering, so elements a grower constructed are seen whole.
    std::byte* first_element() const noexcept { return view_.first; }
    std::size_t element_count() const noexcept {
        if (view_.length == nullptr) [[likely]]
            return view_.count;
        const auto length = static_cast<std::size_t>(
            std::atomic_ref<std::uint64_t>(*view_.length).load(std::memory_order_acquire));
        // Never past the mapping, whatever a hostile writer stores there.
        return length < view_.count ? length : view_.count;
    }
    std::size_t element_capacity() const noexcept { return view_.count; }
    // What keeps the segment this object's (an anonymous one's descriptor).
    const os::segment_hold* hold() const noexcept { return state_ ? &state_->hold : nullptr; }
    bool growable() const noexcept { return view_.length != nullptr; }
    // False if the growers' lock was not had by `deadline` (nothing changed).
    bool grow(std::size_t new_length, const element_shape& shape,
              std::chrono::steady_clock::time_point deadline);
    std::size_t huge_page_bytes() const noexcept {
        return state_ ? static_cast<std::size_t>(os::mapped_huge_bytes(state_->region.get_address(),
                                                                       state_->region.get_size()))
                      : 0;
    }

protected:
    std::byte* first_byte() const noexcept {
        return reinterpret_cast<std::byte*>(state_->owner.header);
    }
    // The mapped header (wait words and owner record); null for an empty handle.
    segment_header* header() const noexcept { return state_ ? state_->owner.header : nullptr; }

private:
    struct elements_view {
        std::byte* first = nullptr;
        std::size_t count = 0;           // the length, or a growable segment's capacity
        std::uint64_t* length = nullptr; // a growable segment's live length, in its header
    };
    elements_view view_;
    std::unique_ptr<segment_state> state_;
};

inline std::uint64_t now_unix_ns() noexcept {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
}

// Writes a new segment: the header with state 0 while its bytes go in, then
// "being created" while the elements are constructed, then ready, each
// published with a release store (Windows attachers may be watching).
inline void write_new_segment(std::byte* base, const segment_header& initial,
                              const element_shape& shape, std::size_t length) {
    auto* header = reinterpret_cast<segment_header*>(base);
    segment_header unstated = initial;
    unstated.state = 0;
    std::memcpy(header, &unstated, sizeof unstated);
    std::atomic_ref(header->state).store(state_creating, std::memory_order_release);
    if (shape.construct) shape.construct(base + initial.data_offset, length);
    std::atomic_ref(header->state).store(state_ready, std::memory_order_release);
}

// The bytes of a segment of `count` elements, or invalid_length.
inline std::uint64_t bytes_for(const segment_operation& what, std::uint64_t offset,
                               const element_identity& element, std::size_t count) {
    const auto bytes = segment_bytes_for(offset, element.size, count);
    if (!bytes)
        what.fail(errc::invalid_length, std::to_string(count) + " elements of " +
                                            std::to_string(element.size) +
                                            " bytes do not fit in memory");
    return *bytes;
}

// Which segments a handle may hold. A SharedMemoryHandlee<T> holds only
// segments that cannot grow: its size() is a member, which a loop's
// condition reads once, as a raw pointer's length (a live length is an
// atomic load, which no compiler hoists out of a loop, so every loop would
// pay for it). SharedMemoryHandlee<T, growable>, and Python's handles, hold
// either kind.
enum class handle_growth { fixed, may_grow };

// Creates a segment of `length` elements, which `build(bytes, request,
// write)` makes: a named one (os::create_segment), whose owner the result
// is, or an anonymous one (`owned` false), which has no owner.
template <class Build>
segment_handle create_with(const segment_operation& what, std::size_t length,
                           const element_shape& shape, const create_options& options,
                           handle_growth growth, bool owned, Build build) {
    if (length == 0) what.fail(errc::invalid_length, "length is 0");
    const std::size_t capacity = options.capacity == 0 ? length : options.capacity;
    if (capacity < length)
        what.fail(errc::invalid_length, "capacity " + std::to_string(capacity) +
                                            " is below the length " + std::to_string(length));
    const bool growable = capacity > length;
    if (growable && growth == handle_growth::fixed)
        what.fail(errc::invalid_length, "a capacity (" + std::to_string(capacity) +
                                            ") beyond the length needs a "
                                            "handle that can grow: smh::create<T, smh::growable>");
    const auto& element = shape.identity;
    const auto offset = data_offset_for(static_cast<std::size_t>(element.align));
    const auto bytes = bytes_for(what, offset, element, length);
    const auto capacity_bytes = growable ? bytes_for(what, offset, element, capacity) : 0;
    const auto owner = this_process(owned ? next_owner_token() : 0);
    auto initial = make_header(element, length, owner.pid, owner.start_time, owner.token,
                               now_unix_ns(), capacity);
    if (!owned) { // the owner record is not in the checksum
        initial.owner_pid = 0;
        initial.owner_start_time = 0;
        initial.owner_token = 0;
    }
    auto write = [&](std::byte* base) { write_new_segment(base, initial, shape, length); };
    const os::create_request request{.permissions = options.permissions,
                                     .reserve = options.reserve,
                                     .must_have = offset,
                                     .huge_pages = options.huge_pages,
                                     .populate = options.populate,
                                     .capacity_bytes = capacity_bytes,
                                     .header_only = shape.construct == nullptr,
                                     .owner = owned ? &owner : nullptr};
    // Allocated first: once the name exists, nothing may fail.
    auto state = std::make_unique<segment_state>();
    state->owner.name = what.name;
    auto opened = build(bytes, request, os::segment_writer(write));
    state->region = std::move(opened.region);
    state->hold = os::hold_created(opened, state->region);
    auto* base = static_cast<std::byte*>(state->region.get_address());
    state->owner.header = reinterpret_cast<segment_header*>(base);
    state->owner.token = owned ? owner.token : 0;
    if (growable) {
        // Taken before `state` moves into the handle's parameter (clang++
        // initialises parameters left to right).
        std::uint64_t* live_length = &state->owner.header->length;
        return segment_handle(std::move(state), base + offset, capacity, live_length);
    }
    return segment_handle(std::move(state), base + offset, length);
}

// Creates `what.name` with `length` elements; the result is its owner.
inline segment_handle create_segment(const segment_operation& what, std::size_t length,
                                     const element_shape& shape, const create_options& options,
                                     handle_growth growth = handle_growth::may_grow) {
    return create_with(
        what, length, shape, options, growth, true,
        [&](std::uint64_t bytes, const os::create_request& request, os::segment_writer write) {
            return os::create_segment(what, bytes, request, write);
        });
}

// Creates a segment with no name (Linux: a sealed memfd; Windows: an unnamed
// section) and no owner: the kernel frees it with its last descriptor (or
// handle) and mapping. A template on the OS's anonymous_segments, so that
// where there are none only a call fails to compile.
template <class Anonymous>
segment_handle create_anonymous_segment(std::size_t length, const element_shape& shape,
                                        const create_options& options, handle_growth growth) {
    static_assert(Anonymous::available,
                  "smh::create_anonymous() needs segments without a name (Linux: memfd_create; "
                  "Windows: an unnamed section), which this OS layer does not provide");
    const segment_operation what{"create_anonymous", segment_name()};
    return create_with(
        what, length, shape, options, growth, false,
        [&](std::uint64_t bytes, const os::create_request& request, os::segment_writer write) {
            return Anonymous::create(what, bytes, request, write);
        });
}

// Creates the segment `name`, checked here: what the class template calls, so
// that each element type adds one call.
inline segment_handle create_segment(std::string_view name, std::size_t length,
                                     const element_shape& shape, const create_options& options,
                                     handle_growth growth = handle_growth::may_grow) {
    const segment_name checked(name, "create");
    return create_segment({"create", checked}, length, shape, options, growth);
}

// A fresh name holding 64 random bits.
inline std::string generated_name() {
    static constexpr char digits[] = "0123456789abcdef";
    std::uint64_t bits = os::random_64("create");
    std::string name = "smh-0000000000000000";
    for (std::size_t i = name.size(); i-- > 4; bits >>= 4) name[i] = digits[bits & 0xf];
    return name;
}

// Creates under a fresh name; one taken already (a 2^-64 chance) is retried.
inline segment_handle create_segment(std::size_t length, const element_shape& shape,
                                     const create_options& options,
                                     handle_growth growth = handle_growth::may_grow) {
    // Checked before a name is made up: the message names no segment.
    if (length == 0) throw_error(errc::invalid_length, "create", "", "length is 0");
    for (int attempt = 0;; ++attempt) {
        try {
            const segment_name name(generated_name(), "create");
            return create_segment({"create", name}, length, shape, options, growth);
        } catch (const error& e) {
            if (e.code() != errc::already_exists || attempt == 8) throw;
        }
    }
}

// Checks that the segment `opened` (by name, or an anonymous one's
// descriptor) holds `expected` elements, then keeps its mapping. Checks a
// private copy of the header, so a hostile writer cannot change what was
// checked; `also_check(opened, header)` checks, against that copy, what
// else the kind of segment needs.
template <class AlsoCheck>
segment_handle attach_opened(os::opened_segment& opened, const segment_operation& what,
                             const element_identity& expected, bool writable,
                             const attach_options& options, handle_growth growth,
                             AlsoCheck also_check) {
    if (opened.size < header_size)
        what.fail(errc::corrupt_segment, "it has " + std::to_string(opened.size) +
                                             " bytes, too few for the " +
                                             std::to_string(header_size) + "-byte header");
    auto* base = static_cast<std::byte*>(opened.region.get_address());
    auto* header = reinterpret_cast<segment_header*>(base);
    const auto state = std::atomic_ref(header->state).load(std::memory_order_acquire);
    if (state != state_ready)
        what.fail(errc::corrupt_segment,
                  state == state_creating
                      ? "its creator never finished it"
                      : "its header is not marked ready (state " + std::to_string(state) + ")");
    segment_header snapshot;
    std::memcpy(&snapshot, header, sizeof snapshot);
    // A growable segment may have grown between the size taken when it was
    // opened and the length copied now: its length is checked against the
    // size taken after it (map_capacity).
    const bool growable = is_growable(snapshot);
    const auto any_size = std::numeric_limits<std::uint64_t>::max();
    if (const auto problem = check_header(snapshot, growable ? any_size : opened.size, expected))
        what.fail(problem->code, problem->why);
    if (growable && growth == handle_growth::fixed)
        what.fail(errc::type_mismatch, "it is a growable segment: attach it as "
                                       "smh::SharedMemoryHandlee<T, smh::growable>, whose size() "
                                       "follows its growth");
    also_check(opened, snapshot);
    if (growable) {
        const auto size =
            os::map_capacity(opened, what, writable,
                             snapshot.data_offset + snapshot.element_count * snapshot.element_size);
        if (snapshot.data_offset + snapshot.length * snapshot.element_size > size)
            what.fail(errc::corrupt_segment,
                      "header claims " + std::to_string(snapshot.length) + " elements of " +
                          std::to_string(snapshot.element_size) + " bytes but the segment has " +
                          std::to_string(size) + " bytes");
        base = static_cast<std::byte*>(opened.region.get_address());
        header = reinterpret_cast<segment_header*>(base);
    }
    os::advise(opened.region, options.huge_pages,
               options.populate ? os::populate::read : os::populate::none);
    auto result = std::make_unique<segment_state>();
    result->region = std::move(opened.region);
    result->hold = os::hold(opened, result->region);
    result->owner = {header, what.name, 0, false};
    return segment_handle(std::move(result), base + snapshot.data_offset,
                          static_cast<std::size_t>(snapshot.element_count),
                          growable ? &header->length : nullptr);
}

// Maps the existing segment `what.name` and checks that it holds `expected`
// elements.
inline segment_handle attach_segment(const segment_operation& what,
                                     const element_identity& expected, bool writable,
                                     const attach_options& options,
                                     handle_growth growth = handle_growth::may_grow) {
    auto opened = os::open_segment(what, writable, options.creation_timeout);
    return attach_opened(opened, what, expected, writable, options, growth,
                         [](const os::opened_segment&, const segment_header&) {});
}

// Maps the anonymous segment behind descriptor `fd` (which stays the
// caller's) through a description (Windows: a handle) of the handle's own,
// checked as attach checks a named one, and safe from shrinking (Linux:
// sealed; Windows: no section can shrink).
template <class Anonymous>
segment_handle attach_anonymous_segment(int fd, const element_identity& expected, bool writable,
                                        const attach_options& options, handle_growth growth) {
    static_assert(Anonymous::available,
                  "smh::attach_descriptor() needs segments without a name (Linux: memfd_create; "
                  "Windows: an unnamed section), which this OS layer does not provide");
    const segment_operation what{"attach_descriptor", segment_name()};
    auto opened = Anonymous::open(fd, what, writable);
    return attach_opened(
        opened, what, expected, writable, options, growth,
        [&](const os::opened_segment& segment, const segment_header& header) {
            const bool growable = is_growable(header);
            Anonymous::check_seals(segment, what, growable);
            // Its file cannot grow: a growable one's must
            // already cover the capacity (as create makes it).
            const auto capacity_bytes =
                segment_bytes_for(header.data_offset, header.element_size, header.element_count);
            if (growable && (!capacity_bytes || *capacity_bytes > segment.size))
                what.fail(errc::corrupt_segment, "its file (" + std::to_string(segment.size) +
                                                     " bytes) does not cover its capacity");
        });
}

// How long grow() waits for its turn among growers before giving up: far
// longer than backing any plausible growth takes, and not forever.
inline constexpr std::chrono::seconds growth_turn_limit{30};

// What grow() throws when its turn did not come within `waited`.
[[noreturn]] inline void throw_growth_turn_missed(const std::string& name,
                                                  std::chrono::milliseconds waited) {
    throw_error(errc::os_error, "grow", name,
                "another handle held the growers' lock for " + std::to_string(waited.count()) +
                    " ms (a grower that stopped, or a process holding the lock on purpose); "
                    "nothing changed",
                std::make_error_code(std::errc::timed_out));
}

// Grows a growable segment to `new_length` elements (a smaller or equal one
// changes nothing): under the growers' lock, backs the new bytes, constructs
// the new elements, then publishes the length with a release store and
// wakes whoever waits for a size. False if the lock was not had by
// `deadline`.
inline bool segment_handle::grow(std::size_t new_length, const element_shape& shape,
                                 std::chrono::steady_clock::time_point deadline) {
    if (new_length <= element_count()) return true;
    if (!state_) throw_error(errc::invalid_length, "grow", "", "the handle is empty");
    const segment_operation what{"grow", state_->owner.name};
    if (new_length > element_capacity())
        what.fail(errc::invalid_length, "length " + std::to_string(new_length) +
                                            " is beyond its capacity of " +
                                            std::to_string(element_capacity()) + " elements");
    std::atomic_ref<std::uint64_t> length(*view_.length);
    const std::uint64_t size = shape.identity.size;
    const std::uint64_t offset = static_cast<std::uint64_t>(view_.first - first_byte());
    auto work = [&] {
        const std::uint64_t current = length.load(std::memory_order_acquire);
        if (new_length <= current) return; // another grower went as far
        os::extend_segment(state_->hold, what, offset + current * size, offset + new_length * size);
        if (shape.construct) shape.construct(view_.first + current * size, new_length - current);
        // The largest length wins even where the lock could not exclude a
        // grower (a description shared without /proc): never decreased.
        std::uint64_t seen = current;
        while (seen < new_length &&
               !length.compare_exchange_weak(seen, new_length, std::memory_order_release,
                                             std::memory_order_acquire)) {}
    };
    if (!os::while_growth_locked(state_->hold, what, os::growth_work(work), deadline)) return false;
    notify_growth(*state_->owner.header);
    return true;
}

// Attaches to `name`, checked here: one call for each element type.
inline segment_handle attach_segment(std::string_view name, const element_identity& expected,
                                     bool writable, const attach_options& options,
                                     handle_growth growth) {
    const segment_name checked(name, "attach");
    return attach_segment({"attach", checked}, expected, writable, options, growth);
}

} // namespace detail
} // namespace v0
} // namespace smh
