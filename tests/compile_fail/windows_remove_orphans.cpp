// Must not compile on Windows: the kernel destroys a segment with its last
// handle, so no segment is ever orphaned.
#include <smh/shared_memory_handlee.hpp>

int main() { return static_cast<int>(smh::remove_orphans().size()); }
