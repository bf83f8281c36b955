// Linux processes: this process's pid and start time, and whether a recorded
// owner (pid and start time) still runs, from /proc, or kill(pid, 0) where
// /proc does not answer for this pid namespace.
#pragma once

#include <signal.h> // kill(pid, 0)
#include <unistd.h> // getpid

#include <atomic>   // the cached start time
#include <cerrno>   // EPERM
#include <cstdint>  // fixed-width values
#include <fstream>  // /proc/<pid>/stat
#include <iterator> // istreambuf_iterator
#include <optional> // process status
#include <string>   // /proc paths

#include "system.hpp"

namespace smh {
inline namespace v0 {
namespace detail::os {

inline std::int64_t current_pid() noexcept { return static_cast<std::int64_t>(::getpid()); }

struct process_status {
    std::int64_t pid;         // proc(5) field 1, as /proc's pid namespace numbers it
    char state;               // field 3: R, S, D, Z, X, ...
    std::int64_t parent;      // field 4: the parent's pid
    std::uint64_t start_time; // field 22: clock ticks after boot
};

// Reads /proc/<which>/stat (`which`: a pid or "self"); nullopt when the
// process (or /proc) is not there.
inline std::optional<process_status> read_process_status(const std::string& which) noexcept {
    try {
        std::ifstream stat_file("/proc/" + which + "/stat");
        if (!stat_file) return std::nullopt;
        const std::string text((std::istreambuf_iterator<char>(stat_file)),
                               std::istreambuf_iterator<char>());
        // The command name (field 2) may hold spaces and ')': skip past the last ')'.
        std::size_t at = text.rfind(')');
        if (at == std::string::npos || at + 2 >= text.size()) return std::nullopt;
        const char state = text[at + 2];
        const std::int64_t parent = std::stoll(text.substr(at + 4));
        for (int field = 2; field < 22; ++field) {
            at = text.find(' ', at + 1);
            if (at == std::string::npos) return std::nullopt;
        }
        return process_status{std::stoll(text), state, parent, std::stoull(text.substr(at + 1))};
    } catch (...) { return std::nullopt; }
}

inline std::optional<process_status> read_process_status(std::int64_t pid) noexcept {
    return read_process_status(std::to_string(pid));
}

// What /proc says of this process, read once per process (a forked child has
// a new pid, so it reads its own): its start time, from /proc/self (which is
// this process whatever pid namespace /proc belongs to), and whether /proc
// numbers processes as this process's pid namespace does. In a container that
// sees the host's /proc it does not, and /proc/<pid> is another process.
struct own_process {
    std::uint64_t start_time = 0;
    bool proc_matches_our_pids = false;
    bool proc_mounted = false; // create can link an unnamed file through /proc/self/fd
};

inline own_process own_process_info(std::int64_t pid) noexcept {
    static std::atomic<std::int64_t> cached_pid{0};
    static std::atomic<std::uint64_t> cached_start{0};
    static std::atomic<bool> cached_match{false};
    static std::atomic<bool> cached_mounted{false};
    if (cached_pid.load(std::memory_order_acquire) == pid)
        return {cached_start.load(std::memory_order_relaxed),
                cached_match.load(std::memory_order_relaxed),
                cached_mounted.load(std::memory_order_relaxed)};
    const auto status = read_process_status("self");
    const own_process info{status ? status->start_time : 0, status && status->pid == pid,
                           status.has_value()};
    cached_start.store(info.start_time, std::memory_order_relaxed);
    cached_match.store(info.proc_matches_our_pids, std::memory_order_relaxed);
    cached_mounted.store(info.proc_mounted, std::memory_order_relaxed);
    cached_pid.store(pid, std::memory_order_release);
    return info;
}

inline std::uint64_t own_start_time(std::int64_t pid) noexcept {
    return own_process_info(pid).start_time;
}

inline bool proc_mounted() noexcept { return own_process_info(current_pid()).proc_mounted; }

// Threads in process `pid` (/proc/<pid>/status), 0 if unknown.
inline int thread_count(std::int64_t pid) noexcept {
    try {
        std::ifstream status("/proc/" + std::to_string(pid) + "/status");
        for (std::string line; std::getline(status, line);)
            if (line.rfind("Threads:", 0) == 0) return std::stoi(line.substr(8));
    } catch (...) {}
    return 0;
}

// Whether the process recorded as (pid, start_time) still runs; start_time 0
// checks the pid alone. A different start time means the pid was reused. A
// zombie has finished, unless it is a thread-group leader that returned from
// main with pthread_exit while its other threads run on. Without a readable
// /proc entry (hidepid), or where /proc belongs to another pid namespace,
// kill(pid, 0) decides: EPERM means it exists.
inline bool process_alive(std::int64_t pid, std::uint64_t start_time) noexcept {
    if (pid <= 0 || pid > std::int64_t{0x7fffffff}) return false;
    const auto probe = [pid] { return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM; };
    if (!own_process_info(current_pid()).proc_matches_our_pids) return probe();
    if (const auto status = read_process_status(pid)) {
        if (start_time != 0 && status->start_time != start_time) return false;
        if (status->state == 'Z' || status->state == 'X') return thread_count(pid) > 1;
        return true;
    }
    return probe();
}
} // namespace detail::os
} // namespace v0
} // namespace smh
