// The error contract: smh::error, smh::errc, and each reason with its cause.
#include <catch2/catch.hpp>

#include <limits>
#include <system_error>
#include <type_traits>

#include "checks.hpp"

using smh::SharedMemoryHandlee;
using smh_test::error_of;
using smh_test::unique_name;

TEST_CASE("smh::error is a std::system_error whose code compares equal to an smh::errc") {
    static_assert(std::is_base_of_v<std::system_error, smh::error>);
    static_assert(std::is_error_code_enum_v<smh::errc>);

    const smh::error e(smh::errc::not_found, "attach", "w1", "",
                       std::make_error_code(std::errc::no_such_file_or_directory));
    CHECK(e.code() == smh::errc::not_found);
    CHECK(e.code() != smh::errc::already_exists);
    CHECK(std::string(e.code().category().name()) == "smh");
    CHECK(std::string(e.what()) == "attach \"w1\": not_found (No such file or directory)");
    CHECK(e.native_code() == std::errc::no_such_file_or_directory);

    for (const auto code :
         {smh::errc::not_found, smh::errc::already_exists, smh::errc::invalid_name,
          smh::errc::invalid_length, smh::errc::type_mismatch, smh::errc::corrupt_segment,
          smh::errc::permission_denied, smh::errc::no_space, smh::errc::os_error}) {
        const std::error_code ec = code;
        CHECK(ec.message().find("unknown") == std::string::npos);
    }
}

TEST_CASE("a bad name throws errc::invalid_name from create and from attach") {
    const std::string too_long(300, 'a');
    const auto bad = GENERATE_COPY(as<std::string>{}, "", "a/b", "has space", "tab\there",
                                   "/leading-slash", ".", "..", "caf\xc3\xa9", too_long);
    const auto thrown = error_of([&] { (void)SharedMemoryHandlee<int>::create(bad, 1); });
    CHECK(thrown == smh::errc::invalid_name);
    // The name as given; an empty one is no name at all.
    CHECK_THAT(thrown.what,
               Catch::StartsWith(bad.empty() ? "create: invalid_name ("
                                             : "create \"" + bad + "\": invalid_name ("));
    CHECK(error_of([&] { (void)SharedMemoryHandlee<int>::attach(bad); }) ==
          smh::errc::invalid_name);
}

TEST_CASE("invalid_name shows the character it refuses, escaped where it is not printable") {
    const auto message = [](const std::string& bad) {
        return error_of([&] { (void)SharedMemoryHandlee<int>::attach(bad); }).what;
    };
    CHECK_THAT(message("a b"), Catch::Contains("character ' ' at position 1 is not allowed"));
    CHECK_THAT(message("a:b"), Catch::Contains("character ':' at position 1"));
    CHECK_THAT(message(std::string("a\x01") + "b"),
               Catch::Contains("character '\\x01' at position 1"));
    CHECK_THAT(message("caf\xc3\xa9"), Catch::Contains("character '\\xc3' at position 3"));
}

TEST_CASE("a name given as a path says to give it without the directory") {
    const auto thrown =
        error_of([] { (void)SharedMemoryHandlee<int>::attach("/dev/shm/results-1"); });
    CHECK(thrown == smh::errc::invalid_name);
    CHECK_THAT(thrown.what, Catch::Contains("character '/' at position 0") &&
                                Catch::Contains("give the name without the directory: "
                                                "\"results-1\""));
    // A slash that is no directory's: the usual advice.
    CHECK_THAT(error_of([] { (void)SharedMemoryHandlee<int>::attach("a/"); }).what,
               Catch::Contains("use only A-Z a-z 0-9 . _ -"));
}

TEST_CASE("every character of [A-Za-z0-9._-] is allowed, up to the platform's length") {
    const auto name = unique_name() + "-AZaz09._";
    CHECK(SharedMemoryHandlee<int>::create(name, 1).name() == name);

    std::string longest = unique_name();
    longest.resize(smh::max_name_length, 'x');
    CHECK(SharedMemoryHandlee<int>::create(longest, 1).name() == longest);
}

TEST_CASE("a length of zero throws errc::invalid_length, naming the segment") {
    const auto name = unique_name();
    const auto thrown = error_of([&] { (void)SharedMemoryHandlee<int>::create(name, 0); });
    CHECK(thrown == smh::errc::invalid_length);
    CHECK_THAT(thrown.what, Catch::Contains(name) && Catch::Contains("length is 0"));
    CHECK_FALSE(smh_test::segment_exists(name));
}

TEST_CASE("create without a name and with a length of zero names no segment in its message") {
    // The name would be made up, and no segment ever had it.
    const auto thrown = error_of([] { (void)SharedMemoryHandlee<int>::create(0); });
    CHECK(thrown == smh::errc::invalid_length);
    CHECK(thrown.what == "create: invalid_length (length is 0)");
}

TEST_CASE("a length whose byte size overflows throws errc::invalid_length") {
    const auto name = unique_name();
    CHECK(error_of([&] {
              (void)SharedMemoryHandlee<std::uint64_t>::create(
                  name, std::numeric_limits<std::size_t>::max() / 4);
          }) == smh::errc::invalid_length);
    CHECK(error_of([&] {
              (void)SharedMemoryHandlee<char>::create(name,
                                                      std::numeric_limits<std::size_t>::max());
          }) == smh::errc::invalid_length);
    CHECK_FALSE(smh_test::segment_exists(name));
}
