// wait() on an element that is not std::atomic<U> must not compile, and say why.
#include <smh/shared_memory_handlee.hpp>

int main() {
    auto shm = smh::create<int>(1);
    shm.wait(0, 0);
}
