// The POSIX half of the test support (support.hpp includes it): raw segments
// through shm_open, processes through fork and posix_spawn, and what only
// POSIX has (a directory of segments, /proc).
#pragma once

#include <smh/shared_memory_handlee.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <grp.h> // setgroups
#include <pthread.h>
#include <sched.h> // unshare
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes> // SCNxPTR
#include <cstdint>
#include <cstdio> // sscanf
#include <cstring>
#include <fstream>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

extern char** environ;

namespace smh_test {

inline std::int64_t current_pid() { return ::getpid(); }

// With the pid, identifies a process even after its pid is reused: field 22
// of /proc/<pid>/stat (clock ticks after boot); 0 where /proc does not tell.
inline std::uint64_t process_start_time(std::int64_t pid) {
    const auto status = smh::detail::os::read_process_status(pid);
    return status ? status->start_time : 0;
}

inline bool segment_exists(const std::string& name) {
    const int fd = ::shm_open(("/" + name).c_str(), O_RDONLY, 0);
    if (fd < 0) return false;
    ::close(fd);
    return true;
}

// Where /proc/self/maps says the mapping that contains `address` comes from:
// "/dev/shm/NAME", "/dev/shm/#N (deleted)", or empty.
inline std::string mapped_file_at(const void* address) {
    const auto at = reinterpret_cast<std::uintptr_t>(address);
    std::ifstream maps("/proc/self/maps");
    for (std::string line; std::getline(maps, line);) {
        std::uintptr_t start = 0, end = 0;
        if (std::sscanf(line.c_str(), "%" SCNxPTR "-%" SCNxPTR, &start, &end) != 2) continue;
        if (at < start || at >= end) continue;
        const auto path = line.find('/');
        return path == std::string::npos ? std::string() : line.substr(path);
    }
    return {};
}

// Removes the name on scope exit, whatever the test did with it.
struct segment_guard {
    std::string name;
    explicit segment_guard(std::string n)
        : name(std::move(n)) {}
    segment_guard(const segment_guard&) = delete;
    segment_guard& operator=(const segment_guard&) = delete;
    ~segment_guard() { ::shm_unlink(("/" + name).c_str()); }
};

// A segment that is not smh's, removed when this goes out of scope.
class raw_segment {
public:
    explicit raw_segment(std::string name)
        : name_(std::move(name)) {}
    raw_segment(raw_segment&& other) noexcept
        : name_(std::exchange(other.name_, std::string())) {}
    raw_segment& operator=(raw_segment&&) = delete;
    ~raw_segment() {
        if (!name_.empty()) ::shm_unlink(("/" + name_).c_str());
    }

private:
    std::string name_;
};

// Creates a segment that is not smh's: exactly `bytes`, mode 0600.
[[nodiscard]] inline raw_segment write_raw_segment(const std::string& name,
                                                   const std::string& bytes) {
    const int fd = ::shm_open(("/" + name).c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
    if (fd < 0) throw std::runtime_error("shm_open " + name + ": " + std::strerror(errno));
    raw_segment segment(name);
    const bool ok = ::ftruncate(fd, static_cast<off_t>(bytes.size())) == 0 &&
                    (bytes.empty() || ::pwrite(fd, bytes.data(), bytes.size(), 0) ==
                                          static_cast<ssize_t>(bytes.size()));
    ::close(fd);
    if (!ok) throw std::runtime_error("writing raw segment " + name);
    return segment;
}

// The size the OS gives a segment asked to hold `bytes`: exactly that here.
inline std::size_t stored_size(std::size_t bytes) { return bytes; }

// A segment of zero bytes can exist (an empty file).
inline constexpr bool zero_length_segments_exist = true;

// Writes `bytes` at `offset` of an existing segment, in place.
inline void overwrite_raw_segment(const std::string& name, std::size_t offset,
                                  const std::string& bytes) {
    const int fd = ::shm_open(("/" + name).c_str(), O_RDWR, 0);
    if (fd < 0) throw std::runtime_error("shm_open " + name + ": " + std::strerror(errno));
    const auto written = ::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset));
    ::close(fd);
    if (written != static_cast<ssize_t>(bytes.size()))
        throw std::runtime_error("overwriting raw segment " + name);
}

