// smh::watch_owned_segments(): the watcher process that removes a dead
// owner's segments, whatever killed it, and stays out of the program's way.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "checks.hpp"

using smh_test::child_check;
using smh_test::segment_exists;
using smh_test::unique_name;
using namespace std::chrono_literals;

namespace {

struct process_stat {
    std::string name; // comm
    char state = 0;
    long parent = 0;
};

// /proc/<pid>/stat (proc(5)): name, state and parent; state 0 if there is none.
process_stat stat_of(const std::string& pid) {
    std::ifstream file("/proc/" + pid + "/stat");
    const std::string text((std::istreambuf_iterator<char>(file)),
                           std::istreambuf_iterator<char>());
    const auto open = text.find('(');
    const auto close = text.rfind(')');
    process_stat stat;
    if (open == std::string::npos || close == std::string::npos || close < open) return stat;
    stat.name = text.substr(open + 1, close - open - 1);
    std::istringstream rest(text.substr(close + 1));
    rest >> stat.state >> stat.parent;
    return stat;
}

// The running (not ended) processes named smh-watch whose parent is `parent`.
std::vector<pid_t> watchers_of(pid_t parent) {
    std::vector<pid_t> found;
    for (const auto& entry : smh_test::directory_entries("/proc")) {
        if (entry.find_first_not_of("0123456789") != std::string::npos) continue;
        const auto stat = stat_of(entry);
        if (stat.name == "smh-watch" && stat.parent == parent && stat.state != 'Z' &&
            stat.state != 'X')
            found.push_back(static_cast<pid_t>(std::stol(entry)));
    }
    return found;
}

// Gone, or ended and waiting for its new parent to reap it.
bool ended(pid_t pid) {
    const auto state = stat_of(std::to_string(pid)).state;
    return state == 0 || state == 'Z' || state == 'X';
}

template <class Condition>
bool eventually(Condition condition, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        if (condition()) return true;
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(5ms);
    }
}

