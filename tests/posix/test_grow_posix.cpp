// Growable segments where POSIX differs: a full /dev/shm while growing, a
// filesystem that cannot preallocate, a forked child growing its parent's
// segment, the file-size limit, and what list() and inspect() say of one.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "checks.hpp"

using smh::SharedMemoryHandlee;
template <class T>
using Growable = SharedMemoryHandlee<T, smh::growable>;
using smh_test::child_check;
using smh_test::error_of;

namespace {
// Default member initialisers: grow constructs these.
struct initialised_element {
    std::int32_t value = 7;
};
} // namespace

TEST_CASE("growing in a full /dev/shm throws errc::no_space, leaves the length, and no "
          "process SIGBUSes") {
    if (::geteuid() != 0)
        return smh_test::skip(
            "needs root to mount a small tmpfs on /dev/shm in a private namespace");
    smh_test::in_child([] {
        smh_test::mount_private_tmpfs("/dev/shm", "size=16m");
        constexpr std::size_t mib = 1 << 20;
        auto shm = Growable<char>::create(mib, {.capacity = 64 * mib});
        auto attached = smh::attach<const char, smh::growable>(shm.name());
        const auto thrown = error_of([&] { shm.grow(64 * mib); });
        child_check(thrown == smh::errc::no_space,
                    "growing to 64 MiB in a 16 MiB /dev/shm did not throw no_space: " +
                        thrown.what);
        child_check(shm.size() == mib && attached.size() == mib,
                    "the failed grow changed the length");
        // A forked attacher touches every element it can see: none faults.
        smh_test::child_process reader([&] {
            auto mine = smh::attach<const char, smh::growable>(shm.name());
            long sum = 0;
            for (const char c : mine) sum += c;
            child_check(sum == 0 && mine.size() == mib, "the attacher saw another length");
        });
        const auto read = reader.wait();
        child_check(read.failure.empty(), "the attacher failed: " + read.failure);
        // What fits is really there.
        shm.grow(8 * mib);
        std::fill(shm.begin(), shm.end(), 'x');
        child_check(attached.size() == 8 * mib && attached[8 * mib - 1] == 'x',
                    "the attacher does not see the growth that fitted");
        child_check(error_of([&] { shm.grow(16 * mib); }) == smh::errc::no_space,
                    "growing past the rest of /dev/shm did not throw no_space");
        child_check(shm.size() == 8 * mib, "the second failed grow changed the length");
    });
}

