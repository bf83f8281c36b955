// The Windows half of the test support (support.hpp includes it): raw
// segments through CreateFileMapping, processes through CreateProcess.
#pragma once

#include <smh/shared_memory_handlee.hpp> // brings <windows.h>, without min/max

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace smh_test {

inline std::int64_t current_pid() { return static_cast<std::int64_t>(::GetCurrentProcessId()); }

// With the pid, identifies a process even after its pid is reused: its
// creation time (GetProcessTimes, 100 ns units since 1601); 0 where it cannot
// be read.
inline std::uint64_t process_start_time(std::int64_t pid) {
    if (pid <= 0 || pid > std::int64_t{0xffffffff}) return 0;
    const smh::detail::os::process_handle process(
        ::OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, static_cast<DWORD>(pid)));
    return process.handle ? smh::detail::os::creation_time(process.handle) : 0;
}

inline bool segment_exists(const std::string& name) {
    const HANDLE section = ::OpenFileMappingA(FILE_MAP_READ, FALSE, name.c_str());
    if (section == nullptr) return false;
    ::CloseHandle(section);
    return true;
}

// A handle that closes itself.
class win_handle {
public:
    win_handle() = default;
    explicit win_handle(HANDLE h)
        : handle_(h) {}
    win_handle(win_handle&& other) noexcept
        : handle_(std::exchange(other.handle_, nullptr)) {}
    win_handle& operator=(win_handle&& other) noexcept {
        std::swap(handle_, other.handle_);
        return *this;
    }
    ~win_handle() {
        if (handle_) ::CloseHandle(handle_);
    }
    HANDLE get() const { return handle_; }

private:
    HANDLE handle_ = nullptr;
};

// POSIX tests remove names on scope exit; here there is nothing to remove:
// Windows destroys a segment with the last handle to it, so whatever a test
// leaves goes when the processes holding it end.
struct segment_guard {
    explicit segment_guard(std::string) {}
    segment_guard(const segment_guard&) = delete;
    segment_guard& operator=(const segment_guard&) = delete;
};

// Error text for a failed Win32 call.
inline std::runtime_error win32_failure(const std::string& what) {
    return std::runtime_error(what + ": Windows error " + std::to_string(::GetLastError()));
}

// A section that is not smh's. It exists while this object holds its handle:
// Windows destroys a section with its last handle.
class raw_segment {
public:
    explicit raw_segment(win_handle section)
        : section_(std::move(section)) {}

private:
    win_handle section_;
};

// A read-write view of the existing section `name`, unmapped on scope exit.
class raw_view {
public:
    explicit raw_view(const std::string& name, bool writable = false) {
        const DWORD access = writable ? FILE_MAP_WRITE : FILE_MAP_READ;
        section_ = win_handle(::OpenFileMappingA(access, FALSE, name.c_str()));
        if (!section_.get()) throw win32_failure("OpenFileMapping " + name);
        address_ = ::MapViewOfFile(section_.get(), access, 0, 0, 0);
        if (!address_) throw win32_failure("MapViewOfFile " + name);
        MEMORY_BASIC_INFORMATION info{};
        ::VirtualQuery(address_, &info, sizeof info);
        size_ = info.RegionSize;
    }
    raw_view(const raw_view&) = delete;
    raw_view& operator=(const raw_view&) = delete;
    ~raw_view() { ::UnmapViewOfFile(address_); }
    char* data() const { return static_cast<char*>(address_); }
    std::size_t size() const { return size_; }

private:
    win_handle section_;
    void* address_ = nullptr;
    std::size_t size_ = 0;
};

// Creates a section that is not smh's, holding `bytes` (Windows rounds its
// size up to whole pages, zero-filled).
[[nodiscard]] inline raw_segment write_raw_segment(const std::string& name,
                                                   const std::string& bytes) {
    win_handle section(::CreateFileMappingA(INVALID_HANDLE_VALUE, nullptr, PAGE_READWRITE, 0,
                                            static_cast<DWORD>(bytes.size()), name.c_str()));
    if (!section.get() || ::GetLastError() == ERROR_ALREADY_EXISTS)
        throw win32_failure("CreateFileMapping " + name);
    raw_segment segment(std::move(section));
    const raw_view view(name, true);
    std::memcpy(view.data(), bytes.data(), bytes.size());
    return segment;
}

// The size Windows gives a section asked to hold `bytes`: whole pages.
inline std::size_t stored_size(std::size_t bytes) {
    SYSTEM_INFO info{};
    ::GetSystemInfo(&info);
    const std::size_t page = info.dwPageSize;
    return (bytes + page - 1) / page * page;
}

