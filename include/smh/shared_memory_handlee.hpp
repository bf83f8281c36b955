// smh: a named shared-memory segment used as a typed array by several
// processes at once, without copying.
//
//   auto counts = smh::SharedMemoryHandlee<int>::create(10);  // owner
//   spawn_child(counts.name());                               // child: attach<int>(name)
//   counts[3] = 42;                                           // seen by the child
//   // counts goes out of scope: unmapped, and the name removed
//
// Header-only; needs C++20 and Boost.Interprocess headers.
#pragma once

#if __cplusplus < 202002L && (!defined(_MSVC_LANG) || _MSVC_LANG < 202002L)
#error "smh needs C++20 (std::span, std::atomic_ref)"
#endif

#define SMH_VERSION_MAJOR 0
#define SMH_VERSION_MINOR 1
#define SMH_VERSION_PATCH 0

#include <algorithm>   // sorting list()
#include <atomic>      // std::atomic_ref for the header's state, atomic elements
#include <cassert>     // operator[]'s debug check
#include <chrono>      // timeouts, creation times
#include <cstddef>     // std::size_t, std::byte
#include <cstdint>     // fixed-width header fields
#include <cstring>     // std::memcpy of the header
#include <new>         // placement new for elements with default member initialisers
#include <optional>    // name_problem
#include <span>        // data()
#include <stdexcept>   // std::out_of_range from at()
#include <string>      // names
#include <string_view> // name parameters
#include <thread>      // waiting out another process's owner change
#include <type_traits> // element type checks
#include <utility>     // std::move, std::swap
#include <vector>      // remove_orphans' result

#include "detail/layout.hpp"
#include "detail/platform.hpp"
#include "detail/type_name.hpp"
#include "detail/wait.hpp"
#include "error.hpp"

namespace smh {

// Longest segment name accepted on every platform.
inline constexpr std::size_t max_name_length = detail::os::max_name_length;

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
    // Ask for transparent huge pages (MADV_HUGEPAGE); the kernel honours it
    // only where /sys/kernel/mm/transparent_hugepage/shmem_enabled allows.
    bool huge_pages = false;
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
    // Ask for transparent huge pages, as create_options::huge_pages.
    bool huge_pages = false;
};

namespace detail {

template <class T>
inline constexpr bool is_lock_free_atomic = false;
template <class U>
inline constexpr bool is_lock_free_atomic<std::atomic<U>> = (std::is_trivially_copyable_v<U> &&
                                                             std::atomic<U>::is_always_lock_free);

// A segment starts as zero bytes. That is already the value of arithmetic
// types, pointers, atomics of those and their aggregates; a type with a
// non-trivial default constructor (default member initialisers) is constructed.
template <class T>
inline constexpr bool needs_construction =
    !std::is_trivially_default_constructible_v<T> && !is_std_atomic<T>::value;

// Why `name` is not a valid segment name, or nullopt when it is.
inline std::optional<std::string> name_problem(std::string_view name) {
    if (name.empty()) return "the name is empty";
    if (name.size() > max_name_length)
        return "the name has " + std::to_string(name.size()) + " characters, at most " +
               std::to_string(max_name_length) + " are allowed";
    if (name == "." || name == "..") return "'.' and '..' are not segment names";
    if (name.starts_with(building_name_prefix))
        return "names starting with '" + std::string(building_name_prefix) +
               "' are reserved for segments being built";
    for (std::size_t i = 0; i < name.size(); ++i) {
        const char c = name[i];
        if (!is_word_char(c) && c != '.' && c != '-')
            return "character " + std::to_string(static_cast<unsigned char>(c)) + " at position " +
                   std::to_string(i) + " is not allowed; use only A-Z a-z 0-9 . _ -";
    }
    return std::nullopt;
}

inline std::uint64_t now_unix_ns() noexcept {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
}

inline void check_name(std::string_view name, std::string_view operation) {
    if (const auto problem = name_problem(name))
        throw_error(errc::invalid_name, operation, name, *problem);
}

[[noreturn]] inline void throw_index_error(std::size_t index, std::size_t size,
                                           const std::string& name) {
    throw std::out_of_range("smh: index " + std::to_string(index) + " is out of range for \"" +
                            name + "\", which has " + std::to_string(size) + " elements");
}

template <class Integer>
std::atomic_ref<Integer> shared_field(Integer& field) noexcept {
    return std::atomic_ref<Integer>(field);
}

} // namespace detail

