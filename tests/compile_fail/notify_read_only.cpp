// A read-only handle cannot notify: it must not compile, and say why.
#include <smh/shared_memory_handlee.hpp>

#include <cstdint>

int main() {
    auto shm = smh::attach<const std::atomic<std::uint32_t>>("smh-never-run");
    shm.notify_one(0);
}
