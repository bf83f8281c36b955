// Linux: the watcher smh::watch_owned_segments() starts. A small process that
// sleeps until the process that started it has ended, however it ended
// (SIGKILL and the OOM killer included), then removes the names of the
// segments that still record that process (pid and start time) as owner, as
// their owners' destructors would have (termination.hpp), and exits.
//
// The watcher is a child made by clone(2) with no exit signal: wait(2),
// waitpid(-1) and waitid(P_ALL) without __WALL or __WCLONE never see such a
// "clone child" (clone(2), wait(2)), and its end sends no SIGCHLD, so the
// program's own child handling is untouched. Once its parent has died it is
// reparented, with SIGCHLD as its exit signal again (kernel/exit.c,
// reparent_leader), and its new parent (init, or a subreaper) reaps it.
// glibc's clone(), not fork(): fork runs the pthread_atfork handlers, the
// program's code, in a child of a possibly multithreaded program, where only
// async-signal-safe calls may be made (fork(2)). The child allocates nothing,
// throws nothing and makes system calls only, through syscall(2), fstatat and
// unlinkat, on a stack of its own.
//
// It then lets go of what it inherited: signals (all blocked; only SIGKILL
// and SIGSTOP still act), the terminal's process group and session (setsid:
// Ctrl-C, a hang-up and a kill of the program's process group do not reach
// it), the working directory, every descriptor, and the parent's memory:
// every shared mapping (the segments themselves, whose open file
// descriptions carry their owners' locks) but the pages of its thread
// pointer and errno (where a program gave the thread a stack in shared
// memory; the thread's rseq registration is ended in the child first), and
// every private anonymous one (the heap, threads' stacks, the main stack)
// except its own stack and 64 KiB around its thread pointer and errno (its
// TLS, the stack protector's canary). So it pins none of the memory the
// program frees, and the program's segments do not look owned by a live
// process because of it. Files' code and data stay mapped (shared with the
// page cache), and so does the first MiB of the static storage that follows
// them (.bss).
//
// What the child calls through the procedure linkage table is resolved
// before the clone (warm_up): a lazily bound call resolved in the child would
// run the dynamic linker on memory the child has unmapped.
#pragma once

#include <fcntl.h>       // AT_* flags
#include <poll.h>        // waiting on the parent's pidfd
#include <sched.h>       // clone
#include <signal.h>      // blocking every signal
#include <sys/mman.h>    // the child's stack, the header mapping, unmapping
#include <sys/prctl.h>   // PR_SET_NAME
#include <sys/stat.h>    // fstatat
#include <sys/syscall.h> // SYS_* numbers
#include <time.h>        // the fallback's 250 ms naps
#include <unistd.h>      // unlinkat

#include <dirent.h> // struct dirent64, the records getdents64 returns
#if defined(__GLIBC__) && __has_include(<sys/rseq.h>) && __has_builtin(__builtin_thread_pointer)
#include <sys/rseq.h> // glibc 2.35+: each thread's rseq area, unregistered in the child
#define SMH_DETAIL_GLIBC_RSEQ 1
#endif

#include <atomic>  // one watcher per process
#include <cerrno>  // errno after a failed call
#include <cstddef> // std::size_t
#include <cstdint> // fixed-width values
#include <cstring> // std::memcpy, std::memcmp, std::memset (warmed up)
#include <thread>  // yielding to a concurrent caller

#include "../layout.hpp"
#include "../owner_record.hpp"
#include "processes.hpp"
#include "termination.hpp"
#include "watcher_child.hpp"

