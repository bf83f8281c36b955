// Ownership and access modes that rest on POSIX: PROT_READ faults, file
// modes, segments that outlive their processes (release, orphans), listing
// /dev/shm. Portable ones: test_ownership.cpp.
#include <catch2/catch.hpp>

#include <pthread.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <thread>
#include <optional>
#include <type_traits>

#include "shared_types.hpp"
#include "checks.hpp"

using smh::SharedMemoryHandlee;
using smh_test::error_of;
using smh_test::segment_exists;
using smh_test::unique_name;

namespace {

std::optional<smh::segment_info> listed(const std::string& name) {
    for (auto& info : smh::list())
        if (info.name == name) return info;
    return std::nullopt;
}

} // namespace

// --- read-only attach -------------------------------------------------------

TEST_CASE("a read-only mapping is PROT_READ: writing through a cast faults") {
    auto owner = SharedMemoryHandlee<int>::create(8);
    const auto reader = smh::attach<const int>(owner.name());
    smh_test::child_process writer([&] { const_cast<int&>(reader[0]) = 1; });
    // The write never completes: SIGSEGV (or, under AddressSanitizer, its
    // report and exit code for that signal).
    const auto ended = writer.wait();
    CHECK((ended.signal == SIGSEGV || (ended.exited && ended.exit_code != 0)));
    CHECK(owner[0] == 0);
}

TEST_CASE("a read-only attach needs only read permission, and a read-write one is refused") {
    if (::geteuid() != 0) return smh_test::skip("needs root to run a child as another user");
    // Group nogroup (65534) may read, not write; the child is uid 65534 in that group.
    auto shm = SharedMemoryHandlee<int>::create(4, {.permissions = 0640});
    shm[2] = 22;
    REQUIRE(::chown(("/dev/shm/" + shm.name()).c_str(), static_cast<uid_t>(-1),
                    smh_test::other_gid) == 0);
    smh_test::in_child([&] {
        smh_test::become_other_user();
        const auto reader = smh::attach<const int>(shm.name());
        smh_test::child_check(reader[2] == 22, "the read-only attach reads the wrong value");
        smh_test::child_check(error_of([&] { (void)smh::attach<int>(shm.name()); }) ==
                                  smh::errc::permission_denied,
                              "the read-write attach was not refused with permission_denied");
    });
}

// --- handing ownership on ---------------------------------------------------

TEST_CASE("release(): a producer publishes, exits, and the segment stays for a consumer "
          "that adopts it") {
    const auto name = unique_name();
    smh_test::segment_guard guard(name);
    const auto producer = smh_test::run_helper({"create-release", name, "100", "4"});
    REQUIRE(producer.exited);
    REQUIRE(producer.exit_code == 0);
    REQUIRE(segment_exists(name)); // outlived its creator's process

    const auto info = listed(name);
    REQUIRE(info);
    CHECK(info->owner_pid == 0);
    CHECK_FALSE(info->owner_alive);
    // No owner is not an orphan: garbage collection leaves it alone.
    const auto removed = smh::remove_orphans();
    CHECK(std::ranges::count(removed, name) == 0);
    CHECK(segment_exists(name));

    {
        auto consumer = smh::attach<int>(name);
        CHECK(smh_test::holds(consumer, 4));
        CHECK_FALSE(consumer.is_owner());
        CHECK(consumer.adopt());
        CHECK(consumer.is_owner());
        CHECK(listed(name)->owner_pid == ::getpid());
    } // the adopter's destruction removes the name
    CHECK_FALSE(segment_exists(name));
}

TEST_CASE("release() on the owner keeps the segment after its destructor") {
    const auto name = unique_name();
    smh_test::segment_guard guard(name);
    {
        auto shm = SharedMemoryHandlee<int>::create(name, 4);
        CHECK(shm.release());
        CHECK_FALSE(shm.is_owner());
        CHECK_FALSE(shm.release()); // once is enough
    }
    CHECK(segment_exists(name));
    auto again = smh::attach<int>(name);
    CHECK(again.adopt());
}

TEST_CASE("remove_orphans() removes a segment whose adopter was killed", "[orphans]") {
    const auto name = unique_name();
    smh_test::segment_guard guard(name);
    {
        auto shm = SharedMemoryHandlee<int>::create(name, 4);
        REQUIRE(shm.release());
    }
    int ready[2];
    REQUIRE(::pipe(ready) == 0);
    smh_test::child_process adopter([&] {
        auto shm = smh::attach<int>(name);
        (void)!::write(ready[1], shm.adopt() ? "y" : "n", 1);
        for (;;) ::pause();
    });
    char adopted = 0;
    REQUIRE(::read(ready[0], &adopted, 1) == 1);
    ::close(ready[0]);
    ::close(ready[1]);
    CHECK(adopted == 'y');

    // While the adopter lives, the segment is not an orphan.
    CHECK(std::ranges::count(smh::remove_orphans(), name) == 0);
    CHECK(listed(name)->owner_pid == adopter.pid());
    CHECK(listed(name)->owner_alive);

    ::kill(adopter.pid(), SIGKILL);
    CHECK(adopter.wait(std::chrono::seconds(10)).signal == SIGKILL);
    CHECK(std::ranges::count(smh::remove_orphans(), name) == 1);
    CHECK_FALSE(segment_exists(name));
}

