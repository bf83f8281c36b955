// What a test case checks with, on top of Catch2 and support.hpp (which the
// helper program shares, so it stays free of Catch2): errors printed by name,
// and checks run in a child process.
#pragma once

#include <catch2/catch.hpp>

#include <chrono>
#include <functional>
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

namespace smh_test {

#if !defined(_WIN32)
// Waits for a child process and fails the test case, with the child's own
// message, unless the child succeeded. True if it did.
inline bool expect_success(child_process& child,
                           std::chrono::seconds timeout = std::chrono::seconds(60)) {
    const auto result = child.wait(timeout);
    if (!result.failure.empty()) {
        FAIL_CHECK("in the child process: " << result.failure);
        return false;
    }
    SUCCEED("the child process succeeded");
    return true;
}

// Runs `body` in a forked child process (plain code and child_check, no
// Catch2 macros) and fails the test case, with the child's message, if a
// check there failed, it threw, it died of a signal or it outlived `timeout`.
inline bool in_child(const std::function<void()>& body,
                     std::chrono::seconds timeout = std::chrono::seconds(60)) {
    child_process child(body);
    return expect_success(child, timeout);
}
#endif

} // namespace smh_test
