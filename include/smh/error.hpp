// smh/error.hpp: the errors every smh operation reports.
//
// One exception type, smh::error, carries a portable smh::errc (its code())
// and, where the operating system was involved, the native error it gave
// (native_code()). Included by <smh/shared_memory_handlee.hpp>.
#pragma once

#include <stdexcept>    // std::runtime_error holds the message
#include <string>       // messages
#include <string_view>  // segment names in messages
#include <system_error> // std::error_code, std::system_error

namespace smh {
inline namespace v0 {

// Why an smh operation failed. Compare an smh::error's code() against these:
//   catch (const smh::error& e) { if (e.code() == smh::errc::not_found) ... }
enum class errc {
    not_found = 1,     // no segment of that name (or it is not ready yet)
    already_exists,    // create: the name is taken; the existing segment is untouched
    invalid_name,      // empty, too long, or a character outside [A-Za-z0-9._-]
    invalid_length,    // zero elements, or a byte size that overflows
    type_mismatch,     // attach<U> on a segment created for another element type
    corrupt_segment,   // the name holds bytes that are not a valid smh segment
    permission_denied, // the OS refused access (another user's segment, mode bits)
    no_space,          // the shared-memory filesystem cannot hold the segment
    os_error,          // any other OS failure; native_code() says which
};

// The error category named "smh", whose messages are the errc names.
const std::error_category& error_category() noexcept;

inline std::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), error_category()};
}

namespace detail {

class error_category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "smh"; }
    std::string message(int value) const override {
        switch (static_cast<errc>(value)) {
        case errc::not_found: return "not_found";
        case errc::already_exists: return "already_exists";
        case errc::invalid_name: return "invalid_name";
        case errc::invalid_length: return "invalid_length";
        case errc::type_mismatch: return "type_mismatch";
        case errc::corrupt_segment: return "corrupt_segment";
        case errc::permission_denied: return "permission_denied";
        case errc::no_space: return "no_space";
        case errc::os_error: return "os_error";
        }
        return "unknown smh error " + std::to_string(value);
    }
};

} // namespace detail

inline const std::error_category& error_category() noexcept {
    static const detail::error_category_impl category;
    return category;
}

// Thrown by every failing smh operation. what() reads
//   attach "w1": not_found (open: No such file or directory)
// i.e. the operation, the segment, the smh reason and the cause in detail;
// without the segment where the operation had none (`create: ...`).
class error : public std::system_error {
public:
    error(errc code, std::string_view operation, std::string_view segment, std::string_view detail,
          std::error_code native = {})
        : std::system_error(make_error_code(code)),
          text_(compose(operation, segment, code, detail, native)),
          native_(native) {}

    const char* what() const noexcept override { return text_.what(); }

    // The operating system's own error code, or an empty code when the
    // failure was detected by smh itself (a bad name, a corrupt header).
    std::error_code native_code() const noexcept { return native_; }

private:
    static std::string compose(std::string_view operation, std::string_view segment, errc code,
                               std::string_view detail, std::error_code native) {
        std::string text(operation);
        // No segment (create without a name): none is named.
        if (!segment.empty()) text.append(" \"").append(segment).append("\"");
        text.append(": ");
        text.append(make_error_code(code).message());
        if (detail.empty() && !native) return text;
        text.append(" (").append(detail);
        if (native) text.append(detail.empty() ? "" : ": ").append(native.message());
        text.append(")");
        return text;
    }

    // std::system_error would append ": <code message>" to what(); we keep
    // our own text, in a runtime_error so copies cannot throw.
    std::runtime_error text_;
    std::error_code native_;
};

namespace detail {

// The one place smh throws its own error: a call that does not return, so
// that the callers' hot paths stay small.
#if defined(__GNUC__) // g++, clang++: error paths are cold (MSVC knows no such attribute)
[[gnu::cold]]
#endif
[[noreturn]] inline void
throw_error(errc code, std::string_view operation, std::string_view segment,
            std::string_view detail, std::error_code native = {}) {
    throw error(code, operation, segment, detail, native);
}

} // namespace detail
} // namespace v0
} // namespace smh

template <>
struct std::is_error_code_enum<smh::errc> : std::true_type {};
