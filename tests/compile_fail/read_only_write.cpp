// Must not compile: a read-only handle's elements are const.
#include <smh/shared_memory_handlee.hpp>

int main() {
    auto numbers = smh::SharedMemoryHandlee<const int>::attach("numbers");
    numbers[0] = 1;
}
