// Must not compile on Windows: no directory of segments to list.
#include <smh/shared_memory_handlee.hpp>

int main() { return static_cast<int>(smh::list().size()); }
