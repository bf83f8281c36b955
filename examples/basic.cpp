// The Python module's basic example, in C++: a segment of ten ints, written
// and read through [], removed when the object goes out of scope.
#include <smh/shared_memory_handlee.hpp>

#include <cstdlib>
#include <iostream>

// As in Python, a class can fix the element type by deriving.
class MySharedMemory : public smh::SharedMemoryHandlee<int> {
public:
    explicit MySharedMemory(std::size_t length)
        : SharedMemoryHandlee(length) {}
};

int main() {
    MySharedMemory shared_memory(10);

    for (std::size_t i = 0; i < shared_memory.size(); ++i) shared_memory[i] = static_cast<int>(i);

    int expected = 0;
    for (const int value : shared_memory) {
        std::cout << value << '\n';
        if (value != expected++) return EXIT_FAILURE;
    }
} // the mapping is released and the name removed here
