// A name for each element type that g++, clang++ and MSVC all spell the same,
// so a segment created by one build attaches from another. Integers and
// floats are named by representation (int32, uint64, float64) rather than by
// keyword, because `long` is 64 bits on Linux and 32 on Windows and because
// g++ says "long unsigned int" where clang++ says "unsigned long".
#pragma once

#include <array>       // std::array is named structurally
#include <atomic>      // std::atomic is named structurally
#include <cstddef>     // std::size_t
#include <cstdint>     // std::uint64_t
#include <string>      // the names
#include <string_view> // names viewed in static storage
#include <type_traits> // classification of T

#include "type_spelling.hpp"

namespace smh {
inline namespace v0 {

// Customisation point: specialise to give a type the name you want stored in
// its segments, e.g. for a local class (whose compiler spelling differs) or to
// agree with another language. The name must be the same in every program that
// shares the segment.
//   template <> struct smh::element_type_name<my::Pixel> {
//       static std::string value() { return "my::Pixel"; }
//   };
template <class T>
struct element_type_name;

namespace detail {

template <class T>
struct is_std_atomic : std::false_type {};
template <class U>
struct is_std_atomic<std::atomic<U>> : std::true_type {};

// Only these work across processes: a locking atomic's lock lives in one.
template <class T>
inline constexpr bool is_lock_free_atomic = false;
template <class U>
inline constexpr bool is_lock_free_atomic<std::atomic<U>> =
    std::is_trivially_copyable_v<U>&& std::atomic<U>::is_always_lock_free;

template <class T>
struct is_std_array : std::false_type {};
template <class U, std::size_t N>
struct is_std_array<std::array<U, N>> : std::true_type {};

#ifdef __SIZEOF_INT128__
// __extension__: the 128-bit integers are GNU extensions, fine under -Wpedantic here.
__extension__ typedef __int128 int128_type;
__extension__ typedef unsigned __int128 uint128_type;
#endif

// Whether element_type_name<T> is smh's own (not specialised by a program).
template <class T>
inline constexpr bool named_by_default = requires {
    typename element_type_name<T>::smh_default;
};

// A name built at compile time, for the types whose names need no compiler
// spelling: the builtin arithmetic types, and atomics, std::arrays and
// arrays of those. No longer than `text`: has_constant_name checks it.
struct constant_name {
    char text[128] = {};
    std::size_t size = 0;

    constexpr constant_name& operator+=(std::string_view part) noexcept {
        for (const char c : part) text[size++] = c;
        return *this;
    }
    constexpr constant_name& operator+=(std::size_t number) noexcept {
        char digits[20] = {};
        std::size_t count = 0;
        do digits[count++] = static_cast<char>('0' + number % 10);
        while ((number /= 10) != 0);
        while (count > 0) text[size++] = digits[--count];
        return *this;
    }
    constexpr std::string_view view() const noexcept { return {text, size}; }
};

template <class T>
constexpr constant_name make_constant_name() noexcept;

// The builtin types make_constant_name names.
template <class U>
inline constexpr bool is_named_builtin =
#ifdef __SIZEOF_INT128__
    std::is_same_v<U, int128_type> || std::is_same_v<U, uint128_type> ||
#endif
    std::is_integral_v<U> || std::is_same_v<U, float> || std::is_same_v<U, double> ||
    std::is_same_v<U, long double>;

template <class T>
constexpr bool has_constant_name() noexcept;

// Whether a composition of `Part` (an atomic, std::array or array of it) has
// a constant name: Part has one, short enough to leave room for what the
// composition adds ("std::array<", ", ", 20 digits, ">").
template <class Part>
constexpr bool part_has_constant_name() noexcept {
    if constexpr (has_constant_name<Part>())
        return make_constant_name<Part>().size <= 90;
    else
        return false;
}

// Whether make_constant_name<T> names T: a type named by default (not
// specialised by the program), built of builtin arithmetic types.
template <class T>
constexpr bool has_constant_name() noexcept {
    using U = std::remove_cv_t<T>;
    if constexpr (is_named_builtin<U>)
        return named_by_default<U>;
    else if constexpr (is_std_atomic<U>::value || is_std_array<U>::value)
        return named_by_default<U> && part_has_constant_name<typename U::value_type>();
    else if constexpr (std::is_array_v<U> && std::extent_v<U> != 0)
        return named_by_default<U> && part_has_constant_name<std::remove_extent_t<U>>();
    else
        return false;
}

template <class T>
constexpr constant_name make_constant_name() noexcept {
    using U = std::remove_cv_t<T>;
    constant_name name;
    if constexpr (std::is_same_v<U, bool>)
        name += "bool";
    else if constexpr (std::is_same_v<U, char>)
        name += "char";
    else if constexpr (std::is_same_v<U, wchar_t>)
        name += "wchar";
    else if constexpr (std::is_same_v<U, char8_t>)
        name += "char8";
    else if constexpr (std::is_same_v<U, char16_t>)
        name += "char16";
    else if constexpr (std::is_same_v<U, char32_t>)
        name += "char32";
#ifdef __SIZEOF_INT128__
    else if constexpr (std::is_same_v<U, int128_type>)
        name += "int128";
    else if constexpr (std::is_same_v<U, uint128_type>)
        name += "uint128";
#endif
    else if constexpr (std::is_integral_v<U>)
        (name += std::is_signed_v<U> ? "int" : "uint") += sizeof(U) * 8;
    else if constexpr (std::is_same_v<U, float>)
        name += "float32";
    else if constexpr (std::is_same_v<U, double>)
        name += "float64";
    else if constexpr (std::is_same_v<U, long double>)
        name += "long double";
    else if constexpr (is_std_atomic<U>::value)
        ((name += "std::atomic<") += make_constant_name<typename U::value_type>().view()) += ">";
    else if constexpr (is_std_array<U>::value)
        ((((name += "std::array<") += make_constant_name<typename U::value_type>().view()) +=
          ", ") += std::tuple_size_v<U>) += ">";
    else if constexpr (std::is_array_v<U>)
        (((name += make_constant_name<std::remove_extent_t<U>>().view()) += "[") +=
         std::extent_v<U>) += "]";
    return name;
}

// T's name, built by the compiler and kept in static storage: no code runs
// for it (has_constant_name<T>() only).
template <class T>
inline constexpr constant_name constant_name_of = make_constant_name<T>();

// Built at run time, where the compiler's spelling of T has to be rewritten
// (canonical_type_name) or a part is named by a specialisation.
template <class T>
std::string default_type_name() {
    using U = std::remove_cv_t<T>;
    if constexpr (has_constant_name<U>())
        return std::string(constant_name_of<U>.view());
    else if constexpr (is_std_atomic<U>::value)
        return "std::atomic<" + element_type_name<typename U::value_type>::value() + ">";
    else if constexpr (is_std_array<U>::value)
        return "std::array<" + element_type_name<typename U::value_type>::value() + ", " +
               std::to_string(std::tuple_size_v<U>) + ">";
    else if constexpr (std::is_array_v<U> && std::extent_v<U> != 0)
        return element_type_name<std::remove_extent_t<U>>::value() + "[" +
               std::to_string(std::extent_v<U>) + "]";
    else
        return canonical_type_name(raw_type_name<U>());
}

// FNV-1a, 64 bits: a fixed, documented hash another language can recompute.
constexpr std::uint64_t fnv1a_64(std::string_view bytes) noexcept {
    std::uint64_t hash = 0xcbf29ce484222325ULL;
    for (const char c : bytes) {
        hash ^= static_cast<unsigned char>(c);
        hash *= 0x100000001b3ULL;
    }
    return hash;
}

} // namespace detail

template <class T>
struct element_type_name {
    using smh_default = void; // a specialisation has none: its name is the program's
    static std::string value() { return detail::default_type_name<T>(); }
};

} // namespace v0
} // namespace smh
