// Must not compile on Windows: a segment's name cannot be removed while
// others hold it.
#include <smh/shared_memory_handlee.hpp>

int main() { smh::remove("numbers"); }
