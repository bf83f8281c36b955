// Windows processes: this process's id and creation time, and whether a
// recorded owner (pid and creation time) still runs (GetProcessTimes).
#pragma once

#include <cstdint> // fixed-width values

#include "system.hpp"

namespace smh {
inline namespace v0 {
namespace detail::os {

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
} // namespace detail::os
} // namespace v0
} // namespace smh
