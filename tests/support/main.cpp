// The test runner: Catch2's, plus a check that the run left no segment
// behind. It fails the run for any segment named with this process's test
// prefix, or created by this process, that is still there at the end.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <iostream>
#include <set>

#include "support.hpp"

namespace {

std::set<std::string> leftovers() {
    std::set<std::string> names;
    for (auto& name : smh_test::leftover_segments(smh_test::name_prefix()))
        names.insert(std::move(name));
    return names;
}

} // namespace

int main(int argc, char* argv[]) {
    int result = Catch::Session().run(argc, argv);
    const auto left = leftovers();
    if (!left.empty()) {
        std::cerr << "FAILED: the tests left " << left.size() << " segment(s) behind:";
        for (const auto& name : left) {
            std::cerr << ' ' << name;
            smh_test::remove_leftover(name);
        }
        std::cerr << '\n';
        if (result == 0) result = 1;
    }
    return result;
}
