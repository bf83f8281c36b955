// wait and notify where only POSIX (Linux) can show it: forked children,
// signals, a seccomp filter counting system calls, and std::atomic::wait
// failing to cross processes.
#include <catch2/catch.hpp>

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <thread>

#include "checks.hpp"

using namespace std::chrono_literals;

namespace {

using ready_segment = smh::SharedMemoryHandlee<std::atomic<std::uint32_t>>;

// Until element 0 of `ready` is nonzero: a child has reached its wait.
void await_child(ready_segment& ready) {
    REQUIRE(ready.wait_for(0, 0u, 30s));
    std::this_thread::sleep_for(100ms); // and has fallen asleep
}

void announce(ready_segment& ready) {
    ready[0].store(1);
    ready.notify_all(0);
}

volatile std::sig_atomic_t signals_handled = 0;
volatile std::sig_atomic_t futex_calls = 0;

// In a child process: the number of futex(2) calls `body` makes, counted by
// a seccomp filter that turns each into a SIGSYS (and does not run it).
int futex_calls_of(const std::function<void()>& body) {
    struct sigaction action {};
    action.sa_flags = SA_SIGINFO;
    action.sa_sigaction = [](int, siginfo_t* info, void*) {
        if (info->si_syscall == SYS_futex) futex_calls = futex_calls + 1;
    };
    smh_test::child_check(::sigaction(SIGSYS, &action, nullptr) == 0, "sigaction(SIGSYS) failed");
    sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_futex, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    sock_fprog program{static_cast<unsigned short>(sizeof filter / sizeof filter[0]), filter};
    smh_test::child_check(::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
                              ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) == 0,
                          "cannot install the seccomp filter");
    body();
    return futex_calls;
}

} // namespace

TEST_CASE("std::atomic::wait alone does not wake a waiter in another process", "[wait]") {
    // The reason wait() exists, and the README's warning: if this fails, the
    // standard library learnt to cross processes and the warning is stale.
    auto shm = smh::create<std::atomic<std::uint32_t>>(1);
    auto ready = smh::create<std::atomic<std::uint32_t>>(1);
    smh_test::child_process child([&] {
        ::alarm(30); // whatever happens to the parent, this child ends
        announce(ready);
        shm[0].wait(0); // std::atomic<std::uint32_t>::wait
    });
    await_child(ready);
    shm[0].store(1);
    shm[0].notify_all();
    CHECK(child.wait(1s).timed_out); // killed, still waiting
}

TEMPLATE_TEST_CASE("a waiter interrupted by signals keeps waiting until the value changes",
                   "[wait]", std::uint32_t, std::uint64_t) {
    auto shm = smh::create<std::atomic<TestType>>(1);
    auto ready = smh::create<std::atomic<std::uint32_t>>(1);
    smh_test::child_process child([&] {
        struct sigaction action {};
        action.sa_handler = [](int) { signals_handled = signals_handled + 1; };
        ::sigaction(SIGUSR1, &action, nullptr); // no SA_RESTART: futex returns EINTR
        announce(ready);
        shm.wait(0, 0);
        smh_test::child_check(shm[0].load() == 5, "wait returned before the value changed");
        smh_test::child_check(signals_handled >= 3, "the signals did not arrive while waiting");
    });
    await_child(ready);
    for (int i = 0; i < 3; ++i) {
        ::kill(child.pid(), SIGUSR1);
        std::this_thread::sleep_for(30ms);
    }
    int status = 0;
    CHECK(::waitpid(child.pid(), &status, WNOHANG) == 0); // still waiting
    shm[0].store(5);
    shm.notify_all(0);
    smh_test::expect_success(child, 30s);
}

TEMPLATE_TEST_CASE("a forked child that maps the segment again, elsewhere, is woken", "[wait]",
                   std::uint32_t, std::uint64_t) {
    auto shm = smh::create<std::atomic<TestType>>(1);
    auto ready = smh::create<std::atomic<std::uint32_t>>(1);
    smh_test::child_process child([&] {
        auto again = smh::attach<std::atomic<TestType>>(shm.name());
        // The parent's mapping is still here too: this one is elsewhere.
        smh_test::child_check(&again[0] != &shm[0], "the second mapping is at the same address");
        announce(ready);
        again.wait(0, 0);
        smh_test::child_check(again[0].load() == 1, "wait returned before the value changed");
    });
    await_child(ready);
    shm[0].store(1);
    shm.notify_one(0);
    smh_test::expect_success(child, 30s);
}

TEMPLATE_TEST_CASE("notify makes no system call while no writable handle waits", "[wait]",
                   std::uint32_t, std::uint64_t) {
    if (smh_test::sanitized_build)
        return smh_test::skip("the sanitizers' runtimes take signals and futexes of their own");
    auto shm = smh::create<std::atomic<TestType>>(2);
    auto notify_100_times = [&] {
        for (int i = 0; i < 50; ++i) {
            shm[1].store(static_cast<TestType>(i));
            shm.notify_all(1);
            shm.notify_one(1);
        }
    };
    SECTION("nobody waits: none") {
        smh_test::in_child([&] {
            smh_test::child_check(futex_calls_of(notify_100_times) == 0,
                                  "a notify made a futex call");
        });
    }
    SECTION("a writable handle waits on another element: one per notify") {
        // The count is per segment; this also shows the filter counts.
        auto ready = smh::create<std::atomic<std::uint32_t>>(1);
        smh_test::child_process waiter([&] {
            announce(ready);
            shm.wait(0, 0);
        });
        await_child(ready);
        smh_test::in_child([&] {
            smh_test::child_check(futex_calls_of(notify_100_times) == 100,
                                  "not one futex call per notify");
        });
        shm[0].store(1);
        shm.notify_all(0);
        smh_test::expect_success(waiter, 30s);
    }
    SECTION("a read-only handle waits: none, and it still sees the change") {
        auto ready = smh::create<std::atomic<std::uint32_t>>(1);
        smh_test::child_process waiter([&] {
            const auto reader = smh::attach<const std::atomic<TestType>>(shm.name());
            announce(ready);
            reader.wait(1, 0);
            smh_test::child_check(reader[1].load() != 0, "wait returned before the value changed");
        });
        await_child(ready);
        smh_test::in_child([&] {
            smh_test::child_check(futex_calls_of(notify_100_times) == 0,
                                  "a notify made a futex call");
        });
        smh_test::expect_success(waiter, 30s);
    }
}
