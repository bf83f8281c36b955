// A read-only handle cannot grow its segment: it must not compile, and say why.
#include <smh/shared_memory_handlee.hpp>

#include <cstdint>

int main() {
    auto shm = smh::attach<const std::uint32_t, smh::growable>("smh-never-run");
    shm.grow(2);
}
