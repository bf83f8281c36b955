// Ownership and access modes that behave alike on every platform: read-only
// attach, adopt, take_ownership. POSIX-only ones (release past the process,
// orphans, listing, modes): posix/test_ownership_posix.cpp.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <memory>
#include <span>
#include <thread>
#include <type_traits>

#include "checks.hpp"

using smh::SharedMemoryHandlee;
using smh_test::segment_exists;

namespace {

template <class H>
constexpr bool can_create = requires {
    H::create(std::size_t{1});
};
template <class H>
constexpr bool can_release = requires(H& h) {
    h.release();
};
template <class H>
constexpr bool can_adopt = requires(H& h) {
    h.adopt();
};
template <class H>
constexpr bool can_take_ownership = requires(H& h) {
    h.take_ownership();
};

} // namespace

// --- read-only attach -------------------------------------------------------

TEST_CASE("SharedMemoryHandlee<const T> attaches read-only: elements are const") {
    using ReadOnly = SharedMemoryHandlee<const int>;
    static_assert(std::is_same_v<decltype(std::declval<ReadOnly&>()[0]), const int&>);
    static_assert(std::is_same_v<decltype(std::declval<ReadOnly&>().at(0)), const int&>);
    static_assert(std::is_same_v<decltype(std::declval<ReadOnly&>().data()), std::span<const int>>);
    static_assert(std::is_same_v<decltype(std::declval<ReadOnly&>().begin()), const int*>);
    static_assert(std::is_same_v<ReadOnly::value_type, int>);
    static_assert(!can_create<ReadOnly> && can_create<SharedMemoryHandlee<int>>);
    static_assert(!can_release<ReadOnly> && can_release<SharedMemoryHandlee<int>>);
    static_assert(!can_adopt<ReadOnly> && can_adopt<SharedMemoryHandlee<int>>);
    static_assert(!can_take_ownership<ReadOnly> && can_take_ownership<SharedMemoryHandlee<int>>);
    auto owner = SharedMemoryHandlee<int>::create(8);
    const auto reader = smh::attach<const int>(owner.name());
    CHECK(reader.size() == 8);
    CHECK_FALSE(reader.is_owner());
    owner[5] = 55;
    CHECK(reader[5] == 55);
    CHECK(std::ranges::count(reader, 55) == 1);
}

// --- handing ownership on ---------------------------------------------------

TEST_CASE("adopt() refuses while a live process owns the segment, and succeeds once it "
          "has died",
          "[orphans]") {
    const auto name = smh_test::unique_name();
    const auto owner = smh_test::start_program({SMH_TEST_HELPER, "create-wait", name, "4"});
    // The owner writes 7 to element 0 once it has created the segment.
    SharedMemoryHandlee<int> attached;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (attached.size() == 0 && std::chrono::steady_clock::now() < deadline) {
        try {
            attached = smh::attach<int>(name);
        } catch (const smh::error&) { std::this_thread::sleep_for(std::chrono::milliseconds(5)); }
    }
    REQUIRE(attached.size() == 4);
    while (attached[0] != 7 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    CHECK_FALSE(attached.adopt());
    CHECK_FALSE(attached.is_owner());

    smh_test::kill_program(owner);
    CHECK_FALSE(smh_test::wait_for(owner, std::chrono::seconds(10)).timed_out);
    CHECK(attached.adopt());
    CHECK(attached.is_owner());
    CHECK(attached[0] == 7);
}

TEST_CASE("adopt() refuses a segment another object in this process owns") {
    auto owner = SharedMemoryHandlee<int>::create(4);
    auto attached = smh::attach<int>(owner.name());
    CHECK_FALSE(attached.adopt());
    CHECK(owner.is_owner());
}

TEST_CASE("take_ownership(): the previous owner's destructor no longer removes the name") {
    auto first = std::make_unique<SharedMemoryHandlee<int>>(SharedMemoryHandlee<int>::create(4));
    const auto name = first->name();
    {
        auto second = smh::attach<int>(name);
        second.take_ownership();
        CHECK(second.is_owner());
        CHECK_FALSE(first->is_owner());
        first.reset();
        CHECK(segment_exists(name)); // the old owner left it alone
    }
    CHECK_FALSE(segment_exists(name)); // the new one removed it
}
