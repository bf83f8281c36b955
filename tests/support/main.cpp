// The test runner: Catch2's, plus a check that the run left no segment
// behind, and the exit code ctest reads as "skipped". It fails the run for any
// segment named with this process's test prefix, or created by this process,
// that is still there at the end.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <iostream>
#include <set>

#include "checks.hpp"

namespace {

std::set<std::string> leftovers() {
    std::set<std::string> names;
    for (auto& name : smh_test::leftover_segments(smh_test::name_prefix()))
        names.insert(std::move(name));
    return names;
}

// Counts the test cases run and those that called smh_test::skip().
struct skip_counter : Catch::TestEventListenerBase {
    using TestEventListenerBase::TestEventListenerBase;
    void testCaseStarting(const Catch::TestCaseInfo& info) override {
        TestEventListenerBase::testCaseStarting(info);
        smh_test::skips().current_skipped = false;
    }
    void testCaseEnded(const Catch::TestCaseStats& stats) override {
        TestEventListenerBase::testCaseEnded(stats);
        auto& skips = smh_test::skips();
        ++skips.cases_run;
        skips.cases_skipped += skips.current_skipped;
    }
};

} // namespace

CATCH_REGISTER_LISTENER(skip_counter)

int main(int argc, char* argv[]) {
    int result = Catch::Session().run(argc, argv);
    const auto& skips = smh_test::skips();
    if (skips.cases_run > 0) { // not a listing, whose exit code is the number of tests
        // Catch2 exits with the number of failed checks: 77 of them is a failure, not a skip.
        if (result == smh_test::skipped_exit_code) result = 1;
        // Skipped only when nothing failed and every case that ran skipped itself.
        if (result == 0 && skips.cases_skipped == skips.cases_run)
            result = smh_test::skipped_exit_code;
    }
    const auto left = leftovers();
    if (!left.empty()) {
        std::cerr << "FAILED: the tests left " << left.size() << " segment(s) behind:";
        for (const auto& name : left) {
            std::cerr << ' ' << name;
            smh_test::remove_leftover(name);
        }
        std::cerr << '\n';
        if (result == 0 || result == smh_test::skipped_exit_code) result = 1;
    }
    return result;
}