// A typed array in a named shared-memory segment.
//
// Each segment has at most one owner, recorded in the segment itself (process
// id and start time): the object that created it, until it release()s it or
// another object adopt()s or take_ownership()s it. The owner's destructor
// removes the name, in the owning process only, so a forked child never
// removes its parent's segment. Every other object only unmaps.
// SharedMemoryHandlee<const T> attaches read-only: the mapping is PROT_READ
// and every accessor returns const T&, so a write does not compile.
// Move-only; a moved-from object is empty (size() == 0) and harmless.
//
// Elements are shared, not synchronised: use std::atomic<U> elements, or your
// own protocol, when processes write the same element concurrently.
template <class T>
class SharedMemoryHandlee {
    using element_type = std::remove_const_t<T>;
    static constexpr bool writable = !std::is_const_v<T>;

    static_assert(!std::is_volatile_v<T> && !std::is_reference_v<T>,
                  "smh::SharedMemoryHandlee<T>: T must be an object type, not volatile or a "
                  "reference (const T means a read-only attach)");
    static_assert(!detail::is_std_atomic<element_type>::value ||
                      detail::is_lock_free_atomic<element_type>,
                  "smh::SharedMemoryHandlee<std::atomic<U>>: only lock-free atomics of "
                  "trivially copyable U work across processes (a locking atomic's lock lives "
                  "in one process)");
    static_assert(detail::is_std_atomic<element_type>::value ||
                      std::is_trivially_copyable_v<element_type>,
                  "smh::SharedMemoryHandlee<T>: T must be trivially copyable to live in shared "
                  "memory; types such as std::string or std::vector hold pointers into one "
                  "process's heap");
    static_assert(writable || !detail::is_std_atomic<element_type>::value ||
                      sizeof(element_type) <= 8,
                  "smh::SharedMemoryHandlee<const std::atomic<U>>: a read-only attach needs "
                  "sizeof(U) <= 8; wider atomics load with a locked compare-exchange, which "
                  "faults on a read-only mapping");
    static_assert(alignof(T) <= detail::max_element_align,
                  "smh::SharedMemoryHandlee<T>: alignof(T) must not exceed 4096 bytes");

public:
    using value_type = element_type;
    using size_type = std::size_t;
    using reference = T&;
    using const_reference = const T&;
    using iterator = T*;
    using const_iterator = const T*;

    // An empty handle: size() == 0, no segment. Assign a created or attached one.
    SharedMemoryHandlee() noexcept = default;

    // Same as create(length): lets a class derive from SharedMemoryHandlee<T>
    // and create its segment in its constructor.
    explicit SharedMemoryHandlee(std::size_t length) requires writable
        : SharedMemoryHandlee(create(length)) {}

    // Creates a segment of `length` zero elements under a fresh name holding
    // 64 random bits; the result is the owner. Throws smh::error.
    static SharedMemoryHandlee create(std::size_t length,
                                      const create_options& options = {}) requires writable {
        for (int attempt = 0;; ++attempt) {
            try {
                return create(generated_name(), length, options);
            } catch (const error& e) {
                if (e.code() != errc::already_exists || attempt == 8) throw;
            }
        }
    }

