// What the library asks of an operating system, declared once: the shared
// vocabulary, and every function each OS's folder (linux/, windows/) defines
// in smh::detail::os, in sections named as the files that define them.
// platform.hpp picks the folder and checks at compile time that it defines
// these functions with exactly these types.
// Below it only the vocabulary it speaks: the header (layout.hpp), names
// (segment_name.hpp) and the owner record (owner_record.hpp). Every function
// that can fail reports it for a segment_operation, which the caller names:
// no public operation name is spelled down here.
#pragma once

#include <boost/interprocess/exceptions.hpp> // interprocess_exception

#include <chrono>       // creation timeouts
#include <cstddef>      // std::byte
#include <cstdint>      // fixed-width values
#include <optional>     // a header that is not there
#include <string>       // messages
#include <string_view>  // operation names
#include <system_error> // native codes
#include <vector>       // directory listings

#include "../error.hpp"
#include "../options.hpp"
#include "layout.hpp"
#include "owner_record.hpp"
#include "segment_name.hpp"

namespace smh {
inline namespace v0 {
namespace detail::os {

// ---------------------------------------------------------------------------
// Vocabulary.

// Which file a name led to: a name removed and created again names another
// file. Windows sections have no identity: all compare equal there.
struct file_identity {
    std::uint64_t device = 0;
    std::uint64_t inode = 0;
    bool operator==(const file_identity&) const = default;
};

// A segment's header as read without mapping the segment (list, inspect, gc).
struct header_snapshot {
    segment_header header;
    std::uint64_t size = 0; // of the whole segment
    file_identity identity;
    bool owner_lock_held = false; // some process holds the owner's lock (POSIX)
    unsigned uid = 0;             // the user the file belongs to (POSIX)
    unsigned mode = 0;            // its permission bits (POSIX)
};

// What create asks of a new segment besides its size.
struct create_request {
    unsigned permissions = 0600; // applied exactly: the umask changes nothing
    bool reserve = true;         // allocate every page now
    std::uint64_t must_have = 0; // bytes allocated even without `reserve`: the header's
    bool huge_pages = false;
    bool populate = false; // map every page into this process now
    // A growable segment: the address space its mapping reserves, the
    // capacity's bytes, past the `bytes` the segment starts with (0: none).
    std::uint64_t capacity_bytes = 0;
    // `write` writes the header alone: the elements are zero bytes, which a
    // new file is. The OS layer may then write it with pwrite rather than
    // through the mapping (Linux).
    bool header_only = false;
    // The creator's record: POSIX registers it for termination cleanup
    // before the name exists, so a signal at any instant after finds it.
    const owner_record* owner = nullptr;
};

// The moment `timeout` after `start`, saturated: milliseconds::max() means
// "wait as long as it takes", not an overflow into the past.
inline std::chrono::steady_clock::time_point
saturating_deadline(std::chrono::steady_clock::time_point start,
                    std::chrono::milliseconds timeout) noexcept {
    using clock = std::chrono::steady_clock;
    if (timeout <= std::chrono::milliseconds::zero()) return start;
    const auto room =
        std::chrono::duration_cast<std::chrono::milliseconds>((clock::time_point::max)() - start);
    return timeout >= room ? (clock::time_point::max)() : start + timeout;
}

// Performance hints for a fresh mapping.
enum class populate { none, read, write };

enum class unlink_result {
    removed, // this call removed the name (Windows: gave up this object's handle)
    gone,    // the name was already gone, or names another segment now
    failed,  // the OS refused; last_native_error() says why
};

// Writes a new segment's bytes while no other process can see them:
// create_segment calls it once the segment is mapped, with the mapping's
// base. A borrowed callable, so that create_segment itself is compiled
// once, not once per caller.
class segment_writer {
public:
    template <class Write>
    explicit segment_writer(Write& write) noexcept
        : context_(&write),
          call_([](void* context, std::byte* base) { (*static_cast<Write*>(context))(base); }) {}
    void operator()(std::byte* base) const { call_(context_, base); }

private:
    void* context_;
    void (*call_)(void*, std::byte*);
};

// Work that runs while no other handle, in any process, grows the same
// segment (while_growth_locked). Borrowed, as segment_writer.
class growth_work {
public:
    template <class Work>
    explicit growth_work(Work& work) noexcept
        : context_(&work),
          call_([](void* context) { (*static_cast<Work*>(context))(); }) {}
    void operator()() const { call_(context_); }

private:
    void* context_;
    void (*call_)(void*);
};

// Defined by each OS folder: mapping in system.hpp, opened_segment and
// segment_directory in segments.hpp, anonymous_segments in anonymous.hpp
// (below), segment_hold in segments.hpp (Windows: the section's handle) or
// owner_lock.hpp (Linux: it carries the owner's lock).
class mapping;             // a mapping of a segment, unmapped on destruction
struct opened_segment;     // a segment opened and mapped whole
struct segment_hold;       // what keeps a segment's name an object's own (POSIX) or alive (Windows)
struct segment_directory;  // POSIX: segments are files in a directory; `available` says so
struct anonymous_segments; // segments without a name (Linux: a memfd; Windows: an unnamed section)

// ---------------------------------------------------------------------------
// system.hpp: errors, and the hints a mapping is given.

// The category of the OS's own error numbers (errno, GetLastError).
inline const std::error_category& native_category() noexcept;
inline errc errc_from_native(int native) noexcept;
inline int last_native_error() noexcept;

#if defined(__GNUC__) // g++, clang++: error paths are cold (MSVC knows no such attribute)
[[gnu::cold]]
#endif
[[noreturn]] inline void
throw_native(const segment_operation& what, int native, std::string_view what_failed) {
    what.fail(errc_from_native(native), what_failed, std::error_code(native, native_category()));
}

// Boost reports the native error it saw; without one, it failed on its own.
#if defined(__GNUC__) // g++, clang++: error paths are cold (MSVC knows no such attribute)
[[gnu::cold]]
#endif
[[noreturn]] inline void
rethrow_boost(const segment_operation& what, const boost::interprocess::interprocess_exception& e,
              std::string_view what_failed) {
    if (const int native = e.get_native_error(); native != 0)
        throw_native(what, native, what_failed);
    what.fail(errc::os_error, std::string(what_failed) + ": " + e.what());
}

// Hints for the mapping: huge pages, and its pages mapped now (`mode`). The
// mapping keeps them, for a mapping made again in its place (Linux).
inline void advise(mapping& region, bool huge_pages, populate mode) noexcept;

// ---------------------------------------------------------------------------
// creating.hpp: a new segment.

// Creates `what.name` exclusively, `bytes` long, zeroed, and calls `write`
// before any other process can use it. Throws already_exists, leaving the
// existing segment untouched; a failed create leaves nothing behind.
inline opened_segment create_segment(const segment_operation& what, std::uint64_t bytes,
                                     const create_request& request, segment_writer write);
// 64 bits from the OS's random source, for names.
inline std::uint64_t random_64(std::string_view operation);

// ---------------------------------------------------------------------------
// segments.hpp: an existing segment, and what an object keeps of it.

// Opens and maps the existing segment whole, read-write or read-only. Never
// blocks on POSIX; on Windows waits up to `creation_timeout` for a creator.
inline opened_segment open_segment(const segment_operation& what, bool writable,
                                   std::chrono::milliseconds creation_timeout);

// The header of a segment, read without mapping it; nullopt when shorter
// than a header. Throws what opening it throws.
inline std::optional<header_snapshot> read_header(const segment_operation& what);

// What an object keeps of the segment it attached, or created and owns.
// `region` is the object's mapping, moved out of `segment`, at the place it
// keeps it for as long as it keeps the hold.
inline segment_hold hold(opened_segment& segment, mapping& region) noexcept;
inline segment_hold hold_created(opened_segment& segment, mapping& region) noexcept;

// Takes the held segment's name away, unless it now names another segment
// (Windows: gives up the object's handle, so the name goes with the last one).
inline unlink_result unlink(const segment_name& name, segment_hold& held) noexcept;

// ---------------------------------------------------------------------------
// anonymous.hpp: segments without a name, handed on by descriptor (Linux: a
// sealed memfd's file descriptor; Windows: an unnamed section's handle, as
// an int by HandleToLong). A struct of static functions, so that the public
// calls are templates on it and fail to compile where `available` is false:
//   available     whether the OS has them at all;
//   over_sockets  whether a descriptor also travels over a Unix-domain socket
//                 (send, receive: Linux only);
//   create(what, bytes, request, write) -> opened_segment
//                 as create_segment, with no name and no owner;
//   open(descriptor, what, writable) -> opened_segment
//                 maps the segment behind `descriptor`, which stays the
//                 caller's: the result holds a descriptor of its own;
//   check_seals(opened, what, growable)
//                 what else the header's checks need of it (Linux: seals
//                 against shrinking; Windows: commitment);
//   read_header(descriptor, what) -> std::optional<header_snapshot>;
//   descriptor_of(hold) -> int
//                 the descriptor a holder keeps (platform.hpp checks these
//                 types).

// ---------------------------------------------------------------------------
// growing.hpp: growable segments (a capacity above the length).

// Maps the opened growable segment again, over `capacity_bytes` (the file
// may end before: those pages are not touched until the segment grows), so
// that its addresses never change; a writable one keeps what grow needs.
// Returns the segment's size now: at least what the length read before it
// needs, since growers extend the segment before they publish a length.
inline std::uint64_t map_capacity(opened_segment& segment, const segment_operation& what,
                                  bool writable, std::uint64_t capacity_bytes);
// Runs `work` while no other handle of the segment, in any process, runs its
// own: growth is serialised, and a grower that dies lets the next one in.
// Waits for its turn until `deadline` (time_point::max(): as long as it
// takes), then returns false having done nothing: a process that holds the
// lock and never lets go (one stopped mid-growth, or any process that can
// open the file and locks it on purpose) cannot block a grower forever.
inline bool while_growth_locked(segment_hold& held, const segment_operation& what, growth_work work,
                                std::chrono::steady_clock::time_point deadline);
// Backs bytes [from, to) of the segment with memory, zeroed, before the new
// length is published: errc::no_space here, never a SIGBUS in any process.
// Leaves the segment as it was when it throws.
inline void extend_segment(segment_hold& held, const segment_operation& what, std::uint64_t from,
                           std::uint64_t to);

// ---------------------------------------------------------------------------
// huge_pages.hpp.

// Whether the shared-memory filesystem gives segments huge pages.
inline huge_page_policy segment_huge_page_policy() noexcept;
// Bytes of [base, base + size) this process maps with huge pages now.
inline std::uint64_t mapped_huge_bytes(const void* base, std::size_t size) noexcept;

// ---------------------------------------------------------------------------
// owner_lock.hpp: what owning changes in what an object holds (Linux: the
// owner's lock; Windows: nothing, since nothing outlives its processes there).

// Takes the owner's lock for an object about to own its segment.
inline void lock_for_owning(segment_hold& held, const segment_name& name) noexcept;
// Whether another object, in any process, holds the owner's lock.
inline bool lock_held_by_others(const segment_hold& held) noexcept;
// This object owns the segment as `owner`, or is about to claim it: cleanup
// at termination removes it.
inline void note_owning(segment_hold& held, const segment_name& name, const owner_record& owner,
                        segment_header* header) noexcept;
// This object owns it now: it keeps the lock lock_for_owning took.
inline void keep_owner_lock(segment_hold& held) noexcept;
// This object no longer owns it: drops the lock and the cleanup entry.
inline void stop_owning(segment_hold& held, const segment_name& name) noexcept;

// ---------------------------------------------------------------------------
// termination.hpp: a process that ends without running destructors (Linux:
// signal handlers, abort and exit; Windows: nothing to do).

// Brackets a change of ownership (a record claimed until it is published or
// cleared, a record released until its entry is forgotten, a new segment
// registered until it has its name), which POSIX termination cleanup waits
// for rather than cut in two.
inline void begin_owner_change() noexcept;
inline void end_owner_change() noexcept;
inline void install_termination_cleanup() noexcept;
inline void remove_owned_segments_now() noexcept;

// ---------------------------------------------------------------------------
// watcher.hpp.

// Starts, once per process, what removes its segments when it dies of any
// cause (Linux: the watcher process; Windows: nothing is needed). True once
// that is in place.
inline bool watch_owned_segments() noexcept;

// ---------------------------------------------------------------------------
// waiting.hpp: waiting on an element across processes, for wait.hpp.

// The 4-byte word a wait on `element` (`size` bytes) sleeps on: the element
// itself, or the header's wait_sequence.
inline const std::uint32_t& wait_word_for(const segment_header& header, const void* element,
                                          std::size_t size) noexcept;
// Sleeps while `word` holds `expected`, at most `timeout`; may return early.
inline void sleep_on_word(const segment_header& header, const std::uint32_t& word,
                          std::uint32_t expected,
                          std::optional<std::chrono::nanoseconds> timeout) noexcept;
// Wakes one or every process sleeping on `word` (on the sequence: every one,
// after incrementing it).
inline void wake_word(segment_header& header, std::uint32_t& word, bool all) noexcept;

// ---------------------------------------------------------------------------
// processes.hpp.

inline std::int64_t current_pid() noexcept;
// With the pid, identifies a process after its pid is reused; 0 if unknown.
inline std::uint64_t own_start_time(std::int64_t pid) noexcept;
// Whether (pid, start_time) still runs; start_time 0 checks the pid alone.
inline bool process_alive(std::int64_t pid, std::uint64_t start_time) noexcept;

} // namespace detail::os
} // namespace v0
} // namespace smh

namespace smh {
inline namespace v0 {
namespace detail {

// One change of ownership that termination cleanup must not cut in two
// (begin_owner_change above): a create from registering its segment to
// naming it, an owner's end from claiming its record to clearing it, an
// adopt (registered before it claims) from its claim to its new record, a
// release from clearing the record to forgetting the segment.
struct owner_change {
    owner_change() noexcept { os::begin_owner_change(); }
    ~owner_change() { os::end_owner_change(); }
    owner_change(const owner_change&) = delete;
    owner_change& operator=(const owner_change&) = delete;
};

} // namespace detail
} // namespace v0
} // namespace smh
