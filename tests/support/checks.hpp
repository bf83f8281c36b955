// What a test case checks with, on top of Catch2 and support.hpp (which the
// helper program shares, so it stays free of Catch2): errors printed by name,
// skipping a case that cannot run here, and checks run in a child process.
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

// ctest reports a test that exits with this code as skipped, not passed
// (SKIP_RETURN_CODE in tests/CMakeLists.txt). The runner (main.cpp) exits
// with it when every test case it ran called skip() and none failed.
inline constexpr int skipped_exit_code = 77;

struct skip_record {
    int cases_run = 0;
    int cases_skipped = 0;
    bool current_skipped = false;
};

inline skip_record& skips() {
    static skip_record record;
    return record;
}

// For a test case that cannot run here (no root, a sanitizer in the way); the
// case returns at once, and ctest shows it as skipped:
//   if (::geteuid() != 0) return smh_test::skip("needs root to ...");
inline void skip(const std::string& reason) {
    WARN("skipped: " << reason);
    skips().current_skipped = true;
}

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
