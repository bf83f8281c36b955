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
    const auto child = smh_test::run_in_child([&] {
        if (!smh_test::holds(shm, 1)) return false;
        smh_test::fill(shm, 2);
        return true;
    });
    REQUIRE(child.exited);
    CHECK(child.exit_code == 0);
    CHECK(smh_test::holds(shm, 2));
}

TEST_CASE("a forked child is never the owner: destroying its copy keeps the parent's segment") {
    auto shm = SharedMemoryHandlee<int>::create(8);
    const auto name = shm.name();
    const auto child = smh_test::run_in_child([&] {
        if (shm.is_owner()) return false;
        { auto taken = std::move(shm); } // runs the destructor in the child
        return true;
    });
    REQUIRE(child.exited);
    CHECK(child.exit_code == 0);
    CHECK(shm.is_owner());
    CHECK(smh_test::segment_exists(name));
}

TEST_CASE("forked workers fill disjoint halves and the parent sees all of it") {
    auto shm = SharedMemoryHandlee<int>::create(10'000);
    auto worker = [&](std::size_t begin, std::size_t end) {
        return smh_test::run_in_child([&, begin, end] {
            for (std::size_t i = begin; i < end; ++i) shm[i] = static_cast<int>(i) * 2;
            return true;
        });
    };
    const auto first = worker(0, 5000);
    const auto second = worker(5000, 10'000);
    CHECK((first.exited && first.exit_code == 0));
    CHECK((second.exited && second.exit_code == 0));
    std::size_t right = 0;
    for (std::size_t i = 0; i < shm.size(); ++i) right += shm[i] == static_cast<int>(i) * 2;
    CHECK(right == shm.size());
}

TEST_CASE("forked children adding to an atomic element lose no update") {
    auto counter = SharedMemoryHandlee<std::atomic<std::uint64_t>>::create(1);
    std::vector<pid_t> children;
    for (int c = 0; c < 4; ++c) {
        const pid_t pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            for (int i = 0; i < 100'000; ++i) counter[0].fetch_add(1, std::memory_order_relaxed);
            ::_exit(0);
        }
        children.push_back(pid);
    }
    for (const pid_t pid : children) {
        const auto result = smh_test::wait_for(pid, std::chrono::seconds(60));
        CHECK((result.exited && result.exit_code == 0));
    }
    CHECK(counter[0].load() == 400'000);
}

#ifndef NDEBUG
TEST_CASE("in a debug build, operator[] past the end stops the program with an assertion") {
    auto shm = SharedMemoryHandlee<int>::create(4);
    const auto child = smh_test::run_in_child([&] {
        ::close(STDERR_FILENO); // keep the expected assertion message out of the log
        return shm[4] == 0;
    });
    CHECK(child.signal == SIGABRT);
}
#endif
