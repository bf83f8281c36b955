// A compiler's spelling of a type (__PRETTY_FUNCTION__, __FUNCSIG__), and
// its rewriting into the one portable form that type_name.hpp stores: the
// same under g++, clang++ and MSVC, integers by representation.
#pragma once

#include <cctype>      // character-literal digits
#include <cstddef>     // std::size_t
#include <string>      // the rewritten names
#include <string_view> // the compiler's raw spelling

namespace smh {
inline namespace v0 {
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

} // namespace detail
} // namespace v0
} // namespace smh