inline std::string read_raw_segment(const std::string& name, std::size_t bytes) {
    const int fd = ::shm_open(("/" + name).c_str(), O_RDONLY, 0);
    if (fd < 0) throw std::runtime_error("shm_open " + name + ": " + std::strerror(errno));
    std::string out(bytes, '\0');
    const auto got = ::pread(fd, out.data(), bytes, 0);
    ::close(fd);
    out.resize(got < 0 ? 0 : static_cast<std::size_t>(got));
    return out;
}

// Names in `directory`, without "." and "..".
inline std::vector<std::string> directory_entries(const char* directory) {
    std::vector<std::string> names;
    if (DIR* dir = ::opendir(directory)) {
        while (const dirent* entry = ::readdir(dir)) {
            const std::string name = entry->d_name;
            if (name != "." && name != "..") names.push_back(name);
        }
        ::closedir(dir);
    }
    return names;
}

// Names in /dev/shm starting with `prefix`.
inline std::vector<std::string> shm_entries(const std::string& prefix) {
    std::vector<std::string> names;
    for (auto& name : directory_entries("/dev/shm"))
        if (name.rfind(prefix, 0) == 0) names.push_back(std::move(name));
    return names;
}

// smh segments whose header says `pid` created them. Through smh::list(),
// which never blocks on a FIFO another test put in /dev/shm.
inline std::vector<std::string> segments_created_by(pid_t pid) {
    std::vector<std::string> found;
    for (const auto& info : smh::list())
        if (info.creator_pid == pid) found.push_back(info.name);
    return found;
}

inline process_result wait_for(pid_t pid, std::chrono::seconds timeout) {
    process_result result;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    int status = 0;
    for (;;) {
        const pid_t done = ::waitpid(pid, &status, WNOHANG);
        if (done == pid) break;
        if (done < 0) return result;
        if (std::chrono::steady_clock::now() > deadline) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, &status, 0);
            result.timed_out = true;
            return result;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    if (WIFEXITED(status)) {
        result.exited = true;
        result.exit_code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        result.signal = WTERMSIG(status);
    }
    return result;
}

// A check that failed in a child process: child_check throws it, and
// child_process sends its message to the parent. Not a std::exception, so that
// a body catching those lets it through.
struct child_failure {
    std::string message;
};

// In a child process's body, in place of Catch2's macros (whose results would
// stay in the child): ends the child as failed, with `message` as what the
// parent reports, unless `condition` holds.
inline void child_check(bool condition, const std::string& message) {
    if (!condition) throw child_failure{message};
}

// In a child (as root): a private mount namespace, so that what the test
// mounts is seen by this process alone, and a fresh tmpfs mounted on
// `where` with `options` ("size=16m", "size=1m,mode=0700"): a small or
// unreadable /dev/shm, or a /proc with nothing in it.
inline void mount_private(const char* where, const char* type, const char* options) {
    static bool unshared = false; // once per child: each child is a new process
    if (!unshared) {
        child_check(::unshare(CLONE_NEWNS) == 0, "unshare(CLONE_NEWNS)");
        child_check(::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0,
                    "making / private");
        unshared = true;
    }
    child_check(::mount(type, where, type, 0, options) == 0,
                std::string("mounting a ") + type + " (" + options + ") on " + where);
}
inline void mount_private_tmpfs(const char* where, const char* options) {
    mount_private(where, "tmpfs", options);
}

struct child_result : process_result {
    std::string failure; // why the child failed, for the parent to report; empty if it did not
};

