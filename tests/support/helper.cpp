// A separate program the tests start (posix_spawn, CreateProcess), so that a segment is
// shared with a process that did not fork from the test. Exit codes: 0 done,
// 1 the data was not as expected, 2 bad usage, 3 other failure, 10 + errc for
// an smh::error (its message goes to stderr).
//
//   helper attach  TYPE NAME                 attach and report the outcome
//   helper fill    TYPE NAME SEED            attach and write the pattern
//   helper check   TYPE NAME SEED            attach and verify the pattern
//   helper answer  TYPE NAME SEED            verify SEED, then write SEED + 1
//   helper create-run TYPE COUNT SEED PROGRAM...
//        create, write SEED, run `PROGRAM... answer TYPE NAME SEED`, verify SEED + 1
//   helper create-exit NAME COUNT            create, then return (owner exits)
//   helper create-kill NAME COUNT            create, then kill itself (no cleanup)
//   helper create-wait NAME COUNT            create, write 7 to element 0, wait to be killed
//   helper create-release NAME COUNT SEED    create, write SEED, release(), exit
//   helper create-leader-exit NAME COUNT     create, start a thread, end the main thread
//                                            (pthread_exit): the process lives on
//   helper remove-orphans                    smh::remove_orphans(), printing each name
//   helper create-end NAME COUNT HOW CLEANUP create (CLEANUP "cleanup": after
//        smh::cleanup_on_termination()), then end HOW: wait (for a signal), abort,
//        assert (a failed one), throw (uncaught), exit (std::exit(3)), segv
//   helper create-own-handler NAME           a SIGTERM handler of its own, then
//        cleanup_on_termination() and create; after SIGTERM: 42 if the segment is still there
//   helper create-handler-exit NAME          a SIGTERM handler of its own that calls
//        smh::remove_owned_segments() and _exit(5)
//   helper create-fork-end NAME              create with cleanup, fork a child, end the
//        child with SIGTERM: 0 if the parent's segment is still there
//   helper churn PREFIX THREADS HOW          THREADS threads create and destroy segments
//        named PREFIX-<thread>-<n> for ever, each keeping up to 3 at once; HOW: "cleanup"
//        (cleanup_on_termination()), "adopt" (the same, and each segment is released and
//        adopted again after its create) or "handler" (a SIGTERM handler of its own that
//        calls smh::remove_owned_segments() and _exit(5))
//   helper adopt TYPE NAME                   attach, adopt(): 0 if it became the owner (its
//        destructor then removes the name), 1 if not
//   helper add-atomic NAME TIMES             attach std::atomic<uint64_t> elements, add 1 to
//        element 0 TIMES times (fetch_add)
//   helper wait BITS NAME INDEX OLD MS rw|ro READY
//        attach std::atomic<uintBITS_t> elements (BITS 32 or 64; ro: read-only), add 1 to
//        element 0 of the std::atomic<uint32_t> segment READY and notify it, then wait
//        while element INDEX is OLD: wait() if MS is "forever", else wait_for(MS ms).
//        0: saw another value in time; 5: saw it only at the deadline; 4: timed out
//   helper notify BITS NAME INDEX VALUE READY COUNT
//        wait until READY's element 0 reaches COUNT, let the waiters fall asleep
//        (100 ms), store VALUE into element INDEX and notify_all it
//   helper grow NAME LENGTH DELAY_MS         attach uint32 elements, wait DELAY_MS, grow
//        to LENGTH and store LENGTH in the last element
//   helper wait-size NAME LENGTH MS rw|ro READY
//        attach uint32 elements (ro: read-only), count itself in READY as `wait` does,
//        then wait_for_size(LENGTH, MS ms): 0 when the size came, 4 timed out

// The failed-assert case needs assert() even in release builds.
#undef NDEBUG
#include <cassert>
#include <csignal>
#include <cstdlib>
#include <stdexcept>
#ifndef _WIN32
#include <sys/wait.h>
#include <unistd.h>
#endif

#include <chrono>
#include <iostream>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "shared_types.hpp"
#include "support.hpp"

// ThreadSanitizer models mmap as a write to the memory it maps. Replacing a
// mapping in place (map_in_place: MAP_FIXED over the same address, the same
// file, the same pages) while a signal handler in another thread reads the
// owner record through it (termination cleanup, in `helper churn`) is then
// reported as a race, and TSan ends the process with its own exit code
// instead of the signal. The kernel replaces the mapping under the address
// space's lock, so the read sees the same page before and after: no race.
// (This also hides any other race with a remap in its stack.)
#ifdef SMH_TEST_UNDER_TSAN
extern "C" const char* __tsan_default_suppressions() { return "race:map_in_place\n"; }
#endif

