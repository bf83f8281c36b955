// Ownership, bounded and exact, against crashes and hostile writers: an owner
// change abandoned midway, an object that lost ownership, hostile owner and
// time fields, a forked child's own lock, a record that keeps changing.
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

// How long `operation` took.
template <class F>
std::chrono::steady_clock::duration time_of(F&& operation) {
    const auto start = std::chrono::steady_clock::now();
    operation();
    return std::chrono::steady_clock::now() - start;
}

} // namespace

TEST_CASE("an owner change left naming a live process is taken over after a bounded wait, or "
          "collected",
          "[orphans]") {
    const auto name = unique_name();
    smh_test::segment_guard guard(name);
    auto shm = SharedMemoryHandlee<int>::create(name, 4);
    REQUIRE(shm.release());
    // A claim that never ends: its pid is alive (init), reused or forged.
    const std::int64_t claimed_by_the_living = -1;
    smh_test::overwrite_raw_segment(
        name, offsetof(smh::detail::segment_header, owner_pid),
        {reinterpret_cast<const char*>(&claimed_by_the_living), sizeof claimed_by_the_living});

    SECTION("take_ownership() takes it") {
        auto taker = smh::attach<int>(name);
        const auto took = time_of([&] { taker.take_ownership(); });
        CHECK(taker.is_owner());
        CHECK(took < smh::detail::abandoned_claim_after + 1s);
    }
    SECTION("adopt() takes it") {
        auto adopter = smh::attach<int>(name);
        CHECK(adopter.adopt());
        CHECK(adopter.is_owner());
    }
    SECTION("remove_orphans() removes it") {
        const auto removed = smh::remove_orphans();
        CHECK(std::count(removed.begin(), removed.end(), name) == 1);
        CHECK_FALSE(segment_exists(name));
    }
}