// A forked child process running `body` (plain code and child_check, never
// Catch2's macros). The child exits 0 when the body returns; a failed
// child_check or an exception ends it with 1 and a message sent up a pipe.
// A child still running when this goes out of scope is killed and reaped.
class child_process {
public:
    explicit child_process(const std::function<void()>& body) {
        int report[2];
        if (::pipe2(report, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
        pid_ = ::fork();
        if (pid_ < 0) {
            ::close(report[0]);
            ::close(report[1]);
            throw std::runtime_error("fork failed");
        }
        if (pid_ == 0) {
            ::close(report[0]);
            // The test runner's handlers of fatal signals would report a crash
            // here as the end of a run of its own; the parent reports it.
            for (const int fatal : {SIGABRT, SIGBUS, SIGFPE, SIGILL, SIGINT, SIGSEGV, SIGTERM})
                ::signal(fatal, SIG_DFL);
            std::string failure;
            try {
                body();
            } catch (const child_failure& f) {
                failure = f.message.empty() ? "a check failed" : f.message;
            } catch (const std::exception& e) {
                failure = std::string("threw: ") + e.what();
            } catch (...) { failure = "threw something that is not a std::exception"; }
            if (failure.empty()) ::_exit(0);
            // Within the pipe's buffer, so that the write never waits for the parent.
            failure.resize(std::min<std::size_t>(failure.size(), 4000));
            (void)!::write(report[1], failure.data(), failure.size());
            ::_exit(1);
        }
        ::close(report[1]);
        report_ = report[0];
    }
    child_process(child_process&& other) noexcept
        : pid_(std::exchange(other.pid_, -1)),
          report_(std::exchange(other.report_, -1)) {}
    child_process& operator=(child_process&&) = delete;
    ~child_process() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
        if (report_ >= 0) ::close(report_);
    }

    pid_t pid() const { return pid_; }

    // Waits for the child to end, killing it after `timeout`.
    child_result wait(std::chrono::seconds timeout = std::chrono::seconds(60)) {
        child_result result;
        static_cast<process_result&>(result) = wait_for(pid_, timeout);
        pid_ = -1;
        // The child has ended: what it wrote is all there is. (Non-blocking:
        // a process it started might still hold the pipe open.)
        ::fcntl(report_, F_SETFL, O_NONBLOCK);
        char buffer[4096];
        for (ssize_t n; (n = ::read(report_, buffer, sizeof buffer)) > 0;)
            result.failure.append(buffer, static_cast<std::size_t>(n));
        if (result.timed_out) {
            result.failure = "the child did not end within " + std::to_string(timeout.count()) +
                             " s and was killed";
        } else if (!result.exited) {
            result.failure = "the child was killed by signal " + std::to_string(result.signal) +
                             " (" + ::strsignal(result.signal) + ")";
        } else if (result.exit_code != 0 && result.failure.empty()) {
            result.failure = "the child exited with code " + std::to_string(result.exit_code);
        }
        return result;
    }

private:
    pid_t pid_ = -1;
    int report_ = -1;
};

// Starts a program (posix_spawn: a new image, not a fork); returns its pid.
// It starts with every signal at its default action and none blocked, as
// from a shell's foreground, whatever the test runner inherited (a runner in
// the background has SIGINT and SIGQUIT ignored).
// `descriptors`: (this process's, the program's) pairs, duplicated into the
// program as posix_spawn_file_actions_adddup2 does (clearing close-on-exec).
inline pid_t start_program(std::vector<std::string> args,
                           const std::vector<std::pair<int, int>>& descriptors = {}) {
    posix_spawn_file_actions_t actions;
    ::posix_spawn_file_actions_init(&actions);
    for (const auto& [ours, theirs] : descriptors)
        ::posix_spawn_file_actions_adddup2(&actions, ours, theirs);
    std::vector<char*> argv;
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    posix_spawnattr_t attributes;
    ::posix_spawnattr_init(&attributes);
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    ::posix_spawnattr_setsigdefault(&attributes, &all);
    ::posix_spawnattr_setsigmask(&attributes, &none);
    ::posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    pid_t pid = 0;
    const int spawned = ::posix_spawn(&pid, argv[0], &actions, &attributes, argv.data(), environ);
    ::posix_spawnattr_destroy(&attributes);
    ::posix_spawn_file_actions_destroy(&actions);
    if (spawned != 0) throw std::runtime_error("posix_spawn " + args[0] + " failed");
    return pid;
}

inline void kill_program(pid_t pid) { ::kill(pid, SIGKILL); }

// Sends `signal` to `pid` and waits at most `timeout` for it to end. Under
// ThreadSanitizer the signal is sent again every 2 s: its runtime, which
// takes every signal first and hands it on to the program's handler later,
// was seen keeping one queued for good (the process ran on for 30 s with
// nothing pending in the kernel), which no uninstrumented program does.
inline process_result signal_and_wait(pid_t pid, int signal, std::chrono::seconds timeout) {
    ::kill(pid, signal);
#ifdef SMH_TEST_UNDER_TSAN
    for (; timeout > std::chrono::seconds(2); timeout -= std::chrono::seconds(2)) {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
        bool ended = false;
        while (!ended && std::chrono::steady_clock::now() < deadline) {
            siginfo_t info{};
            ended = ::waitid(P_PID, static_cast<id_t>(pid), &info,
                             WEXITED | WNOHANG | WNOWAIT) != 0 ||
                    info.si_pid != 0; // left for wait_for to collect
            if (!ended) std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
        if (ended) break;
        ::kill(pid, signal);
    }
#endif
    return wait_for(pid, timeout);
}

// Ends this process at once, as a crash would: no destructor runs.
[[noreturn]] inline void kill_self() {
    ::kill(::getpid(), SIGKILL);
    ::_exit(137);
}

// Ends the main thread; the process lives on while another thread runs.
[[noreturn]] inline void exit_main_thread() { ::pthread_exit(nullptr); }

// Segments still there that this test process made: named with its prefix
// (name_prefix(), defined in support.hpp) or created by it.
inline std::vector<std::string> leftover_segments(const std::string& prefix) {
    std::vector<std::string> names;
    for (auto& name : shm_entries(prefix)) names.push_back(std::move(name));
    for (auto& name : segments_created_by(::getpid()))
        if (name.rfind(prefix, 0) != 0) names.push_back(std::move(name));
    return names;
}

inline void remove_leftover(const std::string& name) { ::shm_unlink(("/" + name).c_str()); }

} // namespace smh_test

namespace smh_test {

// What another user may do is checked by a forked child that becomes uid and
// gid 65534 (nobody, nogroup), which needs root. Every such test goes through
// become_other_user() and, to run a program as that user,
// program_for_other_user.
inline constexpr uid_t other_uid = 65534;
inline constexpr gid_t other_gid = 65534;

// In a child_process body: becomes the other user, with no supplementary
// group left (root's group 0 would still open what that group may).
inline void become_other_user() {
    child_check(::setgroups(0, nullptr) == 0 && ::setgid(other_gid) == 0 &&
                    ::setuid(other_uid) == 0,
                "dropping to uid 65534");
}

// A copy of a program (the test helper, the smh tool) that the other user can
// run from any clone. The build tree may lie under a directory that user
// cannot enter (a clone in `mktemp -d`, in /root, in a 0700 home), and then
// exec of the original fails for it. The copy is made in a fresh 0755
// directory under /tmp (not $TMPDIR, which may be private), and both are
// removed when this goes out of scope. Where no copy can run there (/tmp
// missing, not searchable by others, mounted noexec), why_not() says why, for
// the test's skip.
class program_for_other_user {
public:
    explicit program_for_other_user(const std::string& original) {
        if (const auto failure = copy(original); !failure.empty()) {
            why_not_ = "no copy of " + original + " that uid 65534 can run: " + failure;
            path_.clear();
        }
    }
    program_for_other_user(const program_for_other_user&) = delete;
    program_for_other_user& operator=(const program_for_other_user&) = delete;
    ~program_for_other_user() {
        if (!file_.empty()) ::unlink(file_.c_str());
        if (!directory_.empty()) ::rmdir(directory_.c_str());
    }

