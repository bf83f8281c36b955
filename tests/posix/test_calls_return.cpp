// No call blocks, and none kills the caller: what is not a segment (a FIFO, a
// lease, a symbolic link, a directory, an unfinished header) fails at once,
// timeouts saturate, and a create past the file-size limit is no_space.
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

std::string shm_path(const std::string& name) { return "/dev/shm/" + name; }

// How long `operation` took.
template <class F>
std::chrono::steady_clock::duration time_of(F&& operation) {
    const auto start = std::chrono::steady_clock::now();
    operation();
    return std::chrono::steady_clock::now() - start;
}

} // namespace

TEST_CASE("a FIFO planted under the name is corrupt_segment at once, for every call") {
    const auto name = unique_name();
    smh_test::segment_guard guard(name);
    REQUIRE(::mkfifo(shm_path(name).c_str(), 0666) == 0);
    // In a child, so that a regression blocks the child, not the suite.
    smh_test::in_child(
        [&] {
            const auto took = time_of([&] {
                child_check(error_of([&] { (void)SharedMemoryHandlee<const int>::attach(name); }) ==
                                smh::errc::corrupt_segment,
                            "a read-only attach");
                child_check(error_of([&] { (void)SharedMemoryHandlee<int>::attach(name); }) ==
                                smh::errc::corrupt_segment,
                            "attach");
                child_check(error_of([&] { (void)smh::inspect(name); }) ==
                                smh::errc::corrupt_segment,
                            "inspect()");
                child_check(error_of([&] { smh::remove(name); }) == smh::errc::corrupt_segment,
                            "remove()");
                (void)smh::list();
            });
            // Never blocked in open(2) (before the fix: for ever).
            child_check(took < 2s, "the calls took longer than 2 s");
        },
        10s);
}

TEST_CASE("a file whose owner holds a lease fails at once with permission_denied instead of "
          "waiting for the lease to break") {
    const auto name = unique_name();
    const auto raw = smh_test::write_raw_segment(name, smh_test::valid_segment_bytes(4));
    int ready[2];
    REQUIRE(::pipe(ready) == 0);
    // Killed when it goes out of scope.
    smh_test::child_process holder([&] {
        ::signal(SIGIO, SIG_IGN); // a lease break is announced with SIGIO
        const int fd = ::open(shm_path(name).c_str(), O_RDWR);
        const char ok = fd >= 0 && ::fcntl(fd, F_SETLEASE, F_WRLCK) == 0 ? 'y' : 'n';
        (void)!::write(ready[1], &ok, 1);
        for (;;) ::pause();
    });
    char ok = 0;
    REQUIRE(::read(ready[0], &ok, 1) == 1);
    ::close(ready[0]);
    ::close(ready[1]);
    if (ok == 'y') {
        const auto took = time_of([&] {
            CHECK(error_of([&] { (void)SharedMemoryHandlee<int>::attach(name); }) ==
                  smh::errc::permission_denied);
            CHECK(error_of([&] { (void)SharedMemoryHandlee<const int>::attach(name); }) ==
                  smh::errc::permission_denied);
            CHECK(error_of([&] { (void)smh::inspect(name); }) == smh::errc::permission_denied);
        });
        CHECK(took < 5s); // not the 45 s lease-break time
    } else {
        smh_test::skip("this filesystem or user cannot take a lease (F_SETLEASE)");
    }
}

TEST_CASE("a symbolic link or a directory under the name is corrupt_segment, never followed") {
    const auto name = unique_name();
    smh_test::segment_guard guard(name);
    const auto target = SharedMemoryHandlee<int>::create(4);
    SECTION("a symbolic link to a real segment") {
        REQUIRE(::symlink(shm_path(target.name()).c_str(), shm_path(name).c_str()) == 0);
    }
    SECTION("a directory") { REQUIRE(::mkdir(shm_path(name).c_str(), 0700) == 0); }
    const auto thrown = error_of([&] { (void)SharedMemoryHandlee<int>::attach(name); });
    CHECK(thrown == smh::errc::corrupt_segment);
    CHECK_THAT(thrown.what, Catch::Contains(name));
    CHECK(error_of([&] { (void)SharedMemoryHandlee<const int>::attach(name); }) ==
          smh::errc::corrupt_segment);
    CHECK(error_of([&] { (void)smh::inspect(name); }) == smh::errc::corrupt_segment);
    ::rmdir(shm_path(name).c_str());
}

TEST_CASE("a name always holds a finished segment on POSIX: one marked unfinished is "
          "corrupt_segment at once, whatever the creation timeout") {
    const auto name = unique_name();
    std::string bytes = smh_test::valid_segment_bytes(10);
    SECTION("marked as being created") {
        smh_test::header_of(bytes).state = smh::detail::state_creating;
    }
    SECTION("all zeros") { bytes.assign(4096, '\0'); }
    const auto raw = smh_test::write_raw_segment(name, bytes);
    for (const auto timeout :
         {smh::attach_options{}.creation_timeout, 0ms, std::chrono::milliseconds::max()}) {
        const auto took = time_of([&] {
            CHECK(error_of([&] {
                      (void)SharedMemoryHandlee<int>::attach(name, {.creation_timeout = timeout});
                  }) == smh::errc::corrupt_segment);
        });
        CHECK(took < 500ms); // no wait (before the fix: 1 s for a segment never written)
    }
}

TEST_CASE("a creation timeout of milliseconds::max() saturates instead of overflowing") {
    const auto now = std::chrono::steady_clock::now();
    CHECK(smh::detail::os::saturating_deadline(now, std::chrono::milliseconds::max()) ==
          std::chrono::steady_clock::time_point::max());
    CHECK(smh::detail::os::saturating_deadline(now, 5s) == now + 5s);
    const auto shm = SharedMemoryHandlee<int>::create(3);
    CHECK(SharedMemoryHandlee<int>::attach(shm.name(),
                                           {.creation_timeout = std::chrono::milliseconds::max()})
              .size() == 3);
}

TEST_CASE("create beyond the file-size limit (RLIMIT_FSIZE) throws no_space instead of dying of "
          "SIGXFSZ, and leaves nothing") {
    // A death by SIGXFSZ fails it too, as a signal.
    smh_test::in_child([] {
        const struct rlimit limit { 1 << 20, 1 << 20 };
        child_check(::setrlimit(RLIMIT_FSIZE, &limit) == 0, "setrlimit");
        const auto thrown = error_of([] { (void)SharedMemoryHandlee<char>::create(4 << 20); });
        child_check(thrown == smh::errc::no_space, "no no_space: " + thrown.what);
        child_check(thrown.what.find("RLIMIT_FSIZE") != std::string::npos, thrown.what);
        child_check(smh_test::segments_created_by(::getpid()).empty(), "left a segment");
        struct sigaction action {};
        ::sigaction(SIGXFSZ, nullptr, &action);
        child_check(action.sa_handler == SIG_DFL, "SIGXFSZ handling changed");
        // What fits under the limit still works.
        auto fits = SharedMemoryHandlee<char>::create(64 << 10);
        fits[0] = 'x';
    });
}