    // Creates the segment `name` exclusively: if the name exists, throws
    // errc::already_exists and leaves that segment untouched. The result is
    // the owner. Throws smh::error; a failed create leaves nothing behind.
    static SharedMemoryHandlee create(std::string_view name, std::size_t length,
                                      const create_options& options = {}) requires writable {
        constexpr std::string_view op = "create";
        detail::check_name(name, op);
        if (length == 0) detail::throw_error(errc::invalid_length, op, name, "length is 0");
        const auto& element = element_identity();
        const auto offset = detail::data_offset_for(alignof(T));
        const auto bytes = detail::segment_bytes_for(offset, sizeof(T), length);
        if (!bytes)
            detail::throw_error(errc::invalid_length, op, name,
                                std::to_string(length) + " elements of " +
                                    std::to_string(sizeof(T)) + " bytes do not fit in memory");

        const std::string name_string(name);
        const auto pid = detail::os::current_pid();
        const detail::owner_record owner{pid, detail::os::own_start_time(pid), next_token()};
        const detail::segment_header initial = detail::make_header(
            element, length, owner.pid, owner.start_time, owner.token, detail::now_unix_ns());
        T* elements = nullptr;
        // Writes the whole segment. On POSIX no one can see it yet; on Windows
        // attachers wait while the state says "being created".
        auto fill = [&](std::byte* base) {
            auto* header = reinterpret_cast<detail::segment_header*>(base);
            // State 0 while the bytes go in, then "being created", atomically.
            detail::segment_header unstated = initial;
            unstated.state = 0;
            std::memcpy(header, &unstated, sizeof unstated);
            detail::shared_field(header->state)
                .store(detail::state_creating, std::memory_order_release);
            elements = reinterpret_cast<T*>(base + offset);
            if constexpr (detail::needs_construction<T>) {
                for (std::size_t i = 0; i < length; ++i) ::new (elements + i) T;
            }
            detail::shared_field(header->state)
                .store(detail::state_ready, std::memory_order_release);
        };
        const detail::os::create_request request{.permissions = options.permissions,
                                                 .reserve = options.reserve,
                                                 .must_have = offset,
                                                 .huge_pages = options.huge_pages,
                                                 .populate = options.populate,
                                                 .owner = owner};
        auto segment = detail::os::create_segment(name_string, *bytes, request, fill);

        SharedMemoryHandlee result;
        result.hold_ = detail::os::hold_created(segment);
        result.region_ = std::move(segment.region);
        result.header_ = static_cast<detail::segment_header*>(result.region_.get_address());
        result.elements_ = elements;
        result.size_ = length;
        result.name_ = name_string;
        result.token_ = owner.token; // registered for cleanup before the name existed
        return result;
    }

    // Maps the existing segment `name`; its length comes from the segment.
    // Not the owner (see adopt()). For SharedMemoryHandlee<const T> the
    // segment is opened and mapped read-only, which needs only read permission.
    // Never blocks: a FIFO, a symbolic link or anything else that is not a
    // segment file is corrupt_segment at once. Throws smh::error: not_found,
    // type_mismatch (the segment holds another element type),
    // corrupt_segment, permission_denied.
    static SharedMemoryHandlee attach(std::string_view name, const attach_options& options = {}) {
        constexpr std::string_view op = "attach";
        detail::check_name(name, op);
        const std::string name_string(name);
        auto segment =
            detail::os::open_segment(name_string, op, writable, options.creation_timeout);
        if (segment.size < detail::header_size)
            detail::throw_error(errc::corrupt_segment, op, name,
                                "it has " + std::to_string(segment.size) +
                                    " bytes, too few for the " +
                                    std::to_string(detail::header_size) + "-byte header");
        auto* base = static_cast<std::byte*>(segment.region.get_address());
        auto* header = reinterpret_cast<detail::segment_header*>(base);
        const auto state = detail::shared_field(header->state).load(std::memory_order_acquire);
        if (state != detail::state_ready)
            detail::throw_error(errc::corrupt_segment, op, name,
                                state == detail::state_creating
                                    ? "its creator never finished it"
                                    : "its header is not marked ready (state " +
                                          std::to_string(state) + ")");
        detail::segment_header snapshot;
        std::memcpy(&snapshot, header, sizeof snapshot);
        if (const auto problem = detail::check_header(snapshot, segment.size, element_identity()))
            detail::throw_error(problem->code, op, name, problem->why);
        detail::os::advise(segment.region, options.huge_pages,
                           options.populate ? detail::os::populate::read
                                            : detail::os::populate::none);
        SharedMemoryHandlee result;
        result.hold_ = detail::os::hold(segment);
        result.region_ = std::move(segment.region);
        result.header_ = header;
        result.elements_ = reinterpret_cast<T*>(base + snapshot.data_offset);
        result.size_ = static_cast<std::size_t>(snapshot.element_count);
        result.name_ = name_string;
        return result;
    }

    SharedMemoryHandlee(const SharedMemoryHandlee&) = delete;
    SharedMemoryHandlee& operator=(const SharedMemoryHandlee&) = delete;

    SharedMemoryHandlee(SharedMemoryHandlee&& other) noexcept
        : region_(std::move(other.region_)),
          header_(std::exchange(other.header_, nullptr)),
          elements_(std::exchange(other.elements_, nullptr)),
          size_(std::exchange(other.size_, 0)),
          name_(std::exchange(other.name_, std::string())),
          hold_(std::move(other.hold_)),
          token_(std::exchange(other.token_, 0)),
          unlinked_(std::exchange(other.unlinked_, false)) {}

    SharedMemoryHandlee& operator=(SharedMemoryHandlee&& other) noexcept {
        if (this != &other) {
            SharedMemoryHandlee previous(std::move(*this)); // released on return
            swap(other);
        }
        return *this;
    }

