// The element type's identity in the header: the same spelling from every
// compiler, different for different types, and the header's fields.
#include <catch2/catch.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstring>

#include "shared_types.hpp"
#include "checks.hpp"

using smh::element_type_name;
using smh::detail::canonical_type_name;

namespace {
struct Local {
    int a;
};
} // namespace

namespace test_ns {
template <class A, class B>
struct holder {
    A a;
    B b;
};
enum class Colour : std::uint8_t { red, green };
struct Custom {
    int v;
};
} // namespace test_ns

template <>
struct smh::element_type_name<test_ns::Custom> {
    static std::string value() { return "custom.v1"; }
};

TEST_CASE("arithmetic types are named by representation, not by keyword") {
    CHECK(element_type_name<int>::value() == "int32");
    CHECK(element_type_name<std::int32_t>::value() == "int32");
    CHECK(element_type_name<std::uint64_t>::value() == "uint64");
    CHECK(element_type_name<long long>::value() == "int64");
    CHECK(element_type_name<unsigned char>::value() == "uint8");
    CHECK(element_type_name<char>::value() == "char");
    CHECK(element_type_name<bool>::value() == "bool");
    CHECK(element_type_name<float>::value() == "float32");
    CHECK(element_type_name<double>::value() == "float64");
}

TEST_CASE("library and user types are named the same by g++ and clang++") {
    CHECK(element_type_name<std::atomic<std::uint64_t>>::value() == "std::atomic<uint64>");
    CHECK(element_type_name<std::array<int, 4>>::value() == "std::array<int32, 4>");
    CHECK(element_type_name<int[3]>::value() == "int32[3]");
    CHECK(element_type_name<geo::Point>::value() == "geo::Point");
    CHECK(element_type_name<Local>::value() == "(anonymous)::Local");
    CHECK(element_type_name<test_ns::holder<long long, unsigned short>>::value() ==
          "test_ns::holder<int64, uint16>");
    CHECK(element_type_name<test_ns::holder<std::array<double, 2>, char>>::value() ==
          "test_ns::holder<std::array<float64, 2>, char>");
    CHECK(element_type_name<test_ns::Colour>::value() == "test_ns::Colour");
}

TEST_CASE("each compiler's spelling becomes the same canonical name") {
    // long is 64 bits on Linux (LP64), 32 on Windows (LLP64): named by its size here.
    const auto unsigned_long = "uint" + std::to_string(8 * sizeof(unsigned long));
    CHECK(canonical_type_name("long unsigned int") == unsigned_long);
    CHECK(canonical_type_name("unsigned long") == unsigned_long);
    CHECK(canonical_type_name("short unsigned int") == "uint16");
    CHECK(canonical_type_name("long long int") == "int64");
    CHECK(canonical_type_name("signed char") == "int8");
    CHECK(canonical_type_name("long double") == "long double");
    CHECK(canonical_type_name("{anonymous}::Local") == "(anonymous)::Local");
    CHECK(canonical_type_name("(anonymous namespace)::Local") == "(anonymous)::Local");
    CHECK(canonical_type_name("`anonymous namespace'::Local") == "(anonymous)::Local");
    CHECK(canonical_type_name("struct geo::Point") == "geo::Point");
    CHECK(canonical_type_name("Wrap<Wrap<int> >") == "Wrap<Wrap<int32>>");
    CHECK(canonical_type_name("S<4ul, 2u>") == "S<4, 2>");
    CHECK(canonical_type_name("my_int_type") == "my_int_type");
}

TEST_CASE("element_type_name can be specialised, and the header stores that name") {
    auto shm = smh::SharedMemoryHandlee<test_ns::Custom>::create(2);
    const auto bytes = smh_test::read_raw_segment(shm.name(), smh::detail::header_size);
    smh::detail::segment_header header{};
    std::memcpy(&header, bytes.data(), sizeof header);
    CHECK(smh::detail::stored_type_name(header) == "custom.v1");
    CHECK(header.type_hash == smh::detail::fnv1a_64("custom.v1"));
}

TEST_CASE("create writes the documented header") {
    auto shm = smh::SharedMemoryHandlee<geo::Point>::create(1000);
    const auto bytes = smh_test::read_raw_segment(shm.name(), 1 << 20);
    REQUIRE(bytes.size() >= smh::detail::header_size);
    smh::detail::segment_header header{};
    std::memcpy(&header, bytes.data(), sizeof header);

    CHECK(std::memcmp(header.magic, "SMHSEG\0\x01", 8) == 0);
    CHECK(header.layout_version == 1);
    CHECK(header.header_size == 256);
    CHECK(header.state == smh::detail::state_ready);
    CHECK(header.endian_marker == 0x01020304);
    CHECK(header.data_offset == 256);
    CHECK(header.element_size == sizeof(geo::Point));
    CHECK(header.element_align == alignof(geo::Point));
    CHECK(header.element_count == 1000);
    CHECK(smh::detail::stored_type_name(header) == "geo::Point");
    CHECK(header.type_hash == smh::detail::fnv1a_64("geo::Point"));
    CHECK(header.checksum == smh::detail::header_checksum(header));
    CHECK(header.creator_pid == smh_test::current_pid());
    CHECK(header.owner_pid == smh_test::current_pid());
    CHECK(header.owner_start_time == smh_test::process_start_time(smh_test::current_pid()));
    // Exactly the bytes the elements need: no page rounding.
    CHECK(bytes.size() == smh_test::stored_size(256 + 1000 * sizeof(geo::Point)));
}