TEST_CASE("where /dev/shm has no fallocate (ramfs), growth is still backed, and "
          "concurrent growers still agree") {
    if (::geteuid() != 0)
        return smh_test::skip("needs root to mount a ramfs on /dev/shm in a private namespace");
    smh_test::in_child([] {
        smh_test::mount_private("/dev/shm", "ramfs", "mode=1777");
        auto shm = Growable<std::uint64_t>::create(512, {.capacity = 1 << 20});
        auto attached = smh::attach<const std::uint64_t, smh::growable>(shm.name());
        std::vector<std::thread> growers;
        for (std::size_t k = 1; k <= 4; ++k)
            growers.emplace_back([&, k] {
                auto mine = smh::attach<std::uint64_t, smh::growable>(shm.name());
                for (std::size_t length = k * 1000; length < (1 << 20); length += 40'000)
                    mine.grow(length);
            });
        for (auto& grower : growers) grower.join();
        const std::size_t largest = [] {
            std::size_t most = 0;
            for (std::size_t k = 1; k <= 4; ++k)
                for (std::size_t length = k * 1000; length < (1 << 20); length += 40'000)
                    most = std::max(most, length);
            return most;
        }();
        child_check(shm.size() == largest && attached.size() == largest,
                    "the largest length did not win");
        shm[largest - 1] = 9;
        child_check(attached[largest - 1] == 9, "the attacher does not see the last element");
        struct stat info {};
        child_check(::stat(("/dev/shm/" + shm.name()).c_str(), &info) == 0 &&
                        static_cast<std::size_t>(info.st_size) >= largest * 8,
                    "the file is shorter than the length");
    });
}

TEST_CASE("growing past the process's file-size limit throws errc::no_space instead of SIGXFSZ") {
    smh_test::in_child([] {
        auto shm = Growable<char>::create(4096, {.capacity = 1 << 24});
        struct rlimit limit {
            1 << 20, 1 << 20
        };
        child_check(::setrlimit(RLIMIT_FSIZE, &limit) == 0, "setrlimit");
        child_check(error_of([&] { shm.grow(1 << 24); }) == smh::errc::no_space,
                    "growing past RLIMIT_FSIZE did not throw no_space");
        child_check(shm.size() == 4096, "the length changed");
    });
}

TEST_CASE("a forked child grows its parent's segment and the parent sees it") {
    auto shm = Growable<int>::create(4, {.capacity = 1 << 16});
    const int* first = shm.begin();
    smh_test::child_process child([&] {
        shm.grow(1 << 16);
        shm[(1 << 16) - 1] = 42;
    });
    const auto result = child.wait();
    REQUIRE(result.failure.empty());
    CHECK(shm.size() == 1 << 16);
    CHECK(shm[(1 << 16) - 1] == 42);
    CHECK(shm.begin() == first);
}

TEST_CASE("inspect() and list() report a growable segment's length and capacity") {
    auto shm = Growable<int>::create(4, {.capacity = 1000});
    auto fixed = Growable<int>::create(6);
    shm.grow(10);
    const auto info = smh::inspect(shm.name());
    CHECK(info.element_count == 10);
    CHECK(info.capacity == 1000);
    CHECK(smh::inspect(fixed.name()).capacity == 6);
    const auto all = smh::list();
    const auto listed = std::find_if(
        all.begin(), all.end(), [&](const smh::segment_info& s) { return s.name == shm.name(); });
    REQUIRE(listed != all.end());
    CHECK(listed->element_count == 10);
    CHECK(listed->capacity == 1000);
}

TEST_CASE("a growable segment is layout version 2 and a fixed one stays version 1") {
    auto growable = Growable<int>::create(4, {.capacity = 8});
    auto fixed = Growable<int>::create(4, {.capacity = 4});
    const auto header_bytes = [](const std::string& name) {
        return smh_test::read_raw_segment(name, smh::detail::header_size);
    };
    auto growable_header = header_bytes(growable.name());
    auto fixed_header = header_bytes(fixed.name());
    const auto& g = smh_test::header_of(growable_header);
    const auto& f = smh_test::header_of(fixed_header);
    CHECK(g.layout_version == 2);
    CHECK(g.element_count == 8);
    CHECK(g.length == 4);
    CHECK(f.layout_version == 1);
    CHECK(f.element_count == 4);
    CHECK(f.length == 0);
}

TEST_CASE("attach rejects a growable segment whose length is beyond its capacity or its file "
          "as errc::corrupt_segment") {
    auto shm = Growable<int>::create(4, {.capacity = 1 << 20});
    auto header = smh_test::read_raw_segment(shm.name(), smh::detail::header_size);
    SECTION("beyond the capacity") { smh_test::header_of(header).length = (1 << 20) + 1; }
    SECTION("beyond the file") { smh_test::header_of(header).length = 1 << 19; }
    SECTION("zero") { smh_test::header_of(header).length = 0; }
    smh_test::overwrite_raw_segment(shm.name(), 0, header);
    CHECK(error_of([&] { (void)smh::attach<int, smh::growable>(shm.name()); }) ==
          smh::errc::corrupt_segment);
}

TEST_CASE("a length a hostile writer stores past the capacity after attach never takes size() "
          "past the mapping") {
    auto shm = Growable<int>::create(4, {.capacity = 64});
    auto reader = smh::attach<const int, smh::growable>(shm.name());
    auto header = smh_test::read_raw_segment(shm.name(), smh::detail::header_size);
    smh_test::header_of(header).length = std::uint64_t{1} << 40;
    smh_test::overwrite_raw_segment(shm.name(), 0, header);
    CHECK(reader.size() == 64);
    CHECK(reader.data().size() == 64);
}

TEST_CASE("a parent and its forked child growing through one inherited handle take turns, and "
          "the largest length wins") {
    // Growers of one open file description (a forked child's handle shares
    // the parent's) must still exclude each other: no length goes down, no
    // element is constructed twice.
    auto shm = Growable<initialised_element>::create(1, {.capacity = 1 << 16});
    smh_test::child_process child([&] {
        for (std::size_t length = 2; length < (1 << 16); length += 2) shm.grow(length);
    });
    for (std::size_t length = 3; length < (1 << 16); length += 2) {
        shm.grow(length);
        shm[length - 1].value = 1; // a later grow must not construct over it
    }
    CHECK(child.wait().failure.empty());
    CHECK(shm.size() == (1 << 16) - 1);
    std::size_t overwritten = 0;
    for (std::size_t length = 3; length < (1 << 16); length += 2)
        overwritten += shm[length - 1].value != 1 ? 1 : 0;
    CHECK(overwritten == 0);
}

namespace {

// A descriptor opened read-only on the segment's file that holds a read lock
// on its second byte, which the growers' write lock waits for: what anyone
// who may read the segment can do.
int hold_growers_lock(const std::string& name) {
    const int fd = ::open(("/dev/shm/" + name).c_str(), O_RDONLY | O_CLOEXEC);
    struct flock held {};
    held.l_type = F_RDLCK;
    held.l_whence = SEEK_SET;
    held.l_start = 1;
    held.l_len = 1;
    REQUIRE(fd >= 0);
    REQUIRE(::fcntl(fd, F_OFD_SETLK, &held) == 0);
    return fd;
}

} // namespace

TEST_CASE("a process holding the growers' lock never blocks a grower forever: grow_for times out "
          "and changes nothing, grow waits for the lock to go") {
    auto shm = smh::create<int, smh::growable>(2, {.capacity = 100});
    shm[1] = 5;
    int fd = hold_growers_lock(shm.name());
    SECTION("grow_for gives up after its timeout") {
        const auto started = std::chrono::steady_clock::now();
        CHECK_FALSE(shm.grow_for(50, std::chrono::milliseconds(300)));
        const auto waited = std::chrono::steady_clock::now() - started;
        CHECK(waited >= std::chrono::milliseconds(300));
        CHECK(waited < std::chrono::seconds(10));
        CHECK(shm.size() == 2);
        CHECK(shm[1] == 5);
        CHECK_FALSE(shm.grow_for(50, std::chrono::milliseconds(0)));
        CHECK(shm.size() == 2);
    }
    SECTION("grow waits while the lock is held, and grows once it goes") {
        std::thread release([&fd] {
            std::this_thread::sleep_for(std::chrono::milliseconds(300));
            ::close(std::exchange(fd, -1));
        });
        const auto started = std::chrono::steady_clock::now();
        shm.grow(50);
        CHECK(std::chrono::steady_clock::now() - started >= std::chrono::milliseconds(250));
        release.join();
        CHECK(shm.size() == 50);
        CHECK(shm[1] == 5);
    }
    if (fd >= 0) ::close(fd);
    CHECK(shm.grow_for(60, std::chrono::seconds(10)));
    CHECK(shm.size() == 60);
}

TEST_CASE("grow() past its 30 s turn throws os_error timed_out, the length unchanged") {
    // The error grow() throws (a wait of 30 s is too long for this suite:
    // grow_for above waits the same way, shorter).
    const auto thrown = error_of(
        [] { smh::detail::throw_growth_turn_missed("segment-x", smh::detail::growth_turn_limit); });
    CHECK(thrown == smh::errc::os_error);
    CHECK(thrown.native_code == std::make_error_code(std::errc::timed_out));
    CHECK(thrown.what.find("30000 ms") != std::string::npos);
    CHECK(thrown.what.find("segment-x") != std::string::npos);
}
