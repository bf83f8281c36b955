// Reliability and security: full /dev/shm, other users, crashes, orphans and
// churn. Each test fails if its guarantee breaks. (Processes adding at once:
// test_fork.cpp; an attach racing create: test_edges.cpp.)
#include <catch2/catch.hpp>

#include <sched.h>
#include <sys/mount.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <iterator>
#include <set>

#include "shared_types.hpp"
#include "checks.hpp"

using smh::SharedMemoryHandlee;
using smh_test::error_of;
using smh_test::segment_exists;
using smh_test::unique_name;

namespace {

using smh_test::child_check;

// In a child: a private mount namespace whose /dev/shm is a fresh tmpfs of `size`.
void with_small_dev_shm(const char* size) {
    child_check(::unshare(CLONE_NEWNS) == 0, "unshare(CLONE_NEWNS)");
    child_check(::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0,
                "making / private");
    const std::string options = std::string("size=") + size;
    child_check(::mount("tmpfs", "/dev/shm", "tmpfs", 0, options.c_str()) == 0,
                "mounting tmpfs on /dev/shm");
}

// Lines of /proc/self/maps that map a shared-memory segment.
std::size_t count_segment_mappings() {
    std::ifstream maps("/proc/self/maps");
    std::size_t count = 0;
    for (std::string line; std::getline(maps, line);)
        count += line.find("/dev/shm/") != std::string::npos;
    return count;
}

std::size_t count_open_descriptors() { return smh_test::directory_entries("/proc/self/fd").size(); }

} // namespace

TEST_CASE("creating more than a full /dev/shm holds throws errc::no_space at create, not SIGBUS "
          "later") {
    if (::geteuid() != 0)
        return smh_test::skip(
            "needs root to mount a small tmpfs on /dev/shm in a private namespace");
    smh_test::in_child([] {
        with_small_dev_shm("16m");
        constexpr std::size_t mib = 1 << 20;
        const auto thrown = error_of([] { (void)SharedMemoryHandlee<char>::create(64 * mib); });
        child_check(thrown == smh::errc::no_space,
                    "64 MiB in a 16 MiB /dev/shm did not throw no_space: " + thrown.what);
        child_check(thrown.what.find("no_space") != std::string::npos,
                    "the message does not say no_space: " + thrown.what);
        child_check(smh_test::directory_entries("/dev/shm").empty(),
                    "the failed create left a file behind");

        // What fits is really there: every page can be written.
        auto fits = SharedMemoryHandlee<char>::create(10 * mib);
        std::fill(fits.begin(), fits.end(), 'x');
        // The next one no longer fits, and failing leaves the first intact.
        child_check(error_of([] { (void)SharedMemoryHandlee<char>::create(10 * mib); }) ==
                        smh::errc::no_space,
                    "second 10 MiB did not throw no_space");
        child_check(smh_test::directory_entries("/dev/shm").size() == 1, "leftovers");
        child_check(std::all_of(fits.begin(), fits.end(), [](char c) { return c == 'x'; }),
                    "the first segment changed");

        // Fill the filesystem to the last page: even the header of a
        // one-byte segment, reserved or not, must not SIGBUS.
        std::vector<SharedMemoryHandlee<char>> filler;
        for (std::size_t size = 1 * mib; size >= 4096; size /= 2) {
            smh_test::thrown_error filling;
            do
                filling = error_of(
                    [&] { filler.push_back(SharedMemoryHandlee<char>::create(size - 320)); });
            while (filling == smh::errc{});
            child_check(filling == smh::errc::no_space,
                        "filling /dev/shm did not end in no_space: " + filling.what);
        }
        child_check(error_of([] { (void)SharedMemoryHandlee<char>::create(1); }) ==
                        smh::errc::no_space,
                    "a one-byte segment in a full /dev/shm did not throw no_space");
        child_check(error_of([] {
                        (void)SharedMemoryHandlee<char>::create(1, {.reserve = false});
                    }) == smh::errc::no_space,
                    "an unreserved one-byte segment in a full /dev/shm did not throw no_space");
    });
}

TEST_CASE("other users stay out unless the creator opens the segment to them") {
    if (::geteuid() != 0) return smh_test::skip("needs root to run a child as another user");
    unsigned permissions = 0600;
    smh::errc expected = smh::errc::permission_denied;
    SECTION("by default (0600) another user's attach is refused") {}
    SECTION("with create_options{.permissions = 0666} another user's attach succeeds") {
        permissions = 0666;
        expected = smh::errc{};
    }
    auto shm = SharedMemoryHandlee<int>::create(4, {.permissions = permissions});
    shm[0] = 41;
    smh_test::in_child([&] {
        smh_test::become_other_user();
        const auto outcome = error_of([&] {
            auto attached = SharedMemoryHandlee<int>::attach(shm.name());
            attached[0] += 1;
        });
        child_check(outcome == expected, "another user's attach: " +
                                             (outcome.what.empty() ? "succeeded" : outcome.what));
    });
    CHECK(shm[0] == (permissions == 0666 ? 42 : 41));
}