TEST_CASE("an object that lost ownership never disturbs the owner: the owner's name is removed "
          "and is_owner() stays true") {
    SECTION("the old owner's destructor races the new owner's") {
        int leaked = 0;
        for (int round = 0; round < 1000; ++round) {
            const auto name = unique_name();
            smh_test::segment_guard guard(name);
            std::optional<SharedMemoryHandlee<int>> old_owner(
                SharedMemoryHandlee<int>::create(name, 1));
            std::optional<SharedMemoryHandlee<int>> new_owner(
                SharedMemoryHandlee<int>::attach(name));
            new_owner->take_ownership();
            std::atomic<int> go{0};
            std::thread other([&] {
                go.fetch_add(1);
                while (go.load() < 2) {}
                old_owner.reset();
            });
            go.fetch_add(1);
            while (go.load() < 2) {}
            new_owner.reset();
            other.join();
            leaked += segment_exists(name);
        }
        CHECK(leaked == 0);
    }
    SECTION("the old owner calls release() while the new owner asks is_owner()") {
        const auto name = unique_name();
        smh_test::segment_guard guard(name);
        auto old_owner = SharedMemoryHandlee<int>::create(name, 1);
        auto new_owner = SharedMemoryHandlee<int>::attach(name);
        new_owner.take_ownership();
        std::atomic<bool> stop{false};
        std::thread other([&] {
            while (!stop.load()) (void)old_owner.release();
        });
        int wrong = 0;
        for (int i = 0; i < 200'000; ++i) wrong += !new_owner.is_owner();
        stop = true;
        other.join();
        CHECK(wrong == 0);
    }
}

TEST_CASE("hostile owner and time fields are read without overflow by list, inspect, adopt and "
          "remove_orphans",
          "[orphans]") {
    const auto name = unique_name();
    auto header = smh::detail::make_header(smh::detail::element_identity::of<int>(), 4, 1, 0, 1,
                                           std::uint64_t{1} << 63);
    header.state = smh::detail::state_ready;
    header.creator_pid = std::numeric_limits<std::int64_t>::min();
    header.checksum = smh::detail::header_checksum(header);
    header.owner_pid = std::numeric_limits<std::int64_t>::min(); // not covered by the checksum
    header.owner_start_time = std::numeric_limits<std::uint64_t>::max();
    std::string bytes(header.data_offset + 4 * sizeof(int), '\0');
    std::memcpy(bytes.data(), &header, sizeof header);
    const auto raw = smh_test::write_raw_segment(name, bytes);

    const auto info = smh::inspect(name);
    CHECK(info.owner_pid == std::numeric_limits<std::int64_t>::min());
    CHECK_FALSE(info.owner_alive); // a claim by no process at all
    const auto listed = smh::list();
    CHECK(std::count_if(listed.begin(), listed.end(),
                        [&](const smh::segment_info& s) { return s.name == name; }) == 1);
    SECTION("adopt() takes it over") {
        auto adopter = SharedMemoryHandlee<int>::attach(name);
        CHECK(adopter.adopt());
        CHECK(adopter.is_owner());
        adopter.unlink();
    }
    SECTION("remove_orphans() removes it") {
        const auto removed = smh::remove_orphans();
        CHECK(std::count(removed.begin(), removed.end(), name) == 1);
    }
}

TEST_CASE("a forked child that takes ownership holds a lock of its own, which its parent "
          "cannot drop") {
    const auto name = unique_name();
    smh_test::segment_guard guard(name);
    auto shm =
        std::make_unique<SharedMemoryHandlee<int>>(SharedMemoryHandlee<int>::create(name, 4));
    int took[2], done[2];
    REQUIRE(::pipe(took) == 0);
    REQUIRE(::pipe(done) == 0);
    // The child's end runs no destructor of the parent's objects: the owner "dies".
    smh_test::child_process child([&] {
        shm->take_ownership();
        const char ok = shm->is_owner() ? 'y' : 'n';
        (void)!::write(took[1], &ok, 1);
        char byte = 0;
        (void)!::read(done[0], &byte, 1);
    });
    char ok = 0;
    REQUIRE(::read(took[0], &ok, 1) == 1);
    CHECK(ok == 'y');
    shm.reset(); // the parent's object, no longer the owner, gives up its lock
    const smh::detail::segment_name checked(name, "test");
    const auto header = smh::detail::os::read_header({"test", checked});
    REQUIRE(header);
    CHECK(header->owner_lock_held); // the child's own lock
    CHECK(smh::inspect(name).owner_alive);
    (void)!::write(done[1], "x", 1);
    smh_test::expect_success(child, 10s);
    for (int fd : {took[0], took[1], done[0], done[1]}) ::close(fd);
    CHECK_FALSE(smh::detail::os::read_header({"test", checked})->owner_lock_held);
}

TEST_CASE("adopt() and take_ownership() stay bounded while a hostile writer keeps changing the "
          "owner record") {
    const auto name = unique_name();
    smh_test::segment_guard guard(name);
    auto creator = SharedMemoryHandlee<int>::create(name, 4);
    REQUIRE(creator.release());
    auto adopter = SharedMemoryHandlee<int>::attach(name);
    // Another mapping of the header, written as a hostile process would.
    auto writer = SharedMemoryHandlee<int>::attach(name);
    auto* header = reinterpret_cast<smh::detail::segment_header*>(
        reinterpret_cast<std::byte*>(writer.data().data()) -
        smh::detail::data_offset_for(alignof(int)));
    std::atomic<bool> stop{false};
    std::thread hostile([&] {
        // Two claims by live processes (init and this one), in turn.
        for (std::int64_t claim = -1; !stop.load(); claim = claim == -1 ? -::getpid() : -1) {
            std::atomic_ref(header->owner_pid).store(claim);
            std::this_thread::sleep_for(20ms);
        }
    });
    SECTION("adopt()") {
        const auto took = time_of([&] { (void)adopter.adopt(); });
        CHECK(took < 3s);
    }
    SECTION("take_ownership()") {
        const auto took = time_of([&] {
            const auto outcome = error_of([&] { adopter.take_ownership(); });
            CHECK((outcome == smh::errc{} || outcome == smh::errc::corrupt_segment));
        });
        CHECK(took < 3s);
    }
    stop = true;
    hostile.join();
    std::atomic_ref(header->owner_pid).store(0);
    (void)adopter.unlink();
}
