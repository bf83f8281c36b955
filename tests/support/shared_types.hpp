// Element types that tests share with the helper program (which may be built
// by another compiler), and a fill/check pattern for each, so two processes
// can tell that they saw each other's writes.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace geo {
struct Point {
    double x;
    double y;
    std::int32_t id;
};
// Same members as Point, another name: must not attach as a Point.
struct Vector {
    double x;
    double y;
    std::int32_t id;
};
} // namespace geo

namespace smh_test {

template <class T>
struct pattern;

template <>
struct pattern<int> {
    static void set(int& e, std::size_t i, int seed) { e = static_cast<int>(i) * 7 + seed; }
    static bool check(const int& e, std::size_t i, int seed) {
        return e == static_cast<int>(i) * 7 + seed;
    }
};

template <>
struct pattern<geo::Point> {
    static void set(geo::Point& e, std::size_t i, int seed) {
        e = {static_cast<double>(i) * 0.5, -static_cast<double>(seed), static_cast<int>(i) + seed};
    }
    static bool check(const geo::Point& e, std::size_t i, int seed) {
        return e.x == static_cast<double>(i) * 0.5 && e.y == -static_cast<double>(seed) &&
               e.id == static_cast<int>(i) + seed;
    }
};

template <>
struct pattern<std::array<int, 4>> {
    static void set(std::array<int, 4>& e, std::size_t i, int seed) {
        e = {static_cast<int>(i), seed, static_cast<int>(i) * seed, -1};
    }
    static bool check(const std::array<int, 4>& e, std::size_t i, int seed) {
        return e == std::array<int, 4>{static_cast<int>(i), seed, static_cast<int>(i) * seed, -1};
    }
};

template <>
struct pattern<std::atomic<std::uint64_t>> {
    static void set(std::atomic<std::uint64_t>& e, std::size_t i, int seed) {
        e.store(i + static_cast<std::uint64_t>(seed));
    }
    static bool check(const std::atomic<std::uint64_t>& e, std::size_t i, int seed) {
        return e.load() == i + static_cast<std::uint64_t>(seed);
    }
};

template <class Handle>
void fill(Handle& shm, int seed) {
    using T = typename Handle::value_type;
    for (std::size_t i = 0; i < shm.size(); ++i) pattern<T>::set(shm[i], i, seed);
}

template <class Handle>
bool holds(const Handle& shm, int seed) {
    using T = typename Handle::value_type;
    for (std::size_t i = 0; i < shm.size(); ++i)
        if (!pattern<T>::check(shm[i], i, seed)) return false;
    return true;
}

// Calls f.template operator()<T>() for the element type called `name`.
template <class F>
bool with_type(std::string_view name, F&& f) {
    if (name == "int") return f.template operator()<int>(), true;
    if (name == "point") return f.template operator()<geo::Point>(), true;
    if (name == "array") return f.template operator()<std::array<int, 4>>(), true;
    if (name == "atomic") return f.template operator()<std::atomic<std::uint64_t>>(), true;
    return false;
}

} // namespace smh_test