    // Unmaps; the owner, in its own process, also removes the name unless
    // unlink() already did. The owner record is claimed first, so a process
    // taking ownership at the same moment either wins (and keeps the name)
    // or finds the name gone.
    ~SharedMemoryHandlee() {
        if (token_ == 0 || header_ == nullptr) return;
        const auto mine = me();
        if (!detail::claim_owner(*header_, mine, mine.pid)) return; // not (or no longer) ours
        // After unlink() the record is still cleared: on Windows others may
        // hold the segment on, and must be able to adopt it.
        const bool gone = unlinked_ || detail::os::release_name(name_, hold_) !=
                                           detail::os::unlink_result::failed;
        detail::publish_owner(*header_, gone ? detail::owner_record{} : mine);
        // hold_'s destructor then drops the owner's lock.
    }

    void swap(SharedMemoryHandlee& other) noexcept {
        region_.swap(other.region_);
        std::swap(header_, other.header_);
        std::swap(elements_, other.elements_);
        std::swap(size_, other.size_);
        name_.swap(other.name_);
        std::swap(hold_, other.hold_);
        std::swap(token_, other.token_);
        std::swap(unlinked_, other.unlinked_);
    }
    friend void swap(SharedMemoryHandlee& a, SharedMemoryHandlee& b) noexcept { a.swap(b); }

    // The segment's name: what another process passes to attach().
    const std::string& name() const noexcept { return name_; }

    // Number of elements (0 for an empty handle).
    std::size_t size() const noexcept { return size_; }

    // True for the object that created or adopted the segment, in that
    // process, while the segment still records this process as its owner.
    bool is_owner() const noexcept {
        if (token_ == 0 || header_ == nullptr) return false;
        const auto owner = detail::read_owner(*header_);
        return owner && *owner == me();
    }

    // Gives up ownership: the segment outlives this object and its process
    // (a producer that publishes data and exits). Afterwards the segment has no
    // owner, so remove_orphans() leaves it alone until someone adopts it.
    // Returns whether this object was the owner.
    bool release() noexcept requires writable {
        if (token_ == 0 || header_ == nullptr) return false;
        if (!detail::replace_owner(*header_, me(), {.pid = 0})) return false;
        token_ = 0;
        detail::os::stop_owning(hold_);
        return true;
    }

    // Becomes the owner of a segment that has none (released) or whose owner
    // process has ended; from then on this object's destructor removes the
    // name. Returns false, changing nothing, while a live process (this one
    // included, through another object) owns it.
    bool adopt() requires writable { return acquire_ownership(false); }

    // Becomes the owner whatever the current owner is doing: that object's
    // destructor will no longer remove the name (it checks the segment).
    // Throws smh::error corrupt_segment if the owner record keeps changing
    // for two seconds (only a hostile writer does that).
    void take_ownership() requires writable { (void)acquire_ownership(true); }

    // Unchecked element access (asserts in debug builds).
    T& operator[](std::size_t index) noexcept {
        assert(index < size_ && "smh::SharedMemoryHandlee: index out of range");
        return elements_[index];
    }
    const T& operator[](std::size_t index) const noexcept {
        assert(index < size_ && "smh::SharedMemoryHandlee: index out of range");
        return elements_[index];
    }

    // Checked element access: throws std::out_of_range past the end.
    T& at(std::size_t index) {
        if (index >= size_) detail::throw_index_error(index, size_, name_);
        return elements_[index];
    }
    const T& at(std::size_t index) const {
        if (index >= size_) detail::throw_index_error(index, size_, name_);
        return elements_[index];
    }

    // All elements, for algorithms and APIs that take a span.
    std::span<T> data() noexcept { return {elements_, size_}; }
    std::span<const T> data() const noexcept { return {elements_, size_}; }

    T* begin() noexcept { return elements_; }
    T* end() noexcept { return elements_ + size_; }
    const T* begin() const noexcept { return elements_; }
    const T* end() const noexcept { return elements_ + size_; }

    // Removes the name now: later attach() calls throw errc::not_found, while
    // every existing mapping (this one included) stays valid. Harmless to
    // call twice. Removes nothing if the name now belongs to another segment.
    // Returns whether this call removed the name. Windows: a name cannot be
    // removed while others hold the segment; this gives up this object's
    // hold (the name goes when no process holds it) and returns whether it
    // had one.
    bool unlink() noexcept {
        if (name_.empty() || unlinked_) return false;
        const auto result = detail::os::release_name(name_, hold_);
        // On failure (e.g. no descriptors left) the owner's destructor tries again.
        unlinked_ = result != detail::os::unlink_result::failed;
        return result == detail::os::unlink_result::removed;
    }