namespace {

[[noreturn]] void wait_forever() {
    for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
}

volatile std::sig_atomic_t got_sigterm = 0;

#ifndef _WIN32
// Threads that own segments and keep creating and destroying them, until a
// signal ends the process.
int churn(const std::string& prefix, int threads, const std::string& how) {
    if (how == "cleanup" || how == "adopt") {
        smh::cleanup_on_termination();
    } else {
        std::signal(SIGTERM, [](int) {
            smh::remove_owned_segments();
            std::_Exit(5);
        });
    }
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t)
        workers.emplace_back([&prefix, &how, t] {
            std::vector<smh::SharedMemoryHandlee<int>> held;
            for (long n = 0;; ++n) {
                const auto name = prefix + "-" + std::to_string(t) + "-" + std::to_string(n);
                held.push_back(smh::create<int>(name, 16));
                if (how == "adopt" && !(held.back().release() && held.back().adopt())) return;
                if (held.size() > 3) held.erase(held.begin());
            }
        });
#ifdef SMH_TEST_UNDER_TSAN
    // Under ThreadSanitizer a signal that lands on this thread, blocked in
    // join(), can stay queued in TSan's runtime for good (seen: the process
    // churned on for 30 s, nothing pending in the kernel). Blocked here, the
    // signal goes to a worker, which TSan hands it to at its next call.
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, nullptr);
#endif
    for (auto& worker : workers) worker.join();
    return 3;
}
#endif

int end_as_told(const std::vector<std::string>& args) {
    // Installed first: a signal sent once the segment exists finds it in place.
    if (args[4] == "cleanup") smh::cleanup_on_termination();
    auto shm = smh::create<int>(args[1], std::stoul(args[2]));
    const std::string& how = args[3];
    if (how == "abort") std::abort();
    if (how == "assert") assert(shm.size() == 0 && "a failed assertion");
    if (how == "throw") std::thread([] { throw std::runtime_error("nobody catches this"); }).join();
    if (how == "exit") std::exit(3);
    if (how == "segv") std::raise(SIGSEGV);
    if (how == "wait") wait_forever();
    return 2;
}

// Subcommands for the Python package's tests (python/tests/); -1: not one of them.
int run_for_python(const std::vector<std::string>& args) {
    if (args.size() == 3 && args[0] == "adopt") {
        int code = 2;
        const bool known = smh_test::with_type(args[1], [&]<class T>() {
            auto shm = smh::attach<T>(args[2]);
            code = shm.adopt() ? 0 : 1;
        });
        return known ? code : 2;
    }
    if (args.size() == 3 && args[0] == "add-atomic") {
        auto shm = smh::attach<std::atomic<std::uint64_t>>(args[1]);
        const unsigned long times = std::stoul(args[2]);
        for (unsigned long i = 0; i < times; ++i) shm[0].fetch_add(1);
        return 0;
    }
    return -1;
}

// Waits until the waiters counted in `ready` (element 0) are `count`, and
// gives them time to fall asleep; false if they never come.
bool await_waiters(const std::string& ready_name, std::uint32_t count) {
    auto ready = smh::attach<std::atomic<std::uint32_t>>(ready_name);
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    for (std::uint32_t seen; (seen = ready[0].load()) < count;)
        if (!ready.wait_for(0, seen, give_up - std::chrono::steady_clock::now())) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    return true;
}

template <class U, bool Writable>
int wait_as_told(const std::vector<std::string>& args) {
    using element = std::conditional_t<Writable, std::atomic<U>, const std::atomic<U>>;
    auto shm = smh::attach<element>(args[2]);
    const auto index = std::stoul(args[3]);
    const auto old = static_cast<U>(std::stoull(args[4]));
    const auto start = std::chrono::steady_clock::now();
    {
        auto ready = smh::attach<std::atomic<std::uint32_t>>(args[7]);
        ready[0].fetch_add(1);
        ready.notify_all(0);
    }
    if (args[5] == "forever") {
        shm.wait(index, old);
        return shm[index].load() != old ? 0 : 1;
    }
    const auto timeout = std::chrono::milliseconds(std::stol(args[5]));
    if (!shm.wait_for(index, old, timeout)) return 4;
    if (shm[index].load() == old) return 1;
    return std::chrono::steady_clock::now() - start >= timeout ? 5 : 0;
}

