// Windows implementation of the functions platform_contract.hpp declares, on
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
#include <thread>       // waiting for a section's creator
#include <utility>      // std::move

#include "../error.hpp"
#include "layout.hpp"
#include "ownership.hpp"
#include "platform_contract.hpp"
#include "segment_name.hpp"
#include "wait_windows.hpp"

namespace smh::detail::os {

namespace bip = boost::interprocess;

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

// Sections have no file identity; the handle each object keeps (segment_hold)
// is what ties it to its segment.
struct opened_segment {
    section_ptr file;
    mapping region;
    std::uint64_t size = 0;
    file_identity identity;
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

// Maps the first `size` bytes of the open section.
inline mapping map_view(const segment_operation& what, const bip::windows_shared_memory& section,
                        bool writable, std::size_t size) {
    void* address = ::MapViewOfFile(section.get_mapping_handle().handle,
                                    writable ? FILE_MAP_WRITE : FILE_MAP_READ, 0, 0, size);
    if (address == nullptr) throw_native(what, last_native_error(), "MapViewOfFile");
    return {address, size};
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

// Huge pages (huge_pages.hpp on Linux): a section backed by the paging file
// never has them here, and no mapping reports any.
inline huge_page_policy segment_huge_policy() noexcept { return huge_page_policy::never; }
inline std::uint64_t mapped_huge_bytes(const void*, std::size_t) noexcept { return 0; }

// Creates `name` exclusively (CreateFileMapping returns an existing section
// with ERROR_ALREADY_EXISTS, which Boost turns into a failure without
// touching it), zeroed and committed in full (no later first touch can fail;
// the commit limit is errc::no_space here), maps it read-write and lets
// `write` fill it. The name exists from the start: attach waits while the
// header's state says "being created". On failure the handle closes, which
// destroys the new section: nothing is left behind.
inline opened_segment create_segment(const segment_operation& what, std::uint64_t bytes,
                                     const create_request& request, segment_writer write) {
    if (bytes > (std::numeric_limits<std::size_t>::max)())
        throw_native(what, ERROR_NOT_ENOUGH_MEMORY, "CreateFileMapping");
    opened_segment segment;
    try {
        segment.file = std::make_unique<bip::windows_shared_memory>(
            bip::create_only, what.name.str().c_str(), bip::read_write,
            static_cast<std::size_t>(bytes), permissions_for(request.permissions));
    } catch (const bip::interprocess_exception& e) {
        const std::error_code code(e.get_native_error(), native_category());
        if (names_another_kind_of_object(e))
            what.fail(errc::already_exists,
                      "the name belongs to another kind of object (a mutex, an event...)", code);
        // Our names never reach a namespace that needs a privilege to create
        // in (no '\\'), so a denial means the section exists and is another
        // user's: EEXIST on POSIX, whatever the existing file's mode.
        if (e.get_native_error() == ERROR_ACCESS_DENIED)
            what.fail(errc::already_exists, "the name exists and this user may not open it", code);
        rethrow_boost(what, e, "CreateFileMapping");
    }
    segment.size = section_size(*segment.file);
    segment.region = map_view(what, *segment.file, true, static_cast<std::size_t>(bytes));
    auto* base = static_cast<std::byte*>(segment.region.get_address());
    advise(segment.region, request.huge_pages, request.populate ? populate::write : populate::none);
    write(base);
    return segment;
}

// Opens `name` read-write, or read-only, and maps it whole.
inline opened_segment open_section(const segment_operation& what, bool writable) {
    opened_segment segment;
    try {
        segment.file = std::make_unique<bip::windows_shared_memory>(
            bip::open_only, what.name.str().c_str(), writable ? bip::read_write : bip::read_only);
    } catch (const bip::interprocess_exception& e) {
        if (names_another_kind_of_object(e))
            what.fail(errc::os_error,
                      "the name belongs to another kind of object than shared memory",
                      std::error_code(e.get_native_error(), native_category()));
        rethrow_boost(what, e, "OpenFileMapping");
    }
    segment.size = section_size(*segment.file);
    if (segment.size == 0) return segment;
    if (segment.size > (std::numeric_limits<std::size_t>::max)())
        what.fail(errc::corrupt_segment,
                  "it has " + std::to_string(segment.size) + " bytes, more than can be mapped");
    segment.region =
        map_view(what, *segment.file, writable, static_cast<std::size_t>(segment.size));
    return segment;
}

// How long a section may show no header at all (state 0) and still be taken
// for one whose creator is between CreateFileMapping and writing the header:
// microseconds, unless the creator is descheduled.
inline constexpr std::chrono::milliseconds unwritten_grace{1000};

// Opens and maps `name`, waiting up to `creation_timeout` while its creator
// (alive) is still preparing it; the caller checks what it gets. Throws
// not_found when the wait ends, corrupt_segment when the creator died.
inline opened_segment open_segment(const segment_operation& what, bool writable,
                                   std::chrono::milliseconds creation_timeout) {
    using clock = std::chrono::steady_clock;
    const auto start = clock::now();
    const auto deadline = saturating_deadline(start, creation_timeout);
    for (;; std::this_thread::sleep_for(std::chrono::milliseconds(1))) {
        auto segment = open_section(what, writable);
        if (segment.size < header_size) return segment;
        const auto& header = *static_cast<const segment_header*>(segment.region.get_address());
        const auto state = std::atomic_ref(const_cast<std::uint32_t&>(header.state))
                               .load(std::memory_order_acquire);
        const auto now = clock::now();
        if (state == 0 && now - start < unwritten_grace && now < deadline) continue;
        if (state != state_creating) return segment;
        const auto creator = read_owner(header).value_or(owner_record{});
        if (std::memcmp(header.magic, segment_magic, sizeof header.magic) != 0 ||
            !process_alive(creator.pid, creator.start_time))
            what.fail(errc::corrupt_segment, "its creator (process " + std::to_string(creator.pid) +
                                                 ") stopped before finishing it");
        if (now < deadline) continue;
        what.fail(errc::not_found, "process " + std::to_string(creator.pid) +
                                       " is still creating it after " +
                                       std::to_string(creation_timeout.count()) + " ms");
    }
}

// What a SharedMemoryHandlee keeps of its segment besides the mapping: its
// handle, since the section (and its name) lives only while a handle does.
struct segment_hold {
    section_ptr section;
};

inline segment_hold hold(opened_segment& segment, mapping&) noexcept {
    return {std::move(segment.file)};
}
inline segment_hold hold_created(opened_segment& segment, mapping& region) noexcept {
    return hold(segment, region);
}

// Owning changes nothing in what is held: the kernel ends every handle of a
// process that ends, so liveness needs no lock and nothing needs cleaning up
// when a process ends without destructors.
inline void lock_for_owning(segment_hold&, const segment_name&) noexcept {}
inline bool lock_held_by_others(const segment_hold&) noexcept { return false; }
inline void note_owning(segment_hold&, const segment_name&, const owner_record&,
                        segment_header*) noexcept {}
inline void keep_owner_lock(segment_hold&) noexcept {}
inline void stop_owning(segment_hold&, const segment_name&) noexcept {}
inline void begin_owner_change() noexcept {}
inline void end_owner_change() noexcept {}
inline void install_termination_cleanup() noexcept {}
inline void remove_owned_segments_now() noexcept {}
// The kernel destroys a section with its last handle, which a process's end
// closes, however it ends: there is nothing to watch for.
inline bool watch_owned_segments() noexcept { return true; }

// Windows cannot remove a name others hold: this closes our handle, so the
// name goes as soon as no other process holds the segment. The mapping stays
// valid. `removed` when this call gave up a handle, `gone` if none was left.
inline unlink_result release_name(const segment_name& /*name*/, segment_hold& hold) noexcept {
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

// The first 256 bytes of segment `name`, through a read-only view (a section
// cannot shrink, so the view cannot fault); nullopt for a section shorter
// than a header. Throws what opening it throws (not_found, permission_denied...).
inline std::optional<header_snapshot> read_header(const segment_operation& what) {
    auto segment = open_section(what, false);
    if (segment.size < header_size) return std::nullopt;
    header_snapshot snapshot{};
    std::memcpy(&snapshot.header, segment.region.get_address(), header_size);
    snapshot.size = segment.size;
    return snapshot;
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
inline std::uint64_t random_64(std::string_view /*operation*/) {
    std::random_device source;
    return (static_cast<std::uint64_t>(source()) << 32) ^ source();
}

} // namespace smh::detail::os
