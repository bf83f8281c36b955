// Must not compile on Windows: no segment is ever orphaned there (the kernel
// destroys a segment with its last handle), so there is nothing to find.
#include <smh/shared_memory_handlee.hpp>

int main() { return static_cast<int>(smh::find_orphans().size()); }
