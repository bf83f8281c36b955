// Cleanup when a process ends without running destructors (POSIX): the table
// of segments this process owns, which an async-signal-safe function reads to
// remove their names, and the handlers smh::cleanup_on_termination()
// installs for signals, abort() (a failed assert, an uncaught exception) and
// std::exit().
#pragma once

#include <fcntl.h>   // AT_FDCWD
#include <pthread.h> // pthread_self: which thread cleans up
#include <sched.h>   // sched_yield
#include <signal.h>  // sigaction, raise
#include <time.h>    // clock_gettime: a bounded wait
#include <unistd.h>  // getpid, nanosleep

#include <atomic>      // the lock-free table
#include <cerrno>      // preserved by the cleanup
#include <cstdint>     // fixed-width values
#include <cstdlib>     // std::atexit
#include <cstring>     // std::memcpy
#include <new>         // std::nothrow
#include <string_view> // paths

#include "../layout.hpp"
#include "../owner_record.hpp"
#include "system.hpp"

namespace smh {
inline namespace v0 {
namespace detail::os {

// ---------------------------------------------------------------------------
// The owner's end of a segment done for it, where its destructor cannot run:
// by the termination cleanup (a signal handler in the owner's own process)
// and by the watcher (a process of its own, once the owner has died). One
// function for both, so the protocol is written once. Async-signal-safe:
// lock-free atomics and system calls, nothing allocated.

// Removes the name of a segment whose owner record is `expected`, as its
// owner's destructor would: claims the record for `claimant` (so a process
// taking ownership at the same moment either wins and keeps the name, or
// finds it gone), removes the name if it still names the same file, and
// clears the record; where the name stays, puts the record back. False when
// the record is not `expected` (ownership moved on, or is moving). A caller
// that holds the claim already (`claimed`) goes straight to the name.
inline bool remove_owned_name(segment_header& header, const owner_record& expected,
                              std::int64_t claimant, int dir, const char* path,
                              std::uint64_t device, std::uint64_t inode,
                              bool claimed = false) noexcept {
    if (!claimed && !try_claim_owner(header, expected, claimant)) return false;
    if (unlink(dir, path, {device, inode}) == unlink_result::removed) {
        publish_owner(header, owner_record{});
        return true;
    }
    owner_pid_field(header).store(expected.pid, std::memory_order_release);
    return false;
}

// ---------------------------------------------------------------------------
// The table of owned segments.

// One segment this process owns. Entries are never freed, only reused, so a
// signal handler can walk the list at any moment; `state` says who may touch
// the rest: free, being written, in use, or being used by a handler.
struct owned_entry {
    enum : int { free_slot, writing, in_use, cleaning };
    std::atomic<int> state{writing};
    owned_entry* next = nullptr; // set once, before the entry is published
    char path[288] = {};         // "/dev/shm/" + name, NUL-terminated
    std::uint64_t device = 0;
    std::uint64_t inode = 0;
    owner_record owner;
    segment_header* header = nullptr; // in the owner's mapping, mapped while the entry is used
};

inline std::atomic<owned_entry*> owned_entries{nullptr};

static_assert(std::atomic<int>::is_always_lock_free &&
                  std::atomic<owned_entry*>::is_always_lock_free,
              "the termination cleanup reads the table from a signal handler");

// Records a segment this process owns; nullptr if the path does not fit
// (names are at most 255 characters, so it always does).
inline owned_entry* remember_owned(std::string_view path, std::uint64_t device, std::uint64_t inode,
                                   const owner_record& owner, segment_header* header) noexcept {
    if (path.size() >= sizeof owned_entry::path) return nullptr;
    owned_entry* entry = nullptr;
    for (auto* e = owned_entries.load(std::memory_order_acquire); e && !entry; e = e->next) {
        int expected = owned_entry::free_slot;
        if (e->state.compare_exchange_strong(expected, owned_entry::writing,
                                             std::memory_order_acquire))
            entry = e;
    }
    const bool fresh = entry == nullptr;
    if (fresh) {
        entry = new (std::nothrow) owned_entry;
        if (!entry) return nullptr;
    }
    std::memcpy(entry->path, path.data(), path.size());
    entry->path[path.size()] = '\0';
    entry->device = device;
    entry->inode = inode;
    entry->owner = owner;
    entry->header = header;
    entry->state.store(owned_entry::in_use, std::memory_order_release);
    if (fresh) {
        entry->next = owned_entries.load(std::memory_order_relaxed);
        while (!owned_entries.compare_exchange_weak(entry->next, entry, std::memory_order_release,
                                                    std::memory_order_relaxed)) {}
    }
    return entry;
}

// The object no longer owns it. A handler using the entry in another thread
// (a few system calls, as its process ends) is waited for, so that the
// mapping the entry points into stays mapped until the handler is done.
inline void forget_owned(owned_entry* entry) noexcept {
    if (!entry) return;
    for (;;) {
        int expected = owned_entry::in_use;
        if (entry->state.compare_exchange_weak(expected, owned_entry::free_slot,
                                               std::memory_order_release))
            return;
        if (expected != owned_entry::cleaning && expected != owned_entry::in_use) return;
        ::sched_yield();
    }
}

// ---------------------------------------------------------------------------
// The changes cleanup must not cut in two. Threads go on running while one
// of them cleans up at termination: one may be about to give a new segment
// its name, or to publish itself as an owner, after the cleanup has walked
// past it, which would leave that name behind. So every such change (from
// registering a segment in the table to giving it its name; from claiming
// an owner record to publishing or clearing it; a release, from clearing
// the record to forgetting its entry) runs between begin_owner_change and
// end_owner_change, and the cleanup first stops new changes and waits for
// those under way. A signal may interrupt a change in the very thread that
// cleans up: that one is not waited for (the thread's own count says so),
// and the cleanup finishes it instead (remove_owned).

inline std::atomic<bool> terminating{false};  // set while (or once) cleanup runs
inline std::atomic<int> changes_in_flight{0}; // changes under way, in every thread
inline std::atomic<pthread_t> terminator{};   // the thread that cleans up
// This thread's changes under way (0 or 1), read by a signal handler in the
// same thread. initial-exec: a plain load even in a shared library (the
// general model may allocate on a thread's first use, in the handler).
// volatile: a handler in this thread reads it between any two instructions.
[[gnu::tls_model("initial-exec")]] inline thread_local volatile int changes_in_this_thread = 0;

static_assert(std::atomic<bool>::is_always_lock_free && std::atomic<int>::is_always_lock_free &&
                  std::atomic<pthread_t>::is_always_lock_free,
              "the termination cleanup reads these from a signal handler");

// A thread that would change ownership while cleanup runs waits until it is
// done: for good, once the process is ending (whatever it did then would be
// undone by no one), or until std::exit()'s cleanup has walked the table.
inline void wait_while_terminating() noexcept {
    const struct timespec a_while { 0, 10'000'000 };
    while (terminating.load()) ::nanosleep(&a_while, nullptr);
}

inline void begin_owner_change() noexcept {
    for (;;) {
        changes_in_flight.fetch_add(1);
        if (!terminating.load() || ::pthread_equal(terminator.load(), ::pthread_self())) break;
        changes_in_flight.fetch_sub(1);
        wait_while_terminating();
    }
    changes_in_this_thread = changes_in_this_thread + 1;
}

inline void end_owner_change() noexcept {
    changes_in_this_thread = changes_in_this_thread - 1;
    changes_in_flight.fetch_sub(1);
}

// Removes the name of one owned segment, as its owner's destructor would
// (remove_owned_name, above). A record this process has claimed is one the
// interrupted thread was changing (every other thread's change has ended):
// its owner's end, or an adopt (registered before its claim). Either way
// this process was to own it: finished here.
inline void remove_owned(const owned_entry& e, std::int64_t pid) noexcept {
    const auto& owner = e.owner;
    if (owner.pid != pid || e.header == nullptr) return; // a forked child's copy
    auto& header = *e.header;
    const bool claimed_here = owner_pid_field(header).load(std::memory_order_acquire) == -pid;
    (void)remove_owned_name(header, owner, pid, AT_FDCWD, e.path, e.device, e.inode, claimed_here);
}

// Waits until no thread but this one is in the middle of a change, for at
// most a second: a thread stopped mid-change must not stop the cleanup.
inline void wait_for_changes_under_way() noexcept {
    struct timespec start {
    }, now{};
    ::clock_gettime(CLOCK_MONOTONIC, &start);
    while (changes_in_flight.load() > changes_in_this_thread) {
        ::sched_yield();
        ::clock_gettime(CLOCK_MONOTONIC, &now);
        const auto elapsed_ns =
            (now.tv_sec - start.tv_sec) * 1'000'000'000LL + (now.tv_nsec - start.tv_nsec);
        if (elapsed_ns >= 1'000'000'000LL) break;
    }
}

// Removes the names of the segments this process owns, is creating or is
// destroying. A forked child (another pid) never removes its parent's
// segments, and a segment whose ownership moved on is left to its new owner.
// Other threads that would then change ownership wait for the process to
// end (`for_good`), or, at std::exit(), only until the cleanup is done.
// Async-signal-safe (lstat, unlink, getpid, clock_gettime, lock-free
// atomics); errno is preserved.
inline void clean_up_owned_segments(bool for_good) noexcept {
    const int saved_errno = errno;
    terminator.store(::pthread_self());
    terminating.store(true);
    wait_for_changes_under_way();
    const auto pid = static_cast<std::int64_t>(::getpid());
    for (auto* e = owned_entries.load(std::memory_order_acquire); e; e = e->next) {
        int expected = owned_entry::in_use;
        if (!e->state.compare_exchange_strong(expected, owned_entry::cleaning,
                                              std::memory_order_acquire))
            continue; // free, or being written by the interrupted thread: no name yet
        remove_owned(*e, pid);
        e->state.store(owned_entry::in_use, std::memory_order_release);
    }
    if (!for_good) terminating.store(false);
    errno = saved_errno;
}

// For a handler of the program's own, which then ends the process.
inline void remove_owned_segments_now() noexcept { clean_up_owned_segments(true); }

// Whether a signal's default action ends the process (signal(7)): all but
// those it ignores (SIGCHLD, SIGURG, SIGWINCH), continues on (SIGCONT) or
// stops on (SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU). SIGKILL cannot be caught,
// and SIGTRAP is left to debuggers. Every other signal up to SIGRTMAX, the
// real-time ones included, ends the process.
inline bool ends_the_process_by_default(int signal) noexcept {
    switch (signal) {
    case SIGCHLD:
    case SIGURG:
    case SIGWINCH:
    case SIGCONT:
    case SIGSTOP:
    case SIGTSTP:
    case SIGTTIN:
    case SIGTTOU:
    case SIGKILL:
    case SIGTRAP: return false;
    default: return true;
    }
}

// Only one thread cleans up; another one signalled meanwhile waits for it,
// so that neither ends the process before the names are gone.
inline std::atomic<int> cleanup_stage{0}; // 0 not begun, 1 running, 2 done

inline void on_terminating_signal(int signal) {
    int expected = 0;
    if (cleanup_stage.compare_exchange_strong(expected, 1)) {
        clean_up_owned_segments(true);
        cleanup_stage.store(2);
    } else {
        // A change this signal cut short is the cleaner's to finish: it
        // must not wait for this thread, which waits for it.
        changes_in_flight.fetch_sub(changes_in_this_thread);
        changes_in_this_thread = 0;
        while (cleanup_stage.load() != 2) ::sched_yield();
    }
    // End as the program would have without us: by the same signal, with its
    // default action (a core dump where that is the default). The signal is
    // blocked while we run and is delivered as soon as we return; a fault
    // (SIGSEGV...) recurs when the faulting instruction runs again.
    struct sigaction default_action {};
    default_action.sa_handler = SIG_DFL;
    sigemptyset(&default_action.sa_mask);
    ::sigaction(signal, &default_action, nullptr);
    ::raise(signal);
}

// Installs the handlers (once per process) for each terminating signal whose
// action is still the default. The program's own handlers, and the signals
// it ignores, stay exactly as they are, flags and masks included (a handler
// of its own that ends the process can call smh::remove_owned_segments());
// so does a handler installed later, which replaces ours. And an
// std::atexit function, for std::exit().
inline void install_termination_cleanup() noexcept {
    // 0 not begun, 1 installing, 2 done: a concurrent caller returns only
    // once the handlers are in place, so one it installs next replaces ours.
    static std::atomic<int> stage{0};
    int expected = 0;
    if (!stage.compare_exchange_strong(expected, 1)) {
        while (stage.load() != 2) ::sched_yield();
        return;
    }
    std::atexit([] { clean_up_owned_segments(false); });
    for (int signal = 1; signal <= SIGRTMAX; ++signal) {
        if (!ends_the_process_by_default(signal)) continue;
        struct sigaction current {}; // fails (EINVAL) on the C library's own signals
        if (::sigaction(signal, nullptr, &current) != 0 || (current.sa_flags & SA_SIGINFO) != 0 ||
            current.sa_handler != SIG_DFL)
            continue;
        struct sigaction ours {};
        ours.sa_handler = on_terminating_signal;
        ours.sa_flags = SA_ONSTACK;
        sigfillset(&ours.sa_mask); // nothing interrupts the cleanup in this thread
        ::sigaction(signal, &ours, nullptr);
    }
    stage.store(2);
}

} // namespace detail::os
} // namespace v0
} // namespace smh