TEST_CASE("racing adopters: exactly one becomes the owner", "[orphans]") {
    const auto name = unique_name();
    smh_test::segment_guard guard(name);
    {
        auto shm = SharedMemoryHandlee<int>::create(name, 1);
        REQUIRE(shm.release());
    }
    int go[2], results[2], done[2];
    REQUIRE((::pipe(go) == 0 && ::pipe(results) == 0 && ::pipe(done) == 0));
    constexpr int adopters = 8;
    std::vector<smh_test::child_process> children;
    for (int c = 0; c < adopters; ++c)
        children.emplace_back([&] {
            ::close(go[1]);
            ::close(done[1]);
            auto shm = smh::attach<int>(name);
            char byte = 0;
            (void)!::read(go[0], &byte, 1); // returns when the parent closes it: all start
            const char won = shm.adopt() ? 'y' : 'n';
            (void)!::write(results[1], &won, 1);
            (void)!::read(done[0], &byte, 1); // stay alive (and owner) until all answered
        });
    ::close(go[0]);
    ::close(go[1]);
    int winners = 0;
    for (int c = 0; c < adopters; ++c) {
        char won = 0;
        REQUIRE(::read(results[0], &won, 1) == 1);
        winners += won == 'y';
    }
    CHECK(winners == 1);
    ::close(done[1]);
    for (auto& child : children) smh_test::expect_success(child, std::chrono::seconds(30));
    for (const int fd : {results[0], results[1], done[0]}) ::close(fd);
}

// --- listing ----------------------------------------------------------------

TEST_CASE("smh::list() describes every smh segment and skips everything else") {
    auto numbers = SharedMemoryHandlee<std::int32_t>::create(100);
    auto points = SharedMemoryHandlee<geo::Point>::create(3);
    const auto foreign = unique_name();
    const auto fifo = unique_name();
    smh_test::segment_guard guard_fifo(fifo);
    const auto foreign_segment = smh_test::write_raw_segment(foreign, std::string(4096, 'z'));
    // A FIFO could block a reader that opens it without O_NONBLOCK.
    REQUIRE(::mkfifo(("/dev/shm/" + fifo).c_str(), 0600) == 0);

    const auto before = std::chrono::system_clock::now() - std::chrono::minutes(1);
    const auto all = smh::list();
    CHECK(std::ranges::is_sorted(all, {}, &smh::segment_info::name));
    CHECK_FALSE(listed(foreign));
    CHECK_FALSE(listed(fifo));

    const auto info = listed(numbers.name());
    REQUIRE(info);
    CHECK(info->type_name == "int32");
    CHECK(info->element_size == 4);
    CHECK(info->element_count == 100);
    CHECK(info->bytes == 256 + 400);
    CHECK(info->creator_pid == ::getpid());
    CHECK(info->owner_pid == ::getpid());
    CHECK(info->owner_alive);
    CHECK(info->ready);
    CHECK(info->created > before);
    CHECK(info->created <= std::chrono::system_clock::now());

    const auto point_info = listed(points.name());
    REQUIRE(point_info);
    CHECK(point_info->type_name == "geo::Point");
    CHECK(point_info->element_size == sizeof(geo::Point));
}

TEST_CASE("list() shows another user's segment this user may read, and skips one it may not") {
    if (::geteuid() != 0) return smh_test::skip("needs root to run a child as another user");
    const auto readable = SharedMemoryHandlee<int>::create(4, {.permissions = 0644});
    const auto unreadable = SharedMemoryHandlee<int>::create(4); // 0600
    smh_test::in_child([&] {
        smh_test::become_other_user();
        bool seen_readable = false;
        for (const auto& info : smh::list()) {
            seen_readable = seen_readable || info.name == readable.name();
            smh_test::child_check(info.name != unreadable.name(),
                                  "listed a segment this user may not read");
        }
        smh_test::child_check(seen_readable, "another user's readable segment is not listed");
        smh_test::child_check(smh::inspect(readable.name()).element_count == 4,
                              "inspect() of another user's readable segment");
    });
}

TEST_CASE("an owner change abandoned by a process that died is taken over, or collected",
          "[orphans]") {
    const auto name = unique_name();
    smh_test::segment_guard guard(name);
    auto shm = SharedMemoryHandlee<int>::create(name, 4);
    REQUIRE(shm.release());
    // A process (now gone) claimed the record and died before finishing.
    const std::int64_t claimed_by_the_dead = -0x7ffffff0;
    smh_test::overwrite_raw_segment(
        name, offsetof(smh::detail::segment_header, owner_pid),
        {reinterpret_cast<const char*>(&claimed_by_the_dead), sizeof claimed_by_the_dead});
    CHECK_FALSE(shm.is_owner());

    SECTION("adopt() takes it over") {
        auto adopter = smh::attach<int>(name);
        CHECK(adopter.adopt());
        CHECK(adopter.is_owner());
        CHECK(listed(name)->owner_pid == ::getpid());
    }
    SECTION("remove_orphans() removes it") {
        CHECK(std::ranges::count(smh::remove_orphans(), name) == 1);
        CHECK_FALSE(segment_exists(name));
    }
}

TEST_CASE("an owner whose main thread has exited while other threads run is alive", "[orphans]") {
    const auto name = unique_name();
    smh_test::segment_guard guard(name);
    const pid_t owner = smh_test::start_program({SMH_TEST_HELPER, "create-leader-exit", name, "4"});
    // Wait until the segment exists and the leader shows as a zombie.
    for (int i = 0; i < 5000; ++i) {
        const auto status = smh::detail::os::read_process_status(owner);
        if (status && status->state == 'Z' && segment_exists(name)) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    CHECK(smh::detail::os::read_process_status(owner)->state == 'Z');
    CHECK(std::ranges::count(smh::remove_orphans(), name) == 0);
    CHECK(segment_exists(name));

    ::kill(owner, SIGKILL);
    smh_test::wait_for(owner, std::chrono::seconds(10));
    CHECK(std::ranges::count(smh::remove_orphans(), name) == 1);
}