// The wait and notify subcommands; -1: not one of them.
int run_for_wait(const std::vector<std::string>& args) {
    if (args.size() == 8 && args[0] == "wait") {
        const bool writable = args[6] == "rw";
        if (args[1] == "32")
            return writable ? wait_as_told<std::uint32_t, true>(args)
                            : wait_as_told<std::uint32_t, false>(args);
        if (args[1] == "64")
            return writable ? wait_as_told<std::uint64_t, true>(args)
                            : wait_as_told<std::uint64_t, false>(args);
        return 2;
    }
    if (args.size() == 7 && args[0] == "notify") {
        if (!await_waiters(args[5], static_cast<std::uint32_t>(std::stoul(args[6])))) return 4;
        auto store_and_notify = [&]<class U>() {
            auto shm = smh::attach<std::atomic<U>>(args[2]);
            const auto index = std::stoul(args[3]);
            shm[index].store(static_cast<U>(std::stoull(args[4])));
            shm.notify_all(index);
        };
        if (args[1] == "32")
            store_and_notify.template operator()<std::uint32_t>();
        else if (args[1] == "64")
            store_and_notify.template operator()<std::uint64_t>();
        else
            return 2;
        return 0;
    }
    return -1;
}

// The growth subcommands, on uint32 elements; -1: not one of them.
//   grow NAME LENGTH DELAY_MS: attach, wait DELAY_MS, grow to LENGTH, and
//     store LENGTH in the last element; 0 on success.
//   wait-size NAME LENGTH TIMEOUT_MS rw|ro READY: wait_for_size(LENGTH); 0 if
//     it came, 4 if it timed out.
int run_for_grow(const std::vector<std::string>& args) {
    if (args.size() == 4 && args[0] == "grow") {
        auto shm = smh::attach<std::uint32_t, smh::growable>(args[1]);
        const auto length = std::stoul(args[2]);
        std::this_thread::sleep_for(std::chrono::milliseconds(std::stol(args[3])));
        shm.grow(length);
        shm[length - 1] = static_cast<std::uint32_t>(length);
        return 0;
    }
    if (args.size() == 6 && args[0] == "wait-size") {
        const auto length = std::stoul(args[2]);
        const auto timeout = std::chrono::milliseconds(std::stol(args[3]));
        auto waited = [&](const auto& shm) {
            {
                auto ready = smh::attach<std::atomic<std::uint32_t>>(args[5]);
                ready[0].fetch_add(1);
                ready.notify_all(0);
            }
            if (!shm.wait_for_size(length, timeout)) return 4;
            return shm.size() >= length ? 0 : 1;
        };
        if (args[4] == "rw") return waited(smh::attach<std::uint32_t, smh::growable>(args[1]));
        return waited(smh::attach<const std::uint32_t, smh::growable>(args[1]));
    }
    return -1;
}

// The anonymous-segment subcommands, on uint32 elements; -1: not one of
// them, or not on this platform (a template, so that where the OS has no
// anonymous segments, or no socket to send one over (Windows), the calls are
// never instantiated).
//   anon-check FD LENGTH VALUE: attach_descriptor(FD) (Windows: FD is an
//     inherited handle's value); 0 if it has LENGTH elements and element 0
//     holds VALUE; then stores VALUE + 1 in element 1.
//   anon-grow FD LENGTH: attach_descriptor(FD) as a growable segment, grow
//     it to LENGTH and store LENGTH in its last element; 0 on success.
//   anon-receive SOCKET VALUE: receive() a segment from SOCKET and store
//     VALUE in element 0; 0 on success.
//   anon-send SOCKET LENGTH VALUE: create_anonymous(LENGTH), store VALUE in
//     element 0, send() it on SOCKET; 0 once element 1 holds VALUE + 1.
template <class Anonymous = smh::detail::os::anonymous_segments>
int run_for_anonymous(const std::vector<std::string>& args) {
    if constexpr (!Anonymous::available) {
        return -1;
    } else {
        if (args.size() == 4 && args[0] == "anon-check") {
            auto shm = smh::attach_descriptor<std::uint32_t>(std::stoi(args[1]));
            const auto value = static_cast<std::uint32_t>(std::stoul(args[3]));
            if (shm.size() != std::stoul(args[2]) || shm[0] != value) return 1;
            shm[1] = value + 1;
            return 0;
        }
        if (args.size() == 3 && args[0] == "anon-grow") {
            auto shm = smh::attach_descriptor<std::uint32_t, smh::growable>(std::stoi(args[1]));
            const auto length = static_cast<std::uint32_t>(std::stoul(args[2]));
            shm.grow(length);
            shm[length - 1] = length;
            return 0;
        }
        if constexpr (Anonymous::over_sockets) {
            if (args.size() == 4 && args[0] == "anon-send") {
                auto shm = smh::create_anonymous<std::uint32_t>(std::stoul(args[2]));
                const auto value = static_cast<std::uint32_t>(std::stoul(args[3]));
                shm[0] = value;
                smh::send(std::stoi(args[1]), shm);
                // The receiver answers in element 1; at most 30 s.
                for (int tries = 0; tries < 3000 && shm[1] != value + 1; ++tries)
                    std::this_thread::sleep_for(std::chrono::milliseconds(10));
                return shm[1] == value + 1 ? 0 : 1;
            }
            if (args.size() == 3 && args[0] == "anon-receive") {
                auto shm = smh::receive<std::uint32_t>(std::stoi(args[1]));
                shm[0] = static_cast<std::uint32_t>(std::stoul(args[2]));
                return 0;
            }
        }
        return -1;
    }
}