TEST_CASE("a child killed in the middle of writing its half leaves the other half intact") {
    constexpr std::size_t n = 1 << 20;
    auto shm = SharedMemoryHandlee<std::uint64_t>::create(n);
    for (std::size_t i = 0; i < n / 2; ++i) shm[i] = i * 3;

    auto* progress = &shm[n - 1]; // the child counts its passes here
    smh_test::child_process writer([&] {
        for (std::uint64_t pass = 1;; ++pass) {
            for (std::size_t i = n / 2; i < n - 1; ++i) shm[i] = pass;
            std::atomic_ref<std::uint64_t>(*progress).store(pass);
        }
    });
    while (std::atomic_ref<std::uint64_t>(*progress).load() < 2) std::this_thread::yield();
    ::kill(writer.pid(), SIGKILL);
    CHECK(writer.wait(std::chrono::seconds(10)).signal == SIGKILL);

    std::size_t intact = 0;
    for (std::size_t i = 0; i < n / 2; ++i) intact += shm[i] == i * 3;
    CHECK(intact == n / 2);
    // The segment is still usable, by this handle and by a new attach.
    auto again = SharedMemoryHandlee<std::uint64_t>::attach(shm.name());
    again[n / 2] = 7;
    CHECK(shm[n / 2] == 7);
    CHECK(again[0] == 0);
}

TEST_CASE("remove_orphans removes the segments of owners that were killed, and nothing else",
          "[orphans]") {
    const auto orphan = unique_name();
    const auto live = unique_name();
    const auto foreign = unique_name();
    smh_test::segment_guard guard_orphan(orphan);

    // An owner that dies by SIGKILL leaves its segment behind...
    const auto killed = smh_test::run_helper({"create-kill", orphan, "8"});
    CHECK(killed.signal == SIGKILL);
    REQUIRE(segment_exists(orphan));
    // ...while this process attaches to it and keeps using it.
    auto still_attached = SharedMemoryHandlee<int>::attach(orphan);
    still_attached[3] = 33;

    auto live_owner = SharedMemoryHandlee<int>::create(live, 8);
    const std::string foreign_bytes(4096, '\x7f');
    const auto foreign_segment = smh_test::write_raw_segment(foreign, foreign_bytes);

    const auto removed = smh::remove_orphans();
    CHECK(std::count(removed.begin(), removed.end(), orphan) == 1);
    CHECK(std::count(removed.begin(), removed.end(), live) == 0);
    CHECK(std::count(removed.begin(), removed.end(), foreign) == 0);

    CHECK_FALSE(segment_exists(orphan));
    CHECK(segment_exists(live));
    CHECK(smh_test::read_raw_segment(foreign, 8192) == foreign_bytes);
    // Attached processes keep working until they let go.
    still_attached[4] = 44;
    CHECK(still_attached[3] + still_attached[4] == 77);
}

TEST_CASE("remove_orphans tells a reused pid from the owner that died", "[orphans]") {
    // An owner that held no lock (an older smh, or no descriptor to spare) is
    // judged by pid and start time: here an earlier process with this pid.
    const auto name = unique_name();
    std::string bytes = smh_test::valid_segment_bytes(1);
    auto& header = smh_test::header_of(bytes);
    header.owner_pid = ::getpid();
    header.owner_start_time = smh::detail::os::own_start_time(::getpid()) - 1;
    const auto raw = smh_test::write_raw_segment(name, bytes);

    const auto removed = smh::remove_orphans();
    CHECK(std::count(removed.begin(), removed.end(), name) == 1);
    CHECK_FALSE(segment_exists(name));
}

TEST_CASE("10,000 create/attach/destroy cycles leave descriptors, mappings and /dev/shm as they "
          "were") {
    const auto descriptors = count_open_descriptors();
    const auto mappings = count_segment_mappings();
    // Only this process's: other tests may be creating segments in parallel.
    const auto segments = smh_test::segments_created_by(::getpid()).size();
    for (int cycle = 0; cycle < 10'000; ++cycle) {
        auto created = SharedMemoryHandlee<int>::create(1024);
        auto attached = SharedMemoryHandlee<int>::attach(created.name());
        attached[cycle % 1024] = cycle;
        REQUIRE(created[cycle % 1024] == cycle);
    }
    CHECK(count_open_descriptors() == descriptors);
    CHECK(count_segment_mappings() == mappings);
    CHECK(smh_test::segments_created_by(::getpid()).size() == segments);
}