    explicit operator bool() const { return !path_.empty(); }
    // The copy to run; empty if there is none.
    const std::string& path() const { return path_; }
    const std::string& why_not() const { return why_not_; }

private:
    // Empty when done, else what failed.
    std::string copy(const std::string& original) {
        const auto os_error = [](const std::string& what) {
            return what + ": " + std::strerror(errno);
        };
        struct stat tmp {};
        struct statvfs tmp_fs {};
        if (::stat("/tmp", &tmp) != 0 || (tmp.st_mode & S_IXOTH) == 0)
            return "/tmp is missing or other users cannot enter it";
        if (::statvfs("/tmp", &tmp_fs) == 0 && (tmp_fs.f_flag & ST_NOEXEC) != 0)
            return "/tmp is mounted noexec";
        char directory[] = "/tmp/smh-test-program-XXXXXX";
        if (::mkdtemp(directory) == nullptr) return os_error("mkdtemp in /tmp");
        directory_ = directory;
        if (::chmod(directory, 0755) != 0) return os_error("chmod 0755 " + directory_);
        file_ = directory_ + original.substr(original.find_last_of('/'));
        {
            std::ifstream in(original, std::ios::binary);
            std::ofstream out(file_, std::ios::binary);
            if (!in || !out || !(out << in.rdbuf()) || !out.flush())
                return "copying it to " + file_ + " failed";
        }
        if (::chmod(file_.c_str(), 0755) != 0) return os_error("chmod 0755 " + file_);
        path_ = file_;
        return {};
    }

