// The README's usage (create, attach, []) for TYPES element types (1 or 8):
// (.text with 8 - .text with 1) / 7 is the code one more element type costs.
// Built by per_type.sh with -std=c++20 -O2 (asserts on, as in a default build).
#include <smh/shared_memory_handlee.hpp>

template <class T>
long use(std::size_t length) {
    auto owner = smh::create<T>(length);       // owner: fresh name
    auto other = smh::attach<T>(owner.name()); // checked from the segment
    other[1] = T(2);                           // seen by the owner
    return static_cast<long>(owner[1]);
}

int main() {
    long sum = use<int>(4);
#if TYPES == 8
    sum += use<long>(4);
    sum += use<short>(4);
    sum += use<signed char>(4);
    sum += use<unsigned>(4);
    sum += use<unsigned long long>(4);
    sum += use<float>(4);
    sum += use<double>(4);
#endif
    return sum == 2 * TYPES ? 0 : 1;
}
