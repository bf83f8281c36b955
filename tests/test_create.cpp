// create: fresh names, exclusive names, zeroed elements, permissions.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>

#include "shared_types.hpp"
#include "checks.hpp"

using smh::SharedMemoryHandlee;
using smh_test::error_of;
using smh_test::unique_name;

TEST_CASE("create(length) makes an owned segment under a fresh, unpredictable name") {
    auto first = SharedMemoryHandlee<int>::create(16);
    auto second = SharedMemoryHandlee<int>::create(16);

    CHECK(first.is_owner());
    CHECK(first.size() == 16);
    CHECK(first.name() != second.name());
    // "smh-" and 16 hex digits: 64 bits from the OS's random source.
    REQUIRE(first.name().size() == 20);
    CHECK(first.name().rfind("smh-", 0) == 0);
    CHECK(std::all_of(first.name().begin() + 4, first.name().end(),
                      [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }));
    CHECK(smh_test::segment_exists(first.name()));
}

TEST_CASE("create(name, length) creates the segment under that name") {
    const auto name = unique_name();
    auto shm = SharedMemoryHandlee<double>::create(name, 5);
    CHECK(shm.name() == name);
    CHECK(shm.size() == 5);
    CHECK(shm.is_owner());
    CHECK(smh_test::segment_exists(name));
}

TEST_CASE("a new segment's elements are all zero") {
    auto shm = SharedMemoryHandlee<std::uint64_t>::create(100'000);
    CHECK(std::all_of(shm.begin(), shm.end(), [](std::uint64_t v) { return v == 0; }));
}

TEST_CASE("create on a name that exists throws errc::already_exists and leaves it untouched") {
    const auto name = unique_name();

    SECTION("the name holds an smh segment") {
        auto existing = SharedMemoryHandlee<int>::create(name, 8);
        smh_test::fill(existing, 11);
        const auto thrown = error_of([&] { (void)SharedMemoryHandlee<int>::create(name, 1000); });
        CHECK(thrown == smh::errc::already_exists);
        CHECK_THAT(thrown.what, Catch::Contains(name));
        CHECK(smh_test::holds(existing, 11));
        const auto again = SharedMemoryHandlee<int>::attach(name);
        CHECK(again.size() == 8);
        CHECK(smh_test::holds(again, 11));
    }
    SECTION("the name holds another program's bytes, e.g. an attacker's") {
        const std::string foreign = "not an smh segment, and it must stay that way";
        const auto foreign_segment = smh_test::write_raw_segment(name, foreign);
        CHECK(error_of([&] { (void)SharedMemoryHandlee<char>::create(name, 4096); }) ==
              smh::errc::already_exists);
        CHECK(smh_test::read_raw_segment(name, foreign.size()) == foreign);
        CHECK(smh_test::read_raw_segment(name, 4096).size() ==
              smh_test::stored_size(foreign.size()));
    }
}

namespace {
class MySharedMemory : public SharedMemoryHandlee<int> {
public:
    explicit MySharedMemory(std::size_t length)
        : SharedMemoryHandlee(length) {}
};
} // namespace

TEST_CASE("the length constructor creates, so a class can derive as in the Python module") {
    MySharedMemory shared_memory(10);
    for (std::size_t i = 0; i < 10; ++i) shared_memory[i] = static_cast<int>(i);
    CHECK(shared_memory.is_owner());
    CHECK(shared_memory.size() == 10);
    CHECK(shared_memory[9] == 9);
    CHECK(SharedMemoryHandlee<int>::attach(shared_memory.name())[9] == 9);
}

namespace {
struct Tally {
    int count = 7;
    double weight = 1.5;
};
struct alignas(128) Wide {
    char bytes[128];
};
} // namespace

TEST_CASE("elements with default member initialisers are constructed by create") {
    auto shm = SharedMemoryHandlee<Tally>::create(1000);
    CHECK(std::all_of(shm.begin(), shm.end(),
                      [](const Tally& t) { return t.count == 7 && t.weight == 1.5; }));
    // An attacher sees the creator's values; it constructs nothing.
    shm[3].count = 99;
    CHECK(SharedMemoryHandlee<Tally>::attach(shm.name())[3].count == 99);
}

TEST_CASE("elements start at an offset aligned for the type and to a cache line") {
    auto ints = SharedMemoryHandlee<int>::create(3);
    CHECK(reinterpret_cast<std::uintptr_t>(ints.data().data()) % 64 == 0);
    auto wide = SharedMemoryHandlee<Wide>::create(3);
    CHECK(reinterpret_cast<std::uintptr_t>(wide.data().data()) % 128 == 0);
}
