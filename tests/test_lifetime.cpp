// Who removes the name, and when: owner, attached handles, unlink(), moves.
#include <catch2/catch.hpp>

#include <type_traits>
#include <utility>

#include "checks.hpp"

using smh::SharedMemoryHandlee;
using smh_test::segment_exists;
using smh_test::unique_name;

TEST_CASE("the owner's destructor removes the name") {
    std::string name;
    {
        auto shm = SharedMemoryHandlee<int>::create(4);
        name = shm.name();
        CHECK(segment_exists(name));
    }
    CHECK_FALSE(segment_exists(name));
}

TEST_CASE("an attached handle's destructor only unmaps") {
    auto owner = SharedMemoryHandlee<int>::create(4);
    { auto attached = SharedMemoryHandlee<int>::attach(owner.name()); }
    CHECK(segment_exists(owner.name()));
    CHECK(SharedMemoryHandlee<int>::attach(owner.name()).size() == 4);
}

TEST_CASE("moving transfers the segment and ownership and leaves the source empty") {
    static_assert(!std::is_copy_constructible_v<SharedMemoryHandlee<int>>);
    static_assert(!std::is_copy_assignable_v<SharedMemoryHandlee<int>>);
    static_assert(std::is_nothrow_move_constructible_v<SharedMemoryHandlee<int>>);
    static_assert(std::is_nothrow_move_assignable_v<SharedMemoryHandlee<int>>);

    auto source = SharedMemoryHandlee<int>::create(4);
    source[2] = 5;
    const auto name = source.name();
    std::string moved_name;
    {
        SharedMemoryHandlee<int> target(std::move(source));
        CHECK(target.is_owner());
        CHECK(target.size() == 4);
        CHECK(target[2] == 5);
        CHECK(target.name() == name);

        // The moved-from state is what this tests.
        // NOLINTNEXTLINE(clang-analyzer-cplusplus.Move)
        CHECK(source.size() == 0);      // NOLINT(bugprone-use-after-move)
        CHECK(source.name().empty());   // NOLINT(bugprone-use-after-move)
        CHECK_FALSE(source.is_owner()); // NOLINT(bugprone-use-after-move)
        CHECK(source.begin() == source.end());
        CHECK_FALSE(source.unlink());
        CHECK(segment_exists(name)); // the empty source removed nothing
    }
    CHECK_FALSE(segment_exists(name)); // the target was the owner
}

TEST_CASE("move assignment releases what the target held") {
    auto target = SharedMemoryHandlee<int>::create(4);
    auto source = SharedMemoryHandlee<int>::create(8);
    const auto old_name = target.name();
    const auto new_name = source.name();

    target = std::move(source);
    CHECK_FALSE(segment_exists(old_name));
    CHECK(target.name() == new_name);
    CHECK(target.size() == 8);
    CHECK(target.is_owner());

    auto& alias = target;
    target = std::move(alias); // self-move leaves it as it was
    CHECK(target.name() == new_name);
    CHECK(segment_exists(new_name));
}

TEST_CASE("a default-constructed handle is empty and can receive a segment") {
    SharedMemoryHandlee<int> shm;
    CHECK(shm.size() == 0);
    CHECK(shm.data().empty());
    CHECK_FALSE(shm.is_owner());
    shm = SharedMemoryHandlee<int>::create(3);
    CHECK(shm.size() == 3);
    CHECK(shm.is_owner());
}

TEST_CASE("when the owning process exits normally its segment is removed") {
    const auto name = unique_name();
    smh_test::segment_guard guard(name);
    const auto result = smh_test::run_helper({"create-exit", name, "16"});
    REQUIRE(result.exited);
    CHECK(result.exit_code == 0);
    CHECK_FALSE(segment_exists(name));
}
