// attach: by name, length from the segment, type checked, never trusting the bytes.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstring>
#include <thread>

#include "shared_types.hpp"
#include "checks.hpp"

using smh::SharedMemoryHandlee;
using smh_test::error_of;
using smh_test::header_of;
using smh_test::reseal;
using smh_test::unique_name;
using smh_test::valid_segment_bytes;

TEST_CASE("attach maps an existing segment and takes its length from it") {
    auto created = SharedMemoryHandlee<int>::create(37);
    auto attached = SharedMemoryHandlee<int>::attach(created.name());
    CHECK(attached.size() == 37);
    CHECK(attached.name() == created.name());
    CHECK_FALSE(attached.is_owner());
}

TEST_CASE("writes through one handle are seen through another") {
    auto created = SharedMemoryHandlee<geo::Point>::create(50);
    auto attached = smh::attach<geo::Point>(created.name());
    smh_test::fill(created, 1);
    CHECK(smh_test::holds(attached, 1));
    smh_test::fill(attached, 2);
    CHECK(smh_test::holds(created, 2));
}

TEST_CASE("attach to a missing name throws errc::not_found naming the segment") {
    const auto name = unique_name();
    const auto thrown = error_of([&] { (void)SharedMemoryHandlee<int>::attach(name); });
    CHECK(thrown == smh::errc::not_found);
    CHECK_THAT(thrown.what, Catch::StartsWith("attach \"" + name + "\": not_found"));
    CHECK(thrown.native_code == std::errc::no_such_file_or_directory);
}

TEST_CASE("attach<U> on a segment created as T throws errc::type_mismatch naming both") {
    SECTION("int32_t and float have the same size") {
        auto created = SharedMemoryHandlee<std::int32_t>::create(4);
        const auto thrown =
            error_of([&] { (void)SharedMemoryHandlee<float>::attach(created.name()); });
        CHECK(thrown == smh::errc::type_mismatch);
        CHECK_THAT(thrown.what, Catch::Contains("int32") && Catch::Contains("float32"));
    }
    SECTION("two structs with the same members but different names") {
        auto created = SharedMemoryHandlee<geo::Point>::create(4);
        const auto thrown =
            error_of([&] { (void)SharedMemoryHandlee<geo::Vector>::attach(created.name()); });
        CHECK(thrown == smh::errc::type_mismatch);
        CHECK_THAT(thrown.what, Catch::Contains("geo::Point") && Catch::Contains("geo::Vector"));
    }
    SECTION("types of different sizes") {
        auto created = SharedMemoryHandlee<std::int16_t>::create(4);
        CHECK(error_of([&] { (void)SharedMemoryHandlee<int>::attach(created.name()); }) ==
              smh::errc::type_mismatch);
    }
    SECTION("a plain integer and an atomic one") {
        auto created = SharedMemoryHandlee<std::atomic<int>>::create(4);
        CHECK(error_of([&] { (void)SharedMemoryHandlee<int>::attach(created.name()); }) ==
              smh::errc::type_mismatch);
    }
}

// [orphans]: one variant is an orphan, which remove_orphans() in a parallel test would remove.
TEST_CASE("attach to bytes that are not a valid smh segment throws errc::corrupt_segment",
          "[orphans]") {
    const auto name = unique_name();
    std::string bytes = valid_segment_bytes(10);
    auto& header = header_of(bytes);

    if (smh_test::zero_length_segments_exist) {
        SECTION("a zero-length segment") { bytes.clear(); }
    }
    SECTION("fewer bytes than a header") { bytes.resize(100); }
    SECTION("another program's bytes") {
        for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 31 + 7);
    }
    SECTION("truncated: the header claims more elements than there are bytes") {
        // One more than fit in what the OS really gives (Windows: whole pages).
        header.element_count =
            (smh_test::stored_size(bytes.size()) - header.data_offset) / sizeof(int) + 1;
        reseal(bytes);
    }
    SECTION("right magic, absurd element count, checksum recomputed") {
        header.element_count = ~std::uint64_t{0} / 2;
        reseal(bytes);
    }
    SECTION("right magic, zero elements") {
        header.element_count = 0;
        reseal(bytes);
    }
    SECTION("right magic, impossible element alignment") {
        header.element_align = 3;
        reseal(bytes);
    }
    SECTION("right magic, elements at an offset inside the header") {
        header.data_offset = 8;
        reseal(bytes);
    }
    SECTION("right magic, another layout version") {
        header.layout_version = 99;
        reseal(bytes);
    }
    SECTION("right magic, a field changed after creation (checksum no longer matches)") {
        header.element_count = 5;
    }
    SECTION("right magic, a reserved byte set (checksum no longer matches)") {
        reinterpret_cast<unsigned char*>(&header.length)[3] = 1;
    }
    SECTION("right magic, unterminated type name") {
        std::memset(header.type_name, 'x', sizeof header.type_name);
        reseal(bytes);
    }
    SECTION("right magic, unknown state") { header.state = 0x12345678; }
    SECTION("left half-created by a process that no longer exists") {
        header.state = smh::detail::state_creating;
        header.owner_pid = 0x7ffffff0; // above Linux's largest pid_max; no Windows process
    }
    const auto raw = smh_test::write_raw_segment(name, bytes);
    const std::string before = smh_test::read_raw_segment(name, bytes.size() + 1);

    const auto thrown = error_of([&] { (void)SharedMemoryHandlee<int>::attach(name); });
    CHECK(thrown == smh::errc::corrupt_segment);
    CHECK_THAT(thrown.what, Catch::Contains(name));
    // Attaching never writes to what it rejected.
    CHECK(smh_test::read_raw_segment(name, bytes.size() + 1) == before);
}

TEST_CASE("attach accepts a segment whose wait words are nonzero: the checksum skips them") {
    const auto name = unique_name();
    std::string bytes = valid_segment_bytes(4);
    header_of(bytes).wait_sequence = 0x89abcdef; // as after many notifies
    header_of(bytes).waiters = 3;                // as while three processes wait
    const auto raw = smh_test::write_raw_segment(name, bytes);
    const auto shm = SharedMemoryHandlee<int>::attach(name);
    CHECK(shm.size() == 4);
    CHECK(smh::inspect(name).element_count == 4);
}

TEST_CASE("an attached handle keeps the element count it checked at attach") {
    auto created = SharedMemoryHandlee<int>::create(10);
    auto attached = SharedMemoryHandlee<int>::attach(created.name());
    // The other side rewrites the count in the header: the attached handle
    // still uses what it validated against the segment's real size.
    auto* header = reinterpret_cast<smh::detail::segment_header*>(
        reinterpret_cast<std::byte*>(created.data().data()) -
        smh::detail::data_offset_for(alignof(int)));
    header->element_count = 1'000'000'000;
    CHECK(attached.size() == 10);
    CHECK_THROWS_AS(attached.at(10), std::out_of_range);
}
