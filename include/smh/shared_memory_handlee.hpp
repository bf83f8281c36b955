// smh: a named shared-memory segment used as a typed array by several
// processes at once, without copying.
//
//   auto counts = smh::SharedMemoryHandlee<int>::create(10);  // owner
//   spawn_child(counts.name());                               // child: attach<int>(name)
//   counts[3] = 42;                                           // seen by the child
//   // counts goes out of scope: unmapped, and the name removed
//
// Header-only; needs C++20 and Boost.Interprocess headers. This file is the
// whole API: the class, then the free functions. <smh/options.hpp> holds the
// options and segment_info, <smh/error.hpp> the one exception type; the
// protocol, compiled once for every element type, is in detail/.
#pragma once

#if __cplusplus < 202002L && (!defined(_MSVC_LANG) || _MSVC_LANG < 202002L)
#error "smh needs C++20 (std::span, std::atomic_ref)"
#endif

#define SMH_VERSION_MAJOR 0
#define SMH_VERSION_MINOR 1
#define SMH_VERSION_PATCH 0

#include <atomic>      // atomic elements
#include <cassert>     // operator[]'s debug check
#include <cstddef>     // std::size_t
#include <new>         // placement new for elements with default member initialisers
#include <span>        // data()
#include <stdexcept>   // std::out_of_range from at()
#include <string>      // names
#include <string_view> // name parameters
#include <type_traits> // element type checks
#include <utility>     // std::exchange, std::swap
#include <vector>      // list() and remove_orphans()

#include "detail/directory.hpp"
#include "detail/segment.hpp"
#include "detail/type_name.hpp"
#include "detail/wait.hpp"
#include "error.hpp"
#include "options.hpp"

