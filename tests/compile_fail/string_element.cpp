// Must not compile: std::string holds a pointer into one process's heap.
#include <smh/shared_memory_handlee.hpp>

#include <string>

int main() {
    auto names = smh::SharedMemoryHandlee<std::string>::create(4);
    return static_cast<int>(names.size());
}
