// Must not compile on Windows: no Unix-domain socket carries a handle there
// (attach_descriptor takes the handle a process inherited or was given).
#include <smh/shared_memory_handlee.hpp>

int main() { return smh::receive<int>(3)[0]; }
