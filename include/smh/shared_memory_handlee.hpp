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
#include <chrono>      // attach's wait for a segment being created
#include <cstddef>     // std::size_t, std::byte
#include <cstdint>     // fixed-width header fields
#include <cstring>     // std::memcpy of the header
#include <new>         // placement new for elements with default member initialisers
#include <optional>    // name_problem
#include <span>        // data()
#include <stdexcept>   // std::out_of_range from at()
#include <string>      // names
#include <string_view> // name parameters
#include <thread>      // sleep while a segment is being created
#include <type_traits> // element type checks
#include <utility>     // std::move, std::swap
#include <vector>      // remove_orphans' result

#include "detail/layout.hpp"
#include "detail/platform.hpp"
#include "detail/type_name.hpp"
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
    // How long attach waits for a segment whose creator is still preparing it
    // (reserving pages for a large segment takes time) before it gives up with
    // errc::not_found.
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

// How recently a segment with no header yet must have been created (or
// resized) for attach to take it for one whose creator is between shm_open
// and writing the header: microseconds, unless the creator is descheduled.
// An older one is corrupt at once.
inline constexpr std::chrono::milliseconds unwritten_grace{1000};

// Why `name` is not a valid segment name, or nullopt when it is.
inline std::optional<std::string> name_problem(std::string_view name) {
    if (name.empty()) return "the name is empty";
    if (name.size() > max_name_length)
        return "the name has " + std::to_string(name.size()) + " characters, at most " +
               std::to_string(max_name_length) + " are allowed";
    if (name == "." || name == "..") return "'.' and '..' are not segment names";
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
        auto segment = detail::os::create_segment(name_string, *bytes, options.permissions);
        SharedMemoryHandlee result;
        result.hold_ = detail::os::hold(segment);
        try {
            auto* base = static_cast<std::byte*>(segment.region.get_address());
            auto* header = reinterpret_cast<detail::segment_header*>(base);
            const auto pid = detail::os::current_pid();
            const auto token = next_token();
            detail::segment_header initial =
                detail::make_header(element, length, pid, detail::os::own_start_time(pid), token,
                                    detail::now_unix_ns());
            initial.state = 0;
            // The header's page first: on a full filesystem, writing into an
            // unallocated page would SIGBUS; this makes it errc::no_space.
            detail::os::reserve_space(segment, name, offset);
            std::memcpy(header, &initial, sizeof initial);
            // From here an attacher waits for us instead of calling the segment corrupt.
            detail::shared_field(header->state)
                .store(detail::state_creating, std::memory_order_release);

            if (options.reserve) detail::os::reserve_space(segment, name, *bytes);
            detail::os::advise(segment.region, options.huge_pages,
                               options.populate ? detail::os::populate::write
                                                : detail::os::populate::none);
            T* elements = reinterpret_cast<T*>(base + offset);
            if constexpr (detail::needs_construction<T>) {
                for (std::size_t i = 0; i < length; ++i) ::new (elements + i) T;
            }
            detail::shared_field(header->state)
                .store(detail::state_ready, std::memory_order_release);

            result.region_ = std::move(segment.region);
            result.header_ = header;
            result.elements_ = elements;
            result.size_ = length;
            result.name_ = name_string;
            result.token_ = token;
        } catch (...) {
            (void)detail::os::release_name(name_string, result.hold_);
            throw;
        }
        return result;
    }

    // Maps the existing segment `name`; its length comes from the segment.
    // Not the owner (see adopt()). For SharedMemoryHandlee<const T> the
    // segment is opened and mapped read-only, which needs only read permission.
    // Throws smh::error: not_found, type_mismatch (the segment holds another
    // element type), corrupt_segment, permission_denied.
    static SharedMemoryHandlee attach(std::string_view name, const attach_options& options = {}) {
        constexpr std::string_view op = "attach";
        detail::check_name(name, op);
        const auto& expected = element_identity();
        const std::string name_string(name);
        using clock = std::chrono::steady_clock;
        const auto start = clock::now();
        const auto deadline = start + options.creation_timeout;
        // No header yet: wait only while the segment is new enough to be ours in
        // the making, and not longer than the grace in all (a segment that
        // existed when we started is at least that old by then).
        auto may_be_unwritten = [&](const detail::os::opened_segment& segment) {
            const auto now = clock::now();
            return segment.unchanged_for < detail::unwritten_grace &&
                   now - start < detail::unwritten_grace && now < deadline;
        };
        for (;; std::this_thread::sleep_for(std::chrono::milliseconds(1))) {
            auto segment = detail::os::open_segment(name_string, op, writable);
            if (segment.size < detail::header_size) {
                if (may_be_unwritten(segment)) continue;
                detail::throw_error(errc::corrupt_segment, op, name,
                                    "it has " + std::to_string(segment.size) +
                                        " bytes, too few for the " +
                                        std::to_string(detail::header_size) + "-byte header");
            }
            detail::os::map_segment(segment, op, name, writable);
            auto* base = static_cast<std::byte*>(segment.region.get_address());
            auto* header = reinterpret_cast<detail::segment_header*>(base);
            const auto state = detail::shared_field(header->state).load(std::memory_order_acquire);

            if (state == detail::state_ready) {
                detail::segment_header snapshot;
                std::memcpy(&snapshot, header, sizeof snapshot);
                if (const auto problem = detail::check_header(snapshot, segment.size, expected))
                    detail::throw_error(problem->code, op, name, problem->why);
                detail::os::advise(segment.region, options.huge_pages,
                                   options.populate ? detail::os::populate::read
                                                    : detail::os::populate::none);
                SharedMemoryHandlee result;
                result.region_ = std::move(segment.region);
                result.header_ = header;
                result.elements_ = reinterpret_cast<T*>(base + snapshot.data_offset);
                result.size_ = static_cast<std::size_t>(snapshot.element_count);
                result.name_ = name_string;
                result.hold_ = detail::os::hold(segment);
                return result;
            }
            if (state == detail::state_creating) {
                const auto creator = detail::read_owner(*header).value_or(detail::owner_record{});
                const auto pid = creator.pid;
                const bool ours =
                    std::memcmp(header->magic, detail::segment_magic, sizeof header->magic) == 0;
                if (!ours || !detail::os::process_alive(pid, creator.start_time))
                    detail::throw_error(errc::corrupt_segment, op, name,
                                        "its creator (process " + std::to_string(pid) +
                                            ") stopped before finishing it");
                if (clock::now() < deadline) continue;
                detail::throw_error(errc::not_found, op, name,
                                    "process " + std::to_string(pid) +
                                        " is still creating it after " +
                                        std::to_string(options.creation_timeout.count()) + " ms");
            }
            if (state == 0 && may_be_unwritten(segment)) continue;
            detail::throw_error(errc::corrupt_segment, op, name,
                                state == 0 ? "its header was never written"
                                           : "its header is in an unknown state");
        }
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
        const auto mine = me();
        if (!detail::replace_owner(*header_, mine, {.pid = 0})) return false;
        token_ = 0;
        return true;
    }

    // Becomes the owner of a segment that has none (released) or whose owner
    // process has ended; from then on this object's destructor removes the
    // name. Returns false, changing nothing, while a live process (this one
    // included, through another object) owns it.
    bool adopt() requires writable { return acquire_ownership(false); }

    // Becomes the owner whatever the current owner is doing: that object's
    // destructor will no longer remove the name (it checks the segment).
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

    // adopt() (`force` false) and take_ownership() (`force` true).
    bool acquire_ownership(bool force) {
        if (header_ == nullptr) return false;
        const auto token = next_token();
        const auto mine = me(token);
        for (;;) {
            const auto pid = detail::owner_pid_field(*header_).load(std::memory_order_acquire);
            if (pid < 0) { // being changed by process -pid
                if (detail::os::process_alive(-pid, 0)) {
                    if (!force) return false;
                    std::this_thread::yield();
                    continue;
                }
                // Its claimant died mid-change: the record is abandoned.
                if (detail::claim_abandoned(*header_, pid, mine.pid)) break;
                continue;
            }
            const auto owner = detail::read_owner(*header_);
            if (!owner) continue;                           // claimed meanwhile: look again
            if (token_ != 0 && *owner == me()) return true; // already ours
            if (!force && owner->pid != 0 &&
                detail::os::process_alive(owner->pid, owner->start_time))
                return false; // a live process owns it (perhaps another object of ours)
            if (detail::claim_owner(*header_, *owner, mine.pid)) break;
        }
        detail::publish_owner(*header_, mine);
        token_ = token;
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
    std::int64_t owner_pid = 0;         // 0: no owner (released); -1: being changed
    std::uint64_t owner_start_time = 0; // with owner_pid, identifies the owner process
    bool owner_alive = false;           // the owner (pid and start time) still runs
    bool ready = false;                 // false while its creator is still preparing it
    std::chrono::system_clock::time_point created;
};