    std::string directory_;
    std::string file_;
    std::string path_;
    std::string why_not_;
};

} // namespace smh_test

namespace smh_test {

// What /proc/self/smaps says under `key` (such as "Rss:" or "VmFlags:") for
// the mapping that contains `address`; empty where it says nothing.
inline std::string smaps_entry(const void* address, std::string_view key) {
    std::ifstream smaps("/proc/self/smaps");
    const auto target = reinterpret_cast<std::uintptr_t>(address);
    bool inside = false;
    for (std::string line; std::getline(smaps, line);) {
        const auto dash = line.find('-');
        const auto space = line.find(' ');
        if (dash != std::string::npos && space != std::string::npos && dash < space &&
            line.find(':') > space) {
            const auto begin = std::stoull(line.substr(0, dash), nullptr, 16);
            const auto end = std::stoull(line.substr(dash + 1, space - dash - 1), nullptr, 16);
            inside = begin <= target && target < end;
        } else if (inside && line.starts_with(key)) {
            return line.substr(key.size());
        }
    }
    return "";
}

// Resident bytes of the mapping that contains `address` (smaps' Rss, in kB).
inline std::size_t resident_bytes(const void* address) {
    const auto rss = smaps_entry(address, "Rss:");
    return rss.empty() ? 0 : std::stoull(rss) * 1024;
}

} // namespace smh_test

namespace smh_test {

struct captured {
    process_result result;
    std::string out; // standard output
    std::string err; // standard error
};

// Runs a program with its standard output and error captured.
inline captured run_captured(std::vector<std::string> args) {
    int out_pipe[2], err_pipe[2];
    if (::pipe(out_pipe) != 0 || ::pipe(err_pipe) != 0) throw std::runtime_error("pipe failed");
    posix_spawn_file_actions_t actions;
    ::posix_spawn_file_actions_init(&actions);
    ::posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
    ::posix_spawn_file_actions_adddup2(&actions, err_pipe[1], STDERR_FILENO);
    std::vector<char*> argv;
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    pid_t pid = 0;
    const int spawned = ::posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
    ::posix_spawn_file_actions_destroy(&actions);
    ::close(out_pipe[1]);
    ::close(err_pipe[1]);
    if (spawned != 0) throw std::runtime_error("posix_spawn " + args[0] + " failed");
    captured c;
    auto drain = [](int fd, std::string& into) {
        char buffer[4096];
        for (ssize_t n; (n = ::read(fd, buffer, sizeof buffer)) > 0;)
            into.append(buffer, static_cast<std::size_t>(n));
        ::close(fd);
    };
    std::thread err_reader(drain, err_pipe[0], std::ref(c.err));
    drain(out_pipe[0], c.out);
    err_reader.join();
    c.result = wait_for(pid, std::chrono::seconds(60));
    return c;
}

} // namespace smh_test
