// Shared by the benchmark files: sizes, raw POSIX shared memory (the floor
// every smh operation is compared with), and child processes.
#pragma once

#include <smh/shared_memory_handlee.hpp>

#include <benchmark/benchmark.h>

#include <fcntl.h>
#include <sched.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

extern char** environ;

namespace bench {

inline constexpr std::size_t kib = 1024, mib = 1024 * kib, gib = 1024 * mib;

struct config {
    bool quick = false; // CI: every benchmark once, at tiny sizes
    bool goals = false; // bench/goals.sh: 11 rounds each, the fastest kept
    std::string self;   // this program, for spawned children
};

// How often a benchmark runs: once (--quick), `usual` times with their
// median reported, or (--goals) 11 times with the fastest reported too:
// with --benchmark_enable_random_interleaving the rounds of every benchmark
// interleave, so a burst of load on this shared machine slows a round of
// each rather than all rounds of one, and the fastest round of each is the
// one least disturbed.
inline void repeat(benchmark::internal::Benchmark* b, const config& c, int usual) {
    if (c.quick) {
        b->Iterations(1);
        return;
    }
    b->Repetitions(c.goals ? 11 : usual)->ReportAggregatesOnly(true);
    if (c.goals)
        b->ComputeStatistics("min", [](const std::vector<double>& rounds) {
            return *std::min_element(rounds.begin(), rounds.end());
        });
}

inline std::string fresh_name() {
    static std::atomic<unsigned> counter{0};
    return "smh-bench-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
}

[[noreturn]] inline void die(const std::string& what) {
    throw std::runtime_error(what + ": " + std::to_string(errno));
}

// Raw POSIX: the least work that makes a named, mapped segment.
struct raw_segment {
    std::string name;
    void* base = nullptr;
    std::size_t bytes = 0;

    static raw_segment create(const std::string& name, std::size_t bytes, bool reserve) {
        const int fd = ::shm_open(("/" + name).c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
        if (fd < 0) die("shm_open");
        if (reserve ? ::posix_fallocate(fd, 0, static_cast<off_t>(bytes)) != 0
                    : ::ftruncate(fd, static_cast<off_t>(bytes)) != 0)
            die("sizing");
        void* base = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        ::close(fd);
        if (base == MAP_FAILED) die("mmap");
        return {name, base, bytes};
    }
    static raw_segment attach(const std::string& name) {
        const int fd = ::shm_open(("/" + name).c_str(), O_RDWR, 0);
        if (fd < 0) die("shm_open");
        struct stat info {};
        if (::fstat(fd, &info) != 0) die("fstat");
        const auto bytes = static_cast<std::size_t>(info.st_size);
        void* base = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        ::close(fd);
        if (base == MAP_FAILED) die("mmap");
        return {name, base, bytes};
    }
    void unmap() { ::munmap(base, bytes); }
    void unlink() const { ::shm_unlink(("/" + name).c_str()); }
};

// Moves this process (and the children it starts later) into a mount
// namespace of its own, once, so that benchmarks can mount a tmpfs over
// /dev/shm without anyone else seeing it. Needs root; false without.
inline bool private_mount_namespace() {
    static const bool done = ::geteuid() == 0 && ::unshare(CLONE_NEWNS) == 0 &&
                             ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0;
    return done;
}

// Runs `self --child args...` with posix_spawn and waits; returns the exit code.
inline int spawn_and_wait(const std::string& self, std::vector<std::string> args) {
    args.insert(args.begin(), {self, "--child"});
    std::vector<char*> argv;
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    pid_t pid = 0;
    if (::posix_spawn(&pid, self.c_str(), nullptr, nullptr, argv.data(), environ) != 0)
        die("posix_spawn");
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

inline int wait_child(pid_t pid) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

// The sum a child computes over the hand-off data, and its expected value.
inline std::uint64_t sum_words(const std::uint64_t* words, std::size_t count) {
    std::uint64_t sum = 0;
    for (std::size_t i = 0; i < count; ++i) sum += words[i];
    return sum;
}
inline std::uint64_t expected_sum(std::size_t count) { return count * (count - 1) / 2; }

using clock = std::chrono::steady_clock;
inline double seconds_since(clock::time_point start) {
    return std::chrono::duration<double>(clock::now() - start).count();
}

void register_access(const config&);
void register_lifecycle(const config&);
void register_handoff(const config&);
void register_first_touch(const config&);
void register_scaling(const config&);
void register_python_equivalent(const config&);
void register_steps(const config&);
void register_scale(const config&);
void register_wait(const config&);
void register_grow(const config&);
int run_child(int argc, char** argv);

} // namespace bench