namespace detail {

struct found_segment {
    std::string name;
    os::header_snapshot snapshot;
};

// The intact smh segments this user can read. Each header is read twice;
// one whose owner changed in between is skipped this time. Anything that is
// not an smh segment is skipped without being opened for writing.
template <class Directory>
std::vector<found_segment> find_segments() {
    std::vector<found_segment> found;
    for (auto& name : Directory::names()) {
        if (name_problem(name)) continue; // no smh function could take that name
        const auto first = os::read_header(name);
        if (!first || check_header_integrity(first->header)) continue;
        const auto second = os::read_header(name);
        if (!second || second->identity != first->identity ||
            second->header.owner_pid != first->header.owner_pid ||
            second->header.owner_start_time != first->header.owner_start_time)
            continue;
        found.push_back({std::move(name), *second});
    }
    return found;
}

// Whether the owner lives; for a record being changed, whether the process
// changing it lives (if it died mid-change, the record is abandoned).
inline bool owner_alive(const segment_header& header) noexcept {
    if (header.owner_pid < 0) return os::process_alive(-header.owner_pid, 0);
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
    info.owner_alive = owner_alive(header);
    info.ready = header.state == state_ready;
    info.created = std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(
            std::chrono::nanoseconds(header.created_at_ns)));
    return info;
}

