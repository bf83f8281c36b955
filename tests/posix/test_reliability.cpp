// Reliability and security: full /dev/shm, other users, crashes, orphans and
// churn. Each test fails if its guarantee breaks. (Processes adding at once:
// test_fork.cpp; an attach racing create: test_finished_segments.cpp.)
#include <catch2/catch.hpp>

#include <sched.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <optional>
#include <set>
#include <thread>

#include "shared_types.hpp"
#include "checks.hpp"
#include "orphans.hpp"

using smh::SharedMemoryHandlee;
using smh_test::error_of;
using smh_test::mapped_file_at;
using smh_test::segment_exists;
using smh_test::unique_name;

namespace {

using smh_test::child_check;

// In a child: a private mount namespace whose /dev/shm is a fresh tmpfs of `size`.
void with_small_dev_shm(const char* size) {
    smh_test::mount_private_tmpfs("/dev/shm", (std::string("size=") + size).c_str());
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

TEST_CASE("find_orphans() names exactly what remove_orphans() then removes, for each kind of "
          "orphan",
          "[orphans]") {
    const auto kind =
        GENERATE(smh_test::orphan_kind::killed_owner, smh_test::orphan_kind::abandoned_build,
                 smh_test::orphan_kind::abandoned_claim);
    INFO(smh_test::to_string(kind));
    const auto name = smh_test::orphan_name(kind);
    smh_test::segment_guard guard(name);
    auto live = SharedMemoryHandlee<int>::create(unique_name(), 2);
    const auto released_name = unique_name(); // no owner: never removed by its handle
    smh_test::segment_guard guard_released(released_name);
    auto released = SharedMemoryHandlee<int>::create(released_name, 2);
    REQUIRE(released.release());
    smh_test::make_orphan(kind, name);

    const auto found = smh::find_orphans();
    CHECK(std::count(found.begin(), found.end(), name) == 1);
    CHECK(std::is_sorted(found.begin(), found.end()));
    CHECK(std::count(found.begin(), found.end(), live.name()) == 0);
    CHECK(std::count(found.begin(), found.end(), released.name()) == 0);
    CHECK(segment_exists(name)); // only named

    const auto removed = smh::remove_orphans();
    CHECK(std::count(removed.begin(), removed.end(), name) == 1);
    CHECK_FALSE(segment_exists(name));
    CHECK(segment_exists(live.name()));
    CHECK(segment_exists(released.name()));
}

TEST_CASE("remove_orphans removes a killed owner's segment while an attached process waits on "
          "it",
          "[orphans]") {
    const auto orphan = unique_name();
    smh_test::segment_guard guard_orphan(orphan);
    smh_test::child_process([&] {
        auto shm = SharedMemoryHandlee<std::atomic<int>>::create(orphan, 2);
        smh_test::kill_self();
    }).wait();
    REQUIRE(segment_exists(orphan));
    // An owner change that a live process seems to be making: remove_orphans()
    // waits for it, half a second, before it removes anything.
    const auto claimed = smh_test::orphan_name(smh_test::orphan_kind::abandoned_claim);
    smh_test::segment_guard guard_claimed(claimed);
    smh_test::make_orphan(smh_test::orphan_kind::abandoned_claim, claimed);

    // This process still uses the orphan: a waiter counts itself in the
    // header's waiters word while it waits, for a quarter of a second.
    auto attached = SharedMemoryHandlee<std::atomic<int>>::attach(orphan);
    std::atomic<bool> waiting{false};
    std::thread waiter([&] {
        waiting = true;
        (void)attached.wait_for(0, 0, std::chrono::milliseconds(250));
    });
    while (!waiting) std::this_thread::yield();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const auto removed = smh::remove_orphans();
    waiter.join();
    CHECK(std::count(removed.begin(), removed.end(), orphan) == 1);
    CHECK(std::count(removed.begin(), removed.end(), claimed) == 1);
    CHECK_FALSE(segment_exists(orphan));
}

TEST_CASE("list_directory() lists what list() does, and every other file with why it is left "
          "out") {
    auto shm = SharedMemoryHandlee<int>::create(unique_name(), 4);
    const auto foreign = unique_name();
    const auto foreign_segment = smh_test::write_raw_segment(foreign, std::string(4096, 'q'));

    const auto listing = smh::list_directory();
    const auto listed = [&](const std::string& name) {
        return std::count_if(listing.segments.begin(), listing.segments.end(),
                             [&](const smh::segment_info& s) { return s.name == name; });
    };
    const auto skipped = [&](const std::string& name) -> std::optional<smh::skip_reason> {
        for (const auto& f : listing.skipped)
            if (f.name == name) return f.reason;
        return std::nullopt;
    };
    CHECK(listed(shm.name()) == 1);
    CHECK_FALSE(skipped(shm.name()));
    CHECK(listed(foreign) == 0);
    CHECK(skipped(foreign) == smh::skip_reason::not_smh);
    CHECK(std::is_sorted(listing.skipped.begin(), listing.skipped.end(),
                         [](const auto& a, const auto& b) { return a.name < b.name; }));

    if (::geteuid() != 0) return smh_test::skip("needs root to list as another user");
    smh_test::in_child([&] {
        child_check(::setgid(65534) == 0 && ::setuid(65534) == 0, "dropping to uid 65534");
        bool unreadable = false;
        for (const auto& f : smh::list_directory().skipped)
            unreadable =
                unreadable || (f.name == shm.name() && f.reason == smh::skip_reason::unreadable);
        child_check(unreadable, "another user's 0600 segment is not reported as unreadable");
    });
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

namespace {

// Descriptors of this process open on a file in /dev/shm.
std::size_t descriptors_on_dev_shm() {
    std::size_t count = 0;
    for (const auto& fd : smh_test::directory_entries("/proc/self/fd")) {
        char target[4096];
        const auto length = ::readlink(("/proc/self/fd/" + fd).c_str(), target, sizeof target - 1);
        count += length > 0 &&
                 std::string(target, static_cast<std::size_t>(length)).rfind("/dev/shm/", 0) == 0;
    }
    return count;
}

} // namespace

TEST_CASE("owning a segment keeps no descriptor open: one process owns 10,000 segments under "
          "ulimit -n 1024") {
    smh_test::in_child([] {
        struct rlimit limit {};
        child_check(::getrlimit(RLIMIT_NOFILE, &limit) == 0, "getrlimit");
        limit.rlim_cur = 1024;
        child_check(::setrlimit(RLIMIT_NOFILE, &limit) == 0, "setrlimit(RLIMIT_NOFILE, 1024)");
        const auto descriptors = count_open_descriptors();
        std::vector<SharedMemoryHandlee<int>> owned;
        owned.reserve(10'000);
        for (int i = 0; i < 10'000; ++i) owned.push_back(SharedMemoryHandlee<int>::create(1));
        child_check(count_open_descriptors() == descriptors, "owners keep descriptors open");
        child_check(std::all_of(owned.begin(), owned.end(), [](auto& s) { return s.is_owner(); }),
                    "a creator is not the owner");
        // Each owner's lock still tells that it lives, in any pid namespace.
        for (const auto* shm : {&owned.front(), &owned.back()}) {
            const smh::detail::segment_name name(shm->name(), "test");
            const auto header = smh::detail::os::read_header({"test", name});
            child_check(header && header->owner_lock_held, "an owner's lock is not held");
        }
        // release() gives the lock up; the segment stays, unowned.
        auto& released = owned.back();
        child_check(released.release(), "release() failed");
        const smh::detail::segment_name name(released.name(), "test");
        child_check(!smh::detail::os::read_header({"test", name})->owner_lock_held,
                    "release() kept the lock");
        child_check(released.unlink(), "unlink() after release() failed");
        owned.clear();
        child_check(smh_test::segments_created_by(::getpid()).empty(),
                    "the owners' destructors left segments");
    });
}

TEST_CASE("the owner's mapping shows /dev/shm/NAME, as an attacher's does, never a deleted file") {
    const auto name = unique_name();
    smh_test::segment_guard guard(name);
    const auto before = descriptors_on_dev_shm();
    auto created = SharedMemoryHandlee<int>::create(name, 1024);
    CHECK(mapped_file_at(created.data().data()) == "/dev/shm/" + name);
    CHECK(descriptors_on_dev_shm() == before);
    auto attached = SharedMemoryHandlee<int>::attach(name);
    CHECK(mapped_file_at(attached.data().data()) == "/dev/shm/" + name);
    SECTION("an adopter's, too") {
        REQUIRE(created.release());
        REQUIRE(attached.adopt());
        CHECK(mapped_file_at(attached.data().data()) == "/dev/shm/" + name);
        CHECK(descriptors_on_dev_shm() == before);
        const smh::detail::segment_name checked(name, "test");
        CHECK(smh::detail::os::read_header({"test", checked})->owner_lock_held);
    }
    SECTION("and the owner's data stays where it was") {
        created[7] = 7;
        CHECK(attached[7] == 7);
    }
}
