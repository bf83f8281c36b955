// Element access: [], at(), data(), iteration, standard algorithms, atomics.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <numeric>
#include <ranges>
#include <span>
#include <type_traits>

#include "checks.hpp"

using smh::SharedMemoryHandlee;

TEST_CASE("operator[] reads and writes elements") {
    auto shm = SharedMemoryHandlee<int>::create(10);
    for (std::size_t i = 0; i < shm.size(); ++i) shm[i] = static_cast<int>(i * i);
    CHECK(shm[0] == 0);
    CHECK(shm[9] == 81);
    const auto& view = shm;
    CHECK(view[3] == 9);
    static_assert(std::is_same_v<decltype(view[0]), const int&>);
    static_assert(std::is_same_v<decltype(shm[0]), int&>);
}

TEST_CASE("at() checks the index and throws std::out_of_range naming the segment") {
    auto shm = SharedMemoryHandlee<int>::create(10);
    shm.at(9) = 5;
    CHECK(shm.at(9) == 5);
    const auto& view = shm;
    CHECK(view.at(9) == 5);
    try {
        (void)shm.at(10);
        FAIL("at(10) did not throw");
    } catch (const std::out_of_range& e) {
        CHECK_THAT(e.what(), Catch::Contains(shm.name()) && Catch::Contains("10"));
    }
    CHECK_THROWS_AS(view.at(static_cast<std::size_t>(-1)), std::out_of_range);
}

TEST_CASE("data() is a span over every element") {
    auto shm = SharedMemoryHandlee<double>::create(6);
    std::span<double> all = shm.data();
    CHECK(all.size() == 6);
    all[5] = 2.5;
    CHECK(shm[5] == 2.5);
    const auto& view = shm;
    std::span<const double> read_only = view.data();
    CHECK(read_only[5] == 2.5);
}

TEST_CASE("begin() and end() serve range-for, <algorithm> and std::ranges") {
    auto shm = SharedMemoryHandlee<int>::create(100);
    static_assert(std::ranges::contiguous_range<decltype(shm)>);
    static_assert(std::ranges::sized_range<decltype(shm)>);

    std::iota(shm.begin(), shm.end(), 0);
    std::ranges::reverse(shm);
    CHECK(shm[0] == 99);
    std::ranges::sort(shm);
    CHECK(std::accumulate(shm.begin(), shm.end(), 0) == 4950);
    CHECK(std::ranges::find(shm, 42) - shm.begin() == 42);

    int count = 0;
    for (int& value : shm) value = count++;
    CHECK(shm[99] == 99);
    CHECK(std::ranges::count_if(shm, [](int v) { return v % 2 == 0; }) == 50);
}

TEST_CASE("lock-free atomic elements work through every accessor") {
    auto shm = SharedMemoryHandlee<std::atomic<std::uint64_t>>::create(4);
    shm[0].fetch_add(5);
    shm.at(0).fetch_add(2);
    CHECK(shm.data()[0].load() == 7);
    auto other = SharedMemoryHandlee<std::atomic<std::uint64_t>>::attach(shm.name());
    other[0]++;
    CHECK(shm[0].load() == 8);
}
