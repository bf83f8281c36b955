// A consumer program: it includes the header and links smh::smh, nothing else.
#include <smh/shared_memory_handlee.hpp>

#include <cstdlib>
#include <iostream>

int main() {
    auto numbers = smh::create<int>(3);
    numbers[2] = 42;
    const auto seen = smh::attach<int>(numbers.name());
    std::cout << "smh " << SMH_VERSION_MAJOR << '.' << SMH_VERSION_MINOR << '.' << SMH_VERSION_PATCH
              << ": attached " << seen.size() << " elements\n";
    return seen.size() == 3 && seen[2] == 42 ? EXIT_SUCCESS : EXIT_FAILURE;
}
