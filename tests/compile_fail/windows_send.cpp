// Must not compile on Windows: no Unix-domain socket carries a handle there
// (a handle is inherited or duplicated with DuplicateHandle instead).
#include <smh/shared_memory_handlee.hpp>

int main() {
    auto shm = smh::create_anonymous<int>(4);
    smh::send(3, shm);
}
