// Scale on one machine: a segment of two-thirds of the machine's memory,
// created, filled by 1 and by 2 processes, attached and read by 64 processes
// at once (each sums its 1/64), and removed, leaving nothing; then the same
// fills and reads through raw pointers on a raw mapping of the same size
// (shm_open, posix_fallocate, mmap). And how create, attach and destroy grow
// with the size. Each phase is timed once and reported as a counter.
#include <dirent.h>
#include <sys/mman.h>

#include <cstring>
#include <fstream>
#include <functional>

#include "common.hpp"

namespace bench {
namespace {

constexpr int readers = 64;

std::uint64_t meminfo_bytes(const std::string& field) {
    std::ifstream meminfo("/proc/meminfo");
    for (std::string key; meminfo >> key;) {
        std::uint64_t kib_value = 0;
        meminfo >> kib_value;
        if (key == field + ":") return kib_value * kib;
        meminfo.ignore(64, '\n');
    }
    return 0;
}

// Two-thirds of the machine's memory in whole GiB, but never more than is
// available now less 2 GiB (others share this machine).
std::size_t big_size() {
    const auto two_thirds = meminfo_bytes("MemTotal") * 2 / 3;
    const auto available = meminfo_bytes("MemAvailable");
    const auto limit = available > 2 * gib ? available - 2 * gib : 0;
    return static_cast<std::size_t>((two_thirds < limit ? two_thirds : limit) / gib * gib);
}

std::size_t files_named(const std::string& prefix) {
    std::size_t count = 0;
    if (DIR* dir = ::opendir("/dev/shm")) {
        while (const dirent* entry = ::readdir(dir))
            if (std::strncmp(entry->d_name, prefix.c_str(), prefix.size()) == 0) ++count;
        ::closedir(dir);
    }
    return count;
}

// Runs `work(p)` in `processes` forked children at once; seconds until all
// are done, or a negative number if one failed.
double in_children(int processes, const std::function<bool(int)>& work) {
    const auto start = clock::now();
    std::vector<pid_t> children;
    for (int p = 0; p < processes; ++p) {
        const pid_t pid = ::fork();
        if (pid == 0) ::_exit(work(p) ? 0 : 1);
        if (pid < 0) die("fork");
        children.push_back(pid);
    }
    bool ok = true;
    for (const pid_t pid : children) ok = wait_child(pid) == 0 && ok;
    const double seconds = seconds_since(start);
    return ok ? seconds : -1;
}

struct range {
    std::size_t begin, end;
};
range part(std::size_t count, int p, int parts) {
    return {count * static_cast<std::size_t>(p) / static_cast<std::size_t>(parts),
            count * static_cast<std::size_t>(p + 1) / static_cast<std::size_t>(parts)};
}
std::uint64_t sum_of_indices(range r) { return expected_sum(r.end) - expected_sum(r.begin); }

// The fill and read loops, the same for both: a pointer and a range.
void fill_words(std::uint64_t* words, range r) {
    for (std::size_t i = r.begin; i < r.end; ++i) words[i] = i;
}
bool read_words(const std::uint64_t* words, range r) {
    return sum_words(words + r.begin, r.end - r.begin) == sum_of_indices(r);
}

void scale_big(benchmark::State& state, const config& c) {
    const std::size_t bytes = c.quick ? 16 * mib : big_size();
    const int reader_count = c.quick ? 8 : readers;
    if (bytes < gib && !c.quick) {
        state.SkipWithError("not enough free memory for the big segment");
        for (auto _ : state) {}
        return;
    }
    const std::size_t count = bytes / sizeof(std::uint64_t);
    const std::string prefix = "smh-bench-" + std::to_string(::getpid()) + "-";
    const auto before = files_named(prefix);
    auto& k = state.counters;
    bool ok = true;
    auto require = [&](double seconds, const char* what) {
        if (seconds < 0 && ok) {
            ok = false;
            state.SkipWithError(what);
        }
        return seconds;
    };
    for (auto _ : state) {
        const auto name = fresh_name();
        {
            auto start = clock::now();
            auto shm = smh::create<std::uint64_t>(name, count);
            k["smh_create_s"] = seconds_since(start);
            auto fill = [&](int processes) {
                return in_children(processes, [&](int p) {
                    auto mine = smh::attach<std::uint64_t>(name);
                    fill_words(mine.data().data(), part(count, p, processes));
                    return true;
                });
            };
            k["smh_fill1_s"] = require(fill(1), "smh fill by 1");
            k["smh_fill2_s"] = require(fill(2), "smh fill by 2");
            k["smh_read64_s"] = require(
                in_children(reader_count,
                            [&](int p) {
                                auto mine = smh::attach<const std::uint64_t>(name);
                                return read_words(mine.data().data(), part(count, p, reader_count));
                            }),
                "smh read by 64: a wrong sum");
            start = clock::now();
            { auto again = smh::attach<const std::uint64_t>(name); }
            k["smh_attach_s"] = seconds_since(start);
            start = clock::now();
            shm = {};
            k["smh_destroy_s"] = seconds_since(start);
        }
        {
            const auto raw_name = fresh_name();
            auto start = clock::now();
            auto raw = raw_segment::create(raw_name, bytes, true);
            k["raw_create_s"] = seconds_since(start);
            auto fill = [&](int processes) {
                return in_children(processes, [&](int p) {
                    auto mine = raw_segment::attach(raw_name);
                    fill_words(static_cast<std::uint64_t*>(mine.base), part(count, p, processes));
                    mine.unmap();
                    return true;
                });
            };
            k["raw_fill1_s"] = require(fill(1), "raw fill by 1");
            k["raw_fill2_s"] = require(fill(2), "raw fill by 2");
            k["raw_read64_s"] =
                require(in_children(reader_count,
                                    [&](int p) {
                                        auto mine = raw_segment::attach(raw_name);
                                        const bool right =
                                            read_words(static_cast<const std::uint64_t*>(mine.base),
                                                       part(count, p, reader_count));
                                        mine.unmap();
                                        return right;
                                    }),
                        "raw read by 64: a wrong sum");
            start = clock::now();
            raw.unmap();
            raw.unlink();
            k["raw_destroy_s"] = seconds_since(start);
        }
    }
    k["bytes"] = static_cast<double>(bytes);
    k["readers"] = reader_count;
    k["left_behind"] = static_cast<double>(files_named(prefix) - before);
    if (files_named(prefix) != before) state.SkipWithError("segments were left in /dev/shm");
}

// Create (reserved, the default), attach + detach in this process, destroy:
// how each grows with the size.
void scale_growth(benchmark::State& state) {
    const auto count = static_cast<std::size_t>(state.range(0)) / sizeof(std::uint64_t);
    double create = 0, attach = 0, destroy = 0;
    for (auto _ : state) {
        auto start = clock::now();
        auto shm = smh::create<std::uint64_t>(fresh_name(), count);
        create += seconds_since(start);
        start = clock::now();
        { auto again = smh::attach<std::uint64_t>(shm.name()); }
        attach += seconds_since(start);
        start = clock::now();
        shm = {};
        destroy += seconds_since(start);
    }
    const auto n = static_cast<double>(state.iterations());
    state.counters["create_s"] = create / n;
    state.counters["attach_s"] = attach / n;
    state.counters["destroy_s"] = destroy / n;
}

} // namespace

void register_scale(const config& c) {
    auto* big =
        benchmark::RegisterBenchmark("scale/big", [c](benchmark::State& s) { scale_big(s, c); });
    big->Iterations(1)->UseRealTime()->Unit(benchmark::kSecond);
    auto* growth = benchmark::RegisterBenchmark("scale/growth", scale_growth);
    const std::vector<std::int64_t> sizes =
        c.quick ? std::vector<std::int64_t>{static_cast<std::int64_t>(mib)}
                : std::vector<std::int64_t>{
                      static_cast<std::int64_t>(mib), static_cast<std::int64_t>(16 * mib),
                      static_cast<std::int64_t>(256 * mib), static_cast<std::int64_t>(gib),
                      static_cast<std::int64_t>(4 * gib)};
    for (const auto size : sizes) growth->Arg(size);
    growth->UseRealTime()->Unit(benchmark::kMillisecond);
    if (c.quick)
        growth->Iterations(1);
    else
        growth->Iterations(3);
}

} // namespace bench
