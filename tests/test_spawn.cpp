// Spawned programs (posix_spawn or CreateProcess: a new image) share segments by name.
#include <catch2/catch.hpp>

#include "shared_types.hpp"
#include "checks.hpp"

using smh::SharedMemoryHandlee;
using smh_test::run_helper;

TEMPLATE_TEST_CASE("a spawned program attaches by name and each side sees the other's writes", "",
                   int, geo::Point, (std::array<int, 4>), std::atomic<std::uint64_t>) {
    const std::string type = std::is_same_v<TestType, int>                ? "int"
                             : std::is_same_v<TestType, geo::Point>       ? "point"
                             : smh::detail::is_std_array<TestType>::value ? "array"
                                                                          : "atomic";
    auto shm = SharedMemoryHandlee<TestType>::create(257);
    smh_test::fill(shm, 5);
    const auto result = run_helper({"answer", type, shm.name(), "5"});
    REQUIRE(result.exited);
    CHECK(result.exit_code == 0);   // the child saw seed 5...
    CHECK(smh_test::holds(shm, 6)); // ...and wrote seed 6
}

TEST_CASE("a spawned program's create is attached by another spawned program") {
    const auto result = run_helper({"create-run", "point", "100", "3", SMH_TEST_HELPER});
    REQUIRE(result.exited);
    CHECK(result.exit_code == 0);
}

TEST_CASE("a spawned program attaching with the wrong type gets errc::type_mismatch") {
    auto shm = SharedMemoryHandlee<int>::create(4);
    const auto result = run_helper({"attach", "point", shm.name()});
    REQUIRE(result.exited);
    CHECK(result.exit_code == smh_test::exit_code_for(smh::errc::type_mismatch));
}

TEST_CASE("a spawned program's attach to a segment that is gone gets errc::not_found") {
    std::string name;
    {
        auto shm = SharedMemoryHandlee<int>::create(4);
        name = shm.name();
    }
    const auto result = run_helper({"attach", "int", name});
    REQUIRE(result.exited);
    CHECK(result.exit_code == smh_test::exit_code_for(smh::errc::not_found));
}

#ifdef SMH_PEER_HELPER
// SMH_PEER_HELPER is the helper built by the other compiler (g++ or clang++),
// so these show that the type identity is the same across compilers.
TEST_CASE("segments pass between programs built by g++ and by clang++") {
    const auto type = GENERATE(as<std::string>{}, "int", "point", "array", "atomic");
    SECTION("this build creates, the other attaches") {
        const auto result = run_helper({"create-run", type, "64", "9", SMH_PEER_HELPER});
        REQUIRE(result.exited);
        CHECK(result.exit_code == 0);
    }
    SECTION("the other build creates, this one attaches") {
        const auto result = smh_test::run_program(
            {SMH_PEER_HELPER, "create-run", type, "64", "9", SMH_TEST_HELPER});
        REQUIRE(result.exited);
        CHECK(result.exit_code == 0);
    }
}
#endif
