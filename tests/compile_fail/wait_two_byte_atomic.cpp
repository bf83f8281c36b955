// notify_all() on a std::atomic<U> of 2 bytes must not compile, and say why.
#include <smh/shared_memory_handlee.hpp>

#include <cstdint>

int main() {
    auto shm = smh::create<std::atomic<std::uint16_t>>(1);
    shm.notify_all(0);
}