// /proc/<pid>/maps, as text.
std::string maps_of(pid_t pid) {
    std::ifstream file("/proc/" + std::to_string(pid) + "/maps");
    return {std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
}

// The address of the rseq area registered by `pid`'s thread, read through
// ptrace (PTRACE_GET_RSEQ_CONFIGURATION, Linux 5.13), 0 for none; nullopt,
// with `why`, where it cannot be read.
std::optional<std::uint64_t> rseq_area_of(pid_t pid, std::string& why) {
    struct {
        std::uint64_t pointer; // struct ptrace_rseq_configuration (linux/ptrace.h)
        std::uint32_t size, signature, flags, pad;
    } configuration{};
    if (::ptrace(PTRACE_SEIZE, pid, nullptr, nullptr) != 0) {
        why = std::string("PTRACE_SEIZE: ") + std::strerror(errno);
        return std::nullopt;
    }
    int status = 0;
    const bool stopped = ::ptrace(PTRACE_INTERRUPT, pid, nullptr, nullptr) == 0 &&
                         ::waitpid(pid, &status, __WALL) == pid;
    const long got = stopped ? ::ptrace(static_cast<__ptrace_request>(0x420f), pid,
                                        sizeof configuration, &configuration)
                             : -1;
    const int error = errno;
    ::ptrace(PTRACE_DETACH, pid, nullptr, nullptr);
    if (got < 0) {
        why = std::string("PTRACE_GET_RSEQ_CONFIGURATION: ") + std::strerror(error);
        return std::nullopt;
    }
    return configuration.pointer;
}

// One byte up a pipe: the child says it is ready to be killed.
class ready_signal {
public:
    ready_signal() {
        if (::pipe2(fds_, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
    }
    ready_signal(const ready_signal&) = delete;
    ready_signal& operator=(const ready_signal&) = delete;
    ~ready_signal() {
        ::close(fds_[0]);
        ::close(fds_[1]);
    }
    void notify() const { (void)!::write(fds_[1], "r", 1); }
    bool wait(std::chrono::milliseconds timeout) const {
        struct pollfd readable {};
        readable.fd = fds_[0];
        readable.events = POLLIN;
        char byte = 0;
        return ::poll(&readable, 1, static_cast<int>(timeout.count())) == 1 &&
               ::read(fds_[0], &byte, 1) == 1;
    }

private:
    int fds_[2] = {-1, -1};
};

// Kills `child` once it is ready; false (with its message) if it never was.
bool kill_when_ready(smh_test::child_process& child, const ready_signal& ready) {
    if (ready.wait(30s)) {
        ::kill(child.pid(), SIGKILL);
        return true;
    }
    FAIL_CHECK("the child never got ready: " << child.wait(1s).failure);
    return false;
}

void sleep_until_killed() {
    for (;;) ::pause();
}

} // namespace

TEST_CASE("after watch_owned_segments(), a process killed with SIGKILL loses within 2 s exactly "
          "the segments it still owned",
          "[orphans]") {
    const auto owned = unique_name(), claimed = unique_name(), released = unique_name(),
               taken = unique_name(), adopted = unique_name(), theirs = unique_name();
    std::deque<smh_test::segment_guard> guards;
    for (const auto& name : {owned, claimed, released, taken, adopted, theirs})
        guards.emplace_back(name);
    auto their_segment = smh::create<int>(theirs, 4); // this process owns it
    ready_signal ready;
    smh_test::child_process child([&] {
        child_check(smh::watch_owned_segments(), "watch_owned_segments() started no watcher");
        auto kept = smh::create<int>(owned, 4);
        auto being_changed = smh::create<int>(claimed, 4);
        auto let_go = smh::create<int>(released, 4);
        auto to_be_taken = smh::create<int>(taken, 4);
        auto to_be_adopted = smh::create<int>(adopted, 4);
        auto attached = smh::attach<int>(theirs);
        child_check(let_go.release() && to_be_adopted.release(), "release() failed");
        // Killed while changing a record of its own: its claim names it.
        const std::int64_t claim = -static_cast<std::int64_t>(::getpid());
        smh_test::overwrite_raw_segment(claimed, offsetof(smh::detail::segment_header, owner_pid),
                                        std::string(reinterpret_cast<const char*>(&claim), 8));
        ready.notify();
        sleep_until_killed();
    });
    if (!ready.wait(30s)) FAIL("the child never got ready: " << child.wait(1s).failure);
    // Another process, this one, becomes the owner of two of them.
    auto took = smh::attach<int>(taken);
    took.take_ownership();
    auto adopter = smh::attach<int>(adopted);
    REQUIRE(adopter.adopt());
    const auto watchers = watchers_of(child.pid());
    REQUIRE(watchers.size() == 1);

    ::kill(child.pid(), SIGKILL);
    CHECK(child.wait(10s).signal == SIGKILL);
    CHECK(eventually([&] { return !segment_exists(owned) && !segment_exists(claimed); }, 2s));
    CHECK(segment_exists(released));
    CHECK(smh::inspect(released).owner_pid == 0);
    CHECK(segment_exists(taken));
    CHECK(took.is_owner());
    CHECK(segment_exists(adopted));
    CHECK(adopter.is_owner());
    CHECK(segment_exists(theirs));
    CHECK(their_segment.is_owner());
    // Its work done, the watcher ends.
    CHECK(eventually([&] { return ended(watchers[0]); }, 2s));
}

TEST_CASE("the watcher works in a multithreaded program, started by a thread that then ends",
          "[orphans]") {
    if (smh_test::sanitized_build)
        return smh_test::skip("a sanitizer's runtime may hold its locks in other threads at the "
                              "clone, and the watcher's instrumented code may wait on them");
    const auto name = unique_name();
    smh_test::segment_guard guard(name);
    ready_signal ready;
    smh_test::child_process child([&] {
        // Threads that allocate all the time: a child that took the
        // allocator's locks (or ran atfork handlers) would hang on them.
        std::atomic<int> sink{0};
        std::vector<std::thread> busy;
        for (int i = 0; i < 3; ++i)
            busy.emplace_back([&sink, i] {
                for (;;) {
                    std::vector<int> allocated(1000 + static_cast<std::size_t>(i), i);
                    sink.store(allocated.back(), std::memory_order_relaxed);
                }
            });
        bool started = false;
        std::thread([&] { started = smh::watch_owned_segments(); }).join();
        child_check(started, "watch_owned_segments() started no watcher");
        auto shm = smh::create<int>(name, 4);
        // The end of the thread that started it is not the end of the process.
        std::this_thread::sleep_for(300ms);
        child_check(segment_exists(name), "the watcher removed the segment of a live process");
        child_check(watchers_of(::getpid()).size() == 1, "the watcher ended with its thread");
        ready.notify();
        sleep_until_killed();
    });
    REQUIRE(kill_when_ready(child, ready));
    CHECK(child.wait(10s).signal == SIGKILL);
    CHECK(eventually([&] { return !segment_exists(name); }, 2s));
}

TEST_CASE("the watcher is invisible to wait() and waitpid(-1) and sends no SIGCHLD") {
    smh_test::in_child([] {
        static std::atomic<int> sigchld{0};
        ::signal(SIGCHLD, [](int) { sigchld.fetch_add(1); });
        child_check(smh::watch_owned_segments(), "watch_owned_segments() started no watcher");
        const auto watchers = watchers_of(::getpid());
        child_check(watchers.size() == 1, "no watcher runs");
        errno = 0;
        child_check(::waitpid(-1, nullptr, WNOHANG) == -1 && errno == ECHILD,
                    "waitpid(-1) sees the watcher");
        errno = 0;
        child_check(::wait(nullptr) == -1 && errno == ECHILD, "wait() sees the watcher");
        // Even its end (killed, here) sends nothing and leaves nothing to wait for.
        ::kill(watchers[0], SIGKILL);
        child_check(eventually([&] { return ended(watchers[0]); }, 2s), "the watcher lives on");
        std::this_thread::sleep_for(50ms);
        child_check(sigchld.load() == 0, "the watcher's end sent SIGCHLD");
        errno = 0;
        child_check(::waitpid(-1, nullptr, WNOHANG) == -1 && errno == ECHILD,
                    "waitpid(-1) sees the ended watcher");
        child_check(::waitpid(watchers[0], nullptr, __WALL) == watchers[0],
                    "waitpid(__WALL) does not see the watcher");
        // The program's own children are seen as before.
        const pid_t own = ::fork();
        if (own == 0) ::_exit(7);
        int status = 0;
        child_check(::waitpid(-1, &status, 0) == own && WIFEXITED(status) &&
                        WEXITSTATUS(status) == 7,
                    "waitpid(-1) does not see the program's own child");
        child_check(eventually([&] { return sigchld.load() == 1; }, 2s),
                    "the program's own child sent no SIGCHLD");
    });
}

TEST_CASE("calling watch_owned_segments() twice, or from several threads at once, starts one "
          "watcher") {
    smh_test::in_child([] {
        std::atomic<int> started{0};
        std::vector<std::thread> callers;
        for (int i = 0; i < 4; ++i)
            callers.emplace_back([&] { started.fetch_add(smh::watch_owned_segments() ? 1 : 0); });
        for (auto& caller : callers) caller.join();
        child_check(started.load() == 4 && smh::watch_owned_segments(),
                    "a call says no watcher runs");
        const auto count = watchers_of(::getpid()).size();
        child_check(count == 1, std::to_string(count) + " watchers run");
    });
}

TEST_CASE("a forked child that calls watch_owned_segments() gets a watcher of its own") {
    smh_test::in_child([] {
        child_check(smh::watch_owned_segments(), "watch_owned_segments() started no watcher");
        smh_test::child_process forked([] {
            child_check(smh::watch_owned_segments(), "the forked child's call started nothing");
            child_check(watchers_of(::getpid()).size() == 1, "the forked child has no watcher");
        });
        const auto result = forked.wait(30s);
        child_check(result.failure.empty(), result.failure);
        child_check(watchers_of(::getpid()).size() == 1, "the parent lost its watcher");
    });
}

TEST_CASE("the watcher keeps no descriptor, no segment mapping and none of the program's heap") {
    if (smh_test::sanitized_build)
        return smh_test::skip("under a sanitizer the watcher keeps private memory, where the "
                              "sanitizer's shadow lives");
    smh_test::in_child([] {
        std::vector<char> heap(64 << 20, 1); // 64 MiB, every page touched
        auto shm = smh::create<int>(1 << 20);
        child_check(smh::watch_owned_segments(), "watch_owned_segments() started no watcher");
        const auto watchers = watchers_of(::getpid());
        child_check(watchers.size() == 1, "no watcher runs");
        const auto proc = "/proc/" + std::to_string(watchers[0]);
        // It lets go as it starts: give it a moment.
        std::string maps;
        std::size_t descriptors = 0;
        std::size_t anonymous_kb = 0;
        eventually(
            [&] {
                maps = maps_of(watchers[0]);
                descriptors = smh_test::directory_entries((proc + "/fd").c_str()).size();
                std::ifstream status(proc + "/status");
                for (std::string line; std::getline(status, line);)
                    if (line.rfind("RssAnon:", 0) == 0) anonymous_kb = std::stoul(line.substr(8));
                return descriptors <= 1 && anonymous_kb < 4096 &&
                       maps.find("/dev/shm/") == std::string::npos;
            },
            2s);
        child_check(descriptors <= 1, std::to_string(descriptors) + " descriptors (1: its pidfd)");
        child_check(maps.find("/dev/shm/") == std::string::npos, "it maps a segment:\n" + maps);
        child_check(anonymous_kb < 4096, "it keeps " + std::to_string(anonymous_kb) +
                                             " KiB of anonymous memory:\n" + maps);
        heap[0] = 2;
    });
}

TEST_CASE("the watcher unmaps a segment mapped right beside the thread-local storage of the "
          "thread that starts it") {
    if (smh_test::sanitized_build)
        return smh_test::skip("under a sanitizer the watcher keeps private memory, where the "
                              "sanitizer's shadow lives");
    smh_test::in_child([] {
        // A thread on a stack of our own, whose top (where its thread-local
        // storage lives) a segment's pages follow: the watcher keeps the
        // memory around its thread pointer, and must not keep that slice.
        auto shm = smh::create<int>(1 << 20);
        constexpr std::size_t stack_bytes = std::size_t{1} << 20;
        constexpr std::size_t beside = std::size_t{64} << 10;
        void* region = ::mmap(nullptr, stack_bytes + beside, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        child_check(region != MAP_FAILED, "mmap of the thread's stack failed");
        auto* const top = static_cast<char*>(region) + stack_bytes;
        const int fd = ::open(("/dev/shm/" + shm.name()).c_str(), O_RDWR | O_CLOEXEC);
        child_check(fd >= 0, "the segment's file did not open");
        child_check(::mmap(top, beside, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) ==
                        top,
                    "the segment could not be mapped above the stack");
        ::close(fd);
        struct started_by_thread {
            bool started = false;
            const char* errno_at = nullptr;
        } result;
        pthread_attr_t attributes;
        ::pthread_attr_init(&attributes);
        ::pthread_attr_setstack(&attributes, region, stack_bytes);
        pthread_t thread;
        const auto run = [](void* out) -> void* {
            auto& result = *static_cast<started_by_thread*>(out);
            result.errno_at = reinterpret_cast<const char*>(&errno);
            result.started = smh::watch_owned_segments();
            return nullptr;
        };
        child_check(::pthread_create(&thread, &attributes, run, &result) == 0,
                    "pthread_create failed");
        ::pthread_join(thread, nullptr);
        ::pthread_attr_destroy(&attributes);
        child_check(result.started, "watch_owned_segments() started no watcher");
        child_check(result.errno_at < top && top - result.errno_at < static_cast<long>(beside),
                    "the thread's errno is not within 64 KiB below the segment's pages");
        const auto watchers = watchers_of(::getpid());
        child_check(watchers.size() == 1, "no watcher runs");
        const auto maps = maps_of(watchers[0]);
        child_check(maps.find("/dev/shm/") == std::string::npos, "it maps a segment:\n" + maps);
        ::munmap(region, stack_bytes + beside);
    });
}

TEST_CASE("a watcher started by a thread whose stack is in shared memory still removes the "
          "segments of its killed owner") {
    if (smh_test::sanitized_build)
        return smh_test::skip("under a sanitizer the watcher keeps private memory, where the "
                              "sanitizer's shadow lives");
    // The thread's stack, and with it its thread control block, errno and
    // rseq area, in shared memory: the watcher's child must keep those pages
    // though it drops shared mappings. The stack's top at a page's start, and
    // not, so that they fall on one page and on two.
    for (const std::size_t short_of_a_page : {0, 2048, 3000}) {
        INFO("the stack's top is " << short_of_a_page << " bytes short of a page");
        const auto name = unique_name();
        smh_test::segment_guard guard(name);
        ready_signal ready;
        smh_test::child_process child([&] {
            auto shm = smh::create<int>(name, 4);
            constexpr std::size_t mapped = std::size_t{1} << 20;
            void* stack =
                ::mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
            child_check(stack != MAP_FAILED, "mmap of the thread's stack failed");
            pthread_attr_t attributes;
            ::pthread_attr_init(&attributes);
            ::pthread_attr_setstack(&attributes, stack, mapped - short_of_a_page);
            pthread_t thread;
            bool started = false;
            const auto run = [](void* out) -> void* {
                *static_cast<bool*>(out) = smh::watch_owned_segments();
                return nullptr;
            };
            child_check(::pthread_create(&thread, &attributes, run, &started) == 0,
                        "pthread_create failed");
            ::pthread_join(thread, nullptr);
            child_check(started, "watch_owned_segments() started no watcher");
            ready.notify();
            sleep_until_killed();
        });
        if (!ready.wait(30s)) FAIL("the child never got ready: " << child.wait(1s).failure);
        // A watcher that lost a page it uses is killed at once.
        std::this_thread::sleep_for(100ms);
        const auto watchers = watchers_of(child.pid());
        CHECK(watchers.size() == 1);
        ::kill(child.pid(), SIGKILL);
        CHECK(child.wait(10s).signal == SIGKILL);
        CHECK(eventually([&] { return !segment_exists(name); }, 2s));
    }
}

TEST_CASE("the watcher ends its share of the starting thread's rseq registration") {
    // Kept, the kernel would write the watcher's CPU into the thread's rseq
    // area wherever that area is shared memory.
    ready_signal ready;
    smh_test::child_process child([&] {
        child_check(smh::watch_owned_segments(), "watch_owned_segments() started no watcher");
        ready.notify();
        sleep_until_killed();
    });
    if (!ready.wait(30s)) FAIL("the child never got ready: " << child.wait(1s).failure);
    const auto watchers = watchers_of(child.pid());
    REQUIRE(watchers.size() == 1);
    std::string why;
    const auto program = rseq_area_of(child.pid(), why);
    const auto watcher = program ? rseq_area_of(watchers[0], why) : std::nullopt;
    ::kill(child.pid(), SIGKILL);
    CHECK(child.wait(10s).signal == SIGKILL);
    if (!watcher) return smh_test::skip("rseq registrations cannot be read here: " + why);
    if (*program == 0) return smh_test::skip("the C library registered no rseq area");
    CHECK(*watcher == 0);
}