    // Waiting for other processes, on std::atomic<U> elements of 4 or 8 bytes
    // (detail/wait.hpp; other element types do not compile). Unlike
    // std::atomic::wait, these reach across processes. An index past the end
    // throws std::out_of_range, as at() does; otherwise nothing throws.
    //
    // Blocks while element `index` holds `old` (compared as bytes): returns
    // once it has seen another value. Spurious wake-ups and signals only make
    // it look again. A read-only handle waits too, but cannot count itself
    // as a waiter: it looks again at least every 10 ms (see notify_all).
    void wait(std::size_t index, detail::wait_value_t<T> old) const {
        detail::wait(header_, at(index), old, writable);
    }
    // As wait(), giving up after `timeout`; returns whether it saw another value.
    template <class Rep, class Period>
    bool wait_for(std::size_t index, detail::wait_value_t<T> old,
                  std::chrono::duration<Rep, Period> timeout) const {
        return detail::wait_for(header_, at(index), old, writable, timeout);
    }
    // Wakes processes waiting on element `index`: after a store, as with
    // std::atomic. With no writable handle waiting on this segment, makes no
    // system call (a read-only waiter then notices within 10 ms). Linux, 4-byte
    // elements: notify_one wakes one waiter of this element; 8-byte elements,
    // and Windows: both wake every waiter of the segment, each of which looks
    // at its own element. Writable handles only.
    void notify_one(std::size_t index) { detail::notify(header_, at(index), false); }
    void notify_all(std::size_t index) { detail::notify(header_, at(index), true); }

private:
    // Built once: the type name is the same for the whole program.
    static const detail::element_identity& element_identity() {
        static const auto identity = detail::element_identity::of<element_type>();
        return identity;
    }

    static std::string generated_name() {
        static constexpr char digits[] = "0123456789abcdef";
        std::uint64_t bits = detail::os::random_64();
        std::string name = "smh-0000000000000000";
        for (std::size_t i = name.size(); i-- > 4; bits >>= 4) name[i] = digits[bits & 0xf];
        return name;
    }

    // This process, and the object within it: `token`, or this object's own.
    detail::owner_record me(std::uint64_t token = 0) const noexcept {
        const auto pid = detail::os::current_pid();
        return {pid, detail::os::own_start_time(pid), token != 0 ? token : token_};
    }

    // adopt() (`force` false) and take_ownership() (`force` true). The owner's
    // lock is taken first, so the segment never looks unowned to
    // remove_orphans() while the record changes hands. Bounded: claims seen
    // for longer than any claim lasts are taken as abandoned, and a record
    // that keeps changing under a hostile writer is given up on.
    bool acquire_ownership(bool force) {
        if (header_ == nullptr) return false;
        if (token_ != 0 && is_owner()) return true;
        detail::os::lock_for_owning(hold_, name_);
        const auto mine = me(next_token());
        using clock = std::chrono::steady_clock;
        const auto give_up_at = clock::now() + 4 * detail::abandoned_claim_after;
        std::optional<clock::time_point> first_claim_seen;
        auto fail = [&](std::string_view why) {
            token_ = 0;
            detail::os::stop_owning(hold_);
            if (force) detail::throw_error(errc::corrupt_segment, "take_ownership", name_, why);
            return false;
        };
        for (;;) {
            const auto now = clock::now();
            if (now >= give_up_at) return fail("its owner record keeps changing");
            const auto pid = detail::owner_pid_field(*header_).load(std::memory_order_acquire);
            if (pid < 0) { // being changed by another process, or abandoned
                if (!first_claim_seen) first_claim_seen = now;
                const bool abandoned = !detail::os::process_alive(detail::claimant_of(pid), 0) ||
                                       now - *first_claim_seen >= detail::abandoned_claim_after;
                if (!abandoned) {
                    std::this_thread::sleep_for(std::chrono::microseconds(50));
                    continue;
                }
                if (detail::claim_abandoned(*header_, pid, mine.pid)) break;
                continue;
            }
            const auto owner = detail::read_owner(*header_);
            if (!owner) continue; // claimed meanwhile: look again
            if (!force && owner->pid != 0 &&
                (detail::os::lock_held_by_others(hold_) ||
                 detail::os::process_alive(owner->pid, owner->start_time)))
                return fail("a live process owns it"); // perhaps another object of ours
            if (detail::claim_owner(*header_, *owner, mine.pid)) break;
        }
        detail::publish_owner(*header_, mine);
        token_ = mine.token;
        detail::os::note_owning(hold_, name_, mine, header_);
        return true;
    }

