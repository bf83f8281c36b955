// Cleanup when a process ends without running destructors (POSIX): the table
// of segments this process owns, which an async-signal-safe function reads to
// remove their names, and the handlers smh::cleanup_on_termination()
// installs for signals, abort() (a failed assert, an uncaught exception) and
// std::exit().
#pragma once

#include <fcntl.h>    // open
#include <signal.h>   // sigaction, raise
#include <sys/stat.h> // fstat
#include <unistd.h>   // pread, unlink, getpid

#include <atomic>      // the lock-free table
#include <cstddef>     // offsetof
#include <cstdint>     // fixed-width values
#include <cstdlib>     // std::atexit
#include <cstring>     // std::memcpy
#include <mutex>       // installing once
#include <string_view> // paths

#include "layout.hpp"

namespace smh::detail::os {

// One segment this process owns. Entries are never freed, only reused, so a
// signal handler can walk the list at any moment; `state` says who may touch
// the rest: free, being written, in use, or being read by a handler.
struct owned_entry {
    enum : int { free_slot, writing, in_use, reading };
    std::atomic<int> state{writing};
    owned_entry* next = nullptr; // set once, before the entry is published
    char path[288] = {};         // "/dev/shm/" + name, NUL-terminated
    std::uint64_t device = 0;
    std::uint64_t inode = 0;
    owner_record owner;
};

inline std::atomic<owned_entry*> owned_entries{nullptr};

static_assert(std::atomic<int>::is_always_lock_free &&
                  std::atomic<owned_entry*>::is_always_lock_free,
              "the termination cleanup reads the table from a signal handler");

// Records a segment this process owns; nullptr if the path does not fit
// (names are at most 255 characters, so it always does).
inline owned_entry* remember_owned(std::string_view path, std::uint64_t device, std::uint64_t inode,
                                   const owner_record& owner) noexcept {
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
    entry->state.store(owned_entry::in_use, std::memory_order_release);
    if (fresh) {
        entry->next = owned_entries.load(std::memory_order_relaxed);
        while (!owned_entries.compare_exchange_weak(entry->next, entry, std::memory_order_release,
                                                    std::memory_order_relaxed)) {}
    }
    return entry;
}

// The object no longer owns it. A handler reading the entry in another thread
// copies it out and puts it back in a few instructions: wait for that.
inline void forget_owned(owned_entry* entry) noexcept {
    if (!entry) return;
    for (;;) {
        int expected = owned_entry::in_use;
        if (entry->state.compare_exchange_weak(expected, owned_entry::free_slot,
                                               std::memory_order_release))
            return;
        if (expected != owned_entry::reading && expected != owned_entry::in_use) return;
    }
}

// Removes the names of the segments this process still owns, as their owners'
// destructors would have. Async-signal-safe (open, fstat, pread, unlink,
// close and lock-free atomics only). A name is removed only while it still
// names the same file and that file's header still records this object as
// owner, so a forked child (another pid) never removes its parent's
// segments, and a segment whose ownership moved on is left to its new owner.
inline void remove_owned_segments_now() noexcept {
    const auto pid = static_cast<std::int64_t>(::getpid());
    for (auto* e = owned_entries.load(std::memory_order_acquire); e; e = e->next) {
        int expected = owned_entry::in_use;
        if (!e->state.compare_exchange_strong(expected, owned_entry::reading,
                                              std::memory_order_acquire))
            continue;
        char path[sizeof e->path];
        std::memcpy(path, e->path, sizeof path);
        const auto device = e->device;
        const auto inode = e->inode;
        const auto owner = e->owner;
        e->state.store(owned_entry::in_use, std::memory_order_release);
        if (owner.pid != pid) continue;

        const int fd = ::open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0) continue;
        struct stat info {};
        segment_header header;
        const bool ours =
            ::fstat(fd, &info) == 0 && static_cast<std::uint64_t>(info.st_dev) == device &&
            static_cast<std::uint64_t>(info.st_ino) == inode &&
            ::pread(fd, &header, sizeof header, 0) == static_cast<ssize_t>(sizeof header) &&
            header.owner_pid == owner.pid && header.owner_start_time == owner.start_time &&
            header.owner_token == owner.token;
        ::close(fd);
        if (ours) ::unlink(path);
    }
}

// Signals whose default action ends the process (signal(7)), except SIGKILL
// and SIGSTOP, which cannot be caught, and SIGTRAP, which debuggers use.
inline constexpr int terminating_signals[] = {SIGHUP,  SIGINT,  SIGQUIT, SIGILL,  SIGABRT, SIGBUS,
                                              SIGFPE,  SIGSEGV, SIGPIPE, SIGALRM, SIGTERM, SIGUSR1,
                                              SIGUSR2, SIGXCPU, SIGXFSZ, SIGSYS};

inline constexpr int max_signal = 65;
inline struct sigaction previous_actions[max_signal] = {};

inline void on_terminating_signal(int signal, siginfo_t* info, void* context) {
    const struct sigaction& previous = previous_actions[signal];
    if ((previous.sa_flags & SA_SIGINFO) != 0) {
        // The program handles this signal itself and decides whether to end.
        previous.sa_sigaction(signal, info, context);
        return;
    }
    if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
        previous.sa_handler(signal);
        return;
    }
    remove_owned_segments_now();
    // End as the program would have without us: by the same signal, with its
    // default action (a core dump where that is the default). The signal is
    // blocked while we run and is delivered as soon as we return; a fault
    // (SIGSEGV...) recurs when the faulting instruction runs again.
    ::sigaction(signal, &previous, nullptr);
    ::raise(signal);
}

// Installs the handlers (once per process): for each terminating signal the
// program has not set to SIG_IGN, a handler that chains to the program's
// handler if it had one, and otherwise removes owned segments and ends the
// process by the same signal; and an std::atexit function, for std::exit().
inline void install_termination_cleanup() {
    static std::once_flag installed;
    std::call_once(installed, [] {
        std::atexit([] { remove_owned_segments_now(); });
        for (const int signal : terminating_signals) {
            struct sigaction current {};
            if (::sigaction(signal, nullptr, &current) != 0 || current.sa_handler == SIG_IGN)
                continue;
            previous_actions[signal] = current;
            struct sigaction ours {};
            ours.sa_sigaction = on_terminating_signal;
            ours.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
            sigemptyset(&ours.sa_mask);
            ::sigaction(signal, &ours, nullptr);
        }
    });
}

} // namespace smh::detail::os
