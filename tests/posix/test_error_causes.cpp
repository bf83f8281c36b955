// Every error named for what happened (POSIX): another user's segment, no
// descriptor left, an unreadable shared-memory directory.
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

TEST_CASE("inspect() and remove() of another user's segment say permission_denied") {
    if (!is_root()) return smh_test::skip("needs root to run a child as another user");
#ifdef SMH_CLI
    const smh_test::program_for_other_user cli(SMH_CLI);
    if (!cli) return smh_test::skip(cli.why_not());
#endif
    const auto shm = SharedMemoryHandlee<int>::create(4); // 0600, root's
    smh_test::in_child([&] {
        smh_test::become_other_user();
        const auto thrown = error_of([&] { (void)smh::inspect(shm.name()); });
        child_check(thrown == smh::errc::permission_denied, "inspect(): " + thrown.what);
        child_check(error_of([&] { smh::remove(shm.name()); }) == smh::errc::permission_denied,
                    "remove()");
        // list() skips what this user may not read, without failing.
        for (const auto& info : smh::list())
            child_check(info.name != shm.name(), "listed another user's segment");
#ifdef SMH_CLI
        const auto inspected = smh_test::run_captured({cli.path(), "inspect", shm.name()});
        child_check(inspected.result.exit_code == 1 &&
                        inspected.err.find("permission_denied") != std::string::npos,
                    "smh inspect: " + inspected.err);
#endif
    });
    CHECK(segment_exists(shm.name()));
}

TEST_CASE("with no descriptor left, attach, inspect(), remove(), list() and remove_orphans() "
          "throw errc::os_error with the native code, never an empty answer") {
    if (smh_test::sanitized_build) {
        // UBSan checks each virtual call through a pipe(2), which fails with
        // no descriptor left, and then reports a false "invalid vptr".
        return smh_test::skip("UndefinedBehaviorSanitizer cannot run with no descriptor left");
    }
    const auto shm = SharedMemoryHandlee<int>::create(4);
    smh_test::in_child([&] {
        const struct rlimit none { 0, 0 };
        child_check(::setrlimit(RLIMIT_NOFILE, &none) == 0, "setrlimit");
        auto emfile = [](const char* call, auto&& operation) {
            const auto thrown = error_of(operation);
            child_check(thrown == smh::errc::os_error &&
                            thrown.native_code == std::error_code(EMFILE, std::system_category()),
                        std::string(call) + ": " + thrown.what);
            return thrown;
        };
        const auto attach =
            emfile("attach", [&] { (void)SharedMemoryHandlee<int>::attach(shm.name()); });
        child_check(attach.what.find(shm.name()) != std::string::npos,
                    "attach's message does not name the segment: " + attach.what);
        emfile("list()", [] { (void)smh::list(); });
        emfile("remove_orphans()", [] { (void)smh::remove_orphans(); });
        emfile("inspect()", [&] { (void)smh::inspect(shm.name()); });
        emfile("remove()", [&] { smh::remove(shm.name()); });
    });
    CHECK(segment_exists(shm.name()));
}

TEST_CASE("an unreadable shared-memory directory makes list(), remove_orphans() and smh gc "
          "fail, saying why") {
    if (!is_root())
        return smh_test::skip("needs root for a private /dev/shm another user may not read");
#ifdef SMH_CLI
    const smh_test::program_for_other_user cli(SMH_CLI);
    if (!cli) return smh_test::skip(cli.why_not());
#endif
    smh_test::in_child([&] {
        smh_test::mount_private_tmpfs("/dev/shm", "size=1m,mode=0700");
        smh_test::become_other_user();
        const auto thrown = error_of([] { (void)smh::list(); });
        child_check(thrown == smh::errc::permission_denied, "list(): " + thrown.what);
        child_check(thrown.what.find("/dev/shm") != std::string::npos, thrown.what);
        child_check(error_of([] { (void)smh::remove_orphans(); }) == smh::errc::permission_denied,
                    "remove_orphans()");
#ifdef SMH_CLI
        const auto gc = smh_test::run_captured({cli.path(), "gc"});
        child_check(gc.result.exit_code == 1, "smh gc did not exit 1");
        child_check(gc.err.find("permission_denied") != std::string::npos, gc.err);
        child_check(gc.out.find("no orphaned segments") == std::string::npos,
                    "smh gc claimed there was nothing");
#endif
    });
}