// The header of segment `name`, checked to be an intact smh header.
inline os::header_snapshot read_smh_header(std::string_view name, std::string_view operation) {
    check_name(name, operation);
    const std::string name_string(name);
    const auto snapshot = os::read_header(name_string);
    if (!snapshot) {
        if (!os::segment_exists(name_string))
            throw_error(errc::not_found, operation, name, "",
                        std::make_error_code(std::errc::no_such_file_or_directory));
        throw_error(errc::corrupt_segment, operation, name,
                    "not an smh segment: unreadable, or shorter than a header");
    }
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
// shared-memory directory that are not smh segments are skipped, never an
// error. Linux: the segments in /dev/shm. Not on Windows (a compile error),
// which keeps no listable directory of shared memory.
template <class Directory = detail::os::segment_directory>
std::vector<segment_info> list() {
    static_assert(detail::has_segment_directory<Directory>,
                  "smh::list() needs segments that are files in a directory (POSIX); Windows "
                  "has no list of named shared memory");
    std::vector<segment_info> segments;
    if constexpr (detail::has_segment_directory<Directory>) {
        for (const auto& [name, snapshot] : detail::find_segments<Directory>())
            segments.push_back(detail::describe(name, snapshot));
        std::sort(segments.begin(), segments.end(),
                  [](const segment_info& a, const segment_info& b) { return a.name < b.name; });
    }
    return segments;
}

// The header of the smh segment `name`, as list() describes it, read without
// mapping the segment or knowing its element type. Throws smh::error:
// not_found, corrupt_segment (not an smh segment), invalid_name.
inline segment_info inspect(std::string_view name) {
    return detail::describe(std::string(name), detail::read_smh_header(name, "inspect"));
}

// Removes the name of the smh segment `name`, whoever owns it (what `smh rm`
// does). Processes that have it mapped keep it until they let go. Refuses
// anything that is not an smh segment (errc::corrupt_segment), so it never
// removes another program's segment. Throws smh::error: not_found,
// corrupt_segment, permission_denied, invalid_name. Not on Windows (a compile
// error): a segment there lives exactly as long as some process holds it.
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
// and those whose owner record a process died while changing. The owner is
// recognised by process id and start time, so a reused pid does not keep an
// orphan alive. Never touches segments with a live owner, segments without an
// owner (released), or anything that is not an intact smh segment. Processes
// still attached to a removed orphan keep their mapping until they let go.
// Returns the names it removed. Linux: the segments in /dev/shm, judged by
// pids of this pid namespace. Not atomic with adopt(): an orphan adopted while
// this runs can still lose its name. Not on Windows (a compile error), where
// the kernel destroys a segment with the last handle to it: no orphans exist.
template <class Directory = detail::os::segment_directory>
std::vector<std::string> remove_orphans() {
    static_assert(detail::has_segment_directory<Directory>,
                  "smh::remove_orphans() is for POSIX, where segments outlive their processes; "
                  "Windows destroys a segment with the last handle to it, so none is orphaned");
    std::vector<std::string> removed;
    if constexpr (detail::has_segment_directory<Directory>) {
        for (const auto& [name, snapshot] : detail::find_segments<Directory>()) {
            if (snapshot.header.owner_pid == 0 || detail::owner_alive(snapshot.header)) continue;
            if (Directory::remove_if_same(name, snapshot.identity) ==
                detail::os::unlink_result::removed)
                removed.push_back(name);
        }
    }
    return removed;
}

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
