// A name for each element type that g++, clang++ and MSVC all spell the same,
// so a segment created by one build attaches from another. Integers and
// floats are named by representation (int32, uint64, float64) rather than by
// keyword, because `long` is 64 bits on Linux and 32 on Windows and because
// g++ says "long unsigned int" where clang++ says "unsigned long".
#pragma once

#include <array>       // std::array is named structurally
#include <atomic>      // std::atomic is named structurally
#include <cctype>      // character-literal digits
#include <cstddef>     // std::size_t
#include <cstdint>     // std::uint64_t
#include <string>      // the names
#include <string_view> // the compiler's raw spelling
#include <type_traits> // classification of T

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
constexpr std::string_view raw_type_name() noexcept {
#if defined(_MSC_VER) && !defined(__clang__)
    constexpr std::string_view signature = __FUNCSIG__;
    constexpr std::string_view open = "raw_type_name<";
    constexpr std::string_view close = ">(void)";
    const auto first = signature.find(open) + open.size();
    return signature.substr(first, signature.rfind(close) - first);
#else
    // g++:     "... raw_type_name() [with T = ns::X; std::string_view = ...]"
    // clang++: "... raw_type_name() [T = ns::X]"
    constexpr std::string_view signature = __PRETTY_FUNCTION__;
    constexpr std::string_view open = "T = ";
    const auto first = signature.find(open) + open.size();
    std::size_t last = first;
    int depth = 0;
    for (; last < signature.size(); ++last) {
        const char c = signature[last];
        if (c == '<' || c == '[' || c == '(') {
            ++depth;
        } else if (c == '>' || c == ')' || c == ']') {
            if (depth == 0) break; // the ']' that closes the signature's "[...]"
            --depth;
        } else if (c == ';' && depth == 0) {
            break; // g++ lists further template parameters after ';'
        }
    }
    return signature.substr(first, last - first);
#endif
}

