// Growable segments: SharedMemoryHandlee<T, smh::growable>,
// create_options::capacity, grow(), a size() that is live in every handle,
// capacity() and wait_for_size(), across threads and spawned processes (a new
// image, the segment mapped wherever it lands).
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "support.hpp"

using namespace std::chrono_literals;
using smh::SharedMemoryHandlee;
template <class T>
using Growable = SharedMemoryHandlee<T, smh::growable>;
using smh_test::error_of;

namespace {

// Default member initialisers: create and grow construct these.
struct initialised {
    std::int32_t value = 7;
};

} // namespace

TEST_CASE("a segment created without a capacity cannot grow and keeps its length") {
    auto shm = Growable<int>::create(10);
    CHECK(shm.capacity() == 10);
    const auto beyond = error_of([&] { shm.grow(11); });
    CHECK(beyond == smh::errc::invalid_length);
    CHECK(beyond.what.find(shm.name()) != std::string::npos);
    shm.grow(10);
    shm.grow(3);
    CHECK(shm.size() == 10);
    auto same = Growable<int>::create(10, {.capacity = 10});
    CHECK(same.capacity() == 10);
    CHECK(error_of([&] { same.grow(11); }) == smh::errc::invalid_length);
}

TEST_CASE("a fixed handle refuses a capacity and a growable segment, and a growable handle holds "
          "either kind") {
    const auto name = smh_test::unique_name();
    const auto refused =
        error_of([&] { (void)SharedMemoryHandlee<int>::create(name, 10, {.capacity = 20}); });
    CHECK(refused == smh::errc::invalid_length);
    CHECK(refused.what.find("smh::growable") != std::string::npos);
    CHECK(error_of([&] { (void)smh::attach<int>(name); }) == smh::errc::not_found);
    // A fixed handle's size() could not follow growth: attach says which handle can.
    auto grows = Growable<int>::create(name, 10, {.capacity = 20});
    const auto mismatch = error_of([&] { (void)smh::attach<const int>(name); });
    CHECK(mismatch == smh::errc::type_mismatch);
    CHECK(mismatch.what.find("smh::growable") != std::string::npos);
    // A growable handle of a fixed segment: size() is its length, and it cannot grow.
    auto fixed = SharedMemoryHandlee<int>::create(4);
    auto flexible = smh::attach<int, smh::growable>(fixed.name());
    CHECK(flexible.size() == 4);
    CHECK(flexible.capacity() == 4);
    CHECK(error_of([&] { flexible.grow(5); }) == smh::errc::invalid_length);
    CHECK(flexible.wait_for_size(4, 0ms));
}

TEST_CASE("a capacity below the length throws errc::invalid_length and creates nothing") {
    const auto name = smh_test::unique_name();
    CHECK(error_of([&] { (void)Growable<int>::create(name, 10, {.capacity = 9}); }) ==
          smh::errc::invalid_length);
    CHECK(error_of([&] { (void)smh::attach<int, smh::growable>(name); }) == smh::errc::not_found);
}

TEST_CASE("grow lengthens a segment in place: old elements and every address stay, new ones "
          "are zero") {
    auto shm = Growable<std::uint64_t>::create(4, {.capacity = 100000});
    CHECK(shm.size() == 4);
    CHECK(shm.capacity() == 100000);
    for (std::size_t i = 0; i < 4; ++i) shm[i] = i + 1;
    auto* const first = shm.data().data();
    auto* const last_old = &shm[3];
    shm.grow(100000);
    CHECK(shm.size() == 100000);
    CHECK(shm.data().size() == 100000);
    CHECK(shm.data().data() == first);
    CHECK(shm.begin() == first);
    CHECK(&shm[3] == last_old);
    CHECK(shm[3] == 4);
    CHECK(std::all_of(shm.begin() + 4, shm.end(), [](std::uint64_t v) { return v == 0; }));
    shm[99999] = 5;
    CHECK(shm.at(99999) == 5);
}

TEST_CASE("grow constructs the new elements of a type with default member initialisers, as "
          "create does") {
    auto shm = Growable<initialised>::create(2, {.capacity = 64});
    shm[0].value = 1;
    shm.grow(64);
    CHECK(shm[0].value == 1);
    CHECK(std::all_of(shm.begin() + 1, shm.end(), [](initialised e) { return e.value == 7; }));
}