    // Distinct for every owning object of this process, never 0.
    static std::uint64_t next_token() noexcept {
        static std::atomic<std::uint64_t> counter{0};
        return counter.fetch_add(1, std::memory_order_relaxed) + 1;
    }

    detail::os::mapping region_;
    detail::segment_header* header_ = nullptr; // in the mapping; read-only for const T
    T* elements_ = nullptr;
    std::size_t size_ = 0;
    std::string name_;
    detail::os::segment_hold hold_; // what keeps the name ours (POSIX) or alive (Windows)
    std::uint64_t token_ = 0;       // set while this object created or adopted the segment
    bool unlinked_ = false;
};

// One smh segment, as smh::list() reports it.
struct segment_info {
    std::string name;      // what attach() takes
    std::string type_name; // the element type's portable name (docs/layout.md)
    std::size_t element_size = 0;
    std::size_t element_align = 0;
    std::size_t element_count = 0;
    std::size_t data_offset = 0; // where element 0 starts
    std::size_t bytes = 0;       // the whole segment, header included
    std::int64_t creator_pid = 0;
    std::int64_t owner_pid = 0;         // 0: no owner (released); < 0: being changed
    std::uint64_t owner_start_time = 0; // with owner_pid, identifies the owner process
    bool owner_alive = false; // the owner still runs: holds its lock, or its pid and start time
    bool ready = false;       // header finished (always, on POSIX, once a segment has its name)
    std::chrono::system_clock::time_point created;
};

namespace detail {

struct found_segment {
    std::string name;
    os::header_snapshot snapshot;
};

// Whether a read failure means "not one of this user's smh segments" (gone
// meanwhile, another user's, not a segment file), which a listing skips,
// rather than a failure to look (no descriptors left), which it reports.
inline bool skippable_when_listing(const error& e) noexcept {
    return e.code() == errc::not_found || e.code() == errc::permission_denied ||
           e.code() == errc::corrupt_segment;
}

// The intact smh segment `name`, if it is one this user can read. The header
// is read twice; one whose owner changed in between is skipped this time.
// Never opens anything for writing.
inline std::optional<found_segment> find_segment(const std::string& name,
                                                 std::string_view operation) {
    if (name_problem(name)) return std::nullopt; // no smh function could take that name
    try {
        const auto first = os::read_header(name, operation);
        if (!first || check_header_integrity(first->header)) return std::nullopt;
        const auto second = os::read_header(name, operation);
        if (!second || second->identity != first->identity ||
            second->header.owner_pid != first->header.owner_pid ||
            second->header.owner_start_time != first->header.owner_start_time)
            return std::nullopt;
        return found_segment{name, *second};
    } catch (const error& e) {
        if (skippable_when_listing(e)) return std::nullopt;
        throw;
    }
}

// Whether the owner lives: some process holds the owner's lock on the
// segment (POSIX; whatever its pid namespace), or the recorded process (pid
// and start time) still runs. For a record being changed, whether the
// process changing it lives (if it died mid-change, the record is abandoned).
inline bool owner_alive(const os::header_snapshot& snapshot) noexcept {
    if (snapshot.owner_lock_held) return true;
    const auto& header = snapshot.header;
    if (header.owner_pid < 0) return os::process_alive(claimant_of(header.owner_pid), 0);
    return header.owner_pid > 0 && os::process_alive(header.owner_pid, header.owner_start_time);
}

inline segment_info describe(const std::string& name, const os::header_snapshot& snapshot) {
    const auto& header = snapshot.header;
    segment_info info;
    info.name = name;
    info.type_name = std::string(stored_type_name(header));
    info.element_size = static_cast<std::size_t>(header.element_size);
    info.element_align = static_cast<std::size_t>(header.element_align);
    info.element_count = static_cast<std::size_t>(header.element_count);
    info.data_offset = static_cast<std::size_t>(header.data_offset);
    info.bytes = static_cast<std::size_t>(snapshot.size);
    info.creator_pid = header.creator_pid;
    info.owner_pid = header.owner_pid;
    info.owner_start_time = header.owner_start_time;
    info.owner_alive = owner_alive(snapshot);
    info.ready = header.state == state_ready;
    // Any 64 bits may be there: the conversion to a signed count wraps
    // (C++20), so a hostile value gives an odd date, never an overflow.
    info.created = std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(
            std::chrono::nanoseconds(static_cast<std::int64_t>(header.created_at_ns))));
    return info;
}

