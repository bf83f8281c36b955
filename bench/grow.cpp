// Growing a segment by N MiB, against the floor: ftruncate + posix_fallocate
// of the same bytes on a raw shm_open file (what growing a file in place
// costs without publishing anything). smh's grow() adds the growers' lock,
// the length's release store and the wake-up check. Each iteration starts
// from a fresh 4 KiB segment (made and removed with the timer paused).
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common.hpp"

namespace bench {
namespace {

constexpr std::size_t start_bytes = 4 * kib;

std::size_t grown_bytes(const benchmark::State& state) {
    return static_cast<std::size_t>(state.range(0)) * mib;
}

void report_per_mib(benchmark::State& state) {
    state.counters["per_MiB"] = benchmark::Counter(
        static_cast<double>(state.iterations()) * static_cast<double>(state.range(0)),
        benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                            static_cast<std::int64_t>(grown_bytes(state)));
}

void grow_raw(benchmark::State& state) {
    const auto to = start_bytes + grown_bytes(state);
    for (auto _ : state) {
        state.PauseTiming();
        const auto name = "/" + fresh_name();
        const int fd = ::shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
        if (fd < 0 || ::posix_fallocate(fd, 0, start_bytes) != 0) die("creating");
        // Mapped at the final size, as a growable segment is.
        void* base = ::mmap(nullptr, to, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (base == MAP_FAILED) die("mmap");
        state.ResumeTiming();
        if (::ftruncate(fd, static_cast<off_t>(to)) != 0 ||
            ::posix_fallocate(fd, start_bytes, static_cast<off_t>(to - start_bytes)) != 0)
            die("growing");
        state.PauseTiming();
        ::munmap(base, to);
        ::close(fd);
        ::shm_unlink(name.c_str());
        state.ResumeTiming();
    }
    report_per_mib(state);
}

void grow_smh(benchmark::State& state) {
    const auto to = (start_bytes + grown_bytes(state)) / sizeof(std::uint64_t);
    for (auto _ : state) {
        state.PauseTiming();
        auto shm = smh::create<std::uint64_t, smh::growable>(
            fresh_name(), start_bytes / sizeof(std::uint64_t), {.capacity = to});
        state.ResumeTiming();
        shm.grow(to);
        state.PauseTiming();
        shm = {};
        state.ResumeTiming();
    }
    report_per_mib(state);
}

} // namespace

void register_grow(const config& c) {
    const std::vector<std::int64_t> mibs =
        c.quick ? std::vector<std::int64_t>{1} : std::vector<std::int64_t>{1, 16, 256};
    auto add = [&](const std::string& name, void (*fn)(benchmark::State&)) {
        auto* b = benchmark::RegisterBenchmark(("grow/" + name).c_str(), fn);
        for (const auto size : mibs) b->Arg(size);
        b->UseRealTime()->Unit(benchmark::kMicrosecond);
        if (c.quick)
            b->Iterations(1);
        else
            b->Repetitions(3)->ReportAggregatesOnly(true);
    };
    add("raw_ftruncate_fallocate", grow_raw);
    add("smh", grow_smh);
}

} // namespace bench
