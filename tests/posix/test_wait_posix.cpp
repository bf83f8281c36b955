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

#include "support.hpp"

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

// Forks a child that runs `body` and exits with what it returns.
pid_t fork_child(const std::function<int()>& body) {
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
        int code = 3;
        try {
            code = body();
        } catch (...) {}
        ::_exit(code);
    }
    return pid;
}

volatile std::sig_atomic_t signals_handled = 0;
volatile std::sig_atomic_t futex_calls = 0;

// In a forked child: the number of futex(2) calls `body` makes, counted by
// a seccomp filter that turns each into a SIGSYS (and does not run it).
int futex_calls_of(const std::function<void()>& body) {
    struct sigaction action {};
    action.sa_flags = SA_SIGINFO;
    action.sa_sigaction = [](int, siginfo_t* info, void*) {
        if (info->si_syscall == SYS_futex) futex_calls = futex_calls + 1;
    };
    if (::sigaction(SIGSYS, &action, nullptr) != 0) return 200;
    sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_futex, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    sock_fprog program{static_cast<unsigned short>(sizeof filter / sizeof filter[0]), filter};
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) != 0)
        return 201;
    body();
    return futex_calls;
}

} // namespace

TEST_CASE("std::atomic::wait alone does not wake a waiter in another process", "[wait]") {
    // The reason wait() exists, and the README's warning: if this fails, the
    // standard library learnt to cross processes and the warning is stale.
    auto shm = smh::create<std::atomic<std::uint32_t>>(1);
    auto ready = smh::create<std::atomic<std::uint32_t>>(1);
    const pid_t child = fork_child([&] {
        ::alarm(30); // whatever happens to the parent, this child ends
        announce(ready);
        shm[0].wait(0); // std::atomic<std::uint32_t>::wait
        return 0;
    });
    await_child(ready);
    shm[0].store(1);
    shm[0].notify_all();
    const auto result = smh_test::wait_for(child, 1s); // killed if still there
    CHECK(result.timed_out);
}

TEMPLATE_TEST_CASE("a waiter interrupted by signals keeps waiting until the value changes",
                   "[wait]", std::uint32_t, std::uint64_t) {
    auto shm = smh::create<std::atomic<TestType>>(1);
    auto ready = smh::create<std::atomic<std::uint32_t>>(1);
    const pid_t child = fork_child([&] {
        struct sigaction action {};
        action.sa_handler = [](int) { signals_handled = signals_handled + 1; };
        ::sigaction(SIGUSR1, &action, nullptr); // no SA_RESTART: futex returns EINTR
        announce(ready);
        shm.wait(0, 0);
        return shm[0].load() == 5 && signals_handled >= 3 ? 0 : 1;
    });
    await_child(ready);
    for (int i = 0; i < 3; ++i) {
        ::kill(child, SIGUSR1);
        std::this_thread::sleep_for(30ms);
    }
    int status = 0;
    CHECK(::waitpid(child, &status, WNOHANG) == 0); // still waiting
    shm[0].store(5);
    shm.notify_all(0);
    const auto result = smh_test::wait_for(child, 30s);
    REQUIRE(result.exited);
    CHECK(result.exit_code == 0);
}

TEMPLATE_TEST_CASE("a forked child that maps the segment again, elsewhere, is woken", "[wait]",
                   std::uint32_t, std::uint64_t) {
    auto shm = smh::create<std::atomic<TestType>>(1);
    auto ready = smh::create<std::atomic<std::uint32_t>>(1);
    const pid_t child = fork_child([&] {
        auto again = smh::attach<std::atomic<TestType>>(shm.name());
        if (&again[0] == &shm[0]) return 2; // the parent's mapping is still here too
        announce(ready);
        again.wait(0, 0);
        return again[0].load() == 1 ? 0 : 1;
    });
    await_child(ready);
    shm[0].store(1);
    shm.notify_one(0);
    const auto result = smh_test::wait_for(child, 30s);
    REQUIRE(result.exited);
    CHECK(result.exit_code == 0);
}

TEMPLATE_TEST_CASE("notify makes no system call while no writable handle waits", "[wait]",
                   std::uint32_t, std::uint64_t) {
    if (smh_test::sanitized_build) {
        WARN("skipped: the sanitizers' runtimes take signals and futexes of their own");
        return;
    }
    auto shm = smh::create<std::atomic<TestType>>(2);
    auto notify_100_times = [&] {
        for (int i = 0; i < 50; ++i) {
            shm[1].store(static_cast<TestType>(i));
            shm.notify_all(1);
            shm.notify_one(1);
        }
    };
    SECTION("nobody waits: none") {
        const pid_t child = fork_child([&] { return futex_calls_of(notify_100_times); });
        const auto result = smh_test::wait_for(child, 30s);
        REQUIRE(result.exited);
        CHECK(result.exit_code == 0);
    }
    SECTION("a writable handle waits on another element: one per notify") {
        // The count is per segment; this also shows the filter counts.
        auto ready = smh::create<std::atomic<std::uint32_t>>(1);
        const pid_t waiter = fork_child([&] {
            announce(ready);
            shm.wait(0, 0);
            return 0;
        });
        await_child(ready);
        const pid_t child = fork_child([&] { return futex_calls_of(notify_100_times); });
        const auto result = smh_test::wait_for(child, 30s);
        shm[0].store(1);
        shm.notify_all(0);
        CHECK(smh_test::wait_for(waiter, 30s).exit_code == 0);
        REQUIRE(result.exited);
        CHECK(result.exit_code == 100);
    }
    SECTION("a read-only handle waits: none, and it still sees the change") {
        auto ready = smh::create<std::atomic<std::uint32_t>>(1);
        const pid_t waiter = fork_child([&] {
            const auto reader = smh::attach<const std::atomic<TestType>>(shm.name());
            announce(ready);
            reader.wait(1, 0);
            return reader[1].load() != 0 ? 0 : 1;
        });
        await_child(ready);
        const pid_t child = fork_child([&] { return futex_calls_of(notify_100_times); });
        const auto result = smh_test::wait_for(child, 30s);
        REQUIRE(result.exited);
        CHECK(result.exit_code == 0);
        CHECK(smh_test::wait_for(waiter, 30s).exit_code == 0);
    }
}