// Every name of the library is declared in an inline namespace whose name
// the mangled names carry: a release that changes the segment layout or the
// library's ABI names it anew (v1, ...), so two builds with different layouts
// never link together silently. Code spells smh::name, never smh::v0::name.
namespace smh {
inline namespace v0 {

// Longest segment name accepted on every platform.
inline constexpr std::size_t max_name_length = detail::max_name_length;

// How a handle's length behaves, its second template argument:
// fixed_length (the default), a segment whose length never changes, so
// size() is a member read as fast as a raw pointer's length; growable, a
// segment created with create_options::capacity, whose size() follows
// grow() in every process (an atomic load each time).
struct fixed_length {};
struct growable {};

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
//
// SharedMemoryHandlee<T, growable> holds a segment that may grow while
// others use it (create_options::capacity, grow(), wait_for_size()); it
// attaches to fixed segments too. SharedMemoryHandlee<T> refuses a growable
// segment (type_mismatch), as its size() could not follow the growth.
template <class T, class Length = fixed_length>
class SharedMemoryHandlee : private detail::segment_handle {
    using element_type = std::remove_const_t<T>;
    static constexpr bool writable = !std::is_const_v<T>;
    static constexpr bool can_grow = std::is_same_v<Length, smh::growable>;
    static constexpr bool is_atomic = detail::is_std_atomic<element_type>::value;
    static constexpr auto growth =
        can_grow ? detail::handle_growth::may_grow : detail::handle_growth::fixed;

    static_assert(std::is_same_v<Length, smh::fixed_length> || can_grow,
                  "smh::SharedMemoryHandlee<T, Length>: Length is smh::fixed_length or "
                  "smh::growable");

    static_assert(!std::is_volatile_v<T> && !std::is_reference_v<T>,
                  "smh::SharedMemoryHandlee<T>: T must be an object type, not volatile or a "
                  "reference (const T means a read-only attach)");
    static_assert(!is_atomic || detail::is_lock_free_atomic<element_type>,
                  "smh::SharedMemoryHandlee<std::atomic<U>>: only lock-free atomics of "
                  "trivially copyable U work across processes (a locking atomic's lock lives "
                  "in one process)");
    static_assert(is_atomic || std::is_trivially_copyable_v<element_type>,
                  "smh::SharedMemoryHandlee<T>: T must be trivially copyable to live in shared "
                  "memory; types such as std::string or std::vector hold pointers into one "
                  "process's heap");
    static_assert(writable || !is_atomic || sizeof(element_type) <= 8,
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
        : segment_handle(detail::create_segment(length, shape(), {}, growth)) {}

    // Creates a segment of `length` zero elements under a fresh name holding
    // 64 random bits; the result is the owner. Throws smh::error.
    static SharedMemoryHandlee create(std::size_t length,
                                      const create_options& options = {}) requires writable {
        return SharedMemoryHandlee(detail::create_segment(length, shape(), options, growth));
    }

    // Creates the segment `name` exclusively: if the name exists, throws
    // errc::already_exists and leaves that segment untouched. The result is
    // the owner. Throws smh::error; a failed create leaves nothing behind.
    static SharedMemoryHandlee create(std::string_view name, std::size_t length,
                                      const create_options& options = {}) requires writable {
        return SharedMemoryHandlee(detail::create_segment(name, length, shape(), options, growth));
    }

    // Maps the existing segment `name`; its length comes from the segment.
    // Not the owner (see adopt()). For SharedMemoryHandlee<const T> the
    // segment is opened and mapped read-only, which needs only read permission.
    // Never blocks: a FIFO, a symbolic link or anything else that is not a
    // segment file is corrupt_segment at once. Throws smh::error: not_found,
    // type_mismatch (the segment holds another element type),
    // corrupt_segment, permission_denied.
    static SharedMemoryHandlee attach(std::string_view name, const attach_options& options = {}) {
        return SharedMemoryHandlee(
            detail::attach_segment(name, identity(), writable, options, growth));
    }

    // Creates a segment with no name anywhere (Linux: memfd_create; Windows:
    // an unnamed section), which no process can shrink (Linux seals it; a
    // Windows section cannot shrink): no SIGBUS or access violation, whoever
    // holds it. It has no owner; the kernel frees it when its last
    // descriptor (handle) and mapping go, so it is never an orphan, and
    // /dev/shm's size does not bound it. Hand it on by descriptor(): on
    // Linux fork, a spawned program's inherited descriptor, or smh::send over
    // a Unix-domain socket; on Windows a handle the child inherits
    // (CreateProcess with bInheritHandles) or one DuplicateHandle puts in
    // another process. Throws smh::error as create does.
    template <class Anonymous = detail::os::anonymous_segments>
    static SharedMemoryHandlee
    create_anonymous(std::size_t length, const create_options& options = {}) requires writable {
        return SharedMemoryHandlee(
            detail::create_anonymous_segment<Anonymous>(length, shape(), options, growth));
    }

    // Maps the anonymous segment behind descriptor `fd`, checked as attach
    // checks a named one (type, length) and safe from shrinking (Linux:
    // sealed); a descriptor of anything else is corrupt_segment. `fd` stays
    // the caller's: the handle keeps a description of its own (Windows: a
    // DuplicateHandle copy; read-only for a const T handle; a read-only `fd`
    // cannot give a writable one). On Windows `fd` is a section handle's
    // value, as descriptor() gives it (LongToHandle turns it back).
    template <class Anonymous = detail::os::anonymous_segments>
    static SharedMemoryHandlee attach_descriptor(int fd, const attach_options& options = {}) {
        return SharedMemoryHandlee(
            detail::attach_anonymous_segment<Anonymous>(fd, identity(), writable, options, growth));
    }

    // Move-only. Destruction unmaps; the owner, in its own process, also
    // removes the name unless unlink() already did. A process taking
    // ownership at the same moment either wins (and keeps the name) or finds
    // the name gone.
    SharedMemoryHandlee(SharedMemoryHandlee&&) noexcept = default;
    SharedMemoryHandlee& operator=(SharedMemoryHandlee&&) noexcept = default;
    ~SharedMemoryHandlee() = default;
    void swap(SharedMemoryHandlee& other) noexcept { segment_handle::swap(other); }
    friend void swap(SharedMemoryHandlee& a, SharedMemoryHandlee& b) noexcept { a.swap(b); }

    // The segment's name: what another process passes to attach(). Empty
    // for an anonymous segment, which is passed by descriptor().
    const std::string& name() const noexcept { return segment_handle::name(); }

    // The descriptor this handle keeps of an anonymous segment
    // (close-on-exec; valid while the handle lives): what fork, a spawned
    // program (dup2 it over the child's descriptor, which clears
    // close-on-exec there) and smh::send pass on. -1 for a named segment.
    // On Windows, the section handle it keeps (not inheritable), as an int:
    // a handle has 32 significant bits even in a 64-bit process
    // (HandleToLong). Duplicate it inheritable, or into another process with
    // DuplicateHandle, and tell that process the number.
    template <class Anonymous = detail::os::anonymous_segments>
    int descriptor() const noexcept {
        return anonymous() ? Anonymous::descriptor_of(*hold()) : -1;
    }

    // Number of elements (0 for an empty handle): a member, as fast as a raw
    // pointer's length. A growable handle's is the segment's current length,
    // as another process may have grown it: no call is needed to see growth
    // (an acquire load of the header's length word; take it once before a
    // hot loop).
    std::size_t size() const noexcept {
        if constexpr (can_grow)
            return element_count();
        else
            return element_capacity(); // a fixed segment's length
    }

    // The most elements the segment may hold (create_options::capacity);
    // size() for a segment that cannot grow.
    std::size_t capacity() const noexcept { return element_capacity(); }

    // Grows the segment to `new_length` elements, for every process at once:
    // the new elements are zero, or constructed as at create, before any
    // process sees them in size(). data(), begin() and every element stay
    // where they are. A smaller or equal length changes nothing; of two
    // processes growing at once, both succeed and the larger length wins.
    // Never shrinks (that would fault other processes' mappings). Growers
    // take turns; grow() waits for its turn at most 30 s. Throws smh::error:
    // invalid_length beyond capacity(); no_space, the length unchanged, when
    // the memory is not there (never a SIGBUS later, here or in another
    // process; Windows: the commit limit); os_error with native_code()
    // std::errc::timed_out, nothing changed, if another handle held the
    // growers' lock all that time (a grower that stopped, or a process that
    // can open the segment and holds the lock on purpose); os_error.
    void grow(std::size_t new_length) requires(writable&& can_grow) {
        if (!segment_handle::grow(new_length, shape(),
                                  detail::wait_deadline(detail::growth_turn_limit)))
            detail::throw_growth_turn_missed(name(), detail::growth_turn_limit);
    }
    // As grow(), waiting for its turn at most `timeout` (duration::max(): as
    // long as it takes). False if the turn did not come: nothing changed.
    template <class Rep, class Period>
    bool grow_for(std::size_t new_length,
                  std::chrono::duration<Rep, Period> timeout) requires(writable&& can_grow) {
        return segment_handle::grow(new_length, shape(), detail::wait_deadline(timeout));
    }

    // Blocks until size() >= at_least, on the machinery wait() uses (grow()
    // wakes the waiters; a read-only handle looks again at least every
    // 10 ms). Returns false if `timeout` passed first. Throws smh::error
    // invalid_length for a size beyond capacity(), which no growth reaches.
    template <class Rep, class Period>
    bool wait_for_size(std::size_t at_least,
                       std::chrono::duration<Rep, Period> timeout) const requires can_grow {
        if (at_least <= size()) return true;
        check_reachable(at_least);
        return detail::wait_for_length(*header(), at_least, writable,
                                       detail::wait_deadline(timeout));
    }
    // As wait_for_size(), without a limit.
    void wait_size(std::size_t at_least) const requires can_grow {
        if (at_least <= size()) return;
        check_reachable(at_least);
        (void)detail::wait_for_length(*header(), at_least, writable,
                                      std::chrono::steady_clock::time_point::max());
    }

    // True for the object that created or adopted the segment, in that
    // process, while the segment still records this process as its owner.
    bool is_owner() const noexcept { return segment_handle::is_owner(); }

    // Bytes of this object's mapping that this process maps with huge pages
    // now (Linux: /proc/self/smaps; pages not yet touched count as none, so
    // ask after populate or after a pass over the data). 0 on Windows.
    std::size_t huge_page_bytes() const noexcept { return segment_handle::huge_page_bytes(); }

    // Gives up ownership: the segment outlives this object and its process
    // (a producer that publishes data and exits). Afterwards the segment has no
    // owner, so remove_orphans() leaves it alone until someone adopts it.
    // Returns whether this object was the owner.
    bool release() noexcept requires writable { return segment_handle::release(); }

    // Becomes the owner of a segment that has none (released) or whose owner
    // process has ended; from then on this object's destructor removes the
    // name. Returns false, changing nothing, while a live process (this one
    // included, through another object) owns it, or while its owner record
    // keeps changing for two seconds (a hostile writer). Throws nothing.
    bool adopt() noexcept requires writable { return segment_handle::adopt(); }

    // Becomes the owner whatever the current owner is doing: that object's
    // destructor will no longer remove the name (it checks the segment).
    // Throws smh::error corrupt_segment if the owner record keeps changing
    // for two seconds (only a hostile writer does that).
    void take_ownership() requires writable { segment_handle::take_ownership(); }

    // Unchecked element access (asserts in debug builds).
    T& operator[](std::size_t index) noexcept {
        assert(index < size() && "smh::SharedMemoryHandlee: index out of range");
        return elements()[index];
    }
    const T& operator[](std::size_t index) const noexcept {
        assert(index < size() && "smh::SharedMemoryHandlee: index out of range");
        return elements()[index];
    }

    // Checked element access: throws std::out_of_range past the end.
    T& at(std::size_t index) {
        if (index >= size()) detail::throw_index_error(index, size(), name());
        return elements()[index];
    }
    const T& at(std::size_t index) const {
        if (index >= size()) detail::throw_index_error(index, size(), name());
        return elements()[index];
    }

    // All elements, for algorithms and APIs that take a span.
    std::span<T> data() noexcept { return {elements(), size()}; }
    std::span<const T> data() const noexcept { return {elements(), size()}; }

    T* begin() noexcept { return elements(); }
    T* end() noexcept { return elements() + size(); }
    const T* begin() const noexcept { return elements(); }
    const T* end() const noexcept { return elements() + size(); }

    // Removes the name now: later attach() calls throw errc::not_found, while
    // every existing mapping (this one included) stays valid. Harmless to
    // call twice. Removes nothing if the name now belongs to another segment.
    // Returns whether this call removed the name. Windows: a name cannot be
    // removed while others hold the segment; this gives up this object's
    // hold (the name goes when no process holds it) and returns whether it
    // had one.
    bool unlink() noexcept { return segment_handle::unlink(); }

    // Waiting for other processes, on std::atomic<U> elements of 4 or 8 bytes
    // (detail/wait.hpp; other element types do not compile). Unlike
    // std::atomic::wait, these reach across processes. An index past the end
    // throws std::out_of_range, as at() does; otherwise nothing throws.
    //
    // Blocks while element `index` holds `old` (compared as bytes): returns
    // once it has seen another value. Spurious wake-ups and signals only make
    // it look again. A read-only handle waits too, but cannot count itself
    // as a waiter: it looks again at least every 10 ms (see notify_all).
    // (Templates only so that an explicit instantiation of the class for a
    // type that cannot wait still compiles; call them without arguments.)
    template <class Element = T>
    void wait(std::size_t index, detail::wait_value_t<Element> old) const {
        detail::wait(header(), at(index), old, writable);
    }
    // As wait(), giving up after `timeout`; returns whether it saw another value.
    template <class Rep, class Period>
    bool wait_for(std::size_t index, detail::wait_value_t<T> old,
                  std::chrono::duration<Rep, Period> timeout) const {
        return detail::wait_for(header(), at(index), old, writable, timeout);
    }
    // Wakes processes waiting on element `index`: after a store, as with
    // std::atomic. With no writable handle waiting on this segment, makes no
    // system call (a read-only waiter then notices within 10 ms). Linux, 4-byte
    // elements: notify_one wakes one waiter of this element; 8-byte elements,
    // and Windows: both wake every waiter of the segment, each of which looks
    // at its own element. Writable handles only.
    template <class Element = T>
    void notify_one(std::size_t index) {
        detail::notify(header(), at(index), false);
    }
    template <class Element = T>
    void notify_all(std::size_t index) {
        detail::notify(header(), at(index), true);
    }

private:
    explicit SharedMemoryHandlee(detail::segment_handle&& handle) noexcept
        : segment_handle(std::move(handle)) {}

    T* elements() const noexcept { return reinterpret_cast<T*>(first_element()); }

    void check_reachable(std::size_t at_least) const {
        if (at_least > capacity())
            detail::throw_error(errc::invalid_length, "wait_for_size", name(),
                                "size " + std::to_string(at_least) + " is beyond its capacity of " +
                                    std::to_string(capacity()) + " elements");
    }

    static const detail::element_identity& identity() {
        return detail::identity_of<element_type>();
    }

    // A segment starts as zero bytes. That is already the value of arithmetic
    // types, pointers, atomics of those and their aggregates; a type with a
    // non-trivial default constructor (default member initialisers) is
    // constructed.
    static detail::element_shape shape() {
        if constexpr (std::is_trivially_default_constructible_v<T> || is_atomic)
            return {identity()};
        else
            return {identity(), [](void* first, std::size_t count) {
                        for (auto* element = static_cast<T*>(first); count-- > 0; ++element)
                            ::new (static_cast<void*>(element)) T;
                    }};
    }
};

// Every smh segment the calling user can see, sorted by name. Files in the
// shared-memory directory that are not smh segments, or that this user may
// not read, are skipped. Throws smh::error when the directory or a segment
// cannot be read for another reason (e.g. os_error for EMFILE,
// permission_denied for an unreadable directory): a failure is never an empty
// list. Linux: the segments in /dev/shm. Not on Windows (a compile error),
// which keeps no listable directory of shared memory.
template <class Directory = detail::os::segment_directory>
std::vector<segment_info> list() {
    return detail::list_segments<Directory>();
}

// What list() returns, and every other file in the shared-memory directory
// with why list() leaves it out (skip_reason): another program's file, a
// segment this user may not read, one being built. Throws smh::error as
// list() does. Not on Windows (a compile error), as list().
template <class Directory = detail::os::segment_directory>
directory_listing list_directory() {
    return detail::list_directory<Directory>();
}

// The header of the smh segment `name`, as list() describes it, read without
// mapping the segment or knowing its element type. Throws smh::error:
// not_found, permission_denied, corrupt_segment (not an smh segment),
// invalid_name, os_error.
inline segment_info inspect(std::string_view name) { return detail::inspect_segment(name); }

// What the anonymous segment behind descriptor `fd` holds, as inspect()
// says of a named one (its name is empty), read without mapping it (Windows:
// through a read-only view of it, unmapped before it returns): for a
// receiver that does not know the element type yet.
template <class Anonymous = detail::os::anonymous_segments>
segment_info inspect_descriptor(int fd) {
    return detail::inspect_descriptor_segment<Anonymous>(fd);
}

// Removes the name of the smh segment `name`, whoever owns it (what
// `smh rm --force` does; `smh rm` first refuses a running owner's).
// Processes that have it mapped keep it until they let go. Refuses anything
// that is not an smh segment (errc::corrupt_segment), so it never removes
// another program's segment. Throws smh::error: not_found, corrupt_segment,
// permission_denied, invalid_name, os_error. Not on Windows (a compile
// error): a segment there lives exactly as long as some process holds it.
template <class Directory = detail::os::segment_directory>
void remove(std::string_view name) {
    detail::remove_segment<Directory>(name);
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
    return detail::remove_orphan_segments<Directory>();
}

// The names remove_orphans() would remove now, removing nothing: the same
// decision, made by the same code (including its wait of up to half a second
// for an owner record a live process seems to be changing), for a dry run.
// What it names may be adopted, or become an orphan, before anything acts on
// it. Throws smh::error as list() does. Not on Windows (a compile error), as
// remove_orphans().
template <class Directory = detail::os::segment_directory>
std::vector<std::string> find_orphans() {
    return detail::find_orphan_names<Directory>();
}

// Whether segments created now can get huge pages (create_options::huge_pages):
// what /dev/shm's mount allows on Linux; huge_page_policy::never on Windows.
inline huge_page_policy segment_huge_page_policy() noexcept {
    return detail::os::segment_huge_page_policy();
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
// SIGKILL cannot be caught: watch_owned_segments() covers it, or
// remove_orphans() (`smh gc`) collects what it leaves. Off by default,
// because signal handlers belong to the program. Windows: does nothing
// (nothing outlives its processes there). Throws nothing.
inline void cleanup_on_termination() noexcept { detail::os::install_termination_cleanup(); }

// Makes the segments this process owns go when it dies of anything, SIGKILL
// and the OOM killer included, without anyone running remove_orphans():
// starts a watcher, a small sleeping process (named "smh-watch") that, within
// a second of this process's end, removes the names of the segments that
// still record this process (pid and start time) as owner, then exits.
// Segments released, adopted or taken over (take_ownership()) by another
// process, and other processes' segments, stay. The watcher runs no code of the program,
// is invisible to wait() and waitpid(-1) and sends no SIGCHLD (a child
// without exit signal: only waitpid with __WALL or __WCLONE sees it), holds
// no descriptor or memory of the program, and costs nothing while it
// sleeps; a kill of the program's process group does not reach it. Once per
// process (a second call does nothing); a forked child that calls it gets a
// watcher of its own, one that does not call it is not watched. Call it
// early in main: starting it copies the page tables, as fork() does. True
// once a watcher runs; false if none could be started (clone failed).
// Windows: does nothing and returns true (nothing outlives its processes
// there). Throws nothing.
inline bool watch_owned_segments() noexcept { return detail::os::watch_owned_segments(); }

// Removes now the names of the segments this process owns, whose owners'
// destructors have not run: for a signal handler of your own that ends the
// process. Async-signal-safe.
inline void remove_owned_segments() noexcept { detail::os::remove_owned_segments_now(); }

// smh::create<T>(...) and smh::attach<T>(name): the static members, spelled
// for call sites that read better without the class name.
template <class T, class Length = fixed_length>
SharedMemoryHandlee<T, Length> create(std::size_t length, const create_options& options = {}) {
    return SharedMemoryHandlee<T, Length>::create(length, options);
}
template <class T, class Length = fixed_length>
SharedMemoryHandlee<T, Length> create(std::string_view name, std::size_t length,
                                      const create_options& options = {}) {
    return SharedMemoryHandlee<T, Length>::create(name, length, options);
}
template <class T, class Length = fixed_length>
SharedMemoryHandlee<T, Length> attach(std::string_view name, const attach_options& options = {}) {
    return SharedMemoryHandlee<T, Length>::attach(name, options);
}
template <class T, class Length = fixed_length>
SharedMemoryHandlee<T, Length> create_anonymous(std::size_t length,
                                                const create_options& options = {}) {
    return SharedMemoryHandlee<T, Length>::create_anonymous(length, options);
}
template <class T, class Length = fixed_length>
SharedMemoryHandlee<T, Length> attach_descriptor(int fd, const attach_options& options = {}) {
    return SharedMemoryHandlee<T, Length>::attach_descriptor(fd, options);
}

// Sends the anonymous segment `shm` over the Unix-domain socket `socket`
// (SCM_RIGHTS: its descriptor, which the receiver gets a duplicate of). A
// named segment is passed by its name: invalid_name. Throws os_error if
// sendmsg fails. Linux only: a compile error on Windows, which has no
// Unix-domain socket that carries handles.
template <class T, class Length, class Anonymous = detail::os::anonymous_segments>
void send(int socket, const SharedMemoryHandlee<T, Length>& shm) {
    static_assert(Anonymous::over_sockets,
                  "smh::send() passes a descriptor over a Unix-domain socket (SCM_RIGHTS), which "
                  "this OS does not have; on Windows hand the segment's handle (descriptor()) on "
                  "by inheritance or DuplicateHandle");
    if constexpr (Anonymous::over_sockets) {
        const detail::segment_operation what{"send", detail::segment_name()};
        if (shm.template descriptor<Anonymous>() < 0)
            what.fail(errc::invalid_name, shm.name().empty()
                                              ? "the handle is empty"
                                              : "segment \"" + shm.name() +
                                                    "\" has a name: pass the name, smh::send "
                                                    "passes anonymous segments");
        Anonymous::send(socket, shm.template descriptor<Anonymous>(), what);
    }
}

// Receives a segment smh::send sent on `socket` and attaches to it as
// attach_descriptor does; blocks as the socket does. A message that carries
// no descriptor, several, or not a sealed smh segment, is corrupt_segment
// (and so is an empty message; every descriptor it carried is closed); a
// peer that closed the socket (a stream's end, a record socket's hang-up),
// not_found; no descriptor number free (RLIMIT_NOFILE), os_error with
// EMFILE, the message lost. Linux only: a compile error on Windows, as send.
template <class T, class Length = fixed_length, class Anonymous = detail::os::anonymous_segments>
SharedMemoryHandlee<T, Length> receive(int socket, const attach_options& options = {}) {
    static_assert(Anonymous::over_sockets,
                  "smh::receive() takes a descriptor from a Unix-domain socket (SCM_RIGHTS), "
                  "which this OS does not have; on Windows attach_descriptor() the handle the "
                  "process inherited or was given by DuplicateHandle");
    if constexpr (Anonymous::over_sockets) {
        const detail::segment_operation what{"receive", detail::segment_name()};
        const auto received = Anonymous::receive(socket, what);
        return SharedMemoryHandlee<T, Length>::template attach_descriptor<Anonymous>(received.get(),
                                                                                     options);
    } else {
        return {};
    }
}

} // namespace v0
} // namespace smh
