// Every way a process ends, and what happens to the segments it owns. Each
// case runs the helper program (a real program, with no test framework's
// signal handlers), kills or ends it, and looks at what is left.
#include <catch2/catch.hpp>

#include <signal.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "checks.hpp"

using smh::SharedMemoryHandlee;
using smh_test::child_check;
using smh_test::segment_exists;
using smh_test::unique_name;
using namespace std::chrono_literals;

namespace {

// Starts `helper create-end NAME 4 HOW CLEANUP`, waits until its segment
// exists, sends `signal` (0: none), and waits for it to end.
smh_test::process_result end_helper(const std::string& name, const std::string& how, bool cleanup,
                                    int signal = 0) {
    const pid_t pid = smh_test::start_program(
        {SMH_TEST_HELPER, "create-end", name, "4", how, cleanup ? "cleanup" : "no-cleanup"});
    for (int i = 0; i < 5000 && !segment_exists(name) && signal != 0; ++i)
        std::this_thread::sleep_for(1ms);
    if (signal != 0) return smh_test::signal_and_wait(pid, signal, 30s);
    return smh_test::wait_for(pid, 30s);
}

} // namespace

TEST_CASE("by default a process ended by a signal leaves its segment for remove_orphans()",
          "[orphans]") {
    const auto name = unique_name();
    smh_test::segment_guard guard(name);
    const auto ended = end_helper(name, "wait", false, SIGINT);
    CHECK(ended.signal == SIGINT);
    REQUIRE(segment_exists(name));
    const auto removed = smh::remove_orphans();
    CHECK(std::count(removed.begin(), removed.end(), name) == 1);
}

TEST_CASE("after cleanup_on_termination(), a process ended by a signal removes its segment and "
          "still dies of that signal") {
    const auto name = unique_name();
    smh_test::segment_guard guard(name);
    int signal = 0;
    SECTION("SIGINT (Ctrl-C)") { signal = SIGINT; }
    SECTION("SIGTERM") { signal = SIGTERM; }
    SECTION("SIGHUP") { signal = SIGHUP; }
    SECTION("SIGQUIT") { signal = SIGQUIT; }
    SECTION("SIGUSR1") { signal = SIGUSR1; }
    // Every signal whose default action ends the process, not only the common ones.
    SECTION("SIGVTALRM") { signal = SIGVTALRM; }
    SECTION("SIGPROF") { signal = SIGPROF; }
    SECTION("SIGPWR") { signal = SIGPWR; }
    SECTION("SIGIO (SIGPOLL)") { signal = SIGIO; }
    SECTION("SIGSTKFLT") { signal = SIGSTKFLT; }
    SECTION("SIGRTMIN") { signal = SIGRTMIN; }
    SECTION("SIGRTMIN + 5") { signal = SIGRTMIN + 5; }
    SECTION("SIGRTMAX") { signal = SIGRTMAX; }
    const auto ended = end_helper(name, "wait", true, signal);
    CHECK(ended.signal == signal);
    CHECK_FALSE(segment_exists(name));
}

namespace {

struct left_segment {
    std::string name;
    std::int64_t owner_pid; // as inspect() read it: 0 released, < 0 claimed
};

// Starts `helper churn` (threads creating and destroying segments named
// `prefix`-...), lets it run `delay`, sends `signal`, and returns how it ended
// and which of its segments are left (removing them).
std::pair<smh_test::process_result, std::vector<left_segment>>
signal_churning_owner(const std::string& prefix, const std::string& how, int signal,
                      std::chrono::milliseconds delay) {
    const pid_t pid = smh_test::start_program({SMH_TEST_HELPER, "churn", prefix, "4", how});
    for (int i = 0; i < 5000 && smh_test::shm_entries(prefix).empty(); ++i)
        std::this_thread::sleep_for(1ms);
    std::this_thread::sleep_for(delay);
    const auto ended = smh_test::signal_and_wait(pid, signal, 30s);
    std::vector<left_segment> left;
    for (const auto& name : smh_test::shm_entries(prefix)) {
        left.push_back({name, smh::inspect(name).owner_pid});
        smh_test::remove_leftover(name);
    }
    return {ended, left};
}

} // namespace

TEST_CASE("a signal that ends a multi-threaded owner leaves none of the segments its threads "
          "were creating, holding or destroying") {
    // Each round signals at another instant of the threads' creates and destroys.
    SECTION("with cleanup_on_termination()") {
        const int signals[] = {SIGTERM, SIGINT, SIGHUP, SIGVTALRM, SIGRTMIN + 1};
        for (int round = 0; round < 15; ++round) {
            const int signal = signals[round % 5];
            const auto [ended, left] = signal_churning_owner(unique_name(), "cleanup", signal,
                                                             std::chrono::milliseconds(round * 3));
            CHECK(ended.signal == signal);
            CHECK(left.empty());
        }
    }
    SECTION("with cleanup_on_termination(), while the threads also release and adopt") {
        // A segment released at that instant (and not yet adopted again) is
        // meant to outlive the process; none left may name it as owner.
        for (int round = 0; round < 15; ++round) {
            const auto [ended, left] = signal_churning_owner(unique_name(), "adopt", SIGTERM,
                                                             std::chrono::milliseconds(round * 3));
            CHECK(ended.signal == SIGTERM);
            for (const auto& segment : left) {
                INFO(segment.name);
                CHECK(segment.owner_pid == 0);
            }
        }
    }
    SECTION("with a handler of the program's own that calls remove_owned_segments()") {
        for (int round = 0; round < 15; ++round) {
            const auto [ended, left] = signal_churning_owner(unique_name(), "handler", SIGTERM,
                                                             std::chrono::milliseconds(round * 3));
            CHECK(ended.exit_code == 5);
            CHECK(left.empty());
        }
    }
}

