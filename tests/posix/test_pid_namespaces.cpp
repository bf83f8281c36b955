// Liveness that survives containers: owners and collectors in other pid
// namespaces.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <limits>
#include <optional>
#include <random>
#include <thread>

#include "checks.hpp"

using smh::SharedMemoryHandlee;
using smh_test::child_check;
using smh_test::error_of;
using smh_test::segment_exists;
using smh_test::unique_name;
using namespace std::chrono_literals;

namespace {

bool is_root() { return ::geteuid() == 0; }

} // namespace

namespace {

bool can_unshare_pids() {
    return is_root() && ::access("/usr/bin/unshare", X_OK) == 0 &&
           smh_test::run_program({"/usr/bin/unshare", "--pid", "--fork", "/bin/true"}).exit_code ==
               0;
}

} // namespace

TEST_CASE("an owner in another pid namespace that sees this /proc is alive while it runs, and "
          "its segment is collected once it dies",
          "[orphans]") {
    if (!can_unshare_pids())
        return smh_test::skip(
            "needs root and unshare(1) to start a process in a new pid namespace");
    const auto name = unique_name();
    smh_test::segment_guard guard(name);
    // unshare --pid without --mount-proc: the owner is pid 1 in its namespace
    // and reads this namespace's /proc, where pid 1 is another process.
    const pid_t unshare = smh_test::start_program(
        {"/usr/bin/unshare", "--pid", "--kill-child", SMH_TEST_HELPER, "create-wait", name, "4"});
    struct kill_on_exit {
        pid_t pid;
        explicit kill_on_exit(pid_t p)
            : pid(p) {}
        kill_on_exit(const kill_on_exit&) = delete;
        kill_on_exit& operator=(const kill_on_exit&) = delete;
        ~kill_on_exit() {
            ::kill(pid, SIGKILL); // --kill-child: the owner gets SIGKILL too
            smh_test::wait_for(pid, 10s);
        }
    };
    std::optional<kill_on_exit> owner_process;
    owner_process.emplace(unshare);
    for (int i = 0; i < 5000 && !segment_exists(name); ++i) std::this_thread::sleep_for(1ms);
    REQUIRE(segment_exists(name));
    const auto info = smh::inspect(name);
    CHECK(info.owner_pid == 1);
    CHECK(info.owner_alive);
    auto removed = smh::remove_orphans();
    CHECK(std::count(removed.begin(), removed.end(), name) == 0);
    CHECK(segment_exists(name));
    // Shared with it: the helper writes 7 right after its create returns.
    auto attached = SharedMemoryHandlee<int>::attach(name);
    for (int i = 0; i < 5000 && std::atomic_ref(attached[0]).load() != 7; ++i)
        std::this_thread::sleep_for(1ms);
    CHECK(std::atomic_ref(attached[0]).load() == 7);

    owner_process.reset();
    bool collected = false;
    for (int i = 0; i < 200 && !collected; ++i) {
        removed = smh::remove_orphans();
        collected = std::count(removed.begin(), removed.end(), name) == 1;
        if (!collected) std::this_thread::sleep_for(10ms);
    }
    CHECK(collected);
    CHECK_FALSE(segment_exists(name));
}

TEST_CASE("remove_orphans() run in another pid namespace leaves this namespace's live owners "
          "alone",
          "[orphans]") {
    if (!can_unshare_pids())
        return smh_test::skip(
            "needs root and unshare(1) to start a process in a new pid namespace");
    std::vector<std::string> command{"/usr/bin/unshare", "--pid", "--fork"};
    SECTION("a namespace that sees this /proc") {}
    SECTION("a namespace with its own /proc, where this owner's pid means nothing") {
        command.push_back("--mount-proc");
    }
    const auto shm = SharedMemoryHandlee<int>::create(4);
    command.insert(command.end(), {SMH_TEST_HELPER, "remove-orphans"});
    const auto gc = smh_test::run_captured(command);
    CHECK(gc.result.exit_code == 0);
    CHECK(gc.out.find(shm.name()) == std::string::npos);
    CHECK(segment_exists(shm.name()));
}