// The header of segment `name`, checked to be an intact smh header.
inline os::header_snapshot read_smh_header(std::string_view name, std::string_view operation) {
    check_name(name, operation);
    const auto snapshot = os::read_header(std::string(name), operation);
    if (!snapshot)
        throw_error(errc::corrupt_segment, operation, name,
                    "not an smh segment: shorter than a header");
    if (const auto problem = check_header_integrity(snapshot->header))
        throw_error(problem->code, operation, name, problem->why);
    return *snapshot;
}

// list(), remove() and remove_orphans() need segments that are files in a
// directory (POSIX). Their template parameter only defers this check to a
// call, so that a Windows program that does not call them compiles.
template <class Directory>
inline constexpr bool has_segment_directory = Directory::available;

} // namespace detail

// Every smh segment the calling user can see, sorted by name. Files in the
// shared-memory directory that are not smh segments, or that this user may
// not read, are skipped. Throws smh::error when the directory or a segment
// cannot be read for another reason (e.g. os_error for EMFILE,
// permission_denied for an unreadable directory): a failure is never an empty
// list. Linux: the segments in /dev/shm. Not on Windows (a compile error),
// which keeps no listable directory of shared memory.
template <class Directory = detail::os::segment_directory>
std::vector<segment_info> list() {
    static_assert(detail::has_segment_directory<Directory>,
                  "smh::list() needs segments that are files in a directory (POSIX); Windows "
                  "has no list of named shared memory");
    std::vector<segment_info> segments;
    if constexpr (detail::has_segment_directory<Directory>) {
        constexpr std::string_view op = "list";
        for (const auto& name : Directory::names(op))
            if (const auto found = detail::find_segment(name, op))
                segments.push_back(detail::describe(found->name, found->snapshot));
        std::sort(segments.begin(), segments.end(),
                  [](const segment_info& a, const segment_info& b) { return a.name < b.name; });
    }
    return segments;
}

// The header of the smh segment `name`, as list() describes it, read without
// mapping the segment or knowing its element type. Throws smh::error:
// not_found, permission_denied, corrupt_segment (not an smh segment),
// invalid_name, os_error.
inline segment_info inspect(std::string_view name) {
    return detail::describe(std::string(name), detail::read_smh_header(name, "inspect"));
}

// Removes the name of the smh segment `name`, whoever owns it (what `smh rm`
// does). Processes that have it mapped keep it until they let go. Refuses
// anything that is not an smh segment (errc::corrupt_segment), so it never
// removes another program's segment. Throws smh::error: not_found,
// corrupt_segment, permission_denied, invalid_name, os_error. Not on Windows
// (a compile error): a segment there lives exactly as long as some process
// holds it.
template <class Directory = detail::os::segment_directory>
void remove(std::string_view name) {
    static_assert(detail::has_segment_directory<Directory>,
                  "smh::remove() needs segments that are files in a directory (POSIX); on "
                  "Windows a segment lives exactly as long as some process holds it");
    if constexpr (detail::has_segment_directory<Directory>) {
        constexpr std::string_view op = "remove";
        const auto snapshot = detail::read_smh_header(name, op);
        const std::string name_string(name);
        switch (Directory::remove_if_same(name_string, snapshot.identity)) {
        case detail::os::unlink_result::removed: return;
        case detail::os::unlink_result::gone:
            detail::throw_error(errc::not_found, op, name, "removed by someone else meanwhile");
        case detail::os::unlink_result::failed:
            detail::os::throw_native(detail::os::last_native_error(), op, name, "shm_unlink");
        }
    }
}

