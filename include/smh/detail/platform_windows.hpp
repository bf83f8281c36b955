// Windows implementation of the functions detail/platform.hpp promises, on
// Boost.Interprocess's windows_shared_memory (CreateFileMapping backed by the
// paging file: native named shared memory, no file in any directory) and
// mapped_region (MapViewOfFile). Process liveness uses the Win32 API directly.
//
// Lifetime differs from POSIX: a section has no name to unlink. The kernel
// destroys its name when the last handle to it is closed (and its memory
// once the last view is unmapped too), so every SharedMemoryHandlee keeps
// its handle open while it lives, and nothing can outlive the processes that
// use it (there are no orphans to collect).
#pragma once

#include <boost/interprocess/exceptions.hpp>            // interprocess_exception
#include <boost/interprocess/permissions.hpp>           // security attributes
#include <boost/interprocess/windows_shared_memory.hpp> // CreateFileMapping owner

// <windows.h> without its min and max macros, which clash with the standard
// library's names. Like Asio, we define NOMINMAX unless the program did; it
// then stays defined. Include <windows.h> before smh to choose otherwise: our
// own code writes (std::numeric_limits<T>::max)(), so it works either way.
#ifndef NOMINMAX
#define NOMINMAX
#endif
#include <windows.h>

#include <atomic>       // the cached start time
#include <chrono>       // unchanged_for
#include <cstdint>      // fixed-width values
#include <cstring>      // std::memcpy of the header
#include <limits>       // the largest mappable size
#include <memory>       // std::unique_ptr of a section
#include <optional>     // header snapshots
#include <random>       // std::random_device: RtlGenRandom on Windows
#include <string>       // names, messages
#include <system_error> // native codes
#include <utility>      // std::move

#include "../error.hpp"
#include "layout.hpp"