int run(const std::vector<std::string>& args) {
    if (const int code = run_for_python(args); code >= 0) return code;
    if (const int code = run_for_anonymous(args); code >= 0) return code;
    if (const int code = run_for_wait(args); code >= 0) return code;
    if (const int code = run_for_grow(args); code >= 0) return code;
    if (args.size() == 5 && args[0] == "create-end") return end_as_told(args);
    if (args.size() == 2 && args[0] == "create-own-handler") {
        std::signal(SIGTERM, [](int) { got_sigterm = 1; });
        smh::cleanup_on_termination();
        auto shm = smh::create<int>(args[1], 4);
        while (!got_sigterm) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        return smh_test::segment_exists(args[1]) ? 42 : 1;
    }
    if (args.size() == 2 && args[0] == "create-handler-exit") {
        std::signal(SIGTERM, [](int) {
            smh::remove_owned_segments();
            std::_Exit(5);
        });
        auto shm = smh::create<int>(args[1], 4);
        wait_forever();
    }
#ifndef _WIN32
    if (args.size() == 4 && args[0] == "churn") return churn(args[1], std::stoi(args[2]), args[3]);
    if (args.size() == 2 && args[0] == "create-fork-end") {
        smh::cleanup_on_termination();
        auto shm = smh::create<int>(args[1], 4);
        const pid_t child = ::fork();
        if (child == 0) wait_forever();
        ::kill(child, SIGTERM);
        int status = 0;
        ::waitpid(child, &status, 0);
        return WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM &&
                       smh_test::segment_exists(args[1])
                   ? 0
                   : 1;
    }
#endif
#ifndef _WIN32
    if (args.size() == 1 && args[0] == "remove-orphans") {
        for (const auto& name : smh::remove_orphans()) std::cout << name << '\n';
        return 0;
    }
#endif
    if (args.size() < 3) return 2;
    const std::string& command = args[0];
    int code = 2;

    if (command == "create-release" && args.size() == 4) {
        auto shm = smh::create<int>(args[1], std::stoul(args[2]));
        smh_test::fill(shm, std::stoi(args[3]));
        return shm.release() ? 0 : 1;
    }
    if (command == "create-leader-exit") {
        static auto shm = smh::create<int>(args[1], std::stoul(args[2]));
        std::thread(wait_forever).detach();
        smh_test::exit_main_thread();
    }
    if (command == "create-exit" || command == "create-kill" || command == "create-wait") {
        auto shm = smh::create<int>(args[1], std::stoul(args[2]));
        if (command == "create-kill") smh_test::kill_self();
        if (command == "create-wait") {
            shm[0] = 7;
            wait_forever();
        }
        return 0;
    }
    if (command == "create-run" && args.size() >= 5) {
        const bool known = smh_test::with_type(args[1], [&]<class T>() {
            auto shm = smh::create<T>(std::stoul(args[2]));
            const int seed = std::stoi(args[3]);
            smh_test::fill(shm, seed);
            std::vector<std::string> child(args.begin() + 4, args.end());
            child.insert(child.end(), {"answer", args[1], shm.name(), args[3]});
            const auto result = smh_test::run_program(child);
            code = !result.exited                   ? 3
                   : result.exit_code != 0          ? result.exit_code
                   : smh_test::holds(shm, seed + 1) ? 0
                                                    : 1;
        });
        return known ? code : 2;
    }
    const bool known = smh_test::with_type(args[1], [&]<class T>() {
        auto shm = smh::attach<T>(args[2]);
        const int seed = args.size() > 3 ? std::stoi(args[3]) : 0;
        if (command == "attach")
            code = 0;
        else if (command == "fill")
            smh_test::fill(shm, seed), code = 0;
        else if (command == "check")
            code = smh_test::holds(shm, seed) ? 0 : 1;
        else if (command == "answer") {
            code = smh_test::holds(shm, seed) ? 0 : 1;
            if (code == 0) smh_test::fill(shm, seed + 1);
        }
    });
    return known ? code : 2;
}

} // namespace

int main(int argc, char** argv) {
    try {
        return run(std::vector<std::string>(argv + 1, argv + argc));
    } catch (const smh::error& e) {
        std::cerr << "helper: " << e.what() << '\n';
        return smh_test::exit_code_for(static_cast<smh::errc>(e.code().value()));
    } catch (const std::exception& e) {
        std::cerr << "helper: " << e.what() << '\n';
        return 3;
    }
}
