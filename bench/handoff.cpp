// Hand-off: the parent has N MiB; a child sums them. Through shared memory
// (a forked child using the same object; a spawned program attaching by
// name, with and without populate) against the same bytes sent through a
// pipe (64 KiB, the default, and 1 MiB), and the floor: summing memory that
// is already mapped. Then the same on a tmpfs that gives huge pages, mounted
// over /dev/shm in this process's private mount namespace (root only), and a
// spawned program that maps the file with raw calls: the small-page floor.
#include <fcntl.h>
#include <sys/mount.h>

#include <cstring>
#include <memory>

#include "common.hpp"

namespace bench {
namespace {

using words_segment = smh::SharedMemoryHandlee<std::uint64_t>;

std::size_t words(const benchmark::State& state) {
    return static_cast<std::size_t>(state.range(0)) * mib / sizeof(std::uint64_t);
}

words_segment filled(std::size_t count) {
    auto shm = smh::create<std::uint64_t>(count);
    for (std::size_t i = 0; i < count; ++i) shm[i] = i;
    return shm;
}

void check(benchmark::State& state, bool ok) {
    if (!ok) state.SkipWithError("the child's sum was wrong");
}

// The parent's side of a forked child's answer: its sum, through `answer`;
// the time from `start` until the child is done.
void collect(benchmark::State& state, const int (&answer)[2], pid_t pid, clock::time_point start,
             std::size_t count) {
    std::uint64_t sum = 0;
    (void)!::read(answer[0], &sum, sizeof sum);
    wait_child(pid);
    state.SetIterationTime(seconds_since(start));
    ::close(answer[0]);
    ::close(answer[1]);
    check(state, sum == expected_sum(count));
}

void handoff_fork(benchmark::State& state) {
    auto shm = filled(words(state));
    for (auto _ : state) {
        const auto start = clock::now();
        int answer[2];
        if (::pipe(answer) != 0) die("pipe");
        const pid_t pid = ::fork();
        if (pid == 0) {
            const std::uint64_t sum = sum_words(shm.data().data(), shm.size());
            (void)!::write(answer[1], &sum, sizeof sum);
            ::_exit(0);
        }
        collect(state, answer, pid, start, shm.size());
    }
}

void handoff_spawn(benchmark::State& state, const config& c, bool populate) {
    auto shm = filled(words(state));
    for (auto _ : state) {
        const auto start = clock::now();
        const int code = spawn_and_wait(c.self, {"sum", shm.name(), populate ? "1" : "0",
                                                 std::to_string(expected_sum(shm.size()))});
        state.SetIterationTime(seconds_since(start));
        check(state, code == 0);
    }
}

void handoff_pipe(benchmark::State& state, int pipe_size) {
    auto shm = filled(words(state));
    const std::size_t bytes = shm.size() * sizeof(std::uint64_t);
    for (auto _ : state) {
        const auto start = clock::now();
        int data[2], answer[2];
        if (::pipe(data) != 0 || ::pipe(answer) != 0) die("pipe");
        if (::fcntl(data[1], F_SETPIPE_SZ, pipe_size) < pipe_size) die("F_SETPIPE_SZ");
        const pid_t pid = ::fork();
        if (pid == 0) {
            ::close(data[1]);
            // The child needs its own copy of the data: read it all, then sum.
            std::unique_ptr<std::uint64_t[]> copy(new std::uint64_t[shm.size()]);
            auto* into = reinterpret_cast<char*>(copy.get());
            for (std::size_t got = 0; got < bytes;) {
                const auto n = ::read(data[0], into + got, bytes - got);
                if (n <= 0) ::_exit(1);
                got += static_cast<std::size_t>(n);
            }
            const std::uint64_t sum = sum_words(copy.get(), shm.size());
            (void)!::write(answer[1], &sum, sizeof sum);
            ::_exit(0);
        }
        ::close(data[0]);
        const auto* from = reinterpret_cast<const char*>(shm.data().data());
        for (std::size_t sent = 0; sent < bytes;) {
            const auto n = ::write(data[1], from + sent, bytes - sent);
            if (n <= 0) die("write");
            sent += static_cast<std::size_t>(n);
        }
        ::close(data[1]);
        collect(state, answer, pid, start, shm.size());
    }
}

void read_floor(benchmark::State& state) {
    auto shm = filled(words(state)); // filling mapped every page here
    for (auto _ : state) {
        const auto start = clock::now();
        const auto sum = sum_words(shm.data().data(), shm.size());
        state.SetIterationTime(seconds_since(start));
        check(state, sum == expected_sum(shm.size()));
    }
}

// A spawned program that maps the segment with raw calls (open, fstat,
// mmap) and sums the same words: what smh's attach is measured against.
void handoff_spawn_raw(benchmark::State& state, const config& c) {
    auto shm = filled(words(state));
    for (auto _ : state) {
        const auto start = clock::now();
        const int code = spawn_and_wait(
            c.self, {"rawsum", shm.name(), std::to_string(expected_sum(shm.size()))});
        state.SetIterationTime(seconds_since(start));
        check(state, code == 0);
    }
}

// A tmpfs with huge=within_size over /dev/shm while it lives, in this
// process's mount namespace only (see private_mount_namespace()).
class huge_page_mount {
public:
    huge_page_mount() {
        mounted_ = private_mount_namespace() &&
                   ::mount("smh-bench-huge", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV,
                           "huge=within_size,size=3g,mode=1777") == 0;
    }
    ~huge_page_mount() {
        if (mounted_) ::umount2("/dev/shm", MNT_DETACH);
    }
    huge_page_mount(const huge_page_mount&) = delete;
    huge_page_mount& operator=(const huge_page_mount&) = delete;
    explicit operator bool() const noexcept { return mounted_; }

private:
    bool mounted_ = false;
};

// The hand-off and the read floor on the huge-page tmpfs. The segment asks
// for huge pages; the child checks that its mapping got them all.
void handoff_huge(benchmark::State& state, const config& c, bool spawn, bool populate) {
    const huge_page_mount mount;
    if (!mount) {
        state.SkipWithError("needs root, to mount a huge-page tmpfs in a private namespace");
        for (auto _ : state) {}
        return;
    }
    {
        auto shm = smh::create<std::uint64_t>(words(state), {.huge_pages = true});
        for (std::size_t i = 0; i < shm.size(); ++i) shm[i] = i;
        const bool all_huge = shm.huge_page_bytes() >= shm.size() * sizeof(std::uint64_t);
        state.counters["creator_huge"] = all_huge ? 1 : 0;
        for (auto _ : state) {
            const auto start = clock::now();
            if (spawn) {
                const int code =
                    spawn_and_wait(c.self, {"sum", shm.name(), populate ? "1" : "0",
                                            std::to_string(expected_sum(shm.size())), "huge"});
                state.SetIterationTime(seconds_since(start));
                if (code == 3) state.SkipWithError("the child's mapping did not get huge pages");
                check(state, code == 0 || code == 3);
            } else {
                const auto sum = sum_words(shm.data().data(), shm.size());
                state.SetIterationTime(seconds_since(start));
                check(state, sum == expected_sum(shm.size()));
            }
        }
    }
}

} // namespace

void register_handoff(const config& c) {
    const std::vector<std::int64_t> sizes_mib =
        c.quick ? std::vector<std::int64_t>{1} : std::vector<std::int64_t>{1, 64, 256, 1024};
    auto add = [&](const std::string& name, auto fn) {
        auto* b = benchmark::RegisterBenchmark(("handoff/" + name).c_str(), fn);
        for (const auto size : sizes_mib) b->Arg(size);
        b->UseManualTime()->Unit(benchmark::kMillisecond);
        repeat(b, c, 3);
        if (!c.quick) b->Iterations(3);
    };
    add("memory_read_floor", read_floor);
    add("fork", handoff_fork);
    add("spawn_attach", [c](benchmark::State& s) { handoff_spawn(s, c, false); });
    add("spawn_attach_populate", [c](benchmark::State& s) { handoff_spawn(s, c, true); });
    add("pipe_64k", [](benchmark::State& s) { handoff_pipe(s, 64 * 1024); });
    add("pipe_1m", [](benchmark::State& s) { handoff_pipe(s, 1024 * 1024); });
    add("spawn_raw_map", [c](benchmark::State& s) { handoff_spawn_raw(s, c); });

    auto add_huge = [&](const std::string& name, auto fn) {
        auto* b = benchmark::RegisterBenchmark(("handoff/huge/" + name).c_str(), fn);
        for (const auto size :
             c.quick ? std::vector<std::int64_t>{4} : std::vector<std::int64_t>{256, 1024})
            b->Arg(size);
        b->UseManualTime()->Unit(benchmark::kMillisecond);
        repeat(b, c, 3);
        if (!c.quick) b->Iterations(3);
    };
    add_huge("memory_read_floor", [c](benchmark::State& s) { handoff_huge(s, c, false, false); });
    add_huge("spawn_attach", [c](benchmark::State& s) { handoff_huge(s, c, true, false); });
    add_huge("spawn_attach_populate", [c](benchmark::State& s) { handoff_huge(s, c, true, true); });
}

int run_child(int argc, char** argv) {
    if ((argc == 6 || argc == 7) && std::strcmp(argv[2], "sum") == 0) {
        // sum NAME POPULATE EXPECTED [huge]: 3 if asked for huge pages and not all are
        const auto shm = smh::attach<std::uint64_t>(argv[3], {.populate = argv[4][0] == '1'});
        if (sum_words(shm.data().data(), shm.size()) != std::stoull(argv[5])) return 1;
        return argc == 7 && shm.huge_page_bytes() < shm.size() * sizeof(std::uint64_t) ? 3 : 0;
    }
    if (argc == 5 && std::strcmp(argv[2], "rawsum") == 0) {
        // rawsum NAME EXPECTED: the same words through a raw mapping (past the
        // 256-byte header, where smh's elements of uint64_t start)
        auto raw = raw_segment::attach(argv[3]);
        const auto* words =
            reinterpret_cast<const std::uint64_t*>(static_cast<const char*>(raw.base) + 256);
        const bool ok =
            sum_words(words, (raw.bytes - 256) / sizeof(std::uint64_t)) == std::stoull(argv[4]);
        raw.unmap();
        return ok ? 0 : 1;
    }
    if (argc == 7 && std::strcmp(argv[2], "fill") == 0) {
        // fill NAME BEGIN END POPULATE: write i into words [BEGIN, END)
        auto shm = smh::attach<std::uint64_t>(argv[3], {.populate = argv[6][0] == '1'});
        const auto begin = std::stoull(argv[4]), end = std::stoull(argv[5]);
        for (auto i = begin; i < end; ++i) shm[i] = i;
        return 0;
    }
    return 2;
}

} // namespace bench