namespace smh::detail::os {

namespace bip = boost::interprocess;

// A kernel object name may be longer; 255 keeps a name valid on every platform.
inline constexpr std::size_t max_name_length = 255;

// Sections have no file identity; the handle each object keeps (segment_hold)
// is what ties it to its segment.
struct file_identity {
    bool operator==(const file_identity&) const = default;
};

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

// Sections live on the heap, so that handing one over moves a pointer: Boost's
// own move of windows_shared_memory copies an uninitialised member (g++ 12
// reports it under -Werror=maybe-uninitialized).
using section_ptr = std::unique_ptr<bip::windows_shared_memory>;

struct opened_segment {
    section_ptr file;
    mapping region;
    std::uint64_t size = 0;
    file_identity identity;
    // Windows records no change time for a section. Zero lets attach wait (a
    // bounded time) for a header that is not written yet; a section is sized
    // and zeroed in one call, so that is the only unfinished state it can see.
    std::chrono::milliseconds unchanged_for{};
};

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
    // Sections are committed against the paging file when they are created.
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

[[noreturn]] inline void throw_native(int value, std::string_view operation, std::string_view name,
                                      std::string_view what_failed) {
    throw_error(errc_from_native(value), operation, name, what_failed,
                std::error_code(value, native_category()));
}

// Maps the first `size` bytes of the open section.
inline mapping map_view(const bip::windows_shared_memory& section, bool writable, std::size_t size,
                        std::string_view operation, std::string_view name) {
    void* address = ::MapViewOfFile(section.get_mapping_handle().handle,
                                    writable ? FILE_MAP_WRITE : FILE_MAP_READ, 0, 0, size);
    if (address == nullptr) throw_native(last_native_error(), operation, name, "MapViewOfFile");
    return {address, size};
}

[[noreturn]] inline void rethrow_boost(const bip::interprocess_exception& e,
                                       std::string_view operation, std::string_view name,
                                       std::string_view what_failed) {
    const int native = e.get_native_error();
    if (native != 0) throw_native(native, operation, name, what_failed);
    throw_error(errc::os_error, operation, name, std::string(what_failed) + ": " + e.what());
}

// CreateFileMapping and OpenFileMapping fail with ERROR_INVALID_HANDLE when
// the name belongs to another kind of kernel object (a mutex, an event...).
inline bool names_another_kind_of_object(const bip::interprocess_exception& e) noexcept {
    return e.get_native_error() == ERROR_INVALID_HANDLE;
}

// A segment's unrestricted permissions: POSIX group or other bits ask for
// other users; Windows then gets a security descriptor that lets everyone in.
// Owner-only modes (the default 0600) keep the default descriptor: the
// creator, SYSTEM and administrators.
inline bip::permissions permissions_for(unsigned mode) noexcept {
    bip::permissions permissions;
    if ((mode & 077u) != 0) permissions.set_unrestricted();
    return permissions;
}

// The size the kernel gives a section: what was asked, rounded up to whole
// pages. The header, not this, says how many elements there are.
inline std::uint64_t section_size(const bip::windows_shared_memory& section) noexcept {
    return static_cast<std::uint64_t>(section.get_size());
}

// Creates `name` exclusively (CreateFileMapping returns an existing section
// with ERROR_ALREADY_EXISTS, which Boost turns into a failure without
// touching it), zeroed and committed, and maps it read-write. On failure the
// handle closes, which destroys the new section: nothing is left behind.
inline opened_segment create_segment(const std::string& name, std::uint64_t bytes,
                                     unsigned permissions) {
    constexpr std::string_view op = "create";
    if (bytes > (std::numeric_limits<std::size_t>::max)())
        throw_native(ERROR_NOT_ENOUGH_MEMORY, op, name, "CreateFileMapping");
    opened_segment segment;
    try {
        segment.file = std::make_unique<bip::windows_shared_memory>(
            bip::create_only, name.c_str(), bip::read_write, static_cast<std::size_t>(bytes),
            permissions_for(permissions));
    } catch (const bip::interprocess_exception& e) {
        const std::error_code code(e.get_native_error(), native_category());
        if (names_another_kind_of_object(e))
            throw_error(errc::already_exists, op, name,
                        "the name belongs to another kind of object (a mutex, an event...)", code);
        // Our names never reach a namespace that needs a privilege to create
        // in (no '\\'), so a denial means the section exists and is another
        // user's: EEXIST on POSIX, whatever the existing file's mode.
        if (e.get_native_error() == ERROR_ACCESS_DENIED)
            throw_error(errc::already_exists, op, name,
                        "the name exists and this user may not open it", code);
        rethrow_boost(e, op, name, "CreateFileMapping");
    }
    segment.size = section_size(*segment.file);
    segment.region = map_view(*segment.file, true, static_cast<std::size_t>(bytes), op, name);
    return segment;
}

// Nothing to do: a section backed by the paging file is committed in full by
// CreateFileMapping, which fails (errc::no_space) when the commit limit would
// be passed, so no later first touch can fail.
inline void reserve_space(const opened_segment&, std::string_view, std::uint64_t) noexcept {}

enum class populate { none, read, write };

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

// Opens `name` read-write, or read-only.
inline opened_segment open_segment(const std::string& name, std::string_view operation,
                                   bool writable) {
    opened_segment segment;
    try {
        segment.file = std::make_unique<bip::windows_shared_memory>(
            bip::open_only, name.c_str(), writable ? bip::read_write : bip::read_only);
    } catch (const bip::interprocess_exception& e) {
        if (names_another_kind_of_object(e))
            throw_error(errc::os_error, operation, name,
                        "the name belongs to another kind of object than shared memory",
                        std::error_code(e.get_native_error(), native_category()));
        rethrow_boost(e, operation, name, "OpenFileMapping");
    }
    segment.size = section_size(*segment.file);
    return segment;
}

// Maps what open_segment opened; a zero-length segment is not mapped.
inline void map_segment(opened_segment& segment, std::string_view operation, std::string_view name,
                        bool writable) {
    if (segment.size == 0) return;
    if (segment.size > (std::numeric_limits<std::size_t>::max)())
        throw_error(errc::corrupt_segment, operation, name,
                    "it has " + std::to_string(segment.size) + " bytes, more than can be mapped");
    segment.region =
        map_view(*segment.file, writable, static_cast<std::size_t>(segment.size), operation, name);
}

// What a SharedMemoryHandlee keeps of its segment besides the mapping: its
// handle, since the section (and its name) lives only while a handle does.
struct segment_hold {
    section_ptr section;
};

inline segment_hold hold(opened_segment& segment) noexcept { return {std::move(segment.file)}; }

enum class unlink_result { removed, gone, failed };

// Windows cannot remove a name others hold: this closes our handle, so the
// name goes as soon as no other process holds the segment. The mapping stays
// valid. `removed` when this call gave up a handle, `gone` if none was left.
inline unlink_result release_name(const std::string& /*name*/, segment_hold& hold) noexcept {
    if (!hold.section) return unlink_result::gone;
    hold.section.reset();
    return unlink_result::removed;
}

// A section has no directory to list, and no name outlives its processes, so
// smh::list(), smh::remove() and smh::remove_orphans() do not exist here: see
// segment_directory in platform_posix.hpp.
struct segment_directory {
    static constexpr bool available = false;
};

// Whether the name is taken: by a section (ours to open or not) or by
// another kind of object.
inline bool segment_exists(const std::string& name) noexcept {
    const HANDLE section = ::OpenFileMappingA(FILE_MAP_READ, FALSE, name.c_str());
    if (section == nullptr)
        return ::GetLastError() == ERROR_ACCESS_DENIED || ::GetLastError() == ERROR_INVALID_HANDLE;
    ::CloseHandle(section);
    return true;
}

struct header_snapshot {
    segment_header header;
    std::uint64_t size;
    file_identity identity;
};

// The first 256 bytes of segment `name`, through a read-only view (a section
// cannot shrink, so the view cannot fault). nullopt for anything that is not
// a readable section of at least a header's size.
inline std::optional<header_snapshot> read_header(const std::string& name) {
    try {
        auto segment = open_segment(name, "inspect", false);
        if (segment.size < header_size) return std::nullopt;
        segment.region = map_view(*segment.file, false, header_size, "inspect", name);
        header_snapshot snapshot{};
        std::memcpy(&snapshot.header, segment.region.get_address(), header_size);
        snapshot.size = segment.size;
        return snapshot;
    } catch (...) { return std::nullopt; }
}

inline std::int64_t current_pid() noexcept {
    return static_cast<std::int64_t>(::GetCurrentProcessId());
}

// A process handle that closes itself.
struct process_handle {
    HANDLE handle;
    explicit process_handle(HANDLE h) noexcept
        : handle(h) {}
    process_handle(const process_handle&) = delete;
    process_handle& operator=(const process_handle&) = delete;
    ~process_handle() {
        if (handle) ::CloseHandle(handle);
    }
};

inline std::uint64_t creation_time(HANDLE process) noexcept {
    FILETIME created{}, exited{}, kernel{}, user{};
    if (!::GetProcessTimes(process, &created, &exited, &kernel, &user)) return 0;
    return (static_cast<std::uint64_t>(created.dwHighDateTime) << 32) | created.dwLowDateTime;
}

// With the pid, identifies a process even after its pid is reused: its
// creation time (100 ns units since 1601); 0 where it cannot be read.
inline std::uint64_t process_start_time(std::int64_t pid) noexcept {
    if (pid <= 0 || pid > std::int64_t{0xffffffff}) return 0;
    const process_handle process(
        ::OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, static_cast<DWORD>(pid)));
    return process.handle ? creation_time(process.handle) : 0;
}