TEST_CASE("growing to a smaller or equal length changes nothing") {
    auto shm = Growable<int>::create(8, {.capacity = 64});
    shm.grow(32);
    shm[31] = 9;
    shm.grow(32);
    shm.grow(1);
    CHECK(shm.size() == 32);
    CHECK(shm[31] == 9);
}

TEST_CASE("growing beyond the capacity throws errc::invalid_length and leaves the length") {
    auto shm = Growable<int>::create(8, {.capacity = 64});
    const auto thrown = error_of([&] { shm.grow(65); });
    CHECK(thrown == smh::errc::invalid_length);
    CHECK(thrown.what.find("capacity") != std::string::npos);
    CHECK(shm.size() == 8);
    auto attached = smh::attach<int, smh::growable>(shm.name());
    CHECK(error_of([&] { attached.grow(1000); }) == smh::errc::invalid_length);
    CHECK(attached.size() == 8);
}

TEST_CASE("an attacher sees another process's growth without any call, its element addresses "
          "unchanged") {
    auto shm = Growable<std::uint32_t>::create(16, {.capacity = 1 << 20});
    auto attached = smh::attach<std::uint32_t, smh::growable>(shm.name());
    auto read_only = smh::attach<const std::uint32_t, smh::growable>(shm.name());
    CHECK(attached.capacity() == 1 << 20);
    CHECK(read_only.capacity() == 1 << 20);
    const auto* first = attached.begin();
    const auto* first_read_only = read_only.begin();
    for (const std::size_t length : {1000u, 70000u, 1u << 20}) {
        const auto result = smh_test::run_helper({"grow", shm.name(), std::to_string(length), "0"});
        REQUIRE(result.exited);
        REQUIRE(result.exit_code == 0);
        CHECK(shm.size() == length);
        CHECK(attached.size() == length);
        CHECK(read_only.size() == length);
        CHECK(attached.begin() == first);
        CHECK(read_only.begin() == first_read_only);
        CHECK(attached[length - 1] == length);
        CHECK(read_only[length - 1] == length);
        CHECK(shm[length - 1] == length);
    }
}

TEST_CASE("a process that attaches after growth sees the grown length and can grow further") {
    auto shm = Growable<std::uint32_t>::create(16, {.capacity = 4096});
    shm.grow(100);
    const auto result = smh_test::run_helper({"grow", shm.name(), "4096", "0"});
    REQUIRE(result.exited);
    CHECK(result.exit_code == 0);
    CHECK(shm.size() == 4096);
    CHECK(shm[4095] == 4096);
    const auto beyond = smh_test::run_helper({"grow", shm.name(), "4097", "0"});
    CHECK(beyond.exit_code == smh_test::exit_code_for(smh::errc::invalid_length));
}

TEST_CASE("wait_for_size returns at once for a size already there, times out while nobody "
          "grows, and refuses a size beyond the capacity") {
    auto shm = Growable<int>::create(8, {.capacity = 64});
    const auto& view = shm;
    CHECK(view.wait_for_size(8, 0ms));
    const auto start = std::chrono::steady_clock::now();
    CHECK_FALSE(view.wait_for_size(9, 50ms));
    CHECK(std::chrono::steady_clock::now() - start >= 50ms);
    CHECK(error_of([&] { (void)view.wait_for_size(65, 1s); }) == smh::errc::invalid_length);
    CHECK(error_of([&] { view.wait_size(65); }) == smh::errc::invalid_length);
    auto fixed = Growable<int>::create(8);
    CHECK(error_of([&] { (void)fixed.wait_for_size(9, 1s); }) == smh::errc::invalid_length);
}