TEST_CASE("the header checksum is FNV-1a 64 of the header's 256 bytes with the mutable fields "
          "zeroed, as docs/layout.md says") {
    // As another language computes it, from the documented layout.
    auto spec_checksum = [](const smh::detail::segment_header& header) {
        auto copy = header;
        copy.state = 0;
        copy.checksum = 0;
        copy.owner_pid = 0;
        copy.owner_start_time = 0;
        copy.owner_token = 0;
        copy.wait_sequence = 0;
        copy.waiters = 0;
        if (copy.layout_version == smh::detail::growable_layout_version) copy.length = 0;
        return smh::detail::fnv1a_64({reinterpret_cast<const char*>(&copy), sizeof copy});
    };
    auto stored_header = [](const std::string& name) {
        const auto bytes = smh_test::read_raw_segment(name, 1 << 20);
        smh::detail::segment_header header{};
        REQUIRE(bytes.size() >= sizeof header);
        std::memcpy(&header, bytes.data(), sizeof header);
        return header;
    };
    SECTION("a fixed segment") {
        auto shm = smh::SharedMemoryHandlee<geo::Point>::create(3);
        const auto header = stored_header(shm.name());
        CHECK(header.checksum == spec_checksum(header));
    }
    SECTION("a growable one") {
        auto shm = smh::create<int, smh::growable>(3, {.capacity = 100});
        shm.grow(50);
        const auto header = stored_header(shm.name());
        CHECK(header.layout_version == smh::detail::growable_layout_version);
        CHECK(header.checksum == spec_checksum(header));
    }
}

TEST_CASE("FNV-1a that skips zero words is FNV-1a, whatever the runs of zeros and the tail") {
    std::uint64_t seed = 0x9e3779b97f4a7c15ULL;
    auto next = [&] { return seed = seed * 6364136223846793005ULL + 1442695040888963407ULL; };
    for (int round = 0; round < 2000; ++round) {
        std::array<unsigned char, 300> bytes{};
        const auto count = static_cast<std::size_t>(next() >> 33) % (bytes.size() + 1);
        for (std::size_t i = 0; i < count; ++i) {
            // Runs of zeros of every length, at every alignment.
            const auto draw = next() >> 40;
            bytes[i] = draw % 3 == 0 ? static_cast<unsigned char>(draw >> 8) : 0;
        }
        const auto expected =
            smh::detail::fnv1a_64({reinterpret_cast<const char*>(bytes.data()), count});
        REQUIRE(smh::detail::fnv1a_64_skipping_zero_words(bytes.data(), count) == expected);
    }
}

namespace test_ns {
template <std::uint8_t N>
struct U8 {
    int v;
};
template <char C>
struct Ch {
    int v;
};
template <Colour C>
struct Painted {
    int v;
};
template <auto N>
struct Tag {
    int v;
};
} // namespace test_ns

TEST_CASE("template arguments that g++ and clang++ print differently get one name") {
    CHECK(element_type_name<test_ns::U8<4>>::value() == "test_ns::U8<4>");
    CHECK(element_type_name<test_ns::Ch<'\n'>>::value() == "test_ns::Ch<10>");
    CHECK(element_type_name<test_ns::Ch<'a'>>::value() == "test_ns::Ch<97>");
    CHECK(element_type_name<test_ns::Painted<static_cast<test_ns::Colour>(7)>>::value() ==
          "test_ns::Painted<7>");
    CHECK(element_type_name<test_ns::Tag<short{4}>>::value() == "test_ns::Tag<4>");
    CHECK(element_type_name<test_ns::holder<std::chrono::system_clock::time_point, int>>::value() ==
          "test_ns::holder<std::chrono::time_point<std::chrono::system_clock, "
          "std::chrono::duration<int64, std::ratio<1, 1000000000>>>, int32>");
#ifdef __SIZEOF_INT128__
    CHECK(element_type_name<smh::detail::uint128_type>::value() == "uint128");
    CHECK(element_type_name<
              test_ns::holder<smh::detail::uint128_type, smh::detail::int128_type>>::value() ==
          "test_ns::holder<uint128, int128>");
#endif
    CHECK(canonical_type_name("C<'\\012'>") == "C<10>");
    CHECK(canonical_type_name("C<'\\x04'>") == "C<4>");
    CHECK(canonical_type_name("E<(ns::Colour)7>") == "E<7>");
    CHECK(canonical_type_name("std::__cxx11::basic_string<char>") == "std::basic_string<char>");
}