inline std::uint64_t own_start_time(std::int64_t /*pid*/) noexcept {
    static const std::uint64_t start = creation_time(::GetCurrentProcess());
    return start;
}

// Whether the process recorded as (pid, start_time) still runs; start_time 0
// checks the pid alone. PROCESS_QUERY_LIMITED_INFORMATION is granted on
// nearly every process, other users' included; one that still denies it
// exists, and counts as alive.
inline bool process_alive(std::int64_t pid, std::uint64_t start_time) noexcept {
    if (pid <= 0 || pid > std::int64_t{0xffffffff}) return false;
    const process_handle process(
        ::OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, static_cast<DWORD>(pid)));
    if (!process.handle) return ::GetLastError() == ERROR_ACCESS_DENIED;
    if (start_time != 0 && creation_time(process.handle) != start_time) return false; // reused
    // An exited process stays openable while anyone holds a handle to it.
    DWORD exit_code = 0;
    return ::GetExitCodeProcess(process.handle, &exit_code) && exit_code == STILL_ACTIVE;
}

// 64 bits from the OS's random source: std::random_device is RtlGenRandom
// with both MSVC's and MinGW's standard libraries, and needs no import library.
inline std::uint64_t random_64() {
    std::random_device source;
    return (static_cast<std::uint64_t>(source()) << 32) ^ source();
}

} // namespace smh::detail::os
