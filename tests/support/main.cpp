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
    for (const auto& name : smh_test::shm_entries(smh_test::name_prefix())) names.insert(name);
    for (const auto& name : smh_test::segments_created_by(::getpid())) names.insert(name);
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
            ::shm_unlink(("/" + name).c_str());
        }
        std::cerr << '\n';
        if (result == 0) result = 1;
    }
    return result;
}
