// fork(): the child uses the parent's object as it is, and never owns it.
#include <catch2/catch.hpp>

#include <atomic>
#include <utility>

#include "shared_types.hpp"
#include "checks.hpp"

using smh::SharedMemoryHandlee;

TEST_CASE("a forked child reads and writes through the parent's object, without re-attaching") {
    auto shm = SharedMemoryHandlee<geo::Point>::create(1000);
    smh_test::fill(shm, 1);
    smh_test::in_child([&] {
        smh_test::child_check(smh_test::holds(shm, 1), "the child does not see the parent's 1s");
        smh_test::fill(shm, 2);
    });
    CHECK(smh_test::holds(shm, 2));
}

TEST_CASE("a forked child is never the owner: destroying its copy keeps the parent's segment") {
    auto shm = SharedMemoryHandlee<int>::create(8);
    const auto name = shm.name();
    smh_test::in_child([&] {
        smh_test::child_check(!shm.is_owner(), "the child's copy says it is the owner");
        { auto taken = std::move(shm); } // runs the destructor in the child
    });
    CHECK(shm.is_owner());
    CHECK(smh_test::segment_exists(name));
}

TEST_CASE("forked workers fill disjoint halves and the parent sees all of it") {
    auto shm = SharedMemoryHandlee<int>::create(10'000);
    auto worker = [&](std::size_t begin, std::size_t end) {
        smh_test::in_child([&, begin, end] {
            for (std::size_t i = begin; i < end; ++i) shm[i] = static_cast<int>(i) * 2;
        });
    };
    worker(0, 5000);
    worker(5000, 10'000);
    std::size_t right = 0;
    for (std::size_t i = 0; i < shm.size(); ++i) right += shm[i] == static_cast<int>(i) * 2;
    CHECK(right == shm.size());
}

TEST_CASE("forked children adding to an atomic element lose no update") {
    constexpr int processes = 8;
    constexpr std::uint64_t adds = 1'000'000;
    auto counter = SharedMemoryHandlee<std::atomic<std::uint64_t>>::create(1);
    std::vector<smh_test::child_process> children;
    for (int c = 0; c < processes; ++c)
        children.emplace_back([&] {
            for (std::uint64_t i = 0; i < adds; ++i)
                counter[0].fetch_add(1, std::memory_order_relaxed);
        });
    for (auto& child : children) smh_test::expect_success(child, std::chrono::seconds(120));
    CHECK(counter[0].load() == processes * adds);
}

#ifndef NDEBUG
TEST_CASE("in a debug build, operator[] past the end stops the program with an assertion") {
    auto shm = SharedMemoryHandlee<int>::create(4);
    smh_test::child_process child([&] {
        ::close(STDERR_FILENO); // keep the expected assertion message out of the log
        (void)shm[4];
    });
    CHECK(child.wait().signal == SIGABRT);
}
#endif
