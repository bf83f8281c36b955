// Cleanup when a process ends without running destructors (POSIX): the table
// of segments this process owns, which an async-signal-safe function reads to
// remove their names, and the handlers smh::cleanup_on_termination()
// installs for signals, abort() (a failed assert, an uncaught exception) and
// std::exit().
#pragma once

#include <sched.h>  // sched_yield
#include <signal.h> // sigaction, raise
#include <unistd.h> // getpid

#include <atomic>      // the lock-free table
#include <cerrno>      // preserved by the cleanup
#include <cstdint>     // fixed-width values
#include <cstdlib>     // std::atexit
#include <cstring>     // std::memcpy
#include <new>         // std::nothrow
#include <string_view> // paths

#include "layout.hpp"
#include "ownership.hpp"
#include "remove_owned_posix.hpp"

namespace smh::detail::os {

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

// Removes the name of one owned segment, as its owner's destructor would
// (remove_owned_posix.hpp).
inline void remove_owned(const owned_entry& e, std::int64_t pid) noexcept {
    if (e.owner.pid != pid || e.header == nullptr) return; // a forked child's copy
    (void)remove_owned_name(*e.header, e.owner, pid, AT_FDCWD, e.path, e.device, e.inode);
}

// Removes the names of the segments this process still owns. A forked child
// (another pid) never removes its parent's segments, and a segment whose
// ownership moved on is left to its new owner. Async-signal-safe (lstat,
// unlink, getpid and lock-free atomics); errno is preserved.
inline void remove_owned_segments_now() noexcept {
    const int saved_errno = errno;
    const auto pid = static_cast<std::int64_t>(::getpid());
    for (auto* e = owned_entries.load(std::memory_order_acquire); e; e = e->next) {
        int expected = owned_entry::in_use;
        if (!e->state.compare_exchange_strong(expected, owned_entry::cleaning,
                                              std::memory_order_acquire))
            continue;
        remove_owned(*e, pid);
        e->state.store(owned_entry::in_use, std::memory_order_release);
    }
    errno = saved_errno;
}

// Signals whose default action ends the process (signal(7)), except SIGKILL
// and SIGSTOP, which cannot be caught, and SIGTRAP, which debuggers use.
inline constexpr int terminating_signals[] = {SIGHUP,  SIGINT,  SIGQUIT, SIGILL,  SIGABRT, SIGBUS,
                                              SIGFPE,  SIGSEGV, SIGPIPE, SIGALRM, SIGTERM, SIGUSR1,
                                              SIGUSR2, SIGXCPU, SIGXFSZ, SIGSYS};

// Only one thread cleans up; another one signalled meanwhile waits for it,
// so that neither ends the process before the names are gone.
inline std::atomic<int> cleanup_stage{0}; // 0 not begun, 1 running, 2 done

inline void on_terminating_signal(int signal) {
    int expected = 0;
    if (cleanup_stage.compare_exchange_strong(expected, 1)) {
        remove_owned_segments_now();
        cleanup_stage.store(2);
    } else {
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
    std::atexit([] { remove_owned_segments_now(); });
    for (const int signal : terminating_signals) {
        struct sigaction current {};
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

} // namespace smh::detail::os
