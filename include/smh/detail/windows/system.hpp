// Windows underneath the other files of this folder, which implement the
// functions platform_contract.hpp declares with Boost.Interprocess's
// windows_shared_memory and the Win32 API. This is the one file that
// includes <windows.h>; Win32 errors and what they mean for smh are here,
// with the owner of a mapped view and the hints it is given.
#pragma once

// <windows.h> without its min and max macros, which clash with the standard
// library's names. Like Asio, we define NOMINMAX unless the program did; it
// then stays defined. Include <windows.h> before smh to choose otherwise: our
// own code writes (std::numeric_limits<T>::max)(), so it works either way.
#ifndef NOMINMAX
#define NOMINMAX
#endif
#include <windows.h>

#include <cstddef>      // std::size_t
#include <cstdint>      // fixed-width values
#include <cstring>      // std::memcpy of a function pointer
#include <string>       // messages
#include <system_error> // native codes
#include <utility>      // std::exchange, std::swap

#include "../../error.hpp"
#include "../platform_contract.hpp"

namespace smh {
inline namespace v0 {
namespace detail::os {

// Win32 error codes (winerror.h), with messages from FormatMessage and the
// portable std::errc equivalents that std::system_category() gives them on MSVC.
class win32_category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "win32"; }
    std::string message(int value) const override {
        char* text = nullptr;
        const DWORD length = ::FormatMessageA(
            FORMAT_MESSAGE_ALLOCATE_BUFFER | FORMAT_MESSAGE_FROM_SYSTEM |
                FORMAT_MESSAGE_IGNORE_INSERTS,
            nullptr, static_cast<DWORD>(value), 0, reinterpret_cast<char*>(&text), 0, nullptr);
        std::string message = length && text ? std::string(text, length) : std::string();
        if (text) ::LocalFree(text);
        while (!message.empty() && (message.back() == '\n' || message.back() == '\r' ||
                                    message.back() == ' ' || message.back() == '.'))
            message.pop_back();
        if (message.empty()) message = "Windows error";
        return message + " (Windows error " + std::to_string(value) + ")";
    }
    std::error_condition default_error_condition(int value) const noexcept override {
        switch (value) {
        case ERROR_FILE_NOT_FOUND:
        case ERROR_PATH_NOT_FOUND: return std::errc::no_such_file_or_directory;
        case ERROR_ALREADY_EXISTS:
        case ERROR_FILE_EXISTS: return std::errc::file_exists;
        case ERROR_ACCESS_DENIED: return std::errc::permission_denied;
        case ERROR_NOT_ENOUGH_MEMORY:
        case ERROR_OUTOFMEMORY:
        case ERROR_COMMITMENT_LIMIT: return std::errc::not_enough_memory;
        case ERROR_INVALID_NAME: return std::errc::invalid_argument;
        default: return {value, *this};
        }
    }
};

inline const std::error_category& native_category() noexcept {
    static const win32_category_impl category;
    return category;
}

inline errc errc_from_native(int value) noexcept {
    switch (value) {
    case ERROR_FILE_NOT_FOUND:
    case ERROR_PATH_NOT_FOUND: return errc::not_found;
    case ERROR_ALREADY_EXISTS:
    case ERROR_FILE_EXISTS: return errc::already_exists;
    case ERROR_ACCESS_DENIED: return errc::permission_denied;
    // Sections are committed against the paging file when they are created
    // (a growable one: as it grows).
    case ERROR_NOT_ENOUGH_MEMORY:
    case ERROR_OUTOFMEMORY:
    case ERROR_COMMITMENT_LIMIT:
    case ERROR_NO_SYSTEM_RESOURCES:
    case ERROR_DISK_FULL: return errc::no_space;
    case ERROR_INVALID_NAME:
    case ERROR_FILENAME_EXCED_RANGE: return errc::invalid_name;
    default: return errc::os_error;
    }
}

inline int last_native_error() noexcept { return static_cast<int>(::GetLastError()); }

// A view of a section (MapViewOfFile), unmapped on destruction. Not Boost's
// mapped_region: that duplicates the section handle and keeps the copy while
// mapped, which would keep the name alive after unlink() gave ours up.
class mapping {
public:
    mapping() noexcept = default;
    mapping(void* address, std::size_t size) noexcept
        : address_(address),
          size_(size) {}
    mapping(mapping&& other) noexcept
        : address_(std::exchange(other.address_, nullptr)),
          size_(std::exchange(other.size_, 0)) {}
    mapping& operator=(mapping&& other) noexcept {
        mapping(std::move(other)).swap(*this);
        return *this;
    }
    ~mapping() {
        if (address_) ::UnmapViewOfFile(address_);
    }
    void swap(mapping& other) noexcept {
        std::swap(address_, other.address_);
        std::swap(size_, other.size_);
    }
    void* get_address() const noexcept { return address_; }
    std::size_t get_size() const noexcept { return size_; }

private:
    void* address_ = nullptr;
    std::size_t size_ = 0;
};

// PrefetchVirtualMemory (Windows 8 and later), looked up at run time so that
// the program still starts on systems without it.
inline void prefetch(void* base, std::size_t size) noexcept {
    struct memory_range {
        void* address;
        SIZE_T bytes;
    };
    using prefetch_function = BOOL(WINAPI*)(HANDLE, ULONG_PTR, memory_range*, ULONG);
    static const auto function = [] {
        const HMODULE kernel = ::GetModuleHandleA("kernel32.dll");
        const FARPROC found = kernel ? ::GetProcAddress(kernel, "PrefetchVirtualMemory") : nullptr;
        prefetch_function typed = nullptr;
        static_assert(sizeof typed == sizeof found);
        std::memcpy(&typed, &found, sizeof typed);
        return typed;
    }();
    memory_range range{base, size};
    if (function) function(::GetCurrentProcess(), 1, &range, 0);
}

// Performance hints for a fresh mapping. Populate reads the pages in with
// PrefetchVirtualMemory; huge pages are not available here (large-page
// sections need SEC_LARGE_PAGES at creation and the SeLockMemoryPrivilege).
inline void advise(mapping& region, bool /*huge_pages*/, populate mode) noexcept {
    if (mode != populate::none && region.get_address() != nullptr && region.get_size() != 0)
        prefetch(region.get_address(), region.get_size());
}
} // namespace detail::os
} // namespace v0
} // namespace smh