namespace smh {
inline namespace v0 {
namespace detail::os {

// What the watcher knows of the process it watches, from before the clone.
struct watched_process {
    std::int64_t pid;
    std::uint64_t start_time; // 0 where /proc did not tell: the pid alone decides
};

namespace watcher {

// What start() hands the child, at the low end of the child's stack.
struct child_argument {
    watched_process parent;
    std::uintptr_t page; // the page size: munmap unmaps whole pages
};

// The child's stack: the scan needs about 24 KiB; untouched pages cost nothing.
inline constexpr std::size_t stack_bytes = std::size_t{256} << 10;

// How the child learns that its parent has ended: a pidfd (pidfd_open(2),
// Linux 5.3), readable then, which costs nothing meanwhile; else getppid(),
// asked every 250 ms, which changes when the parent dies and this process is
// reparented. `ended` if the parent has already.
struct parent_watch {
    long pidfd = -1;
    bool ended = false;
};

[[gnu::visibility("hidden")]] inline parent_watch watch_parent(std::int64_t parent) noexcept {
    parent_watch watch;
#ifdef SYS_pidfd_open
    watch.pidfd = sys(SYS_pidfd_open, parent, 0U);
    if (watch.pidfd < 0 && errno == ESRCH) watch.ended = true;
#endif
    // The pid was still the parent's when opened if the parent lives now.
    if (sys(SYS_getppid) != parent) watch.ended = true;
    return watch;
}

[[gnu::visibility("hidden")]] inline void wait_for_end_of(std::int64_t parent,
                                                          const parent_watch& watch) noexcept {
    if (watch.ended) return;
    if (watch.pidfd >= 0) {
        struct pollfd ended {};
        ended.fd = static_cast<int>(watch.pidfd);
        ended.events = POLLIN;
        while (sys(SYS_ppoll, &ended, 1, nullptr, nullptr, 0) < 0 && errno == EINTR) {}
        return;
    }
    while (sys(SYS_getppid) == parent) {
        struct timespec nap {};
        nap.tv_nsec = 250'000'000;
        sys(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, &nap, nullptr);
    }
}

// The owner record of `header` if it is `parent`'s, or was being changed by
// `parent` into a record of its own when it died.
[[gnu::visibility("hidden")]] inline bool recorded_owner(const segment_header& header,
                                                         const watched_process& parent,
                                                         owner_record& record) noexcept {
    const auto read = read_owner(header, true);
    if (!read || (read->pid != parent.pid && read->pid != -parent.pid) ||
        read->start_time != parent.start_time)
        return false;
    record = *read;
    return true;
}

// One file of the segment directory: removes its name if it is an intact smh
// segment that still records `parent` as owner.
[[gnu::visibility("hidden")]] inline void remove_if_parents(int dir, const char* name,
                                                            const watched_process& parent,
                                                            std::int64_t self) noexcept {
    constexpr int flags = O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;
    long fd = sys(SYS_openat, dir, name, O_RDWR | flags);
    const bool writable = fd >= 0;
    // A segment made read-only (0400...): its record can be changed only by
    // those who may write it. Removed as remove_orphans() removes it.
    if (!writable && errno == EACCES) fd = sys(SYS_openat, dir, name, O_RDONLY | flags);
    if (fd < 0) return;
    struct stat info {};
    segment_header copy;
    owner_record record;
    // Only files of the watched process's user: its segments are, and another
    // user's file, forged to name it and truncated meanwhile, must not be
    // mapped here (a SIGBUS would end the watcher before its work is done).
    if (::fstatat(static_cast<int>(fd), "", &info, AT_EMPTY_PATH) == 0 && S_ISREG(info.st_mode) &&
        info.st_uid == static_cast<uid_t>(sys(SYS_geteuid)) &&
        static_cast<std::uint64_t>(info.st_size) >= header_size &&
        sys(SYS_pread64, fd, &copy, header_size, 0) == static_cast<long>(header_size) &&
        find_header_flaw(copy) == header_flaw::none && recorded_owner(copy, parent, record)) {
        const auto device = static_cast<std::uint64_t>(info.st_dev);
        const auto inode = static_cast<std::uint64_t>(info.st_ino);
        if (!writable) {
            (void)unlink(dir, name, {device, inode});
        } else {
            void* mapped = reinterpret_cast<void*>(
                sys(SYS_mmap, nullptr, header_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
            if (mapped != MAP_FAILED) {
                auto& header = *static_cast<segment_header*>(mapped);
                if (recorded_owner(header, parent, record))
                    (void)remove_owned_name(header, record, self, dir, name, device, inode);
                sys(SYS_munmap, mapped, header_size);
            }
        }
    }
    sys(SYS_close, fd);
}

// Every file of /dev/shm, read with getdents64(2) into this frame.
[[gnu::visibility("hidden")]] inline void
remove_parents_segments(const watched_process& parent) noexcept {
    const long dir = sys(SYS_openat, AT_FDCWD, "/dev/shm", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) return;
    const auto self = sys(SYS_getpid);
    alignas(8) char records[8192];
    for (;;) {
        const long got = sys(SYS_getdents64, dir, records, sizeof records);
        if (got <= 0) break;
        for (long at = 0; at < got;) {
            const auto* entry = reinterpret_cast<const struct dirent64*>(records + at);
            at += entry->d_reclen;
            const char* name = entry->d_name;
            if ((entry->d_type == DT_REG || entry->d_type == DT_UNKNOWN) && name[0] != '\0' &&
                !(name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'))))
                remove_if_parents(static_cast<int>(dir), name, parent, self);
        }
    }
    sys(SYS_close, dir);
}

// The calling thread's rseq area, which glibc 2.35+ registers for every
// thread and which the kernel writes at every switch to the thread, as it
// does to the child, which inherits the registration. Empty where there is
// none.
[[gnu::visibility("hidden")]] inline range rseq_area(std::uintptr_t page) noexcept {
#ifdef SMH_DETAIL_GLIBC_RSEQ
    if (__rseq_size > 0) {
        const std::uintptr_t bytes = __rseq_size > 32 ? __rseq_size : 32; // struct rseq
        return around(static_cast<const char*>(__builtin_thread_pointer()) + __rseq_offset, 0,
                      bytes, page);
    }
#endif
    (void)page;
    return {};
}

// Ends the child's share of the calling thread's rseq registration, so the
// kernel writes the area no more: where the thread's stack is shared memory
// the child would write the thread's own (its CPU, and a cleared critical
// section). True if none is left; else the area's page must stay mapped.
[[gnu::visibility("hidden")]] inline bool unregister_rseq() noexcept {
#ifdef SMH_DETAIL_GLIBC_RSEQ
    if (__rseq_size == 0) return true; // glibc registered none
    const auto* area = static_cast<const char*>(__builtin_thread_pointer()) + __rseq_offset;
    // The length registered: the area's, 32 bytes before glibc 2.40.
    const unsigned registered = __rseq_size > 32 ? __rseq_size : 32;
    return sys(SYS_rseq, area, registered, RSEQ_FLAG_UNREGISTER, RSEQ_SIG) == 0 ||
           (registered != 32 && sys(SYS_rseq, area, 32U, RSEQ_FLAG_UNREGISTER, RSEQ_SIG) == 0);
#else
    return true;
#endif
}

// The child's whole life, on its own stack. `argument` points into that stack.
[[gnu::visibility("hidden")]] inline int watch(void* argument) noexcept {
    const child_argument given = *static_cast<const child_argument*>(argument);
    const watched_process& parent = given.parent;
    const std::uintptr_t page = given.page;
    // Blocked since before the clone; now also the two the C library keeps
    // for itself. The kernel's mask: 64 bits.
    const unsigned long all = ~0UL;
    sys(SYS_rt_sigprocmask, SIG_SETMASK, &all, nullptr, sizeof all);
    sys(SYS_setsid);
    sys(SYS_prctl, PR_SET_NAME, "smh-watch", 0, 0, 0);
    sys(SYS_chdir, "/"); // pins no mount point
    const auto watch = watch_parent(parent.pid);
    const auto stack = reinterpret_cast<std::uintptr_t>(argument); // the stack's low end
    const range rseq = unregister_rseq() ? range{} : rseq_area(page);
    const range around_tls[] = {
        {stack, stack + stack_bytes},
#if __has_builtin(__builtin_thread_pointer)
        around(__builtin_thread_pointer(), kept_around, kept_around, page),
#endif
        around(&errno, kept_around, kept_around, page),
        rseq
    };
    // What the child itself reads and writes: the thread control block (the
    // stack protector's canary is at +0x28), errno, and the rseq area if it
    // could not be unregistered. Without the thread pointer, as much as in
    // private memory.
    const range touched[] = {
#if __has_builtin(__builtin_thread_pointer)
        around(__builtin_thread_pointer(), 0, 64, page),
        around(&errno, 0, sizeof errno, page),
#else
        around(&errno, kept_around, kept_around, page),
#endif
        rseq
    };
    drop_inherited_memory({around_tls, static_cast<int>(sizeof around_tls / sizeof around_tls[0]),
                           touched, static_cast<int>(sizeof touched / sizeof touched[0])});
    // Closing the last inherited descriptor, the write end of start()'s pipe,
    // tells the parent that the watcher is in place.
    close_descriptors_but(watch.pidfd);
    wait_for_end_of(parent.pid, watch);
    remove_parents_segments(parent);
    sys(SYS_exit_group, 0);
    return 0;
}

// Calls, in this process, each function the child calls, with arguments that
// change nothing (a header on this stack, a descriptor that does not exist),
// so every lazily bound call on the child's path is resolved before the
// clone copies the tables.
[[gnu::visibility("hidden")]] inline void warm_up() noexcept {
    segment_header dummy{};
    volatile std::size_t one = 1; // real calls, not inlined ones
    std::memset(&dummy.flags, 0, one);
    std::memcpy(&dummy.flags, &dummy.state, one);
    (void)std::memcmp(&dummy.flags, &dummy.state, one);
    // Good enough to reach the checksum, which copies the header.
    std::memcpy(dummy.magic, segment_magic, sizeof dummy.magic);
    dummy.endian_marker = endian_marker;
    dummy.layout_version = layout_version;
    dummy.header_size = header_size;
    (void)find_header_flaw(dummy);
    owner_record record;
    (void)recorded_owner(dummy, {1, 0}, record);
    (void)remove_owned_name(dummy, owner_record{}, 1, -1, "", 0, 0);
    (void)unlink(-1, "", file_identity{});
    publish_owner(dummy, owner_record{});
    struct stat info {};
    (void)::fstatat(-1, "", &info, AT_EMPTY_PATH);
    (void)::unlinkat(-1, "", 0);
    (void)sys(SYS_getpid);
    (void)errno;
}

// Starts the watcher of this process; false if the clone failed.
[[gnu::visibility("hidden")]] inline bool start(const watched_process& parent) noexcept {
    warm_up();
    void* stack = ::mmap(nullptr, stack_bytes, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) return false;
    // The argument sits at the stack's far end, which the child never reaches.
    auto* argument = static_cast<child_argument*>(stack);
    const long page = ::sysconf(_SC_PAGESIZE);
    *argument = {parent, page > 0 ? static_cast<std::uintptr_t>(page) : 4096};
    // No signal handler of the program may run in the child: every signal is
    // blocked across the clone, and the child inherits that mask. In this
    // thread only: glibc's sigprocmask is pthread_sigmask, which before
    // glibc 2.34 would need libpthread.
    sigset_t all, before;
    sigfillset(&all);
    // Read to its end once the child has closed every descriptor it inherited.
    int in_place[2] = {-1, -1};
    const bool told = ::pipe2(in_place, O_CLOEXEC) == 0;
    ::sigprocmask(SIG_SETMASK, &all, &before);
    // Flags 0: a new process sharing nothing, whose exit signal is none.
    const int child = ::clone(watch, static_cast<char*>(stack) + stack_bytes, 0, argument);
    ::sigprocmask(SIG_SETMASK, &before, nullptr);
    ::munmap(stack, stack_bytes); // the child has its own copy
    if (told) {
        // Bounded: a thread of the program that forks meanwhile (without
        // exec) gives its child a copy of the write end, which may live on.
        ::close(in_place[1]);
        struct pollfd closed {};
        closed.fd = in_place[0];
        closed.events = POLLIN;
        for (int waited_ms = 0; waited_ms < 5000; waited_ms += 100) {
            const int ready = ::poll(&closed, 1, 100);
            char byte;
            if (ready > 0 && ::read(in_place[0], &byte, 1) <= 0) break; // EOF
            if (ready < 0 && errno != EINTR) break;
        }
        ::close(in_place[0]);
    }
    return child > 0;
}

// This process's pid once it has a watcher; -pid while one is being started.
inline std::atomic<std::int64_t> watched{0};

} // namespace watcher

// Starts this process's watcher, once per process: a forked child (another
// pid) that calls it gets one of its own. Returns once the watcher is in
// place (it watches, and holds none of this process's descriptors or
// memory); true once one runs.
inline bool watch_owned_segments() noexcept {
    const auto pid = current_pid();
    auto seen = watcher::watched.load(std::memory_order_acquire);
    for (;;) {
        if (seen == pid) return true;
        if (seen == -pid) { // another thread of ours is starting it
            std::this_thread::yield();
            seen = watcher::watched.load(std::memory_order_acquire);
            continue;
        }
        if (watcher::watched.compare_exchange_weak(seen, -pid, std::memory_order_acq_rel)) break;
    }
    const bool started = watcher::start({pid, own_start_time(pid)});
    watcher::watched.store(started ? pid : 0, std::memory_order_release);
    return started;
}

} // namespace detail::os
} // namespace v0
} // namespace smh
