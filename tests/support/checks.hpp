// What a test case checks with, on top of Catch2 and support.hpp (which the
// helper program shares, so it stays free of Catch2): errors printed by name.
#pragma once

#include <catch2/catch.hpp>

#include <string>
#include <system_error>

#include "support.hpp"

// A failed CHECK(error_of(...) == smh::errc::x) shows what was thrown, by name.
template <>
struct Catch::StringMaker<smh::errc> {
    static std::string convert(smh::errc code) {
        return code == smh::errc{} ? "nothing thrown" : std::error_code(code).message();
    }
};
template <>
struct Catch::StringMaker<smh_test::thrown_error> {
    static std::string convert(const smh_test::thrown_error& thrown) {
        return thrown.code == smh::errc{} ? "nothing thrown" : "smh::error \"" + thrown.what + "\"";
    }
};
