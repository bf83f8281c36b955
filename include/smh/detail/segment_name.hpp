// A segment name, checked once where it enters the library, and the pair
// (operation, name) that every error below the public API reports.
#pragma once

#include <cstddef>      // std::size_t
#include <optional>     // name_problem's verdict
#include <string>       // the name the OS receives
#include <string_view>  // names as the caller gives them
#include <system_error> // native codes

#include "../error.hpp"
#include "type_spelling.hpp"

namespace smh {
inline namespace v0 {
namespace detail {

// NAME_MAX on Linux, where the name becomes a file in /dev/shm; a Windows
// kernel object name may be longer, and 255 keeps a name valid on both.
inline constexpr std::size_t max_name_length = 255;

// Names starting with this are never segments: POSIX builds a segment under
// such a name where it cannot build it without one (linux/creating.hpp).
inline constexpr std::string_view building_name_prefix = ".smh-creating-";

// The characters of a name: a portable file name, and safe in any shell.
inline bool is_name_char(char c) noexcept { return is_word_char(c) || c == '.' || c == '-'; }

// A character as a message shows it: '/' as itself, one a terminal would
// act on (and any byte from 0x80) as an escape such as '\x01'.
inline std::string quoted_char(char c) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte < 0x7f) return std::string{'\'', c, '\''};
    constexpr char digits[] = "0123456789abcdef";
    return std::string{'\'', '\\', 'x', digits[byte >> 4], digits[byte & 0xf], '\''};
}

// Why `name` is not a valid segment name, or nullopt when it is.
inline std::optional<std::string> name_problem(std::string_view name) {
    if (name.empty()) return "the name is empty";
    if (name.size() > max_name_length)
        return "the name has " + std::to_string(name.size()) + " characters, at most " +
               std::to_string(max_name_length) + " are allowed";
    if (name == "." || name == "..") return "'.' and '..' are not segment names";
    if (name.starts_with(building_name_prefix))
        return "names starting with '" + std::string(building_name_prefix) +
               "' are reserved for segments being built";
    for (std::size_t i = 0; i < name.size(); ++i) {
        if (is_name_char(name[i])) continue;
        std::string problem = "character " + quoted_char(name[i]) + " at position " +
                              std::to_string(i) + " is not allowed";
        // A path such as /dev/shm/x: the name is the file's, without the directory.
        const auto file = name.substr(name.rfind('/') + 1);
        if (name[i] == '/' && !file.empty() && !name_problem(file))
            return problem + "; give the name without the directory: \"" + std::string(file) + "\"";
        return problem + "; use only A-Z a-z 0-9 . _ -";
    }
    return std::nullopt;
}

// A name that passed name_problem(): what the layers below the public API
// take, so that none of them checks a name again.
class segment_name {
public:
    segment_name() = default; // no name: an empty handle's

    // Throws errc::invalid_name, reported as a failure of `operation`.
    segment_name(std::string_view text, std::string_view operation)
        : text_(text) {
        if (const auto problem = name_problem(text))
            throw_error(errc::invalid_name, operation, text, *problem);
    }

    // nullopt for a name no smh function accepts: for names read from a
    // directory, which may hold anything.
    static std::optional<segment_name> if_valid(std::string_view text) {
        if (name_problem(text)) return std::nullopt;
        return segment_name(std::string(text));
    }

    const std::string& str() const noexcept { return text_; }

private:
    explicit segment_name(std::string checked) noexcept
        : text_(std::move(checked)) {}

    std::string text_;
};

// What is being done, and to which segment: every error names both, e.g.
// `attach "w1": not_found (open: No such file or directory)`.
struct segment_operation {
    std::string_view operation; // "create", "attach", ...: the public call
    const segment_name& name;

#if defined(__GNUC__) // g++, clang++: error paths are cold
    [[gnu::cold]]
#endif
    [[noreturn]] void
    fail(errc code, std::string_view why, std::error_code native = {}) const {
        throw_error(code, operation, name.str(), why, native);
    }
};

} // namespace detail
} // namespace v0
} // namespace smh
