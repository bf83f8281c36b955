// A handle of a fixed-length segment cannot grow it: grow() belongs to
// SharedMemoryHandlee<T, smh::growable>. It must not compile, and say why.
#include <smh/shared_memory_handlee.hpp>

#include <cstdint>

int main() {
    auto shm = smh::attach<std::uint32_t>("smh-never-run");
    shm.grow(2);
}