// CreateFileMapping refuses a size of zero for a section of the paging file.
inline constexpr bool zero_length_segments_exist = false;

inline void overwrite_raw_segment(const std::string& name, std::size_t offset,
                                  const std::string& bytes) {
    const raw_view view(name, true);
    if (offset + bytes.size() > view.size())
        throw std::runtime_error("overwriting raw segment " + name + " past its end");
    std::memcpy(view.data() + offset, bytes.data(), bytes.size());
}

// Up to `bytes` bytes of the section (its whole pages).
inline std::string read_raw_segment(const std::string& name, std::size_t bytes) {
    const raw_view view(name);
    return std::string(view.data(), std::min(bytes, view.size()));
}

// A started program: its process handle, closed on scope exit.
struct process {
    win_handle handle;
    DWORD pid = 0;
};

// A program path CreateProcess can run: Wine maps drive Z: to the Unix root,
// so a path CMake wrote on the Linux host ("/work/...") becomes "Z:/work/...".
inline std::string native_path(const std::string& path) {
    return !path.empty() && path[0] == '/' ? "Z:" + path : path;
}

// One argument of a command line, quoted as CommandLineToArgvW reads it back.
inline std::string quote_argument(const std::string& argument) {
    if (!argument.empty() && argument.find_first_of(" \t\"") == std::string::npos) return argument;
    std::string quoted = "\"";
    std::size_t backslashes = 0;
    for (const char c : argument) {
        if (c == '\\') {
            ++backslashes;
            continue;
        }
        // Backslashes double only before a quote; the quote itself is escaped.
        quoted.append(c == '"' ? backslashes * 2 + 1 : backslashes, '\\');
        backslashes = 0;
        quoted += c;
    }
    quoted.append(backslashes * 2, '\\');
    return quoted + "\"";
}

// Starts a program (a new process, not a copy of this one). With
// `inherit_handles`, it inherits every inheritable handle of this process
// (CreateProcess's bInheritHandles), at the same values: a test makes the
// handle it passes on inheritable first, and tells the program its value.
inline process start_program(std::vector<std::string> args, bool inherit_handles = false) {
    args[0] = native_path(args[0]);
    std::string command_line;
    for (const auto& arg : args)
        command_line += (command_line.empty() ? "" : " ") + quote_argument(arg);
    STARTUPINFOA startup{};
    startup.cb = sizeof startup;
    PROCESS_INFORMATION info{};
    if (!::CreateProcessA(args[0].c_str(), command_line.data(), nullptr, nullptr,
                          inherit_handles ? TRUE : FALSE, 0, nullptr, nullptr, &startup, &info))
        throw win32_failure("CreateProcess " + args[0]);
    ::CloseHandle(info.hThread);
    return {win_handle(info.hProcess), info.dwProcessId};
}

// Waits for the program; past the timeout it is terminated (timed_out).
inline process_result wait_for(const process& program, std::chrono::seconds timeout) {
    process_result result;
    const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count();
    if (::WaitForSingleObject(program.handle.get(), static_cast<DWORD>(wait)) != WAIT_OBJECT_0) {
        ::TerminateProcess(program.handle.get(), 124);
        ::WaitForSingleObject(program.handle.get(), INFINITE);
        result.timed_out = true;
        return result;
    }
    DWORD code = 0;
    if (::GetExitCodeProcess(program.handle.get(), &code)) {
        result.exited = true;
        result.exit_code = static_cast<int>(code);
    }
    return result;
}

// The exit code a killed program gets (128 + SIGKILL, as a POSIX shell shows it).
inline constexpr int killed_exit_code = 137;

inline void kill_program(const process& program) {
    ::TerminateProcess(program.handle.get(), killed_exit_code);
}

// Ends this process at once, as a crash would: no destructor runs.
[[noreturn]] inline void kill_self() {
    ::TerminateProcess(::GetCurrentProcess(), killed_exit_code);
    ::ExitProcess(killed_exit_code);
}

// Ends the main thread; the process lives on while another thread runs.
[[noreturn]] inline void exit_main_thread() { ::ExitThread(0); }

// Names this process gave out that still name a segment. Windows destroys a
// segment with its last handle, so these are held by this process (or a
// child that is still running), never left behind by one that ended.
inline std::vector<std::string> leftover_segments(const std::string& /*prefix*/) {
    std::vector<std::string> names;
    for (auto& name : issued_names::all())
        if (segment_exists(name)) names.push_back(std::move(name));
    return names;
}

// Nothing to remove: what this process holds goes when it exits.
inline void remove_leftover(const std::string& /*name*/) {}

} // namespace smh_test