TEST_CASE("wait_for_size wakes when another process grows the segment") {
    std::string mode = GENERATE("rw", "ro");
    auto shm = Growable<std::uint32_t>::create(8, {.capacity = 4096});
    auto ready = SharedMemoryHandlee<std::atomic<std::uint32_t>>::create(1);
    const auto waiter = smh_test::start_program(
        {SMH_TEST_HELPER, "wait-size", shm.name(), "1000", "30000", mode, ready.name()});
    for (std::uint32_t seen; (seen = ready[0].load()) < 1;) REQUIRE(ready.wait_for(0, seen, 30s));
    std::this_thread::sleep_for(100ms);
    shm.grow(999); // not enough yet
    std::this_thread::sleep_for(20ms);
    const auto start = std::chrono::steady_clock::now();
    shm.grow(1000);
    const auto result = smh_test::wait_for(waiter, 60s);
    REQUIRE(result.exited);
    CHECK(result.exit_code == 0);
    CHECK(std::chrono::steady_clock::now() - start < 5s);
}

TEST_CASE("wait_size in one thread wakes when another thread grows the segment") {
    auto shm = Growable<int>::create(1, {.capacity = 100});
    auto attached = smh::attach<const int, smh::growable>(shm.name());
    std::thread waiter([&] { shm.wait_size(100); });
    std::thread read_only_waiter([&] { attached.wait_size(50); });
    std::this_thread::sleep_for(50ms);
    smh::attach<int, smh::growable>(shm.name()).grow(100);
    waiter.join();
    read_only_waiter.join();
    CHECK(attached.size() == 100);
}

TEST_CASE("concurrent growers all succeed, the largest length wins, and no grower constructs "
          "over elements already published") {
    constexpr std::size_t capacity = 20000;
    auto shm = Growable<initialised>::create(1, {.capacity = capacity});
    std::atomic<int> finished{0};
    std::mutex failures_lock;
    std::vector<std::string> failures;
    std::size_t largest = 0;
    std::vector<std::thread> growers;
    for (std::size_t t = 0; t < 4; ++t) {
        for (std::size_t length = 2 + t; length <= capacity; length += 4 + t)
            largest = std::max(largest, length);
        growers.emplace_back([&, t] {
            try {
                auto mine = smh::attach<initialised, smh::growable>(shm.name());
                for (std::size_t length = 2 + t; length <= capacity; length += 4 + t)
                    mine.grow(length);
            } catch (const std::exception& e) {
                const std::lock_guard lock(failures_lock);
                failures.push_back(e.what());
            }
            ++finished;
        });
    }
    // Marks every element as soon as it is published: a grower that
    // constructed an element again would put 7 back.
    std::size_t marked = 0;
    auto mark = [&] {
        for (const auto size = shm.size(); marked < size; ++marked) shm[marked].value = -1;
    };
    while (finished.load() < 4) mark();
    for (auto& grower : growers) grower.join();
    mark();
    CHECK(failures == std::vector<std::string>{});
    CHECK(shm.size() == largest);
    CHECK(std::all_of(shm.begin(), shm.end(), [](initialised e) { return e.value == -1; }));
}

TEST_CASE("concurrent growing processes all succeed and the largest length wins") {
    auto shm = Growable<std::uint32_t>::create(1, {.capacity = 1 << 16});
    std::vector<decltype(smh_test::start_program({}))> growers;
    for (const char* length : {"30000", "65536", "100", "40000"})
        growers.push_back(
            smh_test::start_program({SMH_TEST_HELPER, "grow", shm.name(), length, "50"}));
    for (const auto& grower : growers) {
        const auto result = smh_test::wait_for(grower, 60s);
        REQUIRE(result.exited);
        CHECK(result.exit_code == 0);
    }
    CHECK(shm.size() == 1 << 16);
    CHECK(shm[(1 << 16) - 1] == 1 << 16);
}

TEST_CASE("a segment grows from 4 KiB to 1 GiB in steps, its elements never moving") {
    constexpr std::size_t gib = std::size_t{1} << 30;
    auto shm = Growable<char>::create(4096, {.capacity = gib});
    auto attached = smh::attach<const char, smh::growable>(shm.name());
    char* const first = shm.begin();
    std::size_t steps = 0;
    for (std::size_t length = 4096; length < gib;) {
        length *= 4;
        shm.grow(length);
        shm[length - 1] = 'z';
        shm[length / 2] = 'm';
        ++steps;
        CHECK(attached.size() == length);
        CHECK(attached[length - 1] == 'z');
        CHECK(attached[length / 2] == 'm');
    }
    CHECK(steps == 9);
    CHECK(shm.begin() == first);
    CHECK(shm.size() == gib);
}
