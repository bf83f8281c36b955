// Must not compile on Windows: it keeps no listable directory of sections.
#include <smh/shared_memory_handlee.hpp>

int main() { return static_cast<int>(smh::list_directory().segments.size()); }