// Removes every smh segment whose owner process no longer runs: the ones left
// behind when an owner was killed before its destructor could remove the name,
// and those whose owner record a process died while changing (or has been
// changing for longer than any change takes: a claim that names a reused pid
// or was forged). The owner is recognised by the lock it holds on the segment
// (Linux: in any pid namespace) or, where it holds none, by process id and
// start time, so a reused pid does not keep an orphan alive. Also removes
// what a creator killed while building a segment left (a hidden
// ".smh-creating-..." file, where segments cannot be built without a name).
// Never touches segments with a live owner, segments without an owner
// (released), or anything that is not an intact smh segment. Processes still
// attached to a removed orphan keep their mapping until they let go. Returns
// the names it removed. Throws smh::error as list() does. Not atomic with
// adopt(): an orphan adopted while this runs can still lose its name. Not on
// Windows (a compile error), where the kernel destroys a segment with the
// last handle to it: no orphans exist.
template <class Directory = detail::os::segment_directory>
std::vector<std::string> remove_orphans() {
    static_assert(detail::has_segment_directory<Directory>,
                  "smh::remove_orphans() is for POSIX, where segments outlive their processes; "
                  "Windows destroys a segment with the last handle to it, so none is orphaned");
    std::vector<std::string> removed;
    if constexpr (detail::has_segment_directory<Directory>) {
        constexpr std::string_view op = "remove_orphans";
        auto remove = [&](const detail::found_segment& found) {
            if (Directory::remove_if_same(found.name, found.snapshot.identity) ==
                detail::os::unlink_result::removed)
                removed.push_back(found.name);
        };
        // Claims by live processes: abandoned if still unchanged after the
        // longest a change takes (one wait for all of them).
        std::vector<detail::found_segment> claimed;
        for (const auto& name : Directory::names(op)) {
            if (Directory::remove_abandoned_build(name)) {
                removed.push_back(name);
                continue;
            }
            auto found = detail::find_segment(name, op);
            if (!found || found->snapshot.header.owner_pid == 0) continue;
            if (!detail::owner_alive(found->snapshot))
                remove(*found);
            else if (found->snapshot.header.owner_pid < 0 && !found->snapshot.owner_lock_held)
                claimed.push_back(std::move(*found));
        }
        if (!claimed.empty()) std::this_thread::sleep_for(detail::abandoned_claim_after);
        for (const auto& before : claimed) {
            const auto now = detail::find_segment(before.name, op);
            if (now && now->snapshot.identity == before.snapshot.identity &&
                !now->snapshot.owner_lock_held &&
                std::memcmp(&now->snapshot.header, &before.snapshot.header,
                            sizeof before.snapshot.header) == 0)
                remove(*now);
        }
    }
    std::sort(removed.begin(), removed.end());
    return removed;
}

// Makes a process that ends without running destructors leave no segment
// behind: when it is ended by a signal whose default action ends it (Ctrl-C's
// SIGINT, SIGTERM, SIGHUP, SIGQUIT, a crash's SIGSEGV or SIGBUS, ...), or by
// abort() (a failed assert, an uncaught exception), or std::exit(), the names
// of the segments it owns are removed, as their owners' destructors would
// have. Only the owning process removes them (never a forked child) and only
// while the segment still records it as owner. Only signals whose action is
// still the default are taken: a signal the program handles itself (or
// ignores) stays exactly as the program set it and removes nothing, since
// the program may go on; such a handler can call smh::remove_owned_segments()
// before it ends the process. Call it once, early in main, after installing
// your own handlers (one installed later replaces ours). A process ended by
// the default action still ends by the same signal (exit status, core dump).
// SIGKILL cannot be caught: remove_orphans() (`smh gc`) collects what it
// leaves. Off by default, because signal handlers belong to the program.
// Windows: does nothing (nothing outlives its processes there). Throws
// nothing.
inline void cleanup_on_termination() noexcept { detail::os::install_termination_cleanup(); }

// Removes now the names of the segments this process owns, whose owners'
// destructors have not run: for a signal handler of your own that ends the
// process. Async-signal-safe.
inline void remove_owned_segments() noexcept { detail::os::remove_owned_segments_now(); }

// smh::create<T>(...) and smh::attach<T>(name): the static members, spelled
// for call sites that read better without the class name.
template <class T>
SharedMemoryHandlee<T> create(std::size_t length, const create_options& options = {}) {
    return SharedMemoryHandlee<T>::create(length, options);
}
template <class T>
SharedMemoryHandlee<T> create(std::string_view name, std::size_t length,
                              const create_options& options = {}) {
    return SharedMemoryHandlee<T>::create(name, length, options);
}
template <class T>
SharedMemoryHandlee<T> attach(std::string_view name, const attach_options& options = {}) {
    return SharedMemoryHandlee<T>::attach(name, options);
}

} // namespace smh