TEST_CASE("after cleanup_on_termination(), abort(), a failed assert and an uncaught exception "
          "remove the segment and still end with SIGABRT") {
    const auto name = unique_name();
    smh_test::segment_guard guard(name);
    std::string how;
    SECTION("abort()") { how = "abort"; }
    SECTION("a failed assert") { how = "assert"; }
    SECTION("an uncaught exception") { how = "throw"; }
    const auto ended = end_helper(name, how, true);
    CHECK(ended.signal == SIGABRT);
    CHECK_FALSE(segment_exists(name));
}

TEST_CASE("after cleanup_on_termination(), std::exit() removes the segment and keeps its exit "
          "status") {
    const auto name = unique_name();
    smh_test::segment_guard guard(name);
    const auto ended = end_helper(name, "exit", true);
    CHECK(ended.exited);
    CHECK(ended.exit_code == 3);
    CHECK_FALSE(segment_exists(name));
}

TEST_CASE("after cleanup_on_termination(), a crash signal (SIGSEGV) removes the segment and "
          "still dies of it") {
    // Sanitizers install their own handlers for crash signals, which ours
    // then passes a crash to (as it would any program's own handler).
    if (smh_test::sanitized_build)
        return smh_test::skip("the sanitizer's own SIGSEGV handler takes the crash");
    const auto name = unique_name();
    smh_test::segment_guard guard(name);
    const auto ended = end_helper(name, "segv", true);
    CHECK(ended.signal == SIGSEGV);
    CHECK_FALSE(segment_exists(name));
}

TEST_CASE("a signal the program handles itself goes to its handler and removes nothing") {
    const auto name = unique_name();
    smh_test::segment_guard guard(name);
    const pid_t pid = smh_test::start_program({SMH_TEST_HELPER, "create-own-handler", name});
    for (int i = 0; i < 5000 && !segment_exists(name); ++i) std::this_thread::sleep_for(1ms);
    ::kill(pid, SIGTERM);
    const auto ended = smh_test::wait_for(pid, 30s);
    CHECK(ended.exited);
    CHECK(ended.exit_code == 42);      // the segment was still there after the handler
    CHECK_FALSE(segment_exists(name)); // and the owner's destructor removed it at exit
}

TEST_CASE("a handler of the program's own can call remove_owned_segments() before it ends the "
          "process") {
    const auto name = unique_name();
    smh_test::segment_guard guard(name);
    const pid_t pid = smh_test::start_program({SMH_TEST_HELPER, "create-handler-exit", name});
    for (int i = 0; i < 5000 && !segment_exists(name); ++i) std::this_thread::sleep_for(1ms);
    ::kill(pid, SIGTERM);
    const auto ended = smh_test::wait_for(pid, 30s);
    CHECK(ended.exit_code == 5);
    CHECK_FALSE(segment_exists(name));
}

TEST_CASE("a forked child ended by a signal never removes its parent's segment") {
    const auto name = unique_name();
    smh_test::segment_guard guard(name);
    const auto ended = smh_test::run_helper({"create-fork-end", name});
    CHECK(ended.exited);
    CHECK(ended.exit_code == 0);
    CHECK_FALSE(segment_exists(name));
}

TEST_CASE("a segment whose ownership moved to another process survives the old owner's "
          "termination cleanup") {
    const auto name = unique_name();
    smh_test::segment_guard guard(name);
    const pid_t pid =
        smh_test::start_program({SMH_TEST_HELPER, "create-end", name, "4", "wait", "cleanup"});
    for (int i = 0; i < 5000 && !segment_exists(name); ++i) std::this_thread::sleep_for(1ms);
    auto new_owner = SharedMemoryHandlee<int>::attach(name);
    new_owner.take_ownership();
    ::kill(pid, SIGTERM);
    CHECK(smh_test::wait_for(pid, 30s).signal == SIGTERM);
    CHECK(segment_exists(name));
    CHECK(new_owner.is_owner());
}

TEST_CASE("cleanup_on_termination() leaves the program's own signal handlers exactly as they "
          "were") {
    smh_test::in_child([] {
        struct sigaction own {};
        own.sa_handler = [](int) {};
        own.sa_flags = SA_RESETHAND | SA_NODEFER; // and no SA_RESTART
        sigemptyset(&own.sa_mask);
        sigaddset(&own.sa_mask, SIGUSR1);
        child_check(::sigaction(SIGUSR2, &own, nullptr) == 0, "sigaction");
        smh::cleanup_on_termination();
        struct sigaction after {};
        ::sigaction(SIGUSR2, nullptr, &after);
        child_check(after.sa_handler == own.sa_handler, "the handler changed");
        child_check((after.sa_flags & (SA_RESETHAND | SA_NODEFER | SA_RESTART)) ==
                        (SA_RESETHAND | SA_NODEFER),
                    "the flags changed");
        child_check(sigismember(&after.sa_mask, SIGUSR1) == 1, "the mask changed");
    });
}