inline bool is_word_char(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

// A run of integer keywords ("long unsigned int", "__int128 unsigned"),
// collected in any order and named by representation.
struct integer_run {
    int longs = 0;
    bool is_short = false, is_char = false, is_128 = false, is_unsigned = false, is_signed = false,
         active = false;

    bool take(std::string_view word) noexcept {
        if (word == "long")
            ++longs;
        else if (word == "short")
            is_short = true;
        else if (word == "char")
            is_char = true;
        else if (word == "__int128")
            is_128 = true;
        else if (word == "unsigned")
            is_unsigned = true;
        else if (word == "signed")
            is_signed = true;
        else if (word != "int")
            return false;
        active = true;
        return true;
    }

    std::string name() const {
        if (is_char) return is_unsigned ? "uint8" : (is_signed ? "int8" : "char");
        std::size_t bytes = sizeof(int);
        if (is_128)
            bytes = 16;
        else if (is_short)
            bytes = sizeof(short);
        else if (longs == 1)
            bytes = sizeof(long);
        else if (longs >= 2)
            bytes = sizeof(long long);
        return (is_unsigned ? "uint" : "int") + std::to_string(bytes * 8);
    }
};

// The value of a character literal as g++ or clang++ prints a char-typed
// template argument ('a', '\n', '\012', '\x04'), from its opening quote at
// text[at]; `end` receives the index after the closing quote.
inline long long char_literal_value(std::string_view text, std::size_t at, std::size_t& end) {
    std::size_t i = at + 1;
    long long value = 0;
    if (i < text.size() && text[i] == '\\' && i + 1 < text.size()) {
        const char kind = text[++i];
        ++i;
        if (kind == 'x') {
            for (; i < text.size() && std::isxdigit(static_cast<unsigned char>(text[i])); ++i)
                value = value * 16 + (std::isdigit(static_cast<unsigned char>(text[i]))
                                          ? text[i] - '0'
                                          : (text[i] | 0x20) - 'a' + 10);
        } else if (kind >= '0' && kind <= '7') {
            value = kind - '0';
            for (; i < text.size() && text[i] >= '0' && text[i] <= '7'; ++i)
                value = value * 8 + (text[i] - '0');
        } else {
            constexpr std::string_view escapes = "n\nt\tr\rv\va\ab\bf\f0\0";
            const auto found = escapes.find(kind);
            value = found != std::string_view::npos && found % 2 == 0
                        ? static_cast<unsigned char>(escapes[found + 1])
                        : static_cast<unsigned char>(kind);
        }
    } else if (i < text.size()) {
        value = static_cast<unsigned char>(text[i++]);
    }
    while (i < text.size() && text[i] != '\'') ++i;
    end = i + 1;
    return value;
}

// Drops a C-style cast in front of a number: g++ prints an enum template
// argument with no enumerator as "(ns::Colour)7" where clang++ prints "7",
// and clang++ prints "(short)4" for an `auto` argument where g++ prints "4".
inline std::string drop_casts_before_numbers(std::string text) {
    for (std::size_t open = text.find('('); open != std::string::npos;
         open = text.find('(', open + 1)) {
        const std::size_t close = text.find(')', open);
        if (close == std::string::npos || close + 1 >= text.size()) break;
        const char next = text[close + 1];
        const bool number =
            (next >= '0' && next <= '9') || (next == '-' && close + 2 < text.size() &&
                                             text[close + 2] >= '0' && text[close + 2] <= '9');
        const auto inside = std::string_view(text).substr(open + 1, close - open - 1);
        if (number && !inside.empty() && inside.find_first_of(",(") == std::string_view::npos)
            text.erase(open, close - open + 1);
    }
    return text;
}

// Each compiler's anonymous namespace, spelled "(anonymous)".
inline std::string with_one_anonymous_spelling(std::string_view raw) {
    std::string spelled(raw);
    for (const std::string_view anonymous :
         {"(anonymous namespace)", "{anonymous}", "`anonymous namespace'"}) {
        for (auto at = spelled.find(anonymous); at != std::string::npos;
             at = spelled.find(anonymous))
            spelled.replace(at, anonymous.size(), "(anonymous)");
    }
    return spelled;
}

// The standard libraries' inline namespaces, which the canonical name omits.
inline bool is_inline_std_namespace(std::string_view word) noexcept {
    return word == "__cxx11" || word == "_V2" || word == "__1";
}

// One identifier or number as the canonical name spells it; empty for the
// class-key tags MSVC writes ("struct ", "class ").
inline std::string_view canonical_word(std::string_view word) noexcept {
    if (word == "struct" || word == "class" || word == "enum" || word == "union") return {};
    if (word == "float") return "float32";
    if (word == "double") return "float64";
    if (word.front() >= '0' && word.front() <= '9')
        while (!word.empty() && (word.back() == 'u' || word.back() == 'U' || word.back() == 'l' ||
                                 word.back() == 'L'))
            word.remove_suffix(1);
    return word;
}

// Rewrites a compiler's spelling into the portable form: one space only
// between two words, ", " between arguments, "(anonymous)" for an anonymous
// namespace, no standard-library inline namespaces (std::__cxx11, _V2, __1),
// integer literals without suffixes or casts, character literals as numbers,
// builtin arithmetic types by representation, and no MSVC "struct "/"class "
// tags.
inline std::string canonical_type_name(std::string_view raw) {
    const std::string spelled = with_one_anonymous_spelling(raw);
    std::string out;
    integer_run integer;
    auto append_word = [&out](std::string_view word) {
        if (!out.empty() && is_word_char(out.back())) out += ' ';
        out += word;
    };
    auto flush_integer = [&] {
        if (integer.active) append_word(integer.name());
        integer = {};
    };
    for (std::size_t i = 0; i < spelled.size();) {
        const char c = spelled[i];
        if (c == ' ') {
            ++i;
        } else if (c == '\'') {
            flush_integer();
            append_word(std::to_string(char_literal_value(spelled, i, i)));
        } else if (!is_word_char(c)) {
            flush_integer();
            out += c;
            if (c == ',') out += ' ';
            ++i;
        } else {
            std::size_t end = i;
            while (end < spelled.size() && is_word_char(spelled[end])) ++end;
            const std::string_view word(spelled.data() + i, end - i);
            i = end;
            if (word == "double" && integer.active && integer.longs == 1) {
                integer = {};
                append_word("long double");
            } else if (!integer.take(word)) {
                flush_integer();
                if (is_inline_std_namespace(word) && spelled.compare(i, 2, "::") == 0)
                    i += 2;
                else if (const auto kept = canonical_word(word); !kept.empty())
                    append_word(kept);
            }
        }
    }
    flush_integer();
    return drop_casts_before_numbers(std::move(out));
}

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

// Whether make_constant_name<T> names T: a type named by default, built of
// builtin arithmetic types, whose name leaves room for what a composition
// adds ("std::array<", ", ", 20 digits, ">").
template <class T>
constexpr bool has_constant_name() noexcept {
    using U = std::remove_cv_t<T>;
    if constexpr (!named_by_default<U>) return false;
#ifdef __SIZEOF_INT128__
    else if constexpr (std::is_same_v<U, int128_type> || std::is_same_v<U, uint128_type>)
        return true;
#endif
    else if constexpr (std::is_integral_v<U> || std::is_same_v<U, float> ||
                       std::is_same_v<U, double> || std::is_same_v<U, long double>)
        return true;
    else if constexpr (is_std_atomic<U>::value || is_std_array<U>::value)
        return has_constant_name<typename U::value_type>() &&
               make_constant_name<typename U::value_type>().size <= 90;
    else if constexpr (std::is_array_v<U> && std::extent_v<U> != 0)
        return has_constant_name<std::remove_extent_t<U>>() &&
               make_constant_name<std::remove_extent_t<U>>().size <= 90;
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
