// A name appears only for a finished segment (POSIX): attaches racing a
// create, creators killed at any instant, creates without /proc, and what a
// builder that died leaves under a building name.
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

// Elements with a default member initialiser: create writes every one, so a
// segment seen before create finished would show zeros.
struct Initialised {
    std::uint64_t marker = 0x5eed;
    std::uint64_t payload[7] = {};
};

std::string shm_path(const std::string& name) { return "/dev/shm/" + name; }

// Names in /dev/shm that a create being built under a temporary name leaves.
std::vector<std::string> building_leftovers() {
    return smh_test::shm_entries(std::string(smh::detail::building_name_prefix));
}

} // namespace

TEST_CASE("an attach racing a loop that creates and destroys one name sees not_found or a "
          "whole segment, never a half-made one") {
    const auto name = unique_name();
    smh_test::segment_guard guard(name);
    smh_test::child_process creator([&] {
        const auto until = std::chrono::steady_clock::now() + 2s;
        while (std::chrono::steady_clock::now() < until)
            (void)SharedMemoryHandlee<Initialised>::create(name, 4096);
    });
    int whole = 0, missing = 0, other = 0;
    std::string first_other;
    const auto until = std::chrono::steady_clock::now() + 2s;
    while (std::chrono::steady_clock::now() < until) {
        try {
            const auto shm =
                SharedMemoryHandlee<Initialised>::attach(name, {.creation_timeout = 0ms});
            const bool all_set =
                shm.size() == 4096 && std::all_of(shm.begin(), shm.end(), [](const Initialised& e) {
                    return e.marker == 0x5eed;
                });
            (all_set ? whole : other) += 1;
        } catch (const smh::error& e) {
            if (e.code() == smh::errc::not_found) {
                ++missing;
            } else {
                if (other++ == 0) first_other = e.what();
            }
        }
    }
    smh_test::expect_success(creator, 20s);
    INFO("first other outcome: " << first_other);
    CHECK(other == 0);
    CHECK(whole > 0);
    CHECK(missing > 0);
}

TEST_CASE("a creator killed at any instant of create leaves nothing, or a finished orphan that "
          "remove_orphans() removes",
          "[orphans]") {
    std::mt19937 random(std::random_device{}());
    std::uniform_int_distribution<int> delay_us(0, 3000);
    int left_finished = 0;
    for (int round = 0; round < 150; ++round) {
        const auto name = unique_name();
        smh_test::segment_guard guard(name);
        smh_test::child_process creator([&] {
            // 4 MiB, reserved: long enough for kills to land inside create.
            const auto shm = SharedMemoryHandlee<char>::create(name, 4 << 20);
            for (;;) ::pause();
        });
        std::this_thread::sleep_for(std::chrono::microseconds(delay_us(random)));
        ::kill(creator.pid(), SIGKILL);
        REQUIRE(creator.wait(10s).signal == SIGKILL);
        if (!segment_exists(name)) continue;
        // Whatever has the name is finished: a ready header an attach accepts.
        const auto info = smh::inspect(name);
        CHECK(info.ready);
        CHECK(info.element_count == std::size_t{4} << 20);
        CHECK_FALSE(info.owner_alive);
        CHECK_NOTHROW(SharedMemoryHandlee<char>::attach(name));
        const auto removed = smh::remove_orphans();
        CHECK(std::count(removed.begin(), removed.end(), name) == 1);
        ++left_finished;
    }
    CHECK(building_leftovers().empty());
    CHECK(smh_test::shm_entries(smh_test::name_prefix()).empty());
    INFO(left_finished << " of 150 creators were killed after publishing");
}

TEST_CASE("without /proc to link an unnamed file, create builds under a hidden name and "
          "publishes only the finished segment") {
    if (!is_root()) return smh_test::skip("needs root to hide /proc in a private mount namespace");
    const auto name = unique_name();
    smh_test::segment_guard guard(name);
    smh_test::in_child([&] {
        smh_test::mount_private_tmpfs("/proc", "size=1m"); // hides /proc
        auto shm = SharedMemoryHandlee<Initialised>::create(name, 100);
        child_check(segment_exists(name), "the name does not exist");
        const auto attached = SharedMemoryHandlee<Initialised>::attach(name);
        child_check(attached[99].marker == 0x5eed, "elements not constructed");
        child_check(building_leftovers().empty(), "the temporary name is still there");
        child_check(error_of([&] { (void)SharedMemoryHandlee<int>::create(name, 1); }) ==
                        smh::errc::already_exists,
                    "a second create of the name did not throw already_exists");
        child_check(building_leftovers().empty(), "the failed second create left a temporary name");
    });
    CHECK_FALSE(segment_exists(name)); // the owner's destructor removed it
}

TEST_CASE("without /proc, create chooses its path before building: a segment of more than half "
          "the free space fits") {
    if (!is_root()) return smh_test::skip("needs root to hide /proc in a private mount namespace");
    const auto name = unique_name();
    smh_test::in_child([&] {
        smh_test::mount_private_tmpfs("/dev/shm", "size=100m");
        smh_test::mount_private_tmpfs("/proc", "size=1m"); // hides /proc
        // Built once: 60 MiB of 100; built twice, it would need 120.
        auto shm = SharedMemoryHandlee<std::uint8_t>::create(name, std::size_t{60} << 20);
        child_check(segment_exists(name), "the name does not exist");
        child_check(building_leftovers().empty(), "the temporary name is still there");
    });
}

TEST_CASE("remove_orphans() removes what a builder that died left under a temporary name, and "
          "nothing a live builder holds",
          "[orphans]") {
    const auto abandoned = std::string(smh::detail::building_name_prefix) + "0123456789abcdef";
    const auto building = std::string(smh::detail::building_name_prefix) + "fedcba9876543210";
    smh_test::segment_guard guard_abandoned(abandoned), guard_building(building);
    const int dead = ::open(shm_path(abandoned).c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
    REQUIRE(dead >= 0);
    ::close(dead); // its builder is gone: no lock
    const int live = ::open(shm_path(building).c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
    REQUIRE(live >= 0);
    REQUIRE(smh::detail::os::take_owner_lock(live));

    // Young leftovers are left alone: a builder locks its file right after creating it.
    const auto young = smh::remove_orphans();
    CHECK(std::count(young.begin(), young.end(), abandoned) == 0);
    std::this_thread::sleep_for(smh::detail::os::building_lock_grace + 200ms);
    const auto removed = smh::remove_orphans();
    CHECK(std::count(removed.begin(), removed.end(), abandoned) == 1);
    CHECK(std::count(removed.begin(), removed.end(), building) == 0);
    CHECK_FALSE(segment_exists(abandoned));
    CHECK(segment_exists(building));
    ::close(live);
    // And no smh function takes such a name.
    CHECK(error_of([&] { (void)SharedMemoryHandlee<int>::create(building, 1); }) ==
          smh::errc::invalid_name);
}
